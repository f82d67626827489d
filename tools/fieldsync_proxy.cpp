// fieldsync-proxy: a fault-injecting TCP proxy for tests (docs/TESTING.md). Sits between
// devices and fieldsync-server and makes the link slow, lossy or absent, from a seed so that
// a failure replays. main() only parses the command line.
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "common/guarded_main.hpp"
#include "proxy/proxy.hpp"

static int run_main(int argc, char** argv) {
  using fieldsync::proxy::parse_host_port;
  CLI::App app{
      "fieldsync-proxy: forwards TCP connections from --listen to --target and injects "
      "faults on the way: latency, a bandwidth limit, stalls, cuts at seeded byte offsets, "
      "refused connections and a partition. Prints \"listening on HOST:PORT\" once ready, "
      "one line per fault on stderr, and a summary on SIGTERM or SIGINT."};
  std::string listen = "127.0.0.1:0";
  std::string target;
  fieldsync::proxy::FaultOptions f;
  app.add_option("--listen", listen, "HOST:PORT to accept on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--target", target, "HOST:PORT to forward to (the server)")->required();
  app.add_option("--seed", f.seed,
                 "Seed of every random choice: the same seed and traffic "
                 "give the same faults")
      ->required();
  app.add_option("--latency-ms", f.latency_ms, "Delay added to every chunk, in each direction")
      ->capture_default_str();
  app.add_option("--bandwidth-kbit", f.bandwidth_kbit,
                 "Bandwidth per direction in kbit/s (token bucket); 0: unlimited")
      ->capture_default_str();
  app.add_option("--stall-every-ms", f.stall_every_ms,
                 "Pause all forwarding about this often (seeded, 0.5x to 1.5x)");
  app.add_option("--stall-ms", f.stall_ms, "How long each stall lasts");
  app.add_option("--cut-after-bytes-min", f.cut_after_bytes_min,
                 "Cut each connection after a seeded number of bytes (both directions) in "
                 "[min, max]");
  app.add_option("--cut-after-bytes-max", f.cut_after_bytes_max, "See --cut-after-bytes-min");
  app.add_option("--cut-every-ms", f.cut_every_ms,
                 "About this often (seeded, 0.75x to 1.25x), cut every open connection within "
                 "its next few kilobytes (at most --cut-after-bytes-max, default 4096)");
  app.add_option("--refuse-for-ms", f.refuse_for_ms,
                 "Refuse (reset) every connection for this long after start");
  app.add_option("--partition-at-ms", f.partition_at_ms,
                 "Start a partition this long after start: new connections refused, open ones "
                 "stalled");
  app.add_option("--partition-ms", f.partition_ms, "How long the partition lasts");
  app.add_option("--max-buffer-bytes", f.max_buffer_bytes,
                 "Per connection and direction: stop reading above this many queued bytes")
      ->capture_default_str();
  app.add_flag("--log-connections", f.log_connections,
               "Log each accepted connection (its peer and arrival time), not only faults");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << "error: " << e.what() << "\nRun with --help for more information.\n";
    return 1;
  }

  auto from = parse_host_port(listen);
  auto to = parse_host_port(target);
  if (!from || !to) {
    std::cerr << "error: " << (!from ? "--listen" : "--target")
              << " must be HOST:PORT (IPv6 in brackets)\n";
    return 1;
  }
  if (std::string problem = check(f); !problem.empty()) {
    std::cerr << "error: " << problem << "\n";
    return 1;
  }
  return fieldsync::proxy::run_proxy({*from, *to, f}, std::cout, std::cerr);
}

int main(int argc, char** argv) { return fieldsync::tools::guarded_main(run_main, argc, argv); }
