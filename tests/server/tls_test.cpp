// TLS in one process: the server with a certificate from a CA made at test time, the client
// transport verifying it, and everything that must be refused: untrusted or misnamed
// certificates (at once, with Code::untrusted_server), bad TLS files at start-up, plain ws on
// a non-loopback address, plain and garbage clients on the TLS port (the server keeps serving).
// Device authentication over wss: the answer to the challenge is bound to the TLS connection
// (tls-exporter), so an answer made over another connection, or over none, is refused.
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include "fieldsync/client/replica.hpp"
#include "fieldsync/client/sync_client.hpp"
#include "fieldsync/client/transport.hpp"
#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/server.hpp"
#include "fieldsync/server/store_file.hpp"
#include "fieldsync/sync/schema.hpp"
#include "fieldsync/sync/wire.hpp"
#include "test_cert.hpp"
#include "test_util.hpp"
#include "ws_client.hpp"

namespace crypto = fieldsync::crypto;
namespace proto = fieldsync::sync;  // not `sync`: unistd.h declares ::sync()
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

// The server runs on the system clock, so codes are made on it too.
std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A server that requires enrolled devices (TLS when `pki` is given), with the user "ana" in
// its directory.
struct AuthServer {
  RunningServer server;
  std::unique_ptr<fieldsync::server::Directory> dir;

  explicit AuthServer(const Pki* pki) : server(config(pki)) {
    auto file = fieldsync::server::StoreFile::open(server.data_dir() + "/fieldsync.db", "");
    REQUIRE(file);
    auto opened = fieldsync::server::Directory::open(*file);
    REQUIRE(opened);
    dir = std::move(*opened);
    REQUIRE(dir->add_team("north", wall_ms()));
    REQUIRE(dir->add_user("ana", fieldsync::server::Role::worker, "north", wall_ms()));
  }
  static ServerConfig config(const Pki* pki) {
    ServerConfig c = pki ? tls_config(pki->cert, pki->key) : ServerConfig{};
    c.require_auth = true;
    return c;
  }
  std::string code() {
    auto c = dir->new_enroll_code("ana", fieldsync::server::kHourMs, wall_ms());
    REQUIRE(c);
    return c->code;
  }
  // Enrols `device` with `key` directly in the directory.
  void enrol(const std::string& device, const crypto::SigningKey& key) {
    REQUIRE(dir->redeem_enroll_code(code(), device, key.public_key(), wall_ms()));
  }
};

std::optional<proto::Message> receive_message(Transport& t) {
  auto frame = t.receive(Transport::Clock::now() + 5s);
  REQUIRE(frame.is_ok());
  REQUIRE(frame->has_value());
  auto m = proto::decode(**frame);
  REQUIRE(m.is_ok());
  return *m;
}

