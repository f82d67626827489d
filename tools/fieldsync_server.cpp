// fieldsync-server: serves the sync protocol for a programme's devices from one data
// directory. main() only parses the command line and wires the server library together.
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "fieldsync/server/server.hpp"

namespace {

struct ListenAddress {
  std::string host;     // as the server resolves it ("::1", "127.0.0.1", "localhost")
  std::string display;  // as given ("[::1]", ...), for the "listening on" line
  std::uint16_t port = 0;
};

// HOST:PORT, with IPv6 hosts in brackets: "[::1]:8700".
std::optional<ListenAddress> parse_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) return std::nullopt;
  ListenAddress out;
  out.display = text.substr(0, colon);
  out.host = out.display;
  if (out.host.front() == '[') {
    if (out.host.size() < 3 || out.host.back() != ']') return std::nullopt;
    out.host = out.host.substr(1, out.host.size() - 2);
  } else if (out.host.find(':') != std::string::npos) {
    return std::nullopt;  // an IPv6 address needs brackets
  }
  const std::string port = text.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535) return std::nullopt;
  out.port = static_cast<std::uint16_t>(value);
  return out;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

}  // namespace

static int run_main(int argc, char** argv) {
  CLI::App app{
      "fieldsync-server: the fieldsync sync server. Devices connect over WebSocket at "
      "ws://HOST:PORT/sync; GET /healthz reports the server's state. Stops cleanly on SIGINT "
      "or SIGTERM."};
  std::string data_dir;
  std::string listen = "127.0.0.1:8700";
  app.add_option("--data", data_dir,
                 "data directory, created if missing; the store is DIR/fieldsync.db")
      ->required();
  app.add_option("--listen", listen, "HOST:PORT to listen on; port 0 picks a free port")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto addr = parse_listen(listen);
  if (!addr) {
    std::cerr << "fieldsync-server: bad --listen '" << listen
              << "': expected HOST:PORT (an IPv6 host in brackets), port 0-65535\n";
    return 1;
  }
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec || !std::filesystem::is_directory(data_dir)) {
    std::cerr << "fieldsync-server: cannot use data directory '" << data_dir
              << "': " << (ec ? ec.message() : "not a directory") << "\n";
    return 1;
  }
  if (!is_loopback(addr->host))
    std::cerr << "fieldsync-server: warning: listening on " << listen
              << " without TLS; devices' data crosses the network unencrypted. Use a loopback "
                 "address or a TLS-terminating proxy.\n";

  fieldsync::server::ServerConfig config;
  config.data_dir = data_dir;
  config.host = addr->host;
  config.port = addr->port;
  config.handle_signals = true;
  auto server = fieldsync::server::Server::start(std::move(config));
  if (!server) {
    std::cerr << "fieldsync-server: " << server.status().message() << "\n";
    return 1;
  }
  std::cout << "listening on " << addr->display << ":" << (*server)->port() << std::endl;
  (*server)->run();
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run_main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "error: unexpected failure\n";
  }
  return 1;
}
