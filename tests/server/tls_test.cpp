// TLS in one process: the server with a certificate from a CA made at test time, the client
// transport verifying it, and everything that must be refused: untrusted or misnamed
// certificates (at once, with Code::untrusted_server), bad TLS files at start-up, plain ws on
// a non-loopback address, plain and garbage clients on the TLS port (the server keeps serving).
#include <array>
#include <chrono>
#include <functional>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include "fieldsync/client/transport.hpp"
#include "fieldsync/server/server.hpp"
#include "test_cert.hpp"
#include "test_util.hpp"
#include "ws_client.hpp"

using fieldsync::Code;
using fieldsync::Status;
using fieldsync::client::Endpoint;
using fieldsync::client::make_websocket_transport;
using fieldsync::client::Transport;
using fieldsync::server::ServerConfig;
using namespace fieldsync::test;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

// The test's certificates, in a temporary directory.
struct Pki {
  TempDir dir;
  TestCa ca{"fieldsync test CA"};
  TestCa other_ca{"another test CA"};
  std::string ca_file = dir.file("ca.pem");
  std::string other_ca_file = dir.file("other-ca.pem");
  std::string cert = dir.file("server.pem");
  std::string key = dir.file("server.key");
  std::string wrong_cert = dir.file("wrong-host.pem");
  std::string wrong_key = dir.file("wrong-host.key");

  Pki() {
    ca.write_cert(ca_file);
    other_ca.write_cert(other_ca_file);
    ca.issue("IP:127.0.0.1,DNS:localhost", cert, key);
    ca.issue("DNS:wrong.example", wrong_cert, wrong_key);
  }
};

ServerConfig tls_config(const std::string& cert, const std::string& key) {
  ServerConfig c;
  c.tls_cert_file = cert;
  c.tls_key_file = key;
  return c;
}

Endpoint endpoint(std::uint16_t port, bool tls, const std::string& host = "127.0.0.1") {
  Endpoint ep;
  ep.host = host;
  ep.port = port;
  ep.tls = tls;
  return ep;
}

Status connect(const Endpoint& ep, const std::string& ca_file,
               std::chrono::milliseconds timeout = 10s) {
  auto t = make_websocket_transport({ca_file});
  Status s = t->connect(ep, Transport::Clock::now() + timeout);
  if (s) t->close(Transport::Clock::now() + 2s);
  return s;
}

// Connects over plain TCP, sends `bytes` and waits up to `limit` for the server to close the
// connection; true when it did.
bool server_hangs_up(std::uint16_t port, const std::string& bytes,
                     std::chrono::milliseconds limit) {
  namespace net = boost::asio;
  net::io_context ioc;
  net::ip::tcp::socket socket(ioc);
  socket.connect({net::ip::make_address("127.0.0.1"), port});
  if (!bytes.empty()) net::write(socket, net::buffer(bytes));
  bool closed = false;
  std::array<char, 256> buf{};
  std::function<void()> read = [&] {
    socket.async_read_some(net::buffer(buf), [&](boost::system::error_code ec, std::size_t) {
      if (ec)
        closed = true;
      else
        read();
    });
  };
  read();
  ioc.run_for(limit);
  return closed;
}

}  // namespace

TEST_CASE("a wss client that trusts the CA connects by IP address and by host name", "[tls]") {
  Pki pki;
  RunningServer server(tls_config(pki.cert, pki.key));
  auto t = make_websocket_transport({pki.ca_file});
  REQUIRE(t->connect(endpoint(server.port(), true), Transport::Clock::now() + 10s).is_ok());
  t->send("not a frame");  // the server answers with an error frame, over TLS
  auto frame = t->receive(Transport::Clock::now() + 5s);
  REQUIRE(frame.is_ok());
  CHECK(frame->has_value());
  t->close(Transport::Clock::now() + 2s);

  CHECK(connect(endpoint(server.port(), true, "localhost"), pki.ca_file).is_ok());
}

