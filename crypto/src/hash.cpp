// Unkeyed BLAKE2b-256 through libsodium's crypto_generichash.
#include "fieldsync/crypto/hash.hpp"

#include <sodium.h>

#include <cassert>

#include "fieldsync/crypto/random.hpp"

namespace fieldsync::crypto {
namespace {

static_assert(sizeof(crypto_generichash_state) <= 384 && alignof(crypto_generichash_state) <= 64);

crypto_generichash_state* state(std::array<unsigned char, 384>& raw) {
  return reinterpret_cast<crypto_generichash_state*>(raw.data());
}

}  // namespace

Hasher::Hasher() {
  init_sodium();
  crypto_generichash_init(state(state_), nullptr, 0, kDigestBytes);
}

Hasher& Hasher::bytes(std::span<const std::uint8_t> data) {
  crypto_generichash_update(state(state_), data.data(), data.size());
  return *this;
}

Hasher& Hasher::u64(std::uint64_t v) {
  std::array<std::uint8_t, 8> b{};
  for (int i = 7; i >= 0; --i, v >>= 8) b[static_cast<std::size_t>(i)] = v & 0xff;
  return bytes(b);
}

Hasher& Hasher::str(std::string_view s) {
  assert(s.size() <= UINT32_MAX);
  std::array<std::uint8_t, 4> len{};
  auto n = static_cast<std::uint32_t>(s.size());
  for (int i = 3; i >= 0; --i, n >>= 8) len[static_cast<std::size_t>(i)] = n & 0xff;
  bytes(len);
  return bytes({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}

Digest Hasher::finish() {
  Digest out{};
  crypto_generichash_final(state(state_), out.data(), out.size());
  return out;
}

Digest digest(std::span<const std::uint8_t> data) { return Hasher().bytes(data).finish(); }

Digest digest(std::string_view data) {
  return digest({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()});
}

}  // namespace fieldsync::crypto
