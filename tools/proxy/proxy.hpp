// The fault-injecting TCP proxy behind fieldsync-proxy (docs/TESTING.md): accepts on one
// address, forwards every connection to a target, and on the way adds latency, limits
// bandwidth, stalls, cuts connections at seeded byte offsets and refuses connections for a
// while. Asio stays in proxy.cpp.
#pragma once

#include <iosfwd>

#include "proxy/fault_plan.hpp"

namespace fieldsync::proxy {

struct ProxyConfig {
  HostPort listen;
  HostPort target;
  FaultOptions faults;
};

// Runs until SIGTERM or SIGINT. Writes "listening on HOST:PORT" to `out` once accepting, one
// line per injected fault to `log` (and per accepted connection with log_connections), and a
// summary to `log` when stopped. Returns the exit code (1 when the listening address cannot
// be used).
int run_proxy(const ProxyConfig& config, std::ostream& out, std::ostream& log);

}  // namespace fieldsync::proxy
