// The server's store file, DATA_DIR/fieldsync.db, and how every connection to it is opened.
// The log and records (SqliteStore), the directory of users and devices (Directory) and the
// fieldsync-admin tool all open the file through a StoreFile, so they agree on the key, the
// VFS, the pragmas and the schema.
//
// Encryption (opt-in): with a key file the file is sealed page by page by the encrypting VFS
// under a data key wrapped in the envelope "<path>.keys" (docs/ENCRYPTION.md). A new store is
// created encrypted; an existing one must be encrypted under that key.
//
// Schema: StoreFile::open() creates the tables of a new store, or migrates an older format
// to kStoreFormat, in one transaction (so a server and an admin tool opening the same file at
// once do not race). Tables (see docs/ARCHITECTURE.md, "The server"):
//   meta(key, value)          "format", "kind", the enrolment-code secret, the server's device
//   log, records              SqliteStore
//   teams, users, devices, enroll_codes, settings            Directory
//
// Ownership: a StoreFile is a small value (the path and the shared, immutable data key); the
// connections it opens belong to the caller. Thread safety: connect() may be called from any
// thread; each connection is then used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::server {

// The store's file name inside the server's data directory.
inline constexpr const char* kStoreFileName = "fieldsync.db";
// The store format version in meta. 1: log, records, meta. 2: adds the directory tables.
// An older store is migrated when opened; a newer one is refused.
inline constexpr int kStoreFormat = 5;

class StoreFile {
 public:
  // Resolves the key (none for a plain store; unwrapped, or made for a new store, with
  // `key_file`), opens the file (creating it when absent) and creates or migrates its tables.
  // Errors name the store or the key file: Code::storage for a file that is not a fieldsync
  // store (or of an unknown format), is corrupt or cannot be opened; Code::not_found or
  // Code::invalid_argument for a missing, malformed or too open key file; invalid_argument
  // for a plain store given a key or an encrypted one given none; Code::wrong_passphrase when
  // the key does not unlock the store; Code::tampered (naming the page) for a damaged page.
  static Result<StoreFile> open(const std::string& path, const std::string& key_file);

  // A new connection: writable (WAL, synchronous=FULL, busy timeout) or read-only.
  Result<std::unique_ptr<crypto::Database>> connect(bool writable) const;

  // A consistent copy of the store, taken while servers and tools keep using it (SQLite's
  // online backup, in one read transaction: the copy is the store as of one commit), written
  // to `dest`, a new file in an existing folder; an encrypted store's copy is encrypted under
  // the same key (its key envelope is copied to "<dest>.keys", mode 0600). The copy is then
  // opened and checked (PRAGMA quick_check). Errors: Code::invalid_argument (dest exists, or
  // its folder does not), Code::storage (naming the file; a failed copy is removed).
  struct Backup {
    std::uint64_t pages = 0;
    std::uint64_t bytes = 0;
  };
  Result<Backup> backup(const std::string& dest) const;

  // The store's epoch for a server about to serve it: a random id (32 hex digits) made with
  // the store, and made anew (`renewed`) when the store is a copy written by backup() that no
  // server has served yet, i.e. a restore. Devices compare it at welcome (Welcome::epoch).
  struct Epoch {
    std::string id;
    bool renewed = false;
    std::uint64_t base = 0;  // the log's head when the epoch began (0: never restored)
  };
  Result<Epoch> serving_epoch() const;

  const std::string& path() const { return path_; }
  bool encrypted() const { return key_.has_value(); }
  // `s` with the store's path in its message (once), keeping its code.
  Status annotate(const Status& s) const;

 private:
  StoreFile(std::string path, std::optional<crypto::DatabaseKey> key)
      : path_(std::move(path)), key_(std::move(key)) {}
  std::string path_;
  std::optional<crypto::DatabaseKey> key_;
};

}  // namespace fieldsync::server
