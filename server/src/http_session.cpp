// The HTTP side of a connection: GET /healthz answers with the store's head, a WebSocket
// upgrade on /sync becomes a ws session, anything else is 404.
#include "http_session.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
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

constexpr auto kReadTimeout = std::chrono::seconds(30);
constexpr std::uint32_t kMaxRequestBytes = 16 * 1024;

class HttpSession final : public Connection, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(net::ip::tcp::socket&& socket, SharedState& shared)
      : stream_(std::move(socket)), shared_(shared) {}
  ~HttpSession() override { shared_.leave(this); }

  void run() {
    shared_.join(shared_from_this());
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&HttpSession::do_read, shared_from_this()));
  }

  void shutdown() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->upgraded_) return;
      beast::error_code ec;
      self->stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
      self->stream_.close();
    });
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->header_limit(kMaxRequestBytes);
    parser_->body_limit(kMaxRequestBytes);
    stream_.expires_after(kReadTimeout);
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
    beast::error_code ec;
    stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  SharedState& shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool upgraded_ = false;
};

}  // namespace

void start_http_session(net::ip::tcp::socket&& socket, SharedState& shared) {
  std::make_shared<HttpSession>(std::move(socket), shared)->run();
}

}  // namespace fieldsync::server
