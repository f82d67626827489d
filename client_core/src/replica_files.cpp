// The replica's files: opening under the file lock and the encryption key, locking and
// unlocking, and the whole-file maintenance steps (passphrase change, re-key, check).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <system_error>
#include <utility>
#include <vector>

#include "fieldsync/client/replica.hpp"
#include "fieldsync/crypto/database.hpp"
#include "fieldsync/crypto/random.hpp"
#include "file_lock.hpp"

namespace fieldsync::client {
namespace {

crypto::OpenOptions open_options(const ReplicaOptions& o, bool create,
                                 const crypto::DatabaseKey& key) {
  crypto::OpenOptions oo;
  oo.create = create;
  oo.key = &key;
  oo.busy_timeout_ms = o.busy_timeout_ms;
  oo.wal = true;
  oo.synchronous = "FULL";
  oo.cache_kib = o.page_cache_kib;
  return oo;
}

std::chrono::milliseconds lock_wait(const ReplicaOptions& o) {
  return std::chrono::milliseconds(o.busy_timeout_ms);
}

bool exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

Status no_replica(const std::string& path) {
  return {Code::not_found, "no replica at " + path + "; run init first"};
}

// open_key's not_found means the key file is missing while the database is there.
Status explain_key_error(const std::string& path, const Status& s) {
  if (s.code() == Code::wrong_passphrase && s.message().starts_with("wrong passphrase"))
    return {Code::wrong_passphrase, "wrong passphrase for the replica " + path};
  if (s.code() == Code::not_found)
    return {Code::invalid_argument,
            path + " has no key file (" + crypto::envelope_path(path) +
                "): it is not an encrypted fieldsync replica, or its key file was lost"};
  return s;
}

// A plain SQLite file, or one that is not SQLite at all, reads as garbage under the key.
Status explain_open_error(const std::string& path, const Status& s) {
  if (s.message().find("not a database") != std::string::npos)
    return {Code::invalid_argument, path + " is not a fieldsync replica"};
  return s;
}

Result<FileLock> exclusive(const std::string& path, const ReplicaOptions& options) {
  if (!exists(path)) return no_replica(path);
  return FileLock::acquire(lock_path(path), FileLock::Mode::exclusive, lock_wait(options));
}

}  // namespace

Status Replica::create(const crypto::Credential& credential) {
  if (exists(path_) || exists(crypto::envelope_path(path_)))
    return {Code::invalid_argument, "a replica already exists at " + path_ +
                                        "; open it, or remove it (and its .keys file) to "
                                        "start a new one"};
  auto held = FileLock::acquire(lock_path(path_), FileLock::Mode::shared, lock_wait(options_));
  if (!held) return held.status();
  file_lock_ = std::make_unique<FileLock>(std::move(*held));
  auto key = crypto::create_key(path_, credential);
  if (!key) return key.status();
  auto db = crypto::Database::open(path_, open_options(options_, /*create=*/true, *key));
  if (!db) {
    discard_files();
    return db.status();
  }
  db_ = std::move(*db);
  if (Status s = db_->exec("PRAGMA secure_delete = ON"); !s) {
    discard_files();
    return s;
  }
  // Owner only; SQLite gives the -wal and -shm files the database's permissions.
  std::error_code ec;
  std::filesystem::permissions(
      path_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, ec);
  return Status::ok();
}

void Replica::discard_files() {
  db_.reset();
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal", ".keys"})
    std::filesystem::remove(path_ + suffix, ec);
  file_lock_.reset();
  std::filesystem::remove(lock_path(path_), ec);
}

Status Replica::attach(const crypto::Credential& credential) {
  auto held = FileLock::acquire(lock_path(path_), FileLock::Mode::shared, lock_wait(options_));
  if (!held) return held.status();
  if (!exists(path_)) return no_replica(path_);  // removed while we waited
  auto key = crypto::open_key(path_, credential);
  if (!key) return explain_key_error(path_, key.status());
  auto db = crypto::Database::open(path_, open_options(options_, /*create=*/false, *key));
  if (!db) return explain_open_error(path_, db.status());
  file_lock_ = std::make_unique<FileLock>(std::move(*held));
  db_ = std::move(*db);
  // A purged record's bytes are overwritten, not left in free pages.
  Status m = db_->exec("PRAGMA secure_delete = ON");
  if (m) m = load_meta();
  if (!m) {
    lock();
    return m;
  }
  return check_lease();  // locks (or wipes) the replica when it refuses
}

Status Replica::destroy(const std::string& path) {
  // Only when nobody has the replica open (in any process): a live process would go on
  // committing into deleted files. The lock file itself stays, so that a process waiting on
  // it and a replica made later at the same path still exclude each other.
  auto held =
      FileLock::acquire(lock_path(path), FileLock::Mode::exclusive, std::chrono::milliseconds(0));
  if (!held) return held.status();
  const std::string envelope = crypto::envelope_path(path);
  std::error_code ec;
  if (exists(envelope)) {
    // Overwrite the wrapped key in place before unlinking it: without it, no copy of the
    // database that is left anywhere can be decrypted.
    const auto size = std::filesystem::file_size(envelope, ec);
    std::FILE* f = std::fopen(envelope.c_str(), "r+b");
    if (f) {
      std::vector<std::uint8_t> noise(ec ? 0 : size);
      crypto::SodiumRandom().fill(noise);
      std::fwrite(noise.data(), 1, noise.size(), f);
      std::fflush(f);
      ::fsync(::fileno(f));
      std::fclose(f);
    }
    if (!std::filesystem::remove(envelope, ec) && ec)
      return {Code::storage, "cannot remove " + envelope + ": " + ec.message()};
  }
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    std::filesystem::remove(path + suffix, ec);
  return Status::ok();
}

void Replica::lock() {
  key_.reset();  // the device's signing key: wiped (SecureBuffer)
  db_.reset();   // the last file under the key closes: the page key is wiped
  file_lock_.reset();
}

Status Replica::unlock(const crypto::Credential& credential) {
  if (db_) return Status::ok();
  return attach(credential);
}

Status Replica::change_passphrase(const std::string& path, const crypto::Credential& current,
                                  const crypto::Credential& next, const ReplicaOptions& options) {
  auto held = exclusive(path, options);
  if (!held) return held.status();
  return explain_key_error(path, crypto::change_credential(path, current, next));
}

Status Replica::rekey(const std::string& path, const crypto::Credential& credential,
                      const ReplicaOptions& options) {
  auto held = exclusive(path, options);
  if (!held) return held.status();
  auto key = crypto::rekey(path, credential);
  if (!key) return explain_key_error(path, key.status());
  return Status::ok();
}

Result<crypto::CheckReport> Replica::check(const std::string& path,
                                           const crypto::Credential& credential,
                                           const ReplicaOptions& options) {
  auto held = exclusive(path, options);
  if (!held) return held.status();
  auto key = crypto::open_key(path, credential);
  if (!key) return explain_key_error(path, key.status());
  return crypto::check(path, *key);
}

}  // namespace fieldsync::client
