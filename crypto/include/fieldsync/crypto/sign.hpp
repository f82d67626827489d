// Ed25519 signatures (libsodium crypto_sign_detached) for device identity: each device has a
// key pair made at init; the server keeps the public key from enrolment and checks the
// device's answer to a fresh challenge on every connection.
//
// Ownership: a SigningKey owns its secret key in a SecureBuffer (locked memory, wiped on
// destruction). Thread safety: all functions are safe to call from any thread; a SigningKey
// may be shared for signing (it is not modified).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "fieldsync/crypto/secure_buffer.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::crypto {

inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kSignatureBytes = 64;
inline constexpr std::size_t kSecretKeyBytes = 64;  // libsodium's seed || public key form

using PublicKey = std::array<std::uint8_t, kPublicKeyBytes>;
using Signature = std::array<std::uint8_t, kSignatureBytes>;

class SigningKey {
 public:
  // A new random key pair.
  static SigningKey generate();
  // From the 64 bytes secret() returned; Code::invalid_argument when malformed (wrong size,
  // or the public half does not belong to the secret half).
  static Result<SigningKey> from_secret(std::span<const std::uint8_t> secret);

  const PublicKey& public_key() const { return public_; }
  std::span<const std::uint8_t> secret() const { return secret_.span(); }
  Signature sign(std::span<const std::uint8_t> message) const;

 private:
  SigningKey(SecureBuffer secret, const PublicKey& pub)
      : secret_(std::move(secret)), public_(pub) {}
  SecureBuffer secret_;
  PublicKey public_;
};

bool verify(const PublicKey& key, std::span<const std::uint8_t> message, const Signature& sig);

// A signing key kept in a file of its own: 128 hex digits (secret()) and a newline, mode 0600.
// load_or_create_signing_key_file reads it, or creates it with a new key when it does not
// exist (atomically: of two processes creating it at once, both end up with the one key that
// landed). Code::storage for an unreadable file, or one readable by group or others.
Result<SigningKey> load_or_create_signing_key_file(const std::string& path);
Result<SigningKey> load_signing_key_file(const std::string& path);

// Lowercase hex of bytes, and back (nullopt-like error for odd length or non-hex digits).
std::string to_hex(std::span<const std::uint8_t> bytes);
Result<std::string> from_hex(std::string_view hex);

}  // namespace fieldsync::crypto
