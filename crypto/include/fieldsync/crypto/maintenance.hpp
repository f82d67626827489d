// Whole-database operations on an encrypted database: authenticate every page, rotate the DEK.
//
// Both expect no other connection to the database (an offline maintenance step): `check`
// reads the files directly and could see a page mid-write; `rekey` replaces the files.
#pragma once

#include <cstdint>
#include <string>

#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::crypto {

struct CheckReport {
  std::uint64_t db_pages = 0;    // pages of the database file authenticated
  std::uint64_t wal_frames = 0;  // frames of the WAL's current generation authenticated
};

// Authenticates every page of `db_path` and every frame of its WAL's current generation,
// without SQLite (so nothing is recovered or rolled back). Code::tampered naming the first
// page that fails ("file 'x.db' page 7 failed authentication"); Code::storage on I/O errors.
// A torn last WAL frame of an uncommitted transaction (left by a crash) is not an error.
// A hot rollback journal is not read (opening the database rolls it back, page by page).
Result<CheckReport> check(const std::string& db_path, const DatabaseKey& key);

// Rotates the data key: copies the database (SQLite's backup API) into "<db>.rekey" sealed
// under a new DEK and db id with an envelope wrapped for `credential`, then swaps the files in
// (database first, envelope second; open_key completes a swap cut short by a crash). The WAL
// is checkpointed and removed first. Returns the new key. Code::wrong_passphrase as open_key.
Result<DatabaseKey> rekey(const std::string& db_path, const Credential& credential);

}  // namespace fieldsync::crypto
