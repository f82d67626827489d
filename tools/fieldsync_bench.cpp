// fieldsync-bench: the whole system under load, end to end. Starts a real fieldsync-server
// (the one built beside it, on a temporary store) or targets a running one, drives --devices
// simulated field devices over real loopback WebSockets, each with its own encrypted replica
// and a seeded caseload written offline, syncs them all at once, pushes a round of field
// edits, lets a fresh lead device pull the merged caseload, measures live latency, memory per
// idle connection and the machine's limits beside them, and prints a table and one JSON line
// (--json: the JSON line only). What each figure means: docs/PERFORMANCE.md and
// tools/bench/*.hpp. main() only parses the command line and wires tools/bench together.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench/progress.hpp"
#include "bench/report.hpp"
#include "bench/run.hpp"
#include "common/guarded_main.hpp"

namespace bench = fieldsync::bench;

static int run_main(int argc, char** argv) {
  bench::RunConfig config;
  int reps = 1;
  bool json = false;
  CLI::App app{
      "fieldsync-bench: push throughput, initial pull, bytes on the wire and server memory of a "
      "real fieldsync-server driven by simulated field devices over loopback WebSockets "
      "(docs/PERFORMANCE.md)"};
  app.add_option("--devices", config.devices, "simulated field devices, one worker each")
      ->check(CLI::Range(1, 100'000))
      ->capture_default_str();
  app.add_option("--cases", config.cases, "new cases each device writes offline")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  app.add_option("--edits", config.edits, "field edits each device makes, pushed in a 2nd round")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  app.add_option("--seed", config.seed, "seed of the data generator")->capture_default_str();
  app.add_option("--dir", config.dir,
                 "where the temporary folder (server store and replicas) is made: the disk "
                 "measured")
      ->check(CLI::ExistingDirectory)
      ->capture_default_str();
  app.add_option("--reps", reps, "repetitions on fresh stores; medians are reported")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  auto* bin =
      app.add_option("--server-bin", config.server_bin,
                     "the fieldsync-server to start (default: the one beside this program)");
  auto* target = app.add_option("--target", config.target,
                                "bench a running server at ws://HOST:PORT instead of starting one")
                     ->excludes(bin);
  app.add_option("--data", config.data,
                 "with --target: the server's data folder, to enrol the devices in its directory")
      ->needs(target)
      ->check(CLI::ExistingDirectory);
  app.add_option("--server-pid", config.server_pid,
                 "with --target: the server's process id, for its memory figures")
      ->needs(target);
  double live_seconds = 5;
  app.add_option("--live-writers", config.side.live_writers,
                 "connected writers in the live phase, one edit a second each (0: no live phase)")
      ->check(CLI::Range(0, 100'000))
      ->capture_default_str();
  app.add_option("--live-seconds", live_seconds, "how long the live phase's window lasts")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
  app.add_option("--idle", config.side.idle_connections,
                 "idle connections held open on a fresh server (0: no idle phase)")
      ->check(CLI::Range(0, 1'000'000))
      ->capture_default_str();
  app.add_flag("--keep", config.keep, "keep the temporary folder (store, replicas, server log)");
  app.add_flag("--json", json, "print only the JSON line");
  CLI11_PARSE(app, argc, argv);
  config.side.live_duration = std::chrono::milliseconds(static_cast<long>(live_seconds * 1000));
  if (!config.target.empty() && config.data.empty()) {
    std::cerr << "error: --target needs --data (the running server's data folder)\n";
    return 2;
  }

  const auto start = std::chrono::steady_clock::now();
  bench::Report report;
  report.info = {config.devices,
                 config.cases,
                 config.edits,
                 config.seed,
                 reps,
                 config.target.empty() ? "started" : "target",
                 config.target,
                 bench::raise_open_file_limit(),
                 0};
  std::vector<bench::Values> results;
  {
    bench::Progress progress(true);
    for (int rep = 0; rep < reps; ++rep) {
      auto values = bench::run_repetition(config, rep, progress);
      if (!values) {
        progress.clear();
        std::cerr << "error: repetition " << rep + 1 << ": " << values.status().message() << "\n";
        return 1;
      }
      results.push_back(std::move(*values));
    }
  }
  report.info.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  bench::summarize(results, report);
  bench::add_doc_targets(report);
  if (!json) bench::print_table(report);
  std::printf("%s\n", bench::json_line(report).c_str());
  return 0;
}

int main(int argc, char** argv) { return fieldsync::tools::guarded_main(run_main, argc, argv); }
