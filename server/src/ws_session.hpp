// The WebSocket sync session: one per device connection, over plain TCP or TLS. Internal to
// the server.
#pragma once

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "shared_state.hpp"

namespace fieldsync::server {

// Takes over `stream` (on its own strand), completes the WebSocket handshake for `upgrade`
// and serves the sync protocol until either side closes. The session keeps itself alive.
void start_ws_session(boost::beast::tcp_stream&& stream,
                      const boost::beast::http::request<boost::beast::http::string_body>& upgrade,
                      SharedState& shared);
void start_ws_session(boost::beast::ssl_stream<boost::beast::tcp_stream>&& stream,
                      const boost::beast::http::request<boost::beast::http::string_body>& upgrade,
                      SharedState& shared);

}  // namespace fieldsync::server
