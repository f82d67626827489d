// SQLite handles for the replica and the server store. Every fieldsync database is opened
// here, so that the choice of VFS (plain, or the encrypting VFS with a key) is made in one place.
// Errors come back as Status values with Code::storage and SQLite's own message,
// Code::disk_full (SQLITE_FULL: the file could not grow, for lack of space or its page limit),
// or Code::tampered (naming the file and page) when an encrypted page failed authentication.
//
// Ownership: a Database owns its sqlite3 connection; a Statement borrows the Database, which
// must outlive it. Thread safety: one thread at a time per Database (SQLite's multi-thread
// mode); different Databases on the same file may be used from different threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fieldsync/crypto/encrypted_vfs.hpp"
#include "fieldsync/status.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace fieldsync::crypto {

struct OpenOptions {
  bool create = true;
  bool read_only = false;
  std::string vfs;               // empty: SQLite's default VFS
  int busy_timeout_ms = 60'000;  // other processes' locks are waited for, not failed on
  bool wal = true;
  // "FULL": every commit is fsynced (durable acks); "NORMAL": WAL commits not fsynced.
  std::string synchronous = "FULL";
  // SQLite's page cache per connection, in KiB; 0 leaves SQLite's default (2,000 KiB).
  int cache_kib = 0;
  // Set: the database is opened through the encrypting VFS (encrypted_vfs.hpp) under this key
  // (from create_key/open_key), with temp_store=MEMORY and secure_delete=ON; a new database
  // gets the key's page size and 40 reserved bytes before its first write. Only needed during
  // the call. Leave `vfs` empty with a key.
  const DatabaseKey* key = nullptr;
};

class Statement;

class Database {
 public:
  static Result<std::unique_ptr<Database>> open(const std::string& path, const OpenOptions& opts);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Status exec(std::string_view sql);
  Result<Statement> prepare(std::string_view sql);
  std::int64_t last_insert_rowid() const;
  int changes() const;
  sqlite3* handle() { return db_; }
  // The error of the last failed call on this connection, as a Status.
  Status error(std::string_view what) const;
  // Encrypted databases: the first page that failed authentication on this connection.
  std::optional<TamperReport> tamper_report() const;
  // Encrypted databases: the binding whose `uri` names further files under this key.
  const KeyBinding* key_binding() const { return binding_.get(); }

 private:
  Database(sqlite3* db, std::shared_ptr<KeyBinding> binding)
      : db_(db), binding_(std::move(binding)) {}
  Status failure(std::string message) const;
  sqlite3* db_;
  std::shared_ptr<KeyBinding> binding_;  // outlives db_ (destroyed after sqlite3_close_v2)
};

// A prepared statement. Bind indexes start at 1; column indexes at 0.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& bind(int i, std::int64_t v);
  Statement& bind(int i, std::string_view v);
  Statement& bind_blob(int i, std::span<const std::uint8_t> v);
  Statement& bind_null(int i);

  // Steps once: true when a row is available, false when done; an error Status on failure.
  Result<bool> step();
  // Steps to completion (for statements that return no rows).
  Status run();
  Status reset();

  std::int64_t column_int(int i) const;
  std::string column_text(int i) const;
  std::vector<std::uint8_t> column_blob(int i) const;
  bool column_is_null(int i) const;

 private:
  friend class Database;
  Statement(Database* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Database* db_;
  sqlite3_stmt* stmt_;
};

// Runs `body` inside BEGIN IMMEDIATE ... COMMIT, rolling back when it returns an error.
template <typename F>
Status in_transaction(Database& db, F&& body) {
  if (Status s = db.exec("BEGIN IMMEDIATE"); !s) return s;
  Status s = body();
  if (!s) {
    (void)db.exec("ROLLBACK");
    return s;
  }
  if (Status c = db.exec("COMMIT"); !c) {
    (void)db.exec("ROLLBACK");
    return c;
  }
  return Status::ok();
}

}  // namespace fieldsync::crypto
