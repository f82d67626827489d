// One light device of the swarm over an asynchronous Beast WebSocket (swarm_connection.hpp).
#include "swarm_connection.hpp"

#include <chrono>
#include <utility>

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/field.hpp>

#include "fieldsync/sync/wire.hpp"

namespace fieldsync::bench {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;

constexpr auto kConnectTimeout = std::chrono::seconds(30);
constexpr std::size_t kSmallPayload = 126;     // payloads below fit the 7-bit length
constexpr std::size_t kMediumPayload = 65536;  // below: a 16-bit extended length

}  // namespace

std::size_t websocket_header_bytes(std::size_t payload, bool masked) {
  std::size_t n = 2;
  if (payload >= kMediumPayload)
    n += 8;
  else if (payload >= kSmallPayload)
    n += 2;
  return masked ? n + 4 : n;
}

SwarmConnection::SwarmConnection(net::io_context& ioc, net::ip::tcp::endpoint endpoint,
                                 std::string host_header, const sync::ClientSessionConfig& config,
                                 SwarmStore& store, std::function<void()> on_event)
    : ws_(ioc),
      endpoint_(std::move(endpoint)),
      host_header_(std::move(host_header)),
      session_(store, config),
      on_event_(std::move(on_event)) {}

void SwarmConnection::open() {
  if (opened_) return;
  opened_ = true;
  connecting_ = true;
  auto& tcp = beast::get_lowest_layer(ws_);
  tcp.expires_after(kConnectTimeout);
  tcp.async_connect(endpoint_, [this](beast::error_code ec) { on_connect(ec); });
}

void SwarmConnection::on_connect(beast::error_code ec) {
  if (ec) {
    connecting_ = false;
    return fail(Status(Code::unreachable, "cannot connect: " + ec.message()));
  }
  if (close_requested_) {
    connecting_ = false;
    abort();
    return update_finished();
  }
  beast::get_lowest_layer(ws_).expires_never();  // the WebSocket's own timeouts from here
  ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
  ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& req) {
    req.set(beast::http::field::user_agent, "fieldsync-bench-swarm");
  }));
  ws_.read_message_max(sync::kMaxFrameBytes + std::size_t{64} * 1024);
  ws_.text(true);
  ws_.async_handshake(host_header_, "/sync", [this](beast::error_code e) { on_handshake(e); });
}

void SwarmConnection::on_handshake(beast::error_code ec) {
  connecting_ = false;
  if (ec) return fail(Status(Code::unreachable, "WebSocket handshake failed: " + ec.message()));
  open_ = true;
  do_read();
  send(session_.start());
  if (close_requested_) maybe_close();
  if (on_event_) on_event_();
}

void SwarmConnection::do_read() {
  reading_ = true;
  ws_.async_read(in_, [this](beast::error_code ec, std::size_t n) { on_read(ec, n); });
}

void SwarmConnection::on_read(beast::error_code ec, std::size_t /*bytes*/) {
  reading_ = false;
  if (ec) {
    open_ = false;
    if (!close_requested_)
      return fail(Status(Code::unreachable, "connection lost: " + ec.message()));
    return update_finished();
  }
  const std::string frame = beast::buffers_to_string(in_.data());
  in_.consume(in_.size());
  counts_.bytes_received += frame.size() + websocket_header_bytes(frame.size(), false);
  ++counts_.frames_received;
  auto out = session_.on_frame(frame);
  check_session();
  send(std::move(out));
  if (!failure_) do_read();
  if (on_event_) on_event_();
}

void SwarmConnection::local_change() {
  if (!open_ || failure_ || !session_.welcomed()) return;  // the welcome starts the first push
  send(session_.on_local_change());
  check_session();
}

void SwarmConnection::send(std::vector<std::string> frames) {
  for (auto& f : frames) {
    counts_.bytes_sent += f.size() + websocket_header_bytes(f.size(), true);
    ++counts_.frames_sent;
    queue_.push_back(std::move(f));
  }
  if (!writing_ && !closing_ && open_ && !queue_.empty()) do_write();
}

void SwarmConnection::do_write() {
  writing_ = true;
  ws_.async_write(net::buffer(queue_.front()),
                  [this](beast::error_code ec, std::size_t n) { on_write(ec, n); });
}

void SwarmConnection::on_write(beast::error_code ec, std::size_t /*bytes*/) {
  writing_ = false;
  if (ec) {
    open_ = false;
    if (!close_requested_) return fail(Status(Code::unreachable, "write failed: " + ec.message()));
    return update_finished();
  }
  queue_.pop_front();
  if (!queue_.empty() && open_) return do_write();
  maybe_close();
  update_finished();
}

void SwarmConnection::close() {
  close_requested_ = true;
  if (!opened_) return;
  if (connecting_) return;  // on_connect / on_handshake see the request
  maybe_close();
  update_finished();
}

void SwarmConnection::maybe_close() {
  if (!close_requested_ || closing_ || writing_ || !open_ || !queue_.empty()) return;
  closing_ = true;
  ws_.async_close(websocket::close_code::normal, [this](beast::error_code ec) { on_close(ec); });
}

void SwarmConnection::on_close(beast::error_code /*ec*/) {
  closing_ = false;
  open_ = false;
  update_finished();
}

void SwarmConnection::abort() {
  close_requested_ = true;
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().close(ignored);
}

void SwarmConnection::fail(Status s) {
  if (!failure_) failure_ = std::move(s);
  // A failed session is not worth a close handshake: drop the socket; pending handlers then
  // complete with errors.
  if (reading_ || writing_ || closing_ || connecting_) abort();
  open_ = false;
  update_finished();
}

void SwarmConnection::check_session() {
  if (session_.failed() && !failure_)
    fail(session_.failure().value_or(Status(Code::internal, "session failed")));
}

void SwarmConnection::update_finished() {
  finished_ = opened_ && !connecting_ && !reading_ && !writing_ && !closing_;
  if (on_event_) on_event_();
}

}  // namespace fieldsync::bench
