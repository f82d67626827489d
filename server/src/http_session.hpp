// The HTTP side of a connection: GET /healthz, 404 for anything else, and the hand-over of
// WebSocket upgrades on /sync to a ws session. Internal to the server.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include "shared_state.hpp"

namespace fieldsync::server {

// Serves the connection on `socket` (whose executor must be a strand). Keeps itself alive.
void start_http_session(boost::asio::ip::tcp::socket&& socket, SharedState& shared);

}  // namespace fieldsync::server
