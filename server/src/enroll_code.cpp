// Enrolment code text: generation, grouping and normalisation (contract in enroll_code.hpp).
#include "fieldsync/server/enroll_code.hpp"

#include <array>
#include <cstdint>

namespace fieldsync::server {

std::string make_enroll_code(crypto::Random& random) {
  static_assert(kEnrollCodeAlphabet.size() == 32 && kEnrollCodeChars * 5 <= 64);
  std::array<std::uint8_t, 8> bytes{};
  random.fill(bytes);
  std::uint64_t bits = 0;
  for (std::uint8_t b : bytes) bits = (bits << 8) | b;
  std::string out;
  out.reserve(kEnrollCodeChars);
  for (std::size_t i = 0; i < kEnrollCodeChars; ++i, bits >>= 5)
    out.push_back(kEnrollCodeAlphabet[bits & 31U]);  // 32 symbols: every 5 bits uniform
  return out;
}

std::string format_enroll_code(std::string_view canonical) {
  std::string out;
  for (std::size_t i = 0; i < canonical.size(); ++i) {
    if (i > 0 && i % 4 == 0) out.push_back('-');
    out.push_back(canonical[i]);
  }
  return out;
}

std::optional<std::string> normalize_enroll_code(std::string_view typed) {
  std::string out;
  for (char c : typed) {
    if (c == '-' || c == ' ') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (kEnrollCodeAlphabet.find(c) == std::string_view::npos) return std::nullopt;
    if (out.size() == kEnrollCodeChars) return std::nullopt;
    out.push_back(c);
  }
  if (out.size() != kEnrollCodeChars) return std::nullopt;
  return out;
}

}  // namespace fieldsync::server
