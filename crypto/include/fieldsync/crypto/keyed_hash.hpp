// Keyed BLAKE2b (libsodium crypto_generichash): a MAC-like digest of a message under a secret
// key, for values that must be looked up by hash without the table giving them away (the
// server's enrolment codes are stored this way).
//
// Thread safety: safe to call from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace fieldsync::crypto {

inline constexpr std::size_t kKeyedHashBytes = 32;     // BLAKE2b-256
inline constexpr std::size_t kKeyedHashKeyBytes = 32;  // the key size callers should use

using KeyedHash = std::array<std::uint8_t, kKeyedHashBytes>;

// BLAKE2b-256 of `message` under `key`. `key` must be 16 to 64 bytes (asserted: a programmer
// error otherwise).
KeyedHash keyed_hash(std::span<const std::uint8_t> key, std::span<const std::uint8_t> message);

}  // namespace fieldsync::crypto
