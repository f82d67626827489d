// The fault proxy's plan: which faults to inject (from the command line) and the seeded
// random numbers that place them. No I/O here: the proxy (proxy.cpp) asks the plan where to
// cut a connection, when to stall, and whether a connection is refused at a given time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/host_port.hpp"

namespace fieldsync::proxy {

// splitmix64: small, fast and the same on every platform, so a seed replays anywhere.
class SeededRng {
 public:
  explicit SeededRng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next();
  // Uniform in [lo, hi] (hi >= lo); the modulo bias is negligible for the ranges used here.
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi);

 private:
  std::uint64_t state_;
};

using tools::HostPort;
using tools::parse_host_port;

struct FaultOptions {
  std::uint64_t seed = 1;
  std::int64_t latency_ms = 0;            // added to every chunk, each direction, order kept
  double bandwidth_kbit = 0;              // per direction; 0: unlimited
  std::int64_t stall_every_ms = 0;        // mean gap between stalls; 0: none
  std::int64_t stall_ms = 0;              // how long a stall lasts
  std::uint64_t cut_after_bytes_min = 0;  // both 0: no byte-count cuts
  std::uint64_t cut_after_bytes_max = 0;
  std::int64_t cut_every_ms = 0;      // mean gap between timed cuts; 0: none
  std::int64_t refuse_for_ms = 0;     // refuse every connection for this long after start
  std::int64_t partition_at_ms = -1;  // < 0: no partition
  std::int64_t partition_ms = 0;
  std::size_t max_buffer_bytes = std::size_t{256} * 1024;  // per direction: reading stops above it
  bool log_connections = false;  // one line per accepted connection: its peer and arrival time
};

// Checks the options' consistency; an empty string when they are fine.
std::string check(const FaultOptions& o);

class FaultPlan {
 public:
  explicit FaultPlan(const FaultOptions& options);
  const FaultOptions& options() const { return options_; }

  // A connection's own random numbers: derived from the seed and its number only, so the
  // same connection gets the same cut point however the others interleave.
  SeededRng connection_rng(std::uint64_t connection) const;
  // Bytes (both directions together) after which a new connection is cut, when
  // --cut-after-bytes-* is given.
  std::optional<std::uint64_t> initial_cut(SeededRng& rng) const;
  // When a timed cut arms a connection: how many more bytes it may carry.
  std::uint64_t armed_cut(SeededRng& rng) const;
  // Cut with RST (true) or FIN.
  bool cut_with_reset(SeededRng& rng) const;

  // Milliseconds until the next stall and until the next timed cut (from the plan's own
  // sequence, so the schedule replays with the seed).
  std::int64_t next_stall_gap_ms();
  std::int64_t next_cut_gap_ms();

  // At `elapsed_ms` since start: are new connections refused, and until when (ms since
  // start) does the partition or refusal window last? nullopt: open.
  std::optional<std::int64_t> refused_until(std::int64_t elapsed_ms) const;
  // At `elapsed_ms`: the end of the partition window existing connections are stalled in.
  std::optional<std::int64_t> partitioned_until(std::int64_t elapsed_ms) const;

  // Bytes per second per direction (0: unlimited) and the size of one paced write.
  double bytes_per_second() const { return options_.bandwidth_kbit * 1000.0 / 8.0; }
  std::size_t paced_slice() const;

 private:
  FaultOptions options_;
  SeededRng schedule_;
};

}  // namespace fieldsync::proxy
