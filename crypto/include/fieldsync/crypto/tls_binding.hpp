// What both ends of a TLS connection need from OpenSSL beyond Asio's wrappers: the channel
// binding a device signs (one definition, so the device and the server cannot drift apart)
// and the reason of OpenSSL's last error.
//
// Thread safety: both calls touch only the given connection and the thread's error queue.
#pragma once

#include <string>

#include "fieldsync/status.hpp"

struct ssl_st;  // OpenSSL's SSL

namespace fieldsync::crypto {

// After the handshake: the connection's RFC 9266 tls-exporter value (32 bytes exported with
// the label "EXPORTER-Channel-Binding" and no context) as 64 lowercase hex digits. Both ends
// compute the same value on one connection, different values on two. Code::internal on TLS
// 1.2 without the extended master secret (no sound binding) or when OpenSSL fails.
Result<std::string> tls_channel_binding(ssl_st* ssl);

// The reason of the newest queued OpenSSL error ("unknown error" when none); empties the
// thread's error queue.
std::string openssl_reason();

}  // namespace fieldsync::crypto
