// Hybrid logical clock arithmetic.
#include "fieldsync/sync/hlc.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>

namespace fieldsync::sync {

std::string Hlc::to_string() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx-%08x", static_cast<unsigned long long>(wall_ms),
                static_cast<unsigned>(logical));
  return buf;
}

std::optional<Hlc> Hlc::parse(std::string_view text) {
  if (text.size() != 25 || text[16] != '-') return std::nullopt;
  unsigned long long wall = 0;
  unsigned logical = 0;
  auto a = std::from_chars(text.data(), text.data() + 16, wall, 16);
  auto b = std::from_chars(text.data() + 17, text.data() + 25, logical, 16);
  if (a.ec != std::errc() || a.ptr != text.data() + 16 || b.ec != std::errc() ||
      b.ptr != text.data() + 25 || wall > static_cast<unsigned long long>(INT64_MAX))
    return std::nullopt;
  return Hlc{static_cast<std::int64_t>(wall), logical};
}

Hlc HlcClock::now(std::int64_t physical_ms) {
  if (physical_ms > last_.wall_ms) {
    last_ = Hlc{physical_ms, 0};
  } else {
    ++last_.logical;
  }
  return last_;
}

bool HlcClock::observe(const Hlc& remote, std::int64_t physical_ms) {
  if (is_skewed(remote, physical_ms)) {
    now(physical_ms);
    return false;
  }
  std::int64_t wall = std::max({last_.wall_ms, remote.wall_ms, physical_ms});
  std::uint32_t logical = 0;
  if (wall == last_.wall_ms && wall == remote.wall_ms) {
    logical = std::max(last_.logical, remote.logical) + 1;
  } else if (wall == last_.wall_ms) {
    logical = last_.logical + 1;
  } else if (wall == remote.wall_ms) {
    logical = remote.logical + 1;
  }
  last_ = Hlc{wall, logical};
  return true;
}

}  // namespace fieldsync::sync