TEST_CASE("an untrusted or misnamed certificate fails at once with untrusted_server", "[tls]") {
  Pki pki;
  RunningServer server(tls_config(pki.cert, pki.key));
  RunningServer misnamed(tls_config(pki.wrong_cert, pki.wrong_key));
  struct Case {
    const char* what;
    std::uint16_t port;
    std::string ca_file;
    const char* reason;
  };
  for (const Case& c : {Case{"the system's store", server.port(), "", "certificate verify failed"},
                        Case{"another CA", server.port(), pki.other_ca_file, "verify failed"},
                        Case{"another host name", misnamed.port(), pki.ca_file, "mismatch"}}) {
    INFO(c.what);
    const auto start = std::chrono::steady_clock::now();
    Status s = connect(endpoint(c.port, true), c.ca_file, 20s);
    CHECK(std::chrono::steady_clock::now() - start < 3s);
    CHECK(s.code() == Code::untrusted_server);
    CHECK(s.message().find("server certificate not trusted") != std::string::npos);
    CHECK(s.message().find(c.reason) != std::string::npos);
  }
}

TEST_CASE("a CA file that is missing or holds no certificate is invalid_argument", "[tls]") {
  Pki pki;
  RunningServer server(tls_config(pki.cert, pki.key));
  Status missing = connect(endpoint(server.port(), true), pki.dir.file("missing.pem"));
  CHECK(missing.code() == Code::invalid_argument);
  CHECK(missing.message().find("does not exist") != std::string::npos);
  Status key_only = connect(endpoint(server.port(), true), pki.key);
  CHECK(key_only.code() == Code::invalid_argument);
  CHECK(key_only.message().find("holds no PEM certificate") != std::string::npos);
}

TEST_CASE("plain, garbage and silent clients on the TLS port are dropped, others served", "[tls]") {
  Pki pki;
  ServerConfig config = tls_config(pki.cert, pki.key);
  config.tls_handshake_timeout_ms = 300;
  RunningServer server(std::move(config));

  Status plain = connect(endpoint(server.port(), false), "");
  CHECK(plain.code() == Code::unreachable);
  CHECK(plain.message().find("TLS only: use wss://") != std::string::npos);

  CHECK(server_hangs_up(server.port(), "\x16\x03\x01\x00\x05garbage and more garbage"s, 5s));
  const auto start = std::chrono::steady_clock::now();
  CHECK(server_hangs_up(server.port(), "", 5s));  // never starts the handshake
  CHECK(std::chrono::steady_clock::now() - start < 3s);

  CHECK(connect(endpoint(server.port(), true), pki.ca_file).is_ok());
  CHECK(http_get(server.port(), "/healthz").status == 400);  // plain HTTP: refused
}

TEST_CASE("bad TLS files are refused at start-up with a one-line reason", "[tls]") {
  Pki pki;
  TempDir data;
  struct Case {
    std::string cert, key;
    const char* reason;
  };
  for (const Case& c : {Case{pki.cert, "", "both a certificate and its key"},
                        Case{"", pki.key, "both a certificate and its key"},
                        Case{pki.dir.file("missing.pem"), pki.key, "does not exist"},
                        Case{pki.key, pki.key, "is not a PEM certificate"},
                        Case{pki.cert, pki.cert, "is not an unencrypted PEM private key"},
                        Case{pki.cert, pki.wrong_key, "does not match the certificate"}}) {
    INFO(c.cert << " " << c.key);
    ServerConfig config = tls_config(c.cert, c.key);
    config.data_dir = data.path().string();
    config.port = 0;
    config.log_level = "off";
    auto started = fieldsync::server::Server::start(std::move(config));
    REQUIRE(!started.is_ok());
    CHECK(started.status().code() == Code::invalid_argument);
    CHECK(started.status().message().find(c.reason) != std::string::npos);
    CHECK(started.status().message().find('\n') == std::string::npos);
  }
}

TEST_CASE("plain ws on a non-loopback address is refused before the store is touched", "[tls]") {
  TempDir data;
  ServerConfig config;
  config.data_dir = data.path().string();
  config.host = "0.0.0.0";
  config.port = 0;
  config.log_level = "off";
  auto started = fieldsync::server::Server::start(std::move(config));
  REQUIRE(!started.is_ok());
  CHECK(started.status().code() == Code::invalid_argument);
  CHECK(started.status().message().find("refusing plain ws on 0.0.0.0:0") != std::string::npos);
  CHECK(started.status().message().find("--insecure-behind-proxy") != std::string::npos);
  CHECK(std::filesystem::is_empty(data.path()));
}
