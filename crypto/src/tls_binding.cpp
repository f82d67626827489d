// The TLS channel binding and OpenSSL's error reason (tls_binding.hpp).
#include "fieldsync/crypto/tls_binding.hpp"

#include <array>
#include <cstdint>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "fieldsync/crypto/sign.hpp"

namespace fieldsync::crypto {
namespace {

constexpr char kBindingLabel[] = "EXPORTER-Channel-Binding";
constexpr std::size_t kBindingBytes = 32;

}  // namespace

std::string openssl_reason() {
  unsigned long last = 0;
  while (const unsigned long e = ERR_get_error()) last = e;
  const char* reason = last != 0 ? ERR_reason_error_string(last) : nullptr;
  return reason != nullptr ? reason : "unknown error";
}

Result<std::string> tls_channel_binding(ssl_st* ssl) {
  if (SSL_version(ssl) < TLS1_3_VERSION && SSL_get_extms_support(ssl) != 1)
    return Status(Code::internal, "no channel binding: TLS 1.2 without the extended master secret");
  std::array<std::uint8_t, kBindingBytes> out{};
  ERR_clear_error();
  if (SSL_export_keying_material(ssl, out.data(), out.size(), kBindingLabel,
                                 sizeof kBindingLabel - 1, nullptr, 0, 0) != 1)
    return Status(Code::internal, "cannot export the TLS channel binding: " + openssl_reason());
  return to_hex(out);
}

}  // namespace fieldsync::crypto
