// The WebSocket transport (ws:// over TCP, wss:// over TLS) on Boost.Beast: with tls_client.cpp
// the only translation units of client_core that include Beast or Asio. A connection owns a
// private io_context and runs it only inside its blocking calls, so the whole client stays on
// the caller's thread:
//   - one async_read is always outstanding once connected; frames land in `inbox_`;
//   - writes go out one at a time from `outbox_` (at most one async_write in flight);
//   - each blocking call runs the io_context until its condition holds or its deadline.
// Dead peers are detected by Beast's idle timeout with keep-alive pings. The connection is a
// template on the stream under the WebSocket; both kinds are instantiated here, once. A wss://
// connection keeps its TLS channel binding (binding()) for the device's answer to the
// challenge.
#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <string>
#include <type_traits>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "fieldsync/client/transport.hpp"
#include "fieldsync/crypto/tls_binding.hpp"
#include "fieldsync/sync/wire.hpp"
#include "tls_client.hpp"

namespace fieldsync::client {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = Transport::Clock;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

constexpr auto kIdleTimeout = std::chrono::seconds(20);
constexpr auto kDrainTime = std::chrono::milliseconds(500);
constexpr std::size_t kMaxReasonChars = 200;

// The first line of a refusal's body, printable characters only, for an error message.
std::string first_line(const std::string& body) {
  std::string out;
  for (char c : body) {
    if (c == '\n' || c == '\r' || out.size() == kMaxReasonChars) break;
    if (static_cast<unsigned char>(c) >= ' ' && c != 0x7f) out.push_back(c);
  }
  return out;
}

template <class Stream>
class Connection final : public Transport {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  // `tls`: the context of a wss:// connection (null for ws://).
  explicit Connection(std::unique_ptr<ssl::context> tls)
      : tls_(std::move(tls)), resolver_(ioc_), ws_(make_stream(ioc_, tls_.get())) {}

  ~Connection() override {
    shutdown();
    drain();
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Status connect(const Endpoint& ep, Clock::time_point deadline) override {
    const std::string where = ep.to_string();
    beast::error_code ec;
    tcp::resolver::results_type results;
    bool done = false;
    resolver_.async_resolve(ep.host, std::to_string(ep.port),
                            [&](beast::error_code e, tcp::resolver::results_type r) {
                              ec = e;
                              results = std::move(r);
                              done = true;
                            });
    if (!run_until([&] { return done; }, deadline)) {
      resolver_.cancel();
      drain();
      return {Code::unreachable, "timed out resolving " + ep.host};
    }
    if (ec) return {Code::unreachable, "cannot resolve " + ep.host + ": " + ec.message()};

    // The TCP stream's own timer bounds connect and the handshakes.
    auto& tcp_stream = beast::get_lowest_layer(ws_);
    tcp_stream.expires_at(deadline);
    done = false;
    tcp_stream.async_connect(results, [&](beast::error_code e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    if (!finish(done, deadline)) return {Code::unreachable, "timed out connecting to " + where};
    if (ec) return {Code::unreachable, "cannot connect to " + where + ": " + ec.message()};
    // No Nagle delay: a sync is a conversation of frames, each worth sending at once.
    tcp_stream.socket().set_option(tcp::no_delay(true), ec);
    ec = {};
    if constexpr (kTls) {
      if (Status s = tls_handshake(ep, where, deadline); !s) return s;
    }
    if (Status s = ws_handshake(ep, where, deadline); !s) return s;

    tcp_stream.expires_never();
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(10);
    t.idle_timeout = kIdleTimeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(sync::kMaxFrameBytes + std::size_t{64} * 1024);
    ws_.text(true);
    open_ = true;
    start_read();
    return Status::ok();
  }

  void send(std::string frame) override {
    outbox_.push_back(std::move(frame));
    start_write();
  }

  Result<std::optional<std::string>> receive(Clock::time_point deadline) override {
    run_until([&] { return !inbox_.empty() || failed_; }, deadline);
    if (!inbox_.empty()) {
      std::string frame = std::move(inbox_.front());
      inbox_.pop_front();
      return std::optional<std::string>(std::move(frame));
    }
    if (failed_) return Status(Code::unreachable, "connection lost: " + error_.message());
    return std::optional<std::string>();
  }

  void close(Clock::time_point deadline) override {
    if (open_) {
      run_until([&] { return (!writing_ && outbox_.empty()) || failed_; }, deadline);
      if (!failed_ && !closing_) {
        closing_ = true;
        ws_.async_close(websocket::close_code::normal, [this](beast::error_code) {
          closing_ = false;
          closed_ = true;
        });
      }
      run_until([&] { return closed_ || !closing_; }, deadline);
      open_ = false;
    }
    shutdown();
    drain();
  }

  std::string binding() const override { return binding_; }

 private:
  static websocket::stream<Stream> make_stream(net::io_context& ioc, ssl::context* tls) {
    if constexpr (kTls) {
      return websocket::stream<Stream>(ioc, *tls);
    } else {
      return websocket::stream<Stream>(ioc);
    }
  }

  // The certificate is verified during the handshake; a failure to verify is final.
  Status tls_handshake(const Endpoint& ep, const std::string& where, Clock::time_point deadline) {
    auto& tls = ws_.next_layer();
    if (Status s = expect_server_name(tls.native_handle(), ep.host); !s) return s;
    beast::error_code ec;
    bool done = false;
    tls.async_handshake(ssl::stream_base::client, [&](beast::error_code e) {
      ec = e;
      done = true;
    });
    if (!finish(done, deadline))
      return {Code::unreachable, "timed out in the TLS handshake with " + where};
    if (ec) return tls_handshake_failure(tls.native_handle(), ec, where);
    auto binding = crypto::tls_channel_binding(tls.native_handle());
    if (!binding) return {binding.status().code(), where + ": " + binding.status().message()};
    binding_ = std::move(*binding);
    return Status::ok();
  }

  Status ws_handshake(const Endpoint& ep, const std::string& where, Clock::time_point deadline) {
    ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
      req.set(beast::http::field::user_agent, "fieldsync-client");
    }));
    const std::string host_header =
        (ep.host.find(':') != std::string::npos ? "[" + ep.host + "]" : ep.host) + ":" +
        std::to_string(ep.port);
    beast::error_code ec;
    bool done = false;
    websocket::response_type response;
    ws_.async_handshake(response, host_header, ep.path, [&](beast::error_code e) {
      ec = e;
      done = true;
    });
    if (!finish(done, deadline))
      return {Code::unreachable, "timed out in the WebSocket handshake with " + where};
    if (ec == websocket::error::upgrade_declined) {
      const std::string reason = first_line(response.body());
      return {Code::unreachable, "WebSocket handshake with " + where + " declined: HTTP " +
                                     std::to_string(response.result_int()) +
                                     (reason.empty() ? "" : " (" + reason + ")")};
    }
    if (ec)
      return {Code::unreachable, "WebSocket handshake with " + where + " failed: " + ec.message()};
    return Status::ok();
  }

