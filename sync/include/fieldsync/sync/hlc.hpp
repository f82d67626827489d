// Hybrid logical clocks. A timestamp is (wall milliseconds, logical counter). Device clocks
// in the field are wrong; the clock takes the physical time as an argument (no clock reads
// here), and refuses to adopt a remote timestamp more than `max_ahead_ms` ahead of its own
// physical time: such a timestamp is reported as skewed instead.
//
// Thread safety: an HlcClock is a plain value; callers serialise access.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>

namespace fieldsync::sync {

struct Hlc {
  std::int64_t wall_ms = 0;
  std::uint32_t logical = 0;

  auto operator<=>(const Hlc&) const = default;  // NOLINT(modernize-use-nullptr): tidy 14 bug
  // Fixed-width text "0000018c2a3b4c5d-00000000": sorts like the value.
  std::string to_string() const;
  static std::optional<Hlc> parse(std::string_view text);
};

// Default bound on how far ahead of local physical time a remote clock may pull ours.
inline constexpr std::int64_t kDefaultMaxAheadMs = 5LL * 60 * 1000;

class HlcClock {
 public:
  explicit HlcClock(Hlc last = {}, std::int64_t max_ahead_ms = kDefaultMaxAheadMs)
      : last_(last), max_ahead_ms_(max_ahead_ms) {}

  // A timestamp for a local event, strictly greater than every timestamp issued or adopted.
  Hlc now(std::int64_t physical_ms);

  // Takes in a remote timestamp. Returns false (and leaves the clock as a local event at
  // `physical_ms` would) when `remote` is more than the bound ahead of `physical_ms`: the
  // caller flags the remote event as skewed.
  bool observe(const Hlc& remote, std::int64_t physical_ms);

  // True when `t` is more than the bound ahead of `physical_ms`.
  bool is_skewed(const Hlc& t, std::int64_t physical_ms) const {
    return t.wall_ms > physical_ms + max_ahead_ms_;
  }

  const Hlc& last() const { return last_; }
  std::int64_t max_ahead_ms() const { return max_ahead_ms_; }

 private:
  Hlc last_;
  std::int64_t max_ahead_ms_;
};

}  // namespace fieldsync::sync
