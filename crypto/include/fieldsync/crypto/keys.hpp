// The key hierarchy of an encrypted database (see docs/ENCRYPTION.md).
//
//   passphrase --Argon2id(salt, opslimit, memlimit)--> KEK      (or KEK = a server key file)
//   KEK --XChaCha20-Poly1305 wrap--> DEK                        (random, 256 bits, per database)
//   DEK --crypto_kdf "fspages1"--> page key                     (seals every page, see the VFS)
//
// The wrapped DEK lives in a sidecar envelope, `<db>.keys`, with the database's id, page size,
// reserve and KDF parameters, all authenticated as associated data. Changing the passphrase
// rewraps the DEK and touches no page; rotating the DEK itself is `rekey` (maintenance.hpp).
//
// Memory: passphrases, KEKs, DEKs and page keys live only in SecureBuffers (locked memory,
// wiped on free). A DatabaseKey holds only the derived page key, shared with the files the VFS
// has open; it is wiped when the last of them is closed.
//
// Thread safety: the functions are safe to call concurrently on different databases; two
// processes changing the same envelope at once is the caller's to prevent. A DatabaseKey is
// immutable and may be shared between threads.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "fieldsync/crypto/secure_buffer.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::crypto {

using DbId = std::array<std::uint8_t, 16>;

namespace detail {
struct KeyMaterial;
}

// Argon2id cost. Stored in each envelope, so it can change with the next rewrap.
struct KdfLimits {
  std::uint64_t opslimit = 0;
  std::size_t memlimit = 0;
  // libsodium's INTERACTIVE level (2 passes, 64 MiB): for real replicas on phones.
  static KdfLimits interactive();
  // libsodium's minimum (1 pass, 8 KiB): for tests and benchmarks only.
  static KdfLimits minimum();
};

// What unlocks a database: a passphrase (through Argon2id), or a 32-byte key from a key file
// (the server variant: no KDF, the file is the KEK).
class Credential {
 public:
  enum class Kind : std::uint8_t { passphrase = 1, key_file = 2 };

  // `limits` are used when this credential wraps a key (create, change, rekey); opening uses
  // the limits stored in the envelope.
  static Credential passphrase(SecureBuffer passphrase,
                               KdfLimits limits = KdfLimits::interactive());
  // Reads a key file: exactly 32 raw bytes, or 64 hex digits (surrounding whitespace ignored).
  // Refuses a file that group or others may read. Code::invalid_argument when malformed.
  static Result<Credential> from_key_file(const std::string& path);
  // A 32-byte KEK handed over directly (e.g. from a platform keystore).
  static Credential raw_key(SecureBuffer key);

  Kind kind() const { return kind_; }
  const SecureBuffer& secret() const { return secret_; }
  const KdfLimits& limits() const { return limits_; }

 private:
  Credential(Kind kind, SecureBuffer secret, KdfLimits limits)
      : kind_(kind), secret_(std::move(secret)), limits_(limits) {}
  Kind kind_;
  SecureBuffer secret_;
  KdfLimits limits_;
};

struct KeyOptions {
  std::uint32_t page_size = 4096;  // 1024..65536, a power of two; fixed for the database's life
};

// The unlocked key of one database: its id, page size and page key. Cheap to copy (shared).
class DatabaseKey {
 public:
  explicit DatabaseKey(std::shared_ptr<const detail::KeyMaterial> material);
  const DbId& db_id() const;
  std::uint32_t page_size() const;
  const std::shared_ptr<const detail::KeyMaterial>& material() const { return material_; }

 private:
  std::shared_ptr<const detail::KeyMaterial> material_;
};

// "<db_path>.keys"
std::string envelope_path(const std::string& db_path);

// Makes a new DEK and db id for a database that does not exist yet and writes its envelope.
// Code::invalid_argument when the database or its envelope already exists.
Result<DatabaseKey> create_key(const std::string& db_path, const Credential& credential,
                               const KeyOptions& options = {});
// Unwraps the DEK. Code::wrong_passphrase when the credential does not unlock it (SQLite is
// never involved); Code::not_found without an envelope; Code::tampered when the envelope is
// malformed. Also completes or discards a re-key that was interrupted by a crash.
Result<DatabaseKey> open_key(const std::string& db_path, const Credential& credential);
// Rewraps the DEK under `next` (a new salt; `next.limits()`); no page is touched. The old
// credential stops working.
Status change_credential(const std::string& db_path, const Credential& current,
                         const Credential& next);
// Writes a new random 32-byte key as 64 hex digits, mode 0600. Refuses to overwrite.
Status write_key_file(const std::string& path);

}  // namespace fieldsync::crypto
