// The server's TLS settings: its certificate and key loaded into an Asio SSL context, with
// the protocol versions and options every connection uses; and the channel binding of a
// connection. Internal to the server.
#pragma once

#include <memory>
#include <string>

#include "fieldsync/status.hpp"

namespace boost::asio::ssl {
class context;
}
struct ssl_st;  // OpenSSL's SSL

namespace fieldsync::server {

// A server context: TLS 1.3 only (so that every connection has a sound channel binding, see
// crypto::tls_channel_binding), the server's preference order, no client certificates.
// `cert_file` holds the PEM certificate chain (leaf first), `key_file` its PEM private key,
// unencrypted.
// Code::invalid_argument with a one-line reason naming the file when a file is missing,
// unreadable or not PEM, or when the key does not match the certificate.
Result<std::unique_ptr<boost::asio::ssl::context>> make_tls_context(const std::string& cert_file,
                                                                    const std::string& key_file);

}  // namespace fieldsync::server
