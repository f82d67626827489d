// Ed25519 through libsodium; hex helpers through sodium_bin2hex / sodium_hex2bin.
#include "fieldsync/crypto/sign.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <sodium.h>

#include "fieldsync/crypto/random.hpp"
#include "file_util.hpp"

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

Result<SigningKey> load_signing_key_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Status(errno == ENOENT ? Code::not_found : Code::storage,
                  "cannot read signing key file '" + path + "': " + std::strerror(errno));
  if ((st.st_mode & 077) != 0)
    return Status(Code::storage, "signing key file '" + path +
                                     "' is readable by others: chmod 600 it (or make a new one)");
  auto bytes = detail::read_file(path);
  if (!bytes) return bytes.status();
  std::string_view text(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  auto secret = from_hex(text);
  std::fill(bytes->begin(), bytes->end(), 0);
  if (!secret || secret->size() != kSecretKeyBytes)
    return Status(Code::storage, "signing key file '" + path + "' does not hold a key");
  auto key = SigningKey::from_secret(
      {reinterpret_cast<const std::uint8_t*>(secret->data()), secret->size()});
  std::fill(secret->begin(), secret->end(), '\0');
  if (!key) return Status(Code::storage, "signing key file '" + path + "' does not hold a key");
  return key;
}

Result<SigningKey> load_or_create_signing_key_file(const std::string& path) {
  auto loaded = load_signing_key_file(path);
  if (loaded || loaded.status().code() != Code::not_found) return loaded;
  SigningKey made = SigningKey::generate();
  std::string text = to_hex(made.secret()) + "\n";
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  Status wrote = detail::write_file_atomic(
      tmp, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, 0600);
  std::fill(text.begin(), text.end(), '\0');
  if (!wrote) return wrote;
  // link(2) fails when the file appeared meanwhile: then the other process's key stands.
  const int linked = ::link(tmp.c_str(), path.c_str());
  const int link_errno = errno;
  (void)detail::remove_file(tmp);
  if (linked != 0 && link_errno != EEXIST)
    return Status(Code::storage,
                  "cannot create signing key file '" + path + "': " + std::strerror(link_errno));
  if (Status s = detail::fsync_parent_dir(path); !s) return s;
  return load_signing_key_file(path);
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
