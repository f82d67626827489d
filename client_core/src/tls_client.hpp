// The client side of TLS for the WebSocket transport: the context every wss:// connection
// uses, the per-connection expectation of the server's name, and the reading of a failed
// handshake. Internal to client_core (websocket_transport.cpp is the only user).
#pragma once

#include <memory>
#include <string>

#include <boost/system/error_code.hpp>

#include "fieldsync/status.hpp"

namespace boost::asio::ssl {
class context;
}
struct ssl_st;  // OpenSSL's SSL

namespace fieldsync::client {

// TLS 1.3 only (so that every connection has a sound channel binding, see
// crypto::tls_channel_binding), the peer's certificate verified against the certificate authorities
// in `ca_file` (PEM) or, when it is empty, the system's store (OpenSSL's default paths). No client
// certificate. Code::invalid_argument when the CA file is missing, unreadable or holds no
// certificate.
Result<std::unique_ptr<boost::asio::ssl::context>> make_client_tls_context(
    const std::string& ca_file);

// Before the handshake on `ssl`: the certificate must name `host` (a DNS name, matched with
// wildcards in the leftmost label only, or an IP address); a DNS name is also sent as SNI.
Status expect_server_name(ssl_st* ssl, const std::string& host);

// After a failed handshake on `ssl` with `where` (the URL): Code::untrusted_server naming the
// verification error when the certificate did not verify, else Code::unreachable.
Status tls_handshake_failure(ssl_st* ssl, const boost::system::error_code& ec,
                             const std::string& where);

}  // namespace fieldsync::client
