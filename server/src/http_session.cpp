// The HTTP side of a connection: GET /healthz answers with the store's head, a WebSocket
// upgrade on /sync becomes a ws session, anything else is 404. One session template serves
// plain TCP (beast::tcp_stream) and TLS (beast::ssl_stream); both are instantiated here.
#include "http_session.hpp"

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "ws_session.hpp"

namespace fieldsync::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace ssl = net::ssl;

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

constexpr auto kReadTimeout = std::chrono::seconds(30);
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(5);
constexpr std::uint32_t kMaxRequestBytes = 16 * 1024;

std::string peer_of(beast::tcp_stream& stream) {
  beast::error_code ec;
  auto ep = stream.socket().remote_endpoint(ec);
  return ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
}

template <class Stream>
class HttpSession final : public Connection,
                          public std::enable_shared_from_this<HttpSession<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using std::enable_shared_from_this<HttpSession<Stream>>::shared_from_this;

 public:
  HttpSession(Stream&& stream, SharedState& shared, std::chrono::milliseconds handshake_timeout)
      : stream_(std::move(stream)),
        executor_(beast::get_lowest_layer(stream_).get_executor()),
        shared_(shared),
        peer_(peer_of(beast::get_lowest_layer(stream_))),
        handshake_timeout_(handshake_timeout) {}
  ~HttpSession() override { shared_.leave(this); }
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  void run() {
    shared_.join(shared_from_this());
    net::dispatch(executor_, beast::bind_front_handler(&HttpSession::start, shared_from_this()));
  }

  void shutdown() override {
    net::post(executor_, [self = shared_from_this()] {
      if (self->upgraded_) return;  // the stream belongs to the ws session now
      auto& tcp = beast::get_lowest_layer(self->stream_);
      beast::error_code ec;
      tcp.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
      tcp.close();
    });
  }

 private:
  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }

  void start() {
    if constexpr (kTls) {
      // Both the look at the first bytes and the handshake fall under one timeout.
      tcp().expires_after(handshake_timeout_);
      beast::async_detect_ssl(
          tcp(), buffer_, beast::bind_front_handler(&HttpSession::on_detect, shared_from_this()));
    } else {
      do_read();
    }
  }

  void on_detect(beast::error_code ec, bool is_tls) {
    if (ec) return handshake_failed(ec);
    if (!is_tls) return refuse_plain();
    stream_.async_handshake(
        ssl::stream_base::server, buffer_.data(),
        beast::bind_front_handler(&HttpSession::on_handshake, shared_from_this()));
  }

  void on_handshake(beast::error_code ec, std::size_t used) {
    if (ec) return handshake_failed(ec);
    buffer_.consume(used);
    do_read();
  }

  // Logged with the peer and the reason (OpenSSL's or Beast's), never the bytes received.
  void handshake_failed(beast::error_code ec) {
    if (ec == net::error::operation_aborted || shared_.stopping.load()) return;
    shared_.log->info("peer {}: TLS handshake failed: {}", peer_,
                      ec == beast::error::timeout ? "timed out" : ec.message());
  }

  // A plain HTTP (or ws://) client on the TLS port: a readable refusal in plain HTTP.
  void refuse_plain() {
    shared_.log->info("peer {}: no TLS handshake (plain HTTP?); answered 400", peer_);
    auto res = std::make_shared<http::response<http::string_body>>(http::status::bad_request, 11);
    res->set(http::field::server, "fieldsync");
    res->set(http::field::content_type, "text/plain");
    res->keep_alive(false);
    res->body() = "this server speaks TLS only: use wss:// or https://\n";
    res->prepare_payload();
    tcp().expires_after(kTlsShutdownTimeout);
    http::async_write(tcp(), *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        beast::error_code ignored;
                        self->tcp().socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
                        self->drain();
                      });
  }

  // Reads what the client still sends until it closes (or the timer runs out), so that
  // closing the socket does not reset the connection before the client read the answer.
  void drain() {
    tcp().async_read_some(net::buffer(scratch_),
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (!ec) self->drain();
                          });
  }

  void do_read() {
    parser_.emplace();
    parser_->header_limit(kMaxRequestBytes);
    parser_->body_limit(kMaxRequestBytes);
    tcp().expires_after(kReadTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream) return do_eof();
    if (ec) {
      if (ec != net::error::operation_aborted && ec != beast::error::timeout)
        shared_.log->debug("http read failed: {}", ec.message());
      return;
    }
    const auto& req = parser_->get();
    const std::string path(req.target().substr(0, req.target().find('?')));
    if (websocket::is_upgrade(req) && path == "/sync") {
      if (shared_.stopping.load())
        return respond(http::status::service_unavailable, R"({"status":"stopping"})");
      upgraded_ = true;
      return start_ws_session(std::move(stream_), parser_->release(), shared_);
    }
    if (req.method() == http::verb::get && path == "/healthz") {
      auto head = shared_.store.head();
      if (!head) {
        shared_.log->error("healthz: store not readable: {}", head.status().to_string());
        return respond(http::status::service_unavailable, R"({"status":"error"})");
      }
      return respond(http::status::ok, R"({"status":"ok","head":)" + std::to_string(*head) + "}");
    }
    respond(http::status::not_found, R"({"status":"not found"})");
  }

  void respond(http::status status, std::string body) {
    auto res =
        std::make_shared<http::response<http::string_body>>(status, parser_->get().version());
    res->set(http::field::server, "fieldsync");
    res->set(http::field::content_type, "application/json");
    res->keep_alive(parser_->get().keep_alive() && status != http::status::service_unavailable);
    res->body() = std::move(body);
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        self->on_write(res->keep_alive(), ec);
                      });
  }

  void on_write(bool keep_alive, beast::error_code ec) {
    if (ec) return;
    if (!keep_alive) return do_eof();
    do_read();
  }

  void do_eof() {
    if constexpr (kTls) {
      // close_notify, then the socket closes with the session.
      tcp().expires_after(kTlsShutdownTimeout);
      stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
    } else {
      beast::error_code ec;
      tcp().socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
    }
  }

  Stream stream_;
  net::any_io_executor executor_;  // the connection's strand; stays valid after the upgrade
  SharedState& shared_;
  std::string peer_;
  std::chrono::milliseconds handshake_timeout_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool upgraded_ = false;
  std::array<char, 1024> scratch_{};  // drain()'s discarded bytes
};

}  // namespace

void start_http_session(net::ip::tcp::socket&& socket, SharedState& shared) {
  std::make_shared<HttpSession<PlainStream>>(PlainStream(std::move(socket)), shared,
                                             std::chrono::milliseconds(0))
      ->run();
}

void start_https_session(net::ip::tcp::socket&& socket, const TlsSettings& tls,
                         SharedState& shared) {
  std::make_shared<HttpSession<TlsStream>>(TlsStream(std::move(socket), *tls.context), shared,
                                           tls.handshake_timeout)
      ->run();
}

}  // namespace fieldsync::server
