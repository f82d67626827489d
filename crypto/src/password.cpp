// Argon2id password hashes through libsodium (contract in password.hpp).
#include "fieldsync/crypto/password.hpp"

#include <sodium.h>

#include <array>

#include "fieldsync/crypto/random.hpp"

namespace fieldsync::crypto {

Result<std::string> hash_password(std::span<const std::uint8_t> password, const KdfLimits& limits) {
  init_sodium();
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str_alg(out.data(), reinterpret_cast<const char*>(password.data()),
                            password.size(), limits.opslimit, limits.memlimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    return Status(Code::internal, "could not hash the password (out of memory?)");
  return std::string(out.data());
}

bool verify_password(const std::string& hash, std::span<const std::uint8_t> password) {
  init_sodium();
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  return crypto_pwhash_str_verify(hash.c_str(), reinterpret_cast<const char*>(password.data()),
                                  password.size()) == 0;
}

}  // namespace fieldsync::crypto
