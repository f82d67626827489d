// The reconnect backoff's jitter as a distribution: each wait is uniform over its whole window
// [0, min(max, initial * 2^attempt)], and many devices that lost the server at the same moment
// come back spread out instead of together (the property e2e:reconnect_jitter measures with
// real processes, docs/TESTING.md).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>

#include "fieldsync/client/sync_client.hpp"
#include "fieldsync/crypto/random.hpp"

using fieldsync::client::full_jitter_backoff;
using fieldsync::crypto::SeededRandom;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

namespace {

// The client's defaults (SyncClientOptions).
constexpr milliseconds kInitial = 100ms;
constexpr milliseconds kMax = 5000ms;

// The most arrivals in any window [t, t + width) over sorted times.
std::size_t densest(const std::vector<std::int64_t>& sorted, std::int64_t width) {
  std::size_t most = 0;
  for (auto it = sorted.begin(); it != sorted.end(); ++it) {
    auto end = std::lower_bound(it, sorted.end(), *it + width);
    most = std::max(most, static_cast<std::size_t>(end - it));
  }
  return most;
}

// When each of `devices` devices, all refused from time 0 until `outage_ms`, connects again:
// every failed attempt is followed by the wait `wait(device, attempt)`; the first attempt at or
// after the end of the outage gets through. Sorted, in ms after the end of the outage.
template <typename Wait>
std::vector<std::int64_t> comeback(int devices, std::int64_t outage_ms, Wait wait) {
  std::vector<std::int64_t> back;
  back.reserve(static_cast<std::size_t>(devices));
  for (int d = 0; d < devices; ++d) {
    std::int64_t t = 0;
    for (int attempt = 0; t < outage_ms; ++attempt) t += wait(d, attempt);
    back.push_back(t - outage_ms);
  }
  std::sort(back.begin(), back.end());
  return back;
}

}  // namespace

TEST_CASE("each backoff wait is uniform over its whole window", "[backoff]") {
  constexpr int kDraws = 20'000;
  constexpr int kBins = 20;
  for (int attempt = 0; attempt <= 8; ++attempt) {
    const std::int64_t ceiling = std::min<std::int64_t>(kMax.count(), kInitial.count() << attempt);
    SeededRandom random(1000 + static_cast<std::uint64_t>(attempt));
    std::vector<int> bins(kBins, 0);
    double sum = 0;
    std::int64_t lowest = ceiling;
    std::int64_t highest = 0;
    for (int i = 0; i < kDraws; ++i) {
      const std::int64_t d = full_jitter_backoff(kInitial, kMax, attempt, random).count();
      REQUIRE(d >= 0);
      REQUIRE(d <= ceiling);
      sum += static_cast<double>(d);
      lowest = std::min(lowest, d);
      highest = std::max(highest, d);
      ++bins[static_cast<std::size_t>(
          std::min<std::int64_t>(kBins - 1, d * kBins / (ceiling + 1)))];
    }
    INFO("attempt " << attempt << ", window [0, " << ceiling << "] ms");
    // The window is used to its ends, not just its middle.
    CHECK(lowest <= ceiling / 100);
    CHECK(highest >= ceiling - ceiling / 100);
    CHECK(sum / kDraws == Approx(static_cast<double>(ceiling) / 2).epsilon(0.02));
    // Pearson's chi-square against the uniform distribution: 19 degrees of freedom, 43.82 is
    // the 0.1% critical value (the seeds are fixed, so this cannot flake).
    const double expected = static_cast<double>(kDraws) / kBins;
    double chi2 = 0;
    for (int count : bins) chi2 += (count - expected) * (count - expected) / expected;
    CHECK(chi2 < 43.82);
  }
}

TEST_CASE("the backoff window doubles from the initial wait and stops at the maximum",
          "[backoff]") {
  SeededRandom random(7);
  // Every value of a small window comes up, and nothing above it: the ceiling is inclusive.
  auto values = [&](milliseconds initial, milliseconds max, int attempt) {
    std::vector<bool> seen;
    for (int i = 0; i < 4000; ++i) {
      const auto d =
          static_cast<std::size_t>(full_jitter_backoff(initial, max, attempt, random).count());
      if (d >= seen.size()) seen.resize(d + 1, false);
      seen[d] = true;
    }
    return seen;
  };
  CHECK(values(3ms, 100ms, 0) == std::vector<bool>(4, true));   // [0, 3]
  CHECK(values(3ms, 100ms, 2) == std::vector<bool>(13, true));  // [0, 12]
  CHECK(values(3ms, 10ms, 2) == std::vector<bool>(11, true));   // capped: [0, 10]
  CHECK(values(30ms, 10ms, 0) == std::vector<bool>(11, true));  // initial above max: [0, 10]
  CHECK(values(0ms, 10ms, 5) == std::vector<bool>(1, true));    // no wait at all
  // A long outage (attempt counts far beyond the doubling's range) stays at the maximum.
  for (int attempt : {13, 40, 63, 64, 1000, 1 << 30}) {
    const auto d = full_jitter_backoff(kInitial, kMax, attempt, random);
    CHECK(d >= 0ms);
    CHECK(d <= kMax);
  }
}

TEST_CASE("devices that lose the server together come back spread out, not in one burst",
          "[backoff]") {
  // 1000 devices refused for 4 s (each its own generator, as each has its own system random
  // source), with the client's defaults. Without jitter every device would wait exactly the
  // window's ceiling and all 1000 would return in the same instant.
  constexpr int kDevices = 1000;
  constexpr std::int64_t kOutage = 4000;
  std::vector<SeededRandom> randoms;
  randoms.reserve(kDevices);
  for (int d = 0; d < kDevices; ++d) randoms.emplace_back(50'000 + static_cast<std::uint64_t>(d));
  const auto jittered = comeback(kDevices, kOutage, [&](int d, int attempt) {
    return full_jitter_backoff(kInitial, kMax, attempt, randoms[static_cast<std::size_t>(d)])
        .count();
  });
  const auto fixed = comeback(kDevices, kOutage, [](int, int attempt) {
    return std::min<std::int64_t>(kMax.count(), kInitial.count() << attempt);
  });

  const std::size_t burst_jittered = densest(jittered, 100);
  const std::size_t burst_fixed = densest(fixed, 100);
  const std::int64_t p10 = jittered[kDevices / 10];
  const std::int64_t p50 = jittered[kDevices / 2];
  const std::int64_t p90 = jittered[kDevices * 9 / 10];
  INFO("with jitter: at most " << burst_jittered << " of " << kDevices
                               << " in any 100 ms, back after p10 " << p10 << " ms, p50 " << p50
                               << " ms, p90 " << p90 << " ms, last " << jittered.back()
                               << " ms; without: " << burst_fixed << " in one 100 ms");
  CHECK(burst_fixed == kDevices);
  // About 6% in the densest 100 ms of a spread that lasts up to the 5 s ceiling.
  CHECK(burst_jittered <= kDevices / 10);
  CHECK(p90 - p10 >= 2500);
  CHECK(jittered.back() <= kMax.count());
}
