// Random sources: libsodium's CSPRNG and a seeded generator for tests.
#include "fieldsync/crypto/random.hpp"

#include <sodium.h>

#include <cstdlib>
#include <cstring>

namespace fieldsync::crypto {

void init_sodium() {
  if (sodium_init() < 0) std::abort();
}

SodiumRandom::SodiumRandom() { init_sodium(); }

void SodiumRandom::fill(std::span<std::uint8_t> out) { randombytes_buf(out.data(), out.size()); }

std::uint64_t SeededRandom::next() {
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void SeededRandom::fill(std::span<std::uint8_t> out) {
  std::size_t i = 0;
  while (i < out.size()) {
    std::uint64_t v = next();
    std::size_t n = std::min<std::size_t>(8, out.size() - i);
    std::memcpy(out.data() + i, &v, n);
    i += n;
  }
}

}  // namespace fieldsync::crypto
