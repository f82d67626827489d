// Throwaway certificates for the TLS tests, made at test time with OpenSSL's C API and never
// committed: a self-signed CA (P-256) that issues server certificates for chosen names.
#pragma once

#include <memory>
#include <string>

namespace fieldsync::test {

class TestCa {
 public:
  // A new CA key and self-signed certificate with this common name, valid for a day.
  explicit TestCa(const std::string& name);
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  // Writes the CA certificate (PEM) to `path`.
  void write_cert(const std::string& path) const;
  // Issues a server certificate whose subject alternative names are `san` (OpenSSL's syntax:
  // "IP:127.0.0.1,DNS:localhost") and writes it and its new key (PEM, unencrypted).
  void issue(const std::string& san, const std::string& cert_path,
             const std::string& key_path) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fieldsync::test
