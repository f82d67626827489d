// The client's TLS: a verifying context, the server's expected name, failed handshakes told
// apart (an untrusted certificate is final; anything else may be retried), and the
// connection's tls-exporter channel binding (RFC 9266).
#include "tls_client.hpp"

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <system_error>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>

#include "fieldsync/crypto/tls_binding.hpp"

namespace fieldsync::client {
using crypto::openssl_reason;
namespace {

namespace ssl = boost::asio::ssl;

// RFC 9266, section 2: the exporter's label and length.

Status check_ca_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return {Code::invalid_argument, "CA file " + path + " does not exist"};
  if (!std::filesystem::is_regular_file(path, ec))
    return {Code::invalid_argument, "CA file " + path + " is not a regular file"};
  errno = 0;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    return {Code::invalid_argument,
            "cannot read CA file " + path + ": " + std::generic_category().message(errno)};
  (void)std::fclose(f);
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<ssl::context>> make_client_tls_context(const std::string& ca_file) {
  std::unique_ptr<ssl::context> context;
  try {
    context = std::make_unique<ssl::context>(ssl::context::tls_client);
  } catch (const std::exception& e) {
    return Status(Code::internal, std::string("cannot create a TLS context: ") + e.what());
  }
  SSL_CTX* ctx = context->native_handle();
  // TLS 1.3 only: its exporter is a sound channel binding (TLS 1.2's only with the extended
  // master secret, which a server may leave out).
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1)
    return Status(Code::internal, "cannot configure TLS: " + openssl_reason());
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1)
      return Status(Code::internal, "cannot load the system's CA store: " + openssl_reason());
    return context;
  }
  if (Status s = check_ca_file(ca_file); !s) return s;
  ERR_clear_error();
  if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1)
    return Status(Code::invalid_argument,
                  "CA file " + ca_file + " holds no PEM certificate: " + openssl_reason());
  return context;
}

Status expect_server_name(ssl_st* ssl, const std::string& host) {
  // OpenSSL's own check during verification, so that a mismatch is reported like any other
  // verification error ("hostname mismatch", "IP address mismatch").
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  boost::system::error_code not_ip;
  (void)boost::asio::ip::make_address(host, not_ip);
  if (!not_ip) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1)
      return {Code::internal, "cannot expect the IP address " + host + ": " + openssl_reason()};
    return Status::ok();
  }
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) != 1 ||
      SSL_set_tlsext_host_name(ssl, host.c_str()) != 1)
    return {Code::internal, "cannot expect the host name " + host + ": " + openssl_reason()};
  return Status::ok();
}

Status tls_handshake_failure(ssl_st* ssl, const boost::system::error_code& ec,
                             const std::string& where) {
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK)
    return {Code::untrusted_server, where +
                                        ": server certificate not trusted: certificate verify "
                                        "failed (" +
                                        X509_verify_cert_error_string(verify) + ")"};
  return {Code::unreachable, "TLS handshake with " + where + " failed: " + ec.message()};
}

}  // namespace fieldsync::client
