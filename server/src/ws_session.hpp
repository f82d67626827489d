// The WebSocket sync session: one per device connection. Internal to the server.
#pragma once

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "shared_state.hpp"

namespace fieldsync::server {

// Takes over `stream` (on its own strand), completes the WebSocket handshake for `upgrade`
// and serves the sync protocol until either side closes. The session keeps itself alive.
void start_ws_session(boost::beast::tcp_stream&& stream,
                      boost::beast::http::request<boost::beast::http::string_body> upgrade,
                      SharedState& shared);

}  // namespace fieldsync::server
