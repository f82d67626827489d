// Helpers for the crypto tests: a scratch directory, fast credentials, file bytes, and a small
// clinic workload whose strings must never reach the disk in the clear.
#pragma once

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/crypto/keys.hpp"

namespace fieldsync::crypto::test {

// A directory removed with its contents when the scope ends.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("fieldsync-crypto-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A passphrase credential with libsodium's minimum Argon2 cost, so tests stay fast.
inline Credential pass(std::string text) {
  return Credential::passphrase(SecureBuffer::take(text), KdfLimits::minimum());
}

inline std::vector<std::uint8_t> bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

inline bool contains(const std::vector<std::uint8_t>& hay, const std::string& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

inline OpenOptions encrypted(const DatabaseKey& key, bool wal = true) {
  OpenOptions o;
  o.key = &key;
  o.wal = wal;
  return o;
}

inline std::unique_ptr<Database> open_db(const std::string& path, const OpenOptions& o) {
  auto db = Database::open(path, o);
  INFO(db.status().to_string());
  REQUIRE(db);
  return std::move(*db);
}

inline std::int64_t scalar(Database& db, const std::string& sql) {
  auto st = db.prepare(sql);
  REQUIRE(st);
  auto row = st->step();
  INFO(row.status().to_string());
  REQUIRE(row);
  REQUIRE(*row);
  return st->column_int(0);
}

// Keeps the WAL on disk when the connection closes (no checkpoint, no automatic ones).
inline void keep_wal(Database& db) {
  sqlite3_db_config(db.handle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  REQUIRE(db.exec("PRAGMA wal_autocheckpoint=0"));
}

// Strings of the workload: client names, note text, column names.
inline const std::vector<std::string>& secrets() {
  static const std::vector<std::string> s = {
      "Thandiwe Okonkwo-Ramirez", "Bartholomew Quillfeather",  "client_full_name",
      "visit_note_text",          "complains of night sweats", "SQLite format 3",
      "methadone dose increased",
  };
  return s;
}

inline std::string client_name(int i) {
  return (i % 2 ? "Thandiwe Okonkwo-Ramirez #" : "Bartholomew Quillfeather #") + std::to_string(i);
}

inline std::string note_text(int i) {
  std::string n = "visit " + std::to_string(i) + ": complains of night sweats; ";
  if (i % 3 == 0) n += "methadone dose increased. ";
  if (i % 50 == 0) n += std::string(6000, 'x');  // overflow pages
  return n;
}

inline void create_schema(Database& db) {
  REQUIRE(db.exec(
      "CREATE TABLE clients(id INTEGER PRIMARY KEY, client_full_name TEXT NOT NULL);"
      "CREATE INDEX clients_by_name ON clients(client_full_name);"
      "CREATE TABLE notes(id INTEGER PRIMARY KEY, client_id INTEGER, visit_note_text TEXT);"));
}

// Inserts clients [from, to) with three notes each, in one transaction.
inline void add_clients(Database& db, int from, int to) {
  Status s = in_transaction(db, [&]() -> Status {
    auto c = db.prepare("INSERT INTO clients(id, client_full_name) VALUES(?1, ?2)");
    auto n = db.prepare("INSERT INTO notes(client_id, visit_note_text) VALUES(?1, ?2)");
    if (!c) return c.status();
    if (!n) return n.status();
    for (int i = from; i < to; ++i) {
      if (Status r = c->bind(1, std::int64_t{i}).bind(2, client_name(i)).run(); !r) return r;
      for (int k = 0; k < 3; ++k)
        if (Status r = n->bind(1, std::int64_t{i}).bind(2, note_text(i * 3 + k)).run(); !r)
          return r;
    }
    return Status::ok();
  });
  INFO(s.to_string());
  REQUIRE(s);
}

// A new encrypted database `name` in `dir` (clients table, `clients` rows), closed again;
// its passphrase is `passphrase`. Returns the path.
inline std::string make_db(const ScratchDir& dir, const std::string& name, int clients,
                           const std::string& passphrase) {
  std::string path = dir.file(name);
  auto key = create_key(path, pass(passphrase));
  REQUIRE(key);
  auto db = open_db(path, encrypted(*key));
  create_schema(*db);
  add_clients(*db, 0, clients);
  return path;
}

}  // namespace fieldsync::crypto::test