  // Runs handlers until `done()` or `deadline`; false when the deadline came first or the
  // loop ran out of work without `done()`.
  bool run_until(const std::function<bool()>& done, Clock::time_point deadline) {
    while (!done()) {
      if (Clock::now() >= deadline) return false;
      if (ioc_.stopped()) ioc_.restart();
      if (ioc_.run_one_until(deadline) == 0 && ioc_.stopped()) return done();
    }
    return true;
  }

  // Waits for an operation bounded by the TCP stream's timer (plus a margin); when it still
  // has not completed, closes the socket so that it does.
  bool finish(bool& done, Clock::time_point deadline) {
    if (run_until([&] { return done; }, deadline + std::chrono::seconds(1))) return true;
    shutdown();
    drain();
    return false;
  }

  void start_read() {
    if (reading_ || failed_) return;
    reading_ = true;
    ws_.async_read(read_buffer_, [this](beast::error_code ec, std::size_t) {
      reading_ = false;
      if (ec) return fail(ec);
      inbox_.push_back(beast::buffers_to_string(read_buffer_.data()));
      read_buffer_.consume(read_buffer_.size());
      start_read();
    });
  }

  void start_write() {
    if (!open_ || writing_ || failed_ || outbox_.empty()) return;
    writing_ = true;
    ws_.async_write(net::buffer(outbox_.front()), [this](beast::error_code ec, std::size_t) {
      writing_ = false;
      if (ec) return fail(ec);
      outbox_.pop_front();
      start_write();
    });
  }

  void fail(beast::error_code ec) {
    if (!failed_) error_ = ec;
    failed_ = true;
  }

  void shutdown() {
    beast::error_code ignored;
    resolver_.cancel();
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  // Lets cancelled handlers run (they refer to this object) before it goes away.
  void drain() {
    if (ioc_.stopped()) ioc_.restart();
    ioc_.run_for(kDrainTime);
  }

  net::io_context ioc_;                // first: destroyed last
  std::unique_ptr<ssl::context> tls_;  // outlives the stream that uses it
  tcp::resolver resolver_;
  websocket::stream<Stream> ws_;
  beast::flat_buffer read_buffer_;
  std::deque<std::string> inbox_;
  std::deque<std::string> outbox_;
  bool open_ = false;
  bool reading_ = false;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
  bool failed_ = false;
  beast::error_code error_;
  std::string binding_;  // the TLS exporter value once the handshake is done; empty for ws://
};

// Chooses the connection by the URL's scheme at connect() and forwards to it.
class WebSocketTransport final : public Transport {
 public:
  explicit WebSocketTransport(TransportOptions options) : options_(std::move(options)) {}

  Status connect(const Endpoint& endpoint, Clock::time_point deadline) override {
    if (endpoint.tls) {
      auto context = make_client_tls_context(options_.ca_file);
      if (!context) return context.status();
      impl_ = std::make_unique<Connection<TlsStream>>(std::move(*context));
    } else {
      impl_ = std::make_unique<Connection<PlainStream>>(nullptr);
    }
    return impl_->connect(endpoint, deadline);
  }

  void send(std::string frame) override {
    if (impl_) impl_->send(std::move(frame));
  }

  Result<std::optional<std::string>> receive(Clock::time_point deadline) override {
    if (!impl_) return Status(Code::unreachable, "not connected");
    return impl_->receive(deadline);
  }

  void close(Clock::time_point deadline) override {
    if (impl_) impl_->close(deadline);
  }

  std::string binding() const override { return impl_ ? impl_->binding() : std::string(); }

 private:
  TransportOptions options_;
  std::unique_ptr<Transport> impl_;
};

}  // namespace

std::unique_ptr<Transport> make_websocket_transport(TransportOptions options) {
  return std::make_unique<WebSocketTransport>(std::move(options));
}

}  // namespace fieldsync::client
