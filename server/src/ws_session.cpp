// The WebSocket sync session: the transport around one sync::ServerSession. One session per
// connection, on its own strand, kept alive by shared_from_this; paired do_x/on_x handlers.
// One write in flight with a bounded queue behind it; reads of the log are paced by that
// queue, so a slow device cannot grow the server's memory. The session is a template on the
// stream under the WebSocket (plain TCP or TLS); both are instantiated here, once.
#include "ws_session.hpp"

#include <algorithm>
#include <deque>
#include <optional>
#include <string>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json.hpp>

#include "fieldsync/crypto/tls_binding.hpp"
#include "fieldsync/server/audit.hpp"
#include "fieldsync/sync/server_session.hpp"

namespace fieldsync::server {
namespace {

sync::ServerSessionConfig session_config(const SharedState& shared, std::string binding) {
  sync::ServerSessionConfig c;
  c.require_auth = shared.require_auth;
  c.binding = std::move(binding);
  c.epoch = shared.epoch;
  c.epoch_base = shared.epoch_base;
  return c;
}

sync::DeviceState to_sync_state(DeviceState s) {
  switch (s) {
    case DeviceState::active:
      return sync::DeviceState::active;
    case DeviceState::revoked:
      return sync::DeviceState::revoked_may_upload;
    case DeviceState::revoked_no_upload:
      return sync::DeviceState::revoked;
    case DeviceState::wiped:
      return sync::DeviceState::wiped;
  }
  return sync::DeviceState::revoked;
}

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;

// The channel binding a device signs in its answer: none over plain TCP, the connection's
// tls-exporter value over TLS (the handshake is done before the session starts).
std::string channel_binding(beast::tcp_stream& /*plain*/, const SharedState& /*shared*/) {
  return {};
}
std::string channel_binding(beast::ssl_stream<beast::tcp_stream>& tls, const SharedState& shared) {
  auto binding = crypto::tls_channel_binding(tls.native_handle());
  if (binding) return std::move(*binding);
  shared.log->error("session: {}", binding.status().message());
  return "unavailable";  // not hex: no answer verifies, so authentication fails closed
}

constexpr std::size_t kReadChunk = std::size_t{64} * 1024;
// Frames up to this size are read (and discarded past kMaxFrameBytes) so that the device
// gets a frame_too_large error frame; beyond it Beast fails the connection (close 1009).
constexpr std::size_t kHardFrameLimit = 4 * sync::kMaxFrameBytes;
// Queued frames below which the next page of a log read is fetched.
constexpr std::size_t kReadPaceFrames = 2;

template <class Stream>
class WsSession final : public Connection, public std::enable_shared_from_this<WsSession<Stream>> {
  using std::enable_shared_from_this<WsSession<Stream>>::shared_from_this;

