// Keyed BLAKE2b through libsodium's crypto_generichash.
#include "fieldsync/crypto/keyed_hash.hpp"

#include <sodium.h>

#include <cassert>

#include "fieldsync/crypto/random.hpp"

namespace fieldsync::crypto {

KeyedHash keyed_hash(std::span<const std::uint8_t> key, std::span<const std::uint8_t> message) {
  assert(key.size() >= crypto_generichash_KEYBYTES_MIN &&
         key.size() <= crypto_generichash_KEYBYTES_MAX);
  init_sodium();
  KeyedHash out{};
  crypto_generichash(out.data(), out.size(), message.data(), message.size(), key.data(),
                     key.size());
  return out;
}

}  // namespace fieldsync::crypto
