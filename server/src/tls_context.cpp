// The server's TLS context: the certificate chain and key from PEM files, TLS 1.3 only, and
// a one-line error naming the file for everything that can be wrong with them; and the
// connection's tls-exporter channel binding (RFC 9266).
#include "tls_context.hpp"

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <system_error>
#include <utility>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <boost/asio/ssl/context.hpp>

#include "fieldsync/crypto/tls_binding.hpp"

namespace fieldsync::server {
using crypto::openssl_reason;
namespace {

namespace ssl = boost::asio::ssl;

// RFC 9266, section 2: the exporter's label and length.

Status bad(std::string message) { return {Code::invalid_argument, std::move(message)}; }

struct FileCloser {
  void operator()(std::FILE* f) const { (void)std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// `what` ("certificate", "key") at `path`, opened for reading.
Result<File> open_pem(const std::string& what, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return bad("TLS " + what + " " + path + " does not exist");
  if (!std::filesystem::is_regular_file(path, ec))
    return bad("TLS " + what + " " + path + " is not a regular file");
  errno = 0;
  File f(std::fopen(path.c_str(), "rb"));
  if (!f)
    return bad("cannot read TLS " + what + " " + path + ": " +
               std::generic_category().message(errno));
  return f;
}

// A key protected by a passphrase is refused rather than asked for at the terminal.
int no_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return -1; }

Status load_certificate(SSL_CTX* ctx, const std::string& path) {
  auto f = open_pem("certificate", path);
  if (!f) return f.status();
  f->reset();
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, path.c_str()) != 1)
    return bad("TLS certificate " + path + " is not a PEM certificate: " + openssl_reason());
  return Status::ok();
}

Status load_key(SSL_CTX* ctx, const std::string& path, const std::string& cert_path) {
  auto f = open_pem("key", path);
  if (!f) return f.status();
  ERR_clear_error();
  EVP_PKEY* key = PEM_read_PrivateKey(f->get(), nullptr, no_passphrase, nullptr);
  if (key == nullptr)
    return bad("TLS key " + path + " is not an unencrypted PEM private key: " + openssl_reason());
  const bool used = SSL_CTX_use_PrivateKey(ctx, key) == 1;
  EVP_PKEY_free(key);
  if (!used || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return bad("TLS key " + path + " does not match the certificate " + cert_path);
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<ssl::context>> make_tls_context(const std::string& cert_file,
                                                       const std::string& key_file) {
  std::unique_ptr<ssl::context> context;
  try {
    context = std::make_unique<ssl::context>(ssl::context::tls_server);
  } catch (const std::exception& e) {
    return Status(Code::internal, std::string("cannot create a TLS context: ") + e.what());
  }
  SSL_CTX* ctx = context->native_handle();
  // TLS 1.3 only: its suites are all forward-secret AEAD, it has no compression and no
  // renegotiation, and its exporter is a sound channel binding (TLS 1.2's is only with the
  // extended master secret, which a peer may leave out).
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1)
    return Status(Code::internal, "cannot configure TLS: " + openssl_reason());
  SSL_CTX_set_options(
      ctx, SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // no client certificates
  if (Status s = load_certificate(ctx, cert_file); !s) return s;
  if (Status s = load_key(ctx, key_file, cert_file); !s) return s;
  return context;
}

}  // namespace fieldsync::server
