#include "proxy/fault_plan.hpp"

#include <algorithm>
#include <charconv>

namespace fieldsync::proxy {

std::uint64_t SeededRng::next() {
  std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::uint64_t SeededRng::between(std::uint64_t lo, std::uint64_t hi) {
  if (hi <= lo) return lo;
  const std::uint64_t span = hi - lo + 1;
  return span == 0 ? next() : lo + next() % span;
}

std::string check(const FaultOptions& o) {
  if (o.latency_ms < 0) return "--latency-ms must not be negative";
  if (o.bandwidth_kbit < 0) return "--bandwidth-kbit must not be negative";
  if (o.bandwidth_kbit > 0 && o.bandwidth_kbit < 1) return "--bandwidth-kbit must be at least 1";
  if (o.stall_every_ms < 0 || o.stall_ms < 0) return "stall times must not be negative";
  if ((o.stall_every_ms > 0) != (o.stall_ms > 0))
    return "--stall-every-ms and --stall-ms go together";
  if (o.cut_after_bytes_min > o.cut_after_bytes_max)
    return "--cut-after-bytes-min must not exceed --cut-after-bytes-max";
  if (o.cut_every_ms < 0) return "--cut-every-ms must not be negative";
  if (o.refuse_for_ms < 0) return "--refuse-for-ms must not be negative";
  if (o.partition_at_ms >= 0 && o.partition_ms <= 0)
    return "--partition-at-ms needs a positive --partition-ms";
  if (o.partition_at_ms < 0 && o.partition_ms > 0) return "--partition-ms needs --partition-at-ms";
  return {};
}

FaultPlan::FaultPlan(const FaultOptions& options)
    : options_(options), schedule_(options_.seed ^ 0x5CED5CED5CED5CEDULL) {}

SeededRng FaultPlan::connection_rng(std::uint64_t connection) const {
  SeededRng mix(options_.seed);
  const std::uint64_t base = mix.next();
  return SeededRng(base ^ (connection * 0xD1B54A32D192ED03ULL));
}

std::optional<std::uint64_t> FaultPlan::initial_cut(SeededRng& rng) const {
  if (options_.cut_after_bytes_max == 0) return std::nullopt;
  return rng.between(std::max<std::uint64_t>(1, options_.cut_after_bytes_min),
                     options_.cut_after_bytes_max);
}

std::uint64_t FaultPlan::armed_cut(SeededRng& rng) const {
  // Within the next few kilobytes: mid-frame for most frames the sync protocol sends.
  const std::uint64_t most =
      options_.cut_after_bytes_max > 0 ? options_.cut_after_bytes_max : std::uint64_t{4096};
  return rng.between(1, most);
}

bool FaultPlan::cut_with_reset(SeededRng& rng) const { return (rng.next() & 1) != 0; }

std::int64_t FaultPlan::next_stall_gap_ms() {
  const auto mean = static_cast<std::uint64_t>(options_.stall_every_ms);
  return static_cast<std::int64_t>(schedule_.between(mean / 2, mean + mean / 2));
}

std::int64_t FaultPlan::next_cut_gap_ms() {
  const auto mean = static_cast<std::uint64_t>(options_.cut_every_ms);
  return static_cast<std::int64_t>(schedule_.between(mean - mean / 4, mean + mean / 4));
}

std::optional<std::int64_t> FaultPlan::refused_until(std::int64_t elapsed_ms) const {
  if (elapsed_ms < options_.refuse_for_ms) return options_.refuse_for_ms;
  return partitioned_until(elapsed_ms);
}

std::optional<std::int64_t> FaultPlan::partitioned_until(std::int64_t elapsed_ms) const {
  if (options_.partition_at_ms < 0) return std::nullopt;
  const std::int64_t end = options_.partition_at_ms + options_.partition_ms;
  if (elapsed_ms >= options_.partition_at_ms && elapsed_ms < end) return end;
  return std::nullopt;
}

std::size_t FaultPlan::paced_slice() const {
  const double rate = bytes_per_second();
  if (rate <= 0) return std::size_t{16} * 1024;
  // About a tenth of a second of data, within [64, 1024] bytes: fine-grained pacing.
  return std::clamp<std::size_t>(static_cast<std::size_t>(rate / 10), 64, 1024);
}

}  // namespace fieldsync::proxy
