// Ed25519 through libsodium; hex helpers through sodium_bin2hex / sodium_hex2bin.
#include "fieldsync/crypto/sign.hpp"

#include <sodium.h>

#include "fieldsync/crypto/random.hpp"

namespace fieldsync::crypto {

SigningKey SigningKey::generate() {
  init_sodium();
  SecureBuffer secret(kSecretKeyBytes);
  PublicKey pub{};
  crypto_sign_keypair(pub.data(), secret.data());
  return {std::move(secret), pub};
}

Result<SigningKey> SigningKey::from_secret(std::span<const std::uint8_t> secret) {
  init_sodium();
  if (secret.size() != kSecretKeyBytes)
    return Status(Code::invalid_argument, "a device signing key must be 64 bytes");
  SecureBuffer copy = SecureBuffer::copy_of(secret);
  // Rebuild the pair from the seed (the first half) and compare with the stored public half.
  PublicKey pub{};
  SecureBuffer check(kSecretKeyBytes);
  crypto_sign_seed_keypair(pub.data(), check.data(), copy.data());
  if (sodium_memcmp(check.data(), copy.data(), kSecretKeyBytes) != 0)
    return Status(Code::invalid_argument, "the device signing key is inconsistent");
  return SigningKey(std::move(copy), pub);
}

Signature SigningKey::sign(std::span<const std::uint8_t> message) const {
  Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_.data());
  return sig;
}

bool verify(const PublicKey& key, std::span<const std::uint8_t> message, const Signature& sig) {
  init_sodium();
  return crypto_sign_verify_detached(sig.data(), message.data(), message.size(), key.data()) == 0;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

Result<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return Status(Code::invalid_argument, "odd number of hex digits");
  std::string out(hex.size() / 2, '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), hex.data(),
                     hex.size(), nullptr, &len, &end) != 0 ||
      len != out.size() || end != hex.data() + hex.size())
    return Status(Code::invalid_argument, "not hex");
  return out;
}

}  // namespace fieldsync::crypto
