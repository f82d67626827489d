// The HTTP side of a connection: GET /healthz, 404 for anything else, and the hand-over of
// WebSocket upgrades on /sync to a ws session; over plain TCP or TLS. Internal to the server.
#pragma once

#include <chrono>

#include <boost/asio/ip/tcp.hpp>

#include "shared_state.hpp"

namespace boost::asio::ssl {
class context;
}

namespace fieldsync::server {

// Serves plain HTTP on `socket` (whose executor must be a strand). Keeps itself alive.
void start_http_session(boost::asio::ip::tcp::socket&& socket, SharedState& shared);

// A TLS listener's settings; the context must outlive every session.
struct TlsSettings {
  boost::asio::ssl::context* context = nullptr;
  std::chrono::milliseconds handshake_timeout{10'000};
};

// Serves HTTP over TLS on `socket`: the handshake (bounded by the timeout; a failure is
// logged without content and ends only this connection), then as start_http_session. A
// client that speaks plain HTTP instead gets a 400 that names wss:// and https://.
void start_https_session(boost::asio::ip::tcp::socket&& socket, const TlsSettings& tls,
                         SharedState& shared);

}  // namespace fieldsync::server
