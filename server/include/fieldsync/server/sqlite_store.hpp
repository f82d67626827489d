// The embedded store: one SQLite file (WAL, synchronous=FULL, so a commit is durable once it
// returns) holding the operation log, the merged records and a format version.
//
//   log(seq INTEGER PRIMARY KEY AUTOINCREMENT, op_id TEXT UNIQUE, device, collection, record,
//       op_json, skewed, received_ms)             every accepted op, seq = server sequence
//   records(collection, id, state_json, fields_json, deleted)   merged state per record
//   meta(key PRIMARY KEY, value)                  "format" = kStoreFormat, "kind", ...
// The same file holds the directory's tables (directory.hpp); store_file.hpp opens it and
// creates or migrates the schema. Sequence numbers come from SQLite (AUTOINCREMENT), never
// from a cache, so another process (fieldsync-admin) may append to the log beside a running
// server: its entries get the next numbers and are never overwritten.
//
// Encryption (opt-in, SqliteStoreOptions::key_file): the file and its -wal are sealed page by
// page by the encrypting VFS (docs/ENCRYPTION.md) under a data key wrapped by the key file, in
// the envelope "<path>.keys". Every connection the store opens, writer and readers, uses it.
//
// Ownership: the store owns its connections; a StoreTx from begin() borrows the write
// connection and must be destroyed before the store. Thread safety: begin() and its StoreTx
// belong to one thread at a time (the writer thread); read_log(), head(), get_record() and the
// other reads may be called from any thread concurrently (they use a small pool of read
// connections).
#pragma once

#include <memory>
#include <string>

#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/server/store.hpp"
#include "fieldsync/server/store_file.hpp"

namespace fieldsync::server {

struct SqliteStoreOptions {
  std::size_t max_idle_readers = 4;  // read connections kept open between calls
  // Empty: a plain store (an encrypted one is refused). Set: a key file read with
  // crypto::Credential::from_key_file (32 raw bytes or 64 hex digits, not readable by group
  // or others); a new store is created encrypted under it, an existing one must be encrypted
  // under it (a plain store is refused: it is not encrypted in place).
  std::string key_file;
  // Signs the audit log's checkpoints (audit.hpp): every commit that appended entries ends
  // in one. Pinned in the store at open (a store pinned to another key is refused). Null: no
  // checkpoints (tests of other parts only: audit verify then fails on the unsealed tail).
  std::shared_ptr<const crypto::SigningKey> audit_key;
};

class SqliteStore final : public ServerStore {
 public:
  // Opens the store file at `path` (StoreFile::open: created with its tables when absent, an
  // older format migrated). A file that is not a fieldsync store, is corrupt or cannot be
  // opened is a Code::storage error. With a key file: Code::not_found or
  // Code::invalid_argument for a missing, malformed or too open key file;
  // Code::invalid_argument for a plain store given a key or an encrypted store given none;
  // Code::wrong_passphrase when the key does not unlock the store; Code::tampered (naming the
  // file and page) when a page fails authentication.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                   SqliteStoreOptions options = {});
  ~SqliteStore() override;
  // The file the store opened: a Directory (directory.hpp) opens its connections through it.
  // Any thread; valid while the store lives.
  const StoreFile& file() const;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Result<std::unique_ptr<StoreTx>> begin() override;
  Result<sync::Changes> read_log(std::uint64_t after, std::uint32_t limit,
                                 const std::string& exclude_device,
                                 const ScopeSet* scope = nullptr) override;
  Result<ScopeSet> scope_of(const Viewer& viewer) override;
  Result<std::vector<std::vector<sync::SnapshotRecord>>> read_items(
      const std::vector<std::string>& items) override;
  Result<std::uint64_t> head() override;
  Result<sync::RecordLog> record_log(const std::string& collection, const std::string& id) override;
  Result<std::optional<RecordRow>> get_record(const std::string& collection,
                                              const std::string& id) override;
  Result<std::vector<RecordRow>> list_records(const std::string& collection, const ScopeSet* scope,
                                              bool with_state) override;

  // Tests: `full` caps the store at its current size on the writer's connection (SQLite's
  // max_page_count), so that a write needing another page fails with SQLITE_FULL
  // (Code::disk_full) as on a full disk; false lifts the cap. On the writer's thread only (from
  // a Writer's work, or with no Writer).
  Status set_full_for_test(bool full);

  struct Impl;

 private:
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fieldsync::server
