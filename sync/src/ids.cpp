// Device, operation and record ids.
#include "fieldsync/sync/ids.hpp"

#include <array>
#include <charconv>

namespace fieldsync::sync {
namespace {
bool is_hex_lower(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
}  // namespace

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

std::string new_device_id(Random& random) {
  std::array<std::uint8_t, 16> bytes{};
  random.fill(bytes);
  return to_hex(bytes);
}

std::string new_record_id(Random& random) {
  std::array<std::uint8_t, 10> bytes{};
  random.fill(bytes);
  return to_hex(bytes);
}

std::string make_op_id(std::string_view device_id, std::uint64_t counter) {
  std::string id(device_id);
  id.push_back('.');
  id += std::to_string(counter);
  return id;
}

bool is_valid_device_id(std::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id)
    if (!is_hex_lower(c)) return false;
  return true;
}

bool is_valid_record_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::pair<std::string, std::uint64_t>> parse_op_id(std::string_view id) {
  auto dot = id.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string_view device = id.substr(0, dot);
  std::string_view digits = id.substr(dot + 1);
  if (!is_valid_device_id(device) || digits.empty() || digits.size() > 20) return std::nullopt;
  std::uint64_t counter = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), counter);
  if (ec != std::errc() || end != digits.data() + digits.size() || counter == 0)
    return std::nullopt;
  return std::make_pair(std::string(device), counter);
}

}  // namespace fieldsync::sync
