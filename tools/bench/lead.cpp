// fieldsync-bench's initial pull by a fresh lead device (see lead.hpp).
#include "bench/lead.hpp"

#include <time.h>

#include <chrono>
#include <filesystem>

#include "bench/fleet.hpp"

namespace fieldsync::bench {
namespace {

// The calling thread's CPU time: the sync client runs on it, with no threads of its own.
double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

Result<InitialPull> lead_initial_pull(server::Directory& directory, const Team& team,
                                      const std::string& dir, const std::string& url,
                                      Progress& progress) {
  const std::string path = (std::filesystem::path(dir) / (team.lead + ".replica")).string();
  auto replica = enrolled_replica(directory, path, team.lead, url);
  if (!replica)
    return Status(replica.status().code(), "the lead's device: " + replica.status().message());
  WireTally tally;
  progress.phase("pull", 0, "KiB received", [&tally] { return tally.counts().bytes_down / 1024; });
  const double cpu_start = thread_cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  auto outcome = sync_device(**replica, tally, url, "the lead's device (" + team.lead + ")");
  const auto end = std::chrono::steady_clock::now();
  const double cpu = thread_cpu_seconds() - cpu_start;
  if (!outcome) return outcome.status();
  InitialPull p;
  p.seconds = std::chrono::duration<double>(end - start).count();
  p.cpu_seconds = cpu;
  p.pulled = outcome->pulled;
  p.snapshot_records = outcome->snapshot_records;
  p.wire = tally.counts();
  progress.phase("count", 0, "records");
  for (const auto& c : (*replica)->schema().collections()) {
    auto records = (*replica)->list(c.name);
    if (!records)
      return Status(records.status().code(), "the lead's device: " + records.status().message());
    p.records += records->size();
    progress.add(records->size());
  }
  return p;
}

}  // namespace fieldsync::bench
