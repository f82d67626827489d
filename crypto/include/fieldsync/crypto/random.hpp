// Sources of random bytes. Code that needs randomness takes a Random& so that tests and the
// simulation can make it deterministic.
//
// Thread safety: SodiumRandom is stateless and safe to share; SeededRandom is a plain value.
#pragma once

#include <cstdint>
#include <span>

namespace fieldsync::crypto {

class Random {
 public:
  virtual ~Random() = default;
  virtual void fill(std::span<std::uint8_t> out) = 0;
};

// Initialises libsodium; aborts the process if it cannot (no usable entropy source).
void init_sodium();

// The operating system's CSPRNG through libsodium. For keys, ids and nonces.
class SodiumRandom final : public Random {
 public:
  SodiumRandom();
  void fill(std::span<std::uint8_t> out) override;
};

// A deterministic generator (splitmix64) for tests and simulation. Never for keys.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : state_(seed) {}
  void fill(std::span<std::uint8_t> out) override;
  std::uint64_t next();
  // Uniform enough in [0, n) for tests; n > 0.
  std::uint64_t below(std::uint64_t n) { return next() % n; }

 private:
  std::uint64_t state_;
};

}  // namespace fieldsync::crypto
