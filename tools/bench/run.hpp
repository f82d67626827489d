// fieldsync-bench's repetition: everything one measurement does, in order, on fresh stores.
//   1. a temporary folder fieldsync-bench-XXXXXX under --dir (default: the current folder, so
//      that the server's store and the replicas sit on the disk the bench is run from), with
//      server/ (the store) and devices/ (the replicas);
//   2. the team in the store's directory, then the server started on it (or, with --target,
//      the running server, enrolling through its --data folder under a fresh run tag);
//   3. the devices enrolled in bulk, their caseloads written offline;
//   4. push: every device syncs at once;
//   5. edits: every device makes --edits field edits offline, then all sync at once again;
//   6. initial pull: a fresh lead device syncs the merged caseload;
//   7. live: light writers edit while their lead's device is connected (side_phases.hpp);
//   8. the server's memory, then the server stopped;
//   9. the machine's limits (the pushed ops written by raw SQLite on the same disk, crypto
//      rates, a bare echo), and idle connections on a fresh server; the folder removed
//      (unless --keep).
//
// Ownership: a repetition owns its folder, server and devices, and releases them before it
// returns, also on errors. Threading: runs on the calling thread (the phases start their own).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "bench/progress.hpp"
#include "bench/report.hpp"
#include "bench/side_phases.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::bench {

struct RunConfig {
  std::size_t devices = 20;
  std::size_t cases = 25;  // per device
  std::size_t edits = 25;  // per device
  std::uint64_t seed = 42;
  std::string dir = ".";
  std::string server_bin;  // empty: the fieldsync-server beside the bench
  std::string target;      // ws://HOST:PORT of a running server; empty: start one
  std::string data;        // --target: the running server's data folder (for enrolment)
  pid_t server_pid = 0;    // --target: its process, for memory figures; 0: none
  bool keep = false;
  SideConfig side;  // the live, idle and limits phases
};

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the soft limit now in force.
std::uint64_t raise_open_file_limit();

// One repetition; its figures (report.hpp keys). The error names the step, the device and
// the Status, with the server log's last lines when the server was started here.
Result<Values> run_repetition(const RunConfig& config, int rep, Progress& progress);

}  // namespace fieldsync::bench
