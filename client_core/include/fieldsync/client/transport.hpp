// The seam between the sync client and the network: a message transport that connects to a
// server, sends and receives text frames, and closes. The WebSocket implementation (ws:// and
// wss:// over Boost.Beast) is the real one; test doubles plug in here. No Beast, Asio or
// OpenSSL header is reachable from this file.
//
// Ownership and threading: a Transport owns its connection and its own event loop; every
// call blocks the calling thread until done or until its deadline. One thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "fieldsync/status.hpp"

namespace fieldsync::client {

// Where the server is: ws://HOST:PORT[/PATH] or wss://HOST:PORT[/PATH] (TLS), the path
// defaulting to /sync.
struct Endpoint {
  std::string host;  // IPv6 addresses without the brackets
  std::uint16_t port = 0;
  std::string path = "/sync";
  bool tls = false;  // wss://

  std::string to_string() const;  // ws://HOST:PORT/PATH or wss://...
};

// Parses a server URL; Code::invalid_argument (with what is wrong) for anything but
// ws://HOST:PORT[/PATH] and wss://HOST:PORT[/PATH].
Result<Endpoint> parse_ws_url(std::string_view url);

class Transport {
 public:
  using Clock = std::chrono::steady_clock;

  virtual ~Transport() = default;

  // Connects and completes the handshakes by `deadline`. Code::unreachable on a failure
  // worth retrying; Code::untrusted_server when the server's TLS certificate does not verify
  // and Code::invalid_argument for a bad CA file, neither of which a retry changes;
  // Code::internal when OpenSSL cannot export the TLS channel binding (see binding()).
  virtual Status connect(const Endpoint& endpoint, Clock::time_point deadline) = 0;
  // Queues a frame. Frames are written in order, one at a time, while receive() or close()
  // runs.
  virtual void send(std::string frame) = 0;
  // Waits for the next frame from the server: the frame; nullopt when `deadline` passed
  // first; Code::unreachable when the connection is lost or closed.
  virtual Result<std::optional<std::string>> receive(Clock::time_point deadline) = 0;
  // Writes what is queued, then closes gracefully; gives up (and drops the connection) at
  // `deadline`.
  virtual void close(Clock::time_point deadline) = 0;
  // The connection's channel binding, which the device signs with the server's nonce: for
  // wss:// the RFC 9266 tls-exporter value of the TLS connection (32 bytes, 64 lowercase hex
  // digits), set by a successful connect(); empty for ws://, before connect() and for
  // transports without one.
  virtual std::string binding() const { return {}; }
};

struct TransportOptions {
  // wss://: the PEM file of the certificate authorities to trust, instead of the system's
  // store (OpenSSL's default paths). Ignored for ws://.
  std::string ca_file;
};

// A WebSocket transport (Boost.Beast): ws:// over TCP, wss:// over TLS 1.3 with the server's
// certificate verified (chain to a trusted CA, and the URL's host name or IP address in the
// certificate; the name is also sent as SNI) and the tls-exporter channel binding. No client
// certificate.
std::unique_ptr<Transport> make_websocket_transport(TransportOptions options = {});

}  // namespace fieldsync::client
