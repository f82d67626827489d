// Fuzz target: the encrypting VFS's page reader and the key envelope reader. The input is a
// key envelope, a database file and its WAL or rollback journal (vfs_input.hpp); they are
// written to a scratch directory and opened as the replica and server do: open_key with a
// fixed key file, Database::open through the VFS, then every table read, a quick_check, a
// write, a close (a checkpoint), and crypto::check of the files as they were given.
// Properties: nothing crashes; every failure is a Status with a storage-family code and a
// message; a tampered result names the envelope or the database file (and page) at fault, and
// the connection's tamper report agrees with it; a plain storage error has no tamper report.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/crypto/maintenance.hpp"
#include "fieldsync/crypto/random.hpp"
#include "fuzz_util.hpp"
#include "vfs_input.hpp"

using namespace fieldsync;
using namespace fieldsync::crypto;

namespace {

// One scratch directory per process, removed at exit.
const std::string& scratch() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/fieldsync-fuzz-vfs-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    FUZZ_CHECK(::mkdtemp(buf.data()) != nullptr, "cannot make a scratch directory");
    std::string made(buf.data());
    static const std::string removed = made;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(removed, ec);
    });
    return made;
  }();
  return dir;
}

void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  FUZZ_CHECK(out.good(), "cannot write " + path);
}

void check_failure(const Status& s, const std::string& where) {
  const Code c = s.code();
  FUZZ_CHECK(!s.is_ok(), where + ": a failure without an error");
  FUZZ_CHECK(c == Code::storage || c == Code::tampered || c == Code::wrong_passphrase ||
                 c == Code::not_found || c == Code::invalid_argument,
             where + ": unexpected error code: " + s.to_string());
  FUZZ_CHECK(!s.message().empty(), where + ": an error without a message");
  if (c == Code::tampered)
    FUZZ_CHECK(s.message().find("key envelope") != std::string::npos ||
                   s.message().find("file '" + scratch() + "/replica.db") != std::string::npos,
               where + ": a tamper error must name the file: " + s.message());
}

void check_db_failure(const Database& db, const Status& s, const std::string& where) {
  check_failure(s, where);
  auto report = db.tamper_report();
  if (s.code() == Code::tampered) {
    FUZZ_CHECK(report.has_value(), where + ": tampered without a tamper report");
    FUZZ_CHECK(report->message() == s.message(), where + ": the report and the error disagree");
  } else {
    FUZZ_CHECK(!report.has_value(), where + ": a tamper report behind a plain storage error");
  }
}

// Reads every row of every table, checks the b-trees, writes a row. False after a failure.
bool exercise(Database& db) {
  std::vector<std::string> tables;
  {
    auto st = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'");
    if (!st) return check_db_failure(db, st.status(), "prepare sqlite_master"), false;
    for (;;) {
      auto row = st->step();
      if (!row) return check_db_failure(db, row.status(), "read sqlite_master"), false;
      if (!*row) break;
      tables.push_back(st->column_text(0));
    }
  }
  for (const auto& name : tables) {
    std::string quoted;
    for (char ch : name) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    auto st = db.prepare("SELECT * FROM \"" + quoted + "\"");
    if (!st) {
      check_db_failure(db, st.status(), "prepare a table read");
      continue;  // e.g. a virtual table of an unknown module
    }
    for (int rows = 0; rows < 10'000; ++rows) {
      auto row = st->step();
      if (!row) return check_db_failure(db, row.status(), "read table " + name), false;
      if (!*row) break;
      (void)st->column_text(0);
    }
  }
  if (auto st = db.prepare("PRAGMA quick_check"); st) {
    for (;;) {
      auto row = st->step();
      if (!row) return check_db_failure(db, row.status(), "quick_check"), false;
      if (!*row) break;
    }
  } else {
    return check_db_failure(db, st.status(), "prepare quick_check"), false;
  }
  Status w =
      db.exec("CREATE TABLE IF NOT EXISTS fuzz_w(x); INSERT INTO fuzz_w VALUES(zeroblob(700))");
  if (!w) return check_db_failure(db, w, "write"), false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool ready = [] {
    init_sodium();
    return true;
  }();
  (void)ready;
  const fuzz::VfsInput in = fuzz::split_vfs_input(data, size);
  const std::string db_path = scratch() + "/replica.db";
  for (const char* suffix : {"", ".keys", "-wal", "-shm", "-journal"})
    std::filesystem::remove(db_path + suffix);
  write_file(envelope_path(db_path), in.envelope);
  if (!in.db.empty()) write_file(db_path, in.db);
  if (!in.tail.empty()) write_file(db_path + (in.journal ? "-journal" : "-wal"), in.tail);

  auto key = open_key(db_path, fuzz::fuzz_credential());
  if (!key) {
    check_failure(key.status(), "open_key");
    return 0;
  }
  FUZZ_CHECK(key->page_size() >= 1024 && key->page_size() <= 65536, "an unlocked page size");

  // The offline check first: it reads the files as given and changes nothing.
  if (!in.db.empty()) {
    auto report = check(db_path, *key);
    if (!report) check_failure(report.status(), "check");
  }

  OpenOptions opts;
  opts.create = false;
  opts.key = &*key;
  opts.synchronous = "OFF";  // scratch files: no fsync per run
  opts.wal = !in.journal;
  opts.busy_timeout_ms = 0;
  auto db = Database::open(db_path, opts);
  if (!db) {
    check_failure(db.status(), "open");
    return 0;
  }
  exercise(**db);
  return 0;
}
