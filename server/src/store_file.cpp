// StoreFile: the store's key, its connections and its schema (contract in store_file.hpp).
#include "fieldsync/server/store_file.hpp"

#include <filesystem>
#include <fstream>
#include <string_view>
#include <utility>

#include "store_schema.hpp"

namespace fieldsync::server {
namespace {

using StoreKey = std::optional<crypto::DatabaseKey>;

// An error from opening the store at `path`, keeping its code and naming the store once.
Status with_path(const Status& s, const std::string& path) {
  if (s.code() == Code::tampered)  // the message names the file and page
    return Status(Code::tampered,
                  "store '" + path + "' was tampered with or damaged: " + s.message());
  if (s.message().find(path) != std::string::npos) return s;
  return Status(s.code(), "store '" + path + "': " + s.message());
}

// True when `path` begins with the header of a plain (unencrypted) SQLite database.
bool is_plain_sqlite(const std::string& path) {
  constexpr std::string_view kHeader{"SQLite format 3\0", 16};
  std::string head(kHeader.size(), '\0');
  std::ifstream in(path, std::ios::binary);
  return in.read(head.data(), static_cast<std::streamsize>(head.size())) && head == kHeader;
}

Result<crypto::Credential> read_key_file(const std::string& key_file) {
  auto credential = crypto::Credential::from_key_file(key_file);
  if (credential || credential.status().code() != Code::not_found) return credential;
  return Status(Code::not_found, "key file '" + key_file + "' does not exist");
}

// Why an existing store without a key envelope cannot be opened with a key.
Status no_envelope(const std::string& path) {
  if (is_plain_sqlite(path))
    return Status(Code::invalid_argument,
                  "'" + path +
                      "' is not encrypted; start without a key file (a plain store is not "
                      "encrypted in place)");
  return Status(Code::invalid_argument, "'" + path + "' is not a plain store and has no key " +
                                            "envelope '" + crypto::envelope_path(path) +
                                            "' (restore it from the store's backup)");
}

// The result of create_key/open_key on the store at `path`, unlocked with `key_file`.
Result<StoreKey> as_store_key(Result<crypto::DatabaseKey> key, const std::string& path,
                              const std::string& key_file) {
  if (key) return StoreKey(std::move(*key));
  if (key.status().code() == Code::wrong_passphrase)
    return Status(Code::wrong_passphrase,
                  with_path(key.status(), path).message() + " (tried '" + key_file + "')");
  return with_path(key.status(), path);
}

// The key of the store at `path`: none for a plain store; unwrapped from the envelope of an
// encrypted one; made (with its envelope) for a new store when a key file is given. Errors
// name the store or the key file.
Result<StoreKey> store_key(const std::string& path, const std::string& key_file) {
  const std::string envelope = crypto::envelope_path(path);
  std::error_code ec;
  const bool encrypted = std::filesystem::exists(envelope, ec);
  if (key_file.empty()) {
    if (!encrypted) return StoreKey();
    return Status(Code::invalid_argument, "'" + path + "' is encrypted (its key envelope '" +
                                              envelope + "' exists) but no key file was given");
  }
  auto credential = read_key_file(key_file);
  if (!credential) return credential.status();
  if (encrypted) return as_store_key(crypto::open_key(path, *credential), path, key_file);
  if (std::filesystem::exists(path, ec)) return no_envelope(path);
  return as_store_key(crypto::create_key(path, *credential), path, key_file);
}

}  // namespace

Result<StoreFile> StoreFile::open(const std::string& path, const std::string& key_file) {
  auto key = store_key(path, key_file);
  if (!key) return key.status();
  StoreFile file(path, std::move(*key));
  auto db = file.connect(/*writable=*/true);
  if (!db) return db.status();
  if (Status s = init_schema(**db); !s) return file.annotate(s);
  return file;
}

Result<std::unique_ptr<crypto::Database>> StoreFile::connect(bool writable) const {
  crypto::OpenOptions o;
  o.create = writable;
  o.read_only = !writable;
  o.wal = true;
  o.synchronous = "FULL";  // a commit is on disk before its ops are acknowledged
  o.key = key_ ? &*key_ : nullptr;
  auto db = crypto::Database::open(path_, o);
  if (!db) return annotate(db.status());
  return db;
}

Status StoreFile::annotate(const Status& s) const { return with_path(s, path_); }

}  // namespace fieldsync::server