// Says hello over `t` as `device` and answers the challenge with `key`, signing `binding`
// with the nonce; returns the server's reply.
proto::Message answer_challenge(Transport& t, const std::string& device,
                                const crypto::SigningKey& key, const std::string& binding) {
  t.send(proto::encode(
      proto::Hello{device, "", 0, proto::default_schema().version(), proto::kProtocolVersion}));
  auto m = receive_message(t);
  const auto* challenge = as<proto::Challenge>(m);
  REQUIRE(challenge);
  const std::string text =
      proto::auth_message(proto::kProtocolVersion, device, challenge->nonce, binding);
  auto sig = key.sign(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  t.send(proto::encode(proto::Auth{crypto::to_hex(sig)}));
  return *receive_message(t);
}

Code fatal_code(const proto::Message& m) {
  const auto* e = std::get_if<proto::Error>(&m);
  REQUIRE(e);
  CHECK(e->fatal);
  return e->code;
}

bool is_hex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// The WebSocket transport, but with the channel binding hidden: a device that signs none.
class Unbound final : public Transport {
 public:
  explicit Unbound(std::unique_ptr<Transport> inner) : inner_(std::move(inner)) {}
  Status connect(const Endpoint& ep, Clock::time_point deadline) override {
    return inner_->connect(ep, deadline);
  }
  void send(std::string frame) override { inner_->send(std::move(frame)); }
  fieldsync::Result<std::optional<std::string>> receive(Clock::time_point deadline) override {
    return inner_->receive(deadline);
  }
  void close(Clock::time_point deadline) override { inner_->close(deadline); }
  std::string binding() const override { return {}; }

 private:
  std::unique_ptr<Transport> inner_;
};

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

TEST_CASE("a TLS 1.2 client fails the handshake: the server speaks TLS 1.3 only", "[tls]") {
  Pki pki;
  RunningServer server(tls_config(pki.cert, pki.key));
  namespace net = boost::asio;
  net::io_context ioc;
  net::ssl::context ctx(net::ssl::context::tls_client);
  REQUIRE(SSL_CTX_set_max_proto_version(ctx.native_handle(), TLS1_2_VERSION) == 1);
  ctx.set_verify_mode(net::ssl::verify_none);
  net::ssl::stream<net::ip::tcp::socket> tls(ioc, ctx);
  tls.next_layer().connect({net::ip::make_address("127.0.0.1"), server.port()});
  boost::system::error_code ec;
  tls.handshake(net::ssl::stream_base::client, ec);
  CHECK(ec);
  CHECK(connect(endpoint(server.port(), true), pki.ca_file).is_ok());  // 1.3 still served
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

TEST_CASE("over wss the answer to the challenge is bound to the TLS connection", "[tls][auth]") {
  Pki pki;
  AuthServer auth(&pki);
  const auto key = crypto::SigningKey::generate();
  const std::string device = device_id(7);
  auth.enrol(device, key);
  const auto deadline = [] { return Transport::Clock::now() + 10s; };

  auto first = make_websocket_transport({pki.ca_file});
  auto second = make_websocket_transport({pki.ca_file});
  CHECK(first->binding().empty());  // nothing before connect
  REQUIRE(first->connect(endpoint(auth.server.port(), true), deadline()).is_ok());
  REQUIRE(second->connect(endpoint(auth.server.port(), true), deadline()).is_ok());
  // tls-exporter: 32 bytes in hex, one value per connection.
  CHECK(first->binding().size() == 64);
  CHECK(is_hex(first->binding()));
  CHECK(second->binding().size() == 64);
  CHECK(first->binding() != second->binding());

  SECTION("signed over its own connection: welcome") {
    auto reply = answer_challenge(*first, device, key, first->binding());
    const auto* w = std::get_if<proto::Welcome>(&reply);
    REQUIRE(w);
    CHECK(w->user == "ana");
  }
  SECTION("signed over another connection (relayed by a man in the middle): bad_signature") {
    CHECK(fatal_code(answer_challenge(*first, device, key, second->binding())) ==
          Code::bad_signature);
  }
  SECTION("signed without a binding: bad_signature") {
    CHECK(fatal_code(answer_challenge(*first, device, key, "")) == Code::bad_signature);
  }
  first->close(deadline());
  second->close(deadline());
}

TEST_CASE("over plain ws there is no binding, and authentication signs none", "[tls][auth]") {
  AuthServer auth(nullptr);
  const auto key = crypto::SigningKey::generate();
  const std::string device = device_id(8);
  auth.enrol(device, key);
  auto t = make_websocket_transport({});
  REQUIRE(t->connect(endpoint(auth.server.port(), false), Transport::Clock::now() + 10s).is_ok());
  CHECK(t->binding().empty());
  auto reply = answer_challenge(*t, device, key, t->binding());
  CHECK(std::holds_alternative<proto::Welcome>(reply));
  t->close(Transport::Clock::now() + 2s);
}

TEST_CASE("a device enrols and syncs over wss with a server that requires enrolment",
          "[tls][auth]") {
  Pki pki;
  AuthServer auth(&pki);
  TempDir device_dir;
  fieldsync::client::ReplicaOptions options;
  options.user = "local-name";
  std::string passphrase = "test passphrase";
  auto replica = fieldsync::client::Replica::init(
      device_dir.file("device.db"),
      crypto::Credential::passphrase(crypto::SecureBuffer::take(passphrase),
                                     crypto::KdfLimits::minimum()),
      options);
  REQUIRE(replica);
  const std::string url = "wss://127.0.0.1:" + std::to_string(auth.server.port());
  fieldsync::client::SyncClientOptions client_options;
  client_options.ca_file = pki.ca_file;

  fieldsync::client::SyncClient client(**replica, client_options);
  auto enrolled = client.enroll(url, auth.code(), 10s);
  REQUIRE(enrolled);
  CHECK(enrolled->user == "ana");
  using Kind = fieldsync::client::FieldEdit::Kind;
  REQUIRE((*replica)->put("clients", "cl-1", {{"name", Kind::set, "Amina Y"}}));

  SECTION("the client signs its connection's binding: up to date") {
    auto outcome = client.sync_once(url, 20s);
    INFO(outcome.detail.to_string());
    CHECK(outcome.kind == fieldsync::client::SyncOutcome::Kind::up_to_date);
    CHECK(outcome.pushed == 1);
    CHECK(outcome.rejected.empty());
  }
  SECTION("a client that signs no binding is refused: the server binds the TLS connection") {
    client_options.make_transport = [&pki] {
      return std::make_unique<Unbound>(make_websocket_transport({pki.ca_file}));
    };
    fieldsync::client::SyncClient unbound(**replica, client_options);
    auto outcome = unbound.sync_once(url, 20s);
    CHECK(outcome.kind == fieldsync::client::SyncOutcome::Kind::refused);
    CHECK(outcome.detail.code() == Code::bad_signature);
    CHECK(outcome.pushed == 0);
  }
}
