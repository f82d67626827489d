// fieldsync-bench's phases beside the sync rounds (run.hpp), each filling its figures in a
// repetition's Values (report.hpp keys):
//   limits  what the machine allows, measured in the same run (limits.hpp): raw SQLite
//           writing the server's rows for the very ops the devices pushed, Ed25519
//           verification, AEAD sealing, a bare WebSocket echo;
//   live    light writers (one worker each, a team of their own) edit once per interval while
//           connected and their lead's device receives the edits live (swarm.hpp), against
//           the server the sync rounds used;
//   idle    many authenticated connections held open on a server started fresh for it (its
//           resident memory shows growth only before it has held as many), memory per
//           connection.
//
// Ownership: nothing outlives a call; a server started here is stopped before it returns.
// Threading: each runs on the calling thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bench/progress.hpp"
#include "bench/report.hpp"
#include "fieldsync/status.hpp"
#include "fieldsync/sync/op.hpp"

namespace fieldsync::server {
class Directory;
}

namespace fieldsync::bench {

struct SideConfig {
  std::size_t live_writers = 50;
  std::chrono::milliseconds live_interval{1000};
  std::chrono::milliseconds live_duration{5000};
  std::size_t idle_connections = 500;
  std::size_t sqlite_batch = 500;  // ops per transaction, as the devices push them
  std::chrono::milliseconds crypto_budget{1000};
  std::chrono::milliseconds echo_budget{2000};
};

// `ops`: what the devices pushed, in device order (each device's run consecutive, as its
// pushes reach the writer); written under a new folder in `dir`.
Status measure_limits(const SideConfig& config, const std::string& dir,
                      const std::vector<sync::Op>& ops, Values& v, Progress& progress);

// Writers and their lead enrolled in `directory` (a team named after `tag`), run against the
// server at host:port.
Status measure_live(const SideConfig& config, server::Directory& directory, const std::string& tag,
                    const std::string& host, std::uint16_t port, Values& v, Progress& progress);

// Starts `server_bin` on a new store under `dir`, enrols the connections' devices, holds them
// open, stops the server.
Status measure_idle(const SideConfig& config, const std::string& server_bin, const std::string& dir,
                    Values& v, Progress& progress);

}  // namespace fieldsync::bench
