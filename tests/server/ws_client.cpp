// The tests' raw WebSocket/HTTP client: Beast async calls, each bounded by io_context::run_for.
#include "ws_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>

namespace fieldsync::test {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Runs `ioc` until `done` or the timeout; on timeout cancels `stream` and drains.
template <typename Stream>
bool run_until(net::io_context& ioc, Stream& stream, const bool& done,
               std::chrono::milliseconds timeout) {
  ioc.restart();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done && std::chrono::steady_clock::now() < deadline) ioc.run_one_until(deadline);
  if (!done) {
    beast::get_lowest_layer(stream).cancel();
    ioc.restart();
    ioc.run();
  }
  return done;
}

}  // namespace

struct WsClient::Impl {
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  bool closed = false;
};

WsClient::WsClient() : impl_(std::make_unique<Impl>()) {}
WsClient::~WsClient() = default;

bool WsClient::connect(std::uint16_t port, std::chrono::milliseconds timeout) {
  auto& ws = impl_->ws;
  bool done = false;
  beast::error_code result;
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
  beast::get_lowest_layer(ws).async_connect(ep, [&](beast::error_code ec) {
    if (ec) {
      result = ec;
      done = true;
      return;
    }
    ws.async_handshake("127.0.0.1:" + std::to_string(port), "/sync", [&](beast::error_code ec2) {
      result = ec2;
      done = true;
    });
  });
  return run_until(impl_->ioc, ws, done, timeout) && !result;
}

bool WsClient::send(const std::string& frame, std::chrono::milliseconds timeout) {
  auto& ws = impl_->ws;
  bool done = false;
  beast::error_code result;
  ws.text(true);
  ws.async_write(net::buffer(frame), [&](beast::error_code ec, std::size_t) {
    result = ec;
    done = true;
  });
  return run_until(impl_->ioc, ws, done, timeout) && !result;
}

std::optional<std::string> WsClient::recv(std::chrono::milliseconds timeout) {
  auto& ws = impl_->ws;
  bool done = false;
  beast::error_code result;
  beast::flat_buffer buf;
  ws.async_read(buf, [&](beast::error_code ec, std::size_t) {
    result = ec;
    done = true;
  });
  if (!run_until(impl_->ioc, ws, done, timeout)) return std::nullopt;
  if (result) {
    impl_->closed = true;
    return std::nullopt;
  }
  return beast::buffers_to_string(buf.data());
}

std::optional<sync::Message> WsClient::recv_message(std::chrono::milliseconds timeout) {
  auto frame = recv(timeout);
  if (!frame) return std::nullopt;
  auto m = sync::decode(*frame);
  if (!m) return std::nullopt;
  return std::move(*m);
}

bool WsClient::closed() const { return impl_->closed; }

HttpReply http_get(std::uint16_t port, const std::string& target) {
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buf;
  http::request<http::string_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1");
  http::response<http::string_body> res;
  bool done = false;
  beast::error_code result;
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
  stream.async_connect(ep, [&](beast::error_code ec) {
    if (ec) {
      result = ec;
      done = true;
      return;
    }
    http::async_write(stream, req, [&](beast::error_code ec2, std::size_t) {
      if (ec2) {
        result = ec2;
        done = true;
        return;
      }
      http::async_read(stream, buf, res, [&](beast::error_code ec3, std::size_t) {
        result = ec3;
        done = true;
      });
    });
  });
  if (!run_until(ioc, stream, done, std::chrono::seconds(5)) || result) return {};
  return {static_cast<int>(res.result_int()), res.body()};
}

}  // namespace fieldsync::test
