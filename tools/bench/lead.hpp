// fieldsync-bench's initial pull: a fresh device of the team lead (a new encrypted replica,
// enrolled in bulk like the workers' devices) syncs once and receives the team's whole
// caseload. Only the sync is timed; the records it then holds are counted afterwards with
// Replica::list, per collection. The sync's counters say which path the caseload took: log
// entries replayed (pulled) or records received whole (snapshot_records).
//
// Ownership: the lead's replica lives in the directory given and is closed before returning.
// Threading: runs on the calling thread.
#pragma once

#include <cstddef>
#include <string>

#include "bench/programme.hpp"
#include "bench/progress.hpp"
#include "bench/wire_counter.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::bench {

struct InitialPull {
  double seconds = 0;                // the lead's sync_once, connect to up to date
  double cpu_seconds = 0;            // the CPU time the sync took on the bench's side
  std::size_t records = 0;           // records the lead's replica holds afterwards
  std::size_t pulled = 0;            // log entries applied
  std::size_t snapshot_records = 0;  // records received whole
  WireCounts wire;
};

Result<InitialPull> lead_initial_pull(server::Directory& directory, const Team& team,
                                      const std::string& dir, const std::string& url,
                                      Progress& progress);

}  // namespace fieldsync::bench