 public:
  WsSession(Stream&& stream, SharedState& shared)
      : ws_(std::move(stream)),
        shared_(shared),
        proto_(shared.schema, session_config(shared, channel_binding(ws_.next_layer(), shared))) {
    beast::error_code ec;
    auto ep = beast::get_lowest_layer(ws_).socket().remote_endpoint(ec);
    if (!ec) peer_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  ~WsSession() override {
    shared_.ws_sessions.fetch_sub(1);
    shared_.log->info("session closed: peer {} device {} ops pushed {} entries sent {}", peer_,
                      device_or_none(), ops_pushed_, entries_sent_);
    shared_.leave(this);
  }

  void run(const http::request<http::string_body>& upgrade) {
    shared_.join(shared_from_this());
    shared_.ws_sessions.fetch_add(1);
    beast::get_lowest_layer(ws_).expires_never();  // the websocket has its own timeouts
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "fieldsync"); }));
    ws_.read_message_max(kHardFrameLimit);
    ws_.text(true);
    ws_.async_accept(upgrade, beast::bind_front_handler(&WsSession::on_accept, shared_from_this()));
  }

  void shutdown() override {
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      self->close_code_ = websocket::close_code::going_away;
      self->close_after_send_ = true;
      self->maybe_close();
    });
  }

  void deliver(const LiveEntries& entries) override {
    net::post(ws_.get_executor(), [self = shared_from_this(), entries] {
      if (self->done()) return;
      sync::SessionActions a = self->proto_.on_live(*entries);
      if (!a.send.empty())
        for (const auto& e : *entries) self->entries_sent_ += e.op.device != self->proto_.device();
      self->execute(std::move(a));
    });
  }

 private:
  const std::string& device_or_none() const {
    static const std::string kNone = "-";
    return proto_.authenticated() ? proto_.device() : kNone;
  }
  bool done() const { return aborted_ || close_after_send_; }

  void on_accept(beast::error_code ec) {
    if (ec) return fail(ec, "accept");
    shared_.log->info("session opened: peer {}", peer_);
    do_read();
  }

  void do_read() {
    ws_.async_read_some(in_, kReadChunk,
                        beast::bind_front_handler(&WsSession::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return fail(ec, "read");
    if (aborted_ || closing_) return;  // the close handshake reads the rest
    if (oversized_ || in_.size() > sync::kMaxFrameBytes) {
      oversized_ = true;  // keep reading to the end of the message, keeping nothing
      in_.consume(in_.size());
    }
    if (!ws_.is_message_done()) return do_read();
    if (oversized_) {
      shared_.log->warn("session {}: frame over {} bytes refused", device_or_none(),
                        sync::kMaxFrameBytes);
      send_error(Code::frame_too_large,
                 "frame is over the limit of " + std::to_string(sync::kMaxFrameBytes) + " bytes",
                 true);
      close_code_ = websocket::close_code::too_big;
      close_after_send_ = true;
      return maybe_close();
    }
    std::string frame = beast::buffers_to_string(in_.data());
    in_.consume(in_.size());
    const bool was_authenticated = proto_.authenticated();
    sync::SessionActions a = proto_.on_frame(frame, shared_.head.load(), shared_.now_ms());
    if (!was_authenticated && proto_.authenticated())
      shared_.log->info("session {}: device {} said hello", peer_, proto_.device());
    execute(std::move(a));
    if (!done()) do_read();
  }

  // The directory's record of a device, for the challenge's answer. Directory reads are quick
  // (pooled read connections, WAL), so they run here on the session's strand.
  Result<sync::DeviceRecord> lookup_device(const std::string& id) {
    auto device = shared_.directory->device(id);
    if (!device) return device.status();
    auto lease = shared_.directory->lease();
    if (!lease) return lease.status();
    constexpr std::int64_t kDayMs = 86'400'000;
    sync::DeviceRecord r;
    r.user = device->user;
    r.role = std::string(role_name(device->role));
    r.public_key = device->public_key;
    r.state = to_sync_state(device->state);
    r.lease = {lease->sync_within_days * kDayMs, lease->wipe_after_days * kDayMs};
    if (device->state == DeviceState::active)
      (void)shared_.directory->touch_last_sync(id, shared_.now_ms());
    return r;
  }

  // Redeems an enrolment code: a short write to the directory (it may wait for a group commit).
  Result<sync::Enrolled> redeem(const sync::Enroll& m) {
    auto bytes = crypto::from_hex(m.public_key);
    crypto::PublicKey key{};
    if (!bytes || bytes->size() != key.size())
      return Status(Code::invalid_argument, "public_key must be 64 hex digits");
    std::copy(bytes->begin(), bytes->end(), key.begin());
    auto user = shared_.directory->redeem_enroll_code(m.code, m.device, key, shared_.now_ms());
    if (!user) {
      shared_.log->info("enrolment refused: peer {} device {}: {}", peer_, m.device,
                        code_name(user.status().code()));
      return user.status();
    }
    shared_.log->info("device {} enrolled for user {}", m.device, user->name);
    return sync::Enrolled{user->name, std::string(role_name(user->role))};
  }

  // The authenticated user's scope now. Like the directory reads, on the session's strand.
  Result<sync::Visibility> load_scope() {
    auto user = shared_.directory->user(proto_.user());
    if (!user) return user.status();
    return shared_.store.scope_of(Viewer{user->name, user->role, user->team});
  }

  // Carries out what the protocol state machine asked for.
  void execute(sync::SessionActions a) {
    for (auto& frame : a.send) enqueue(std::move(frame));
    if (a.lookup_device) {
      auto record = lookup_device(*a.lookup_device);
      execute(proto_.on_device(record, shared_.head.load(), shared_.now_ms()));
      if (proto_.authenticated())
        shared_.log->info("device {} authenticated{}", proto_.device(),
                          proto_.upload_only() ? " (revoked: upload only)" : "");
    }
    if (a.redeem) execute(proto_.on_redeemed(redeem(*a.redeem)));
    if (a.load_scope) {
      auto scope = load_scope();
      auto saved = shared_.directory->device_scope(proto_.device());
      execute(proto_.on_scope(scope, saved, shared_.head.load(), shared_.now_ms()));
    }
    if (a.save_scope) {
      if (Status s = shared_.directory->set_device_scope(proto_.device(), *a.save_scope); !s)
        shared_.log->warn("session {}: could not save the device's scope: {}", device_or_none(),
                          s.to_string());
    }
    if (a.read_items) {
      pending_items_ = std::move(*a.read_items);
      maybe_read_items();
    }
    if (a.record_reads) record_reads(std::move(*a.record_reads));
    if (a.read_history) {
      auto log = shared_.store.record_log(a.read_history->collection, a.read_history->id);
      if (!log)
        shared_.log->error("session {}: history read failed: {}", device_or_none(),
                           log.status().to_string());
      execute(proto_.on_history(log));
    }
    if (a.submit) submit(std::move(*a.submit));
    if (a.read) {
      pending_read_ = *a.read;
      maybe_read_log();
    }
    if (a.close) {
      close_code_ = websocket::close_code::policy_error;
      close_after_send_ = true;
      maybe_close();
    }
  }

  // Reads go to the audit log through the writer, as this session's user and device; ids
  // only, never record content.
  void record_reads(sync::Reads&& reads) {
    std::vector<audit::Event> events;
    events.reserve(reads.events.size());
    const std::int64_t now = shared_.now_ms();
    for (const auto& e : reads.events) {
      boost::json::object detail{{"what", e.what}};
      if (e.at_ms != 0) detail["device_ms"] = e.at_ms;
      events.push_back(audit::Event{"read", now, proto_.user(), proto_.device(),
                                    e.collection + "/" + e.id, boost::json::serialize(detail)});
    }
    const std::uint64_t batch = reads.batch;
    auto self = shared_from_this();
    Status s = shared_.writer->submit_events(std::move(events), [self, batch](Status r) {
      net::post(self->ws_.get_executor(), [self, batch, r = std::move(r)]() {
        if (!self->aborted_) self->execute(self->proto_.on_reads_recorded(batch, r));
      });
    });
    if (!s) execute(proto_.on_reads_recorded(batch, s));
  }

  void submit(sync::SubmittedPush&& push) {
    const std::uint64_t batch = push.batch;
    ops_pushed_ += push.ops.size() + push.refused.size();
    auto self = shared_from_this();
    Status s = shared_.writer->submit(
        std::move(push), [self, batch](Result<std::vector<sync::OpResult>> r) {
          // On the writer thread: hand the results to the session's strand.
          net::post(self->ws_.get_executor(), [self, batch, r = std::move(r)]() mutable {
            self->on_committed(batch, std::move(r));
          });
        });
    if (!s) on_committed(batch, std::move(s));
  }

  void on_committed(std::uint64_t batch, Result<std::vector<sync::OpResult>> r) {
    if (aborted_) return;
    if (!r) {
      // Nothing of the batch was stored: the device keeps the ops and sends them again.
      shared_.log->error("session {}: batch {} not stored: {}", device_or_none(), batch,
                         r.status().to_string());
      return execute(proto_.on_failed(batch, r.status()));
    }
    execute(proto_.on_committed(batch, *r));
  }

  // Reads fetched items, a group at a time, while the outgoing queue is short (backpressure).
  // A loop, not a recursion: each answer may ask for the next group at once.
  void maybe_read_items() {
    if (reading_items_) return;  // the loop below picks the next group up
    reading_items_ = true;
    while (pending_items_ && !aborted_ && queue_.size() < kReadPaceFrames) {
      std::vector<std::string> items = std::move(*pending_items_);
      pending_items_.reset();
      execute(proto_.on_items(shared_.store.read_items(items)));
    }
    reading_items_ = false;
  }

  // Reads the next page of the log once the outgoing queue is short (backpressure).
  void maybe_read_log() {
    if (!pending_read_ || aborted_ || queue_.size() >= kReadPaceFrames) return;
    sync::Pull p = *pending_read_;
    pending_read_.reset();
    auto changes = shared_.store.read_log(p.cursor, p.limit, proto_.device(), proto_.visibility());
    if (!changes) {
      shared_.log->error("session {}: log read failed: {}", device_or_none(),
                         changes.status().to_string());
      send_error(Code::storage, "the server could not read its log; try again later", true);
      close_after_send_ = true;
      return maybe_close();
    }
    entries_sent_ += changes->entries.size();
    execute(proto_.on_read(std::move(*changes)));
  }

  void send_error(Code code, std::string message, bool fatal) {
    enqueue(sync::encode(sync::Error{code, std::move(message), fatal}));
  }

  void enqueue(std::string frame) {
    if (aborted_ || closing_) return;  // nothing may follow the close frame
    queued_bytes_ += frame.size();
    queue_.push_back(std::move(frame));
    if (queue_.size() > shared_.max_queued_frames || queued_bytes_ > shared_.max_queued_bytes) {
      shared_.log->warn("session {}: device too slow ({} frames, {} bytes queued); closing",
                        device_or_none(), queue_.size(), queued_bytes_);
      return abort();
    }
    if (!writing_) do_write();
  }

  void do_write() {
    writing_ = true;
    ws_.async_write(net::buffer(queue_.front()),
                    beast::bind_front_handler(&WsSession::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (ec) return fail(ec, "write");
    if (aborted_) return;
    queued_bytes_ -= queue_.front().size();
    queue_.pop_front();
    if (!queue_.empty()) do_write();
    maybe_read_items();
    maybe_read_log();
    maybe_close();
  }

  // Closes once every queued frame is sent.
  void maybe_close() {
    if (!close_after_send_ || closing_ || aborted_ || writing_ || !queue_.empty()) return;
    closing_ = true;
    ws_.async_close(close_code_,
                    beast::bind_front_handler(&WsSession::on_close, shared_from_this()));
  }

  void on_close(beast::error_code ec) {
    if (ec) return fail(ec, "close");
  }

  // Drops the connection without a close handshake (a device that does not keep up).
  void abort() {
    aborted_ = true;
    queue_.clear();
    queued_bytes_ = 0;
    pending_read_.reset();
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
  }

  void fail(beast::error_code ec, const char* what) {
    // Normal ends of a session: the peer closed, we aborted or timed out an idle peer.
    if (ec == websocket::error::closed || ec == net::error::operation_aborted ||
        ec == net::error::eof || ec == net::error::connection_reset ||
        ec == beast::error::timeout) {
      shared_.log->debug("session {}: {} ended: {}", device_or_none(), what, ec.message());
      return;
    }
    if (ec == websocket::error::message_too_big) {
      shared_.log->warn("session {}: frame over {} bytes; connection dropped", device_or_none(),
                        kHardFrameLimit);
      return;
    }
    shared_.log->warn("session {}: {} failed: {}", device_or_none(), what, ec.message());
  }

  websocket::stream<Stream> ws_;
  SharedState& shared_;
  sync::ServerSession proto_;
  std::string peer_ = "?";
  beast::flat_buffer in_;
  bool oversized_ = false;
  std::deque<std::string> queue_;  // frames to send; the front one is being written
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  std::optional<sync::Pull> pending_read_;
  std::optional<std::vector<std::string>> pending_items_;  // a group of fetched items to read
  bool reading_items_ = false;                             // maybe_read_items' loop is running
  bool close_after_send_ = false;
  bool closing_ = false;
  bool aborted_ = false;
  websocket::close_code close_code_ = websocket::close_code::normal;
  std::uint64_t ops_pushed_ = 0;
  std::uint64_t entries_sent_ = 0;
};

template <class Stream>
void start(Stream&& stream, const http::request<http::string_body>& upgrade, SharedState& shared) {
  std::make_shared<WsSession<Stream>>(std::forward<Stream>(stream), shared)->run(upgrade);
}

}  // namespace

void start_ws_session(beast::tcp_stream&& stream, const http::request<http::string_body>& upgrade,
                      SharedState& shared) {
  start(std::move(stream), upgrade, shared);
}

void start_ws_session(beast::ssl_stream<beast::tcp_stream>&& stream,
                      const http::request<http::string_body>& upgrade, SharedState& shared) {
  start(std::move(stream), upgrade, shared);
}

}  // namespace fieldsync::server
