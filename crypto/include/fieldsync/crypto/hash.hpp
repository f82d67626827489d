// Unkeyed BLAKE2b-256 (libsodium crypto_generichash) for hash chains: the device's chain of
// operations and the server's audit log. Hasher feeds a message in parts; the typed helpers
// give every part an unambiguous encoding (fixed-width big-endian integers, length-prefixed
// strings), so two different sequences of parts never hash the same bytes.
//
// Thread safety: a Hasher is a plain value used by one thread; digest() is safe anywhere.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace fieldsync::crypto {

inline constexpr std::size_t kDigestBytes = 32;
using Digest = std::array<std::uint8_t, kDigestBytes>;

class Hasher {
 public:
  Hasher();
  Hasher& bytes(std::span<const std::uint8_t> data);  // raw, no length
  Hasher& u64(std::uint64_t v);                       // 8 bytes, big-endian
  Hasher& i64(std::int64_t v) { return u64(static_cast<std::uint64_t>(v)); }
  Hasher& str(std::string_view s);  // 4-byte big-endian length, then the bytes
  Hasher& digest(const Digest& d) { return bytes(d); }
  Digest finish();  // once per Hasher

 private:
  // libsodium's crypto_generichash_state, kept opaque here (size checked in hash.cpp).
  alignas(64) std::array<unsigned char, 384> state_{};
};

// BLAKE2b-256 of `data`.
Digest digest(std::span<const std::uint8_t> data);
Digest digest(std::string_view data);

}  // namespace fieldsync::crypto
