// The server's TLS settings: its certificate and key loaded into an Asio SSL context, with
// the protocol versions and options every connection uses. Internal to the server.
#pragma once

#include <memory>
#include <string>

#include "fieldsync/status.hpp"

namespace boost::asio::ssl {
class context;
}

namespace fieldsync::server {

// A server context: TLS 1.2 and 1.3 only; TLS 1.2 limited to forward-secret AEAD suites
// (ECDHE with AES-GCM or ChaCha20-Poly1305), the server's preference order, no compression,
// no renegotiation, no client certificates. `cert_file` holds the PEM certificate chain (leaf
// first), `key_file` its PEM private key, unencrypted. Code::invalid_argument with a one-line
// reason naming the file when a file is missing, unreadable or not PEM, or when the key does
// not match the certificate.
Result<std::unique_ptr<boost::asio::ssl::context>> make_tls_context(const std::string& cert_file,
                                                                    const std::string& key_file);

}  // namespace fieldsync::server
