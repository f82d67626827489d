// Shared by the fuzz targets: a check that stops the process with a message (libFuzzer keeps
// the input; the replay driver names it), and a reader that turns fuzz bytes into choices.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

// The property `cond` must hold for every input; otherwise the input found a bug.
#define FUZZ_CHECK(cond, what)                                                                  \
  do {                                                                                          \
    if (!(cond)) ::fieldsync::fuzz::check_failed(__FILE__, __LINE__, #cond, std::string(what)); \
  } while (0)

namespace fieldsync::fuzz {

[[noreturn]] inline void check_failed(const char* file, int line, const char* cond,
                                      const std::string& what) {
  std::fprintf(stderr, "fuzz check failed at %s:%d: %s\n  %s\n", file, line, cond, what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Consumes fuzz bytes front to back; past the end every read gives zero.
class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const { return pos_ >= size_; }
  std::size_t remaining() const { return empty() ? 0 : size_ - pos_; }

  std::uint8_t byte() { return empty() ? 0 : data_[pos_++]; }
  // A value in [0, n); n > 0.
  std::size_t below(std::size_t n) { return n <= 256 ? byte() % n : (byte() << 8 | byte()) % n; }
  bool flag() { return byte() & 1; }
  // Up to `max` bytes as text.
  std::string text(std::size_t max) {
    std::size_t n = below(max + 1);
    std::string out;
    for (std::size_t i = 0; i < n && !empty(); ++i) out += static_cast<char>(byte());
    return out;
  }
  // Whatever is left.
  std::string_view rest() {
    std::string_view out =
        empty() ? std::string_view()
                : std::string_view(reinterpret_cast<const char*>(data_ + pos_), size_ - pos_);
    pos_ = size_;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

}  // namespace fieldsync::fuzz
