// HOST:PORT on the command line of the tools (fieldsync-server --listen, fieldsync-proxy
// --listen and --target), with IPv6 hosts in brackets: "[::1]:8700".
//
// Thread safety: a pure function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace fieldsync::tools {

struct HostPort {
  std::string host;     // as it is resolved ("::1", "127.0.0.1", "localhost")
  std::string display;  // as given ("[::1]", ...), for "listening on" lines
  std::uint16_t port = 0;
};

// nullopt for a missing host or port, a port over 65535, or an IPv6 host without brackets.
std::optional<HostPort> parse_host_port(const std::string& text);

}  // namespace fieldsync::tools
