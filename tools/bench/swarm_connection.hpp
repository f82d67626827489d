// One light device of the swarm (swarm.hpp): a sync::ClientSession over an asynchronous Beast
// WebSocket (ws://, no TLS, so no channel binding) on an io_context shared with every other
// device of the swarm. The connection connects, upgrades on /sync, starts the session and
// then feeds it every frame it reads; frames the session returns are written one at a time
// from a queue. It counts the bytes of every frame both ways.
//
// Ownership: owned by the swarm driver; it borrows the io_context, the identity's key and the
// store, which must outlive it. Handlers capture `this`: the driver must close the connection
// and run the io_context until the connection is finished() before destroying it.
// Thread safety: none; every call and handler runs on the io_context's one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/status.hpp"
#include "fieldsync/sync/client_session.hpp"
#include "swarm_store.hpp"

namespace fieldsync::bench {

// Bytes on one connection: WebSocket payloads, plus an estimate of each frame's header (2
// bytes, 2 or 8 more for a payload of 126 bytes or more, 4 more for the client's mask), one
// frame per message. Pings, pongs, the close handshake, the HTTP upgrade and TCP/IP headers
// are not counted.
struct FrameCounts {
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t frames_sent = 0;
  std::uint64_t frames_received = 0;
};

// The header size of one WebSocket frame carrying `payload` bytes (`masked`: client to server).
std::size_t websocket_header_bytes(std::size_t payload, bool masked);

class SwarmConnection {
 public:
  // `on_event` is called after anything that may change live(), failed() or finished().
  SwarmConnection(boost::asio::io_context& ioc, boost::asio::ip::tcp::endpoint endpoint,
                  std::string host_header, const sync::ClientSessionConfig& config,
                  SwarmStore& store, std::function<void()> on_event);
  SwarmConnection(const SwarmConnection&) = delete;
  SwarmConnection& operator=(const SwarmConnection&) = delete;

  // Connects, upgrades and says hello. Once.
  void open();
  // The store's outbox grew: push now if no push is in flight.
  void local_change();
  // Sends what is queued, then closes the WebSocket (normal closure).
  void close();
  // Closes the socket at once (the driver's last resort before destroying).
  void abort();

  bool opened() const { return opened_; }
  // Welcomed, caught up, nothing in flight and nothing left to push (ClientSession::up_to_date).
  bool live() const { return !failure_ && session_.up_to_date(); }
  bool failed() const { return failure_.has_value(); }
  const std::optional<Status>& failure() const { return failure_; }
  // No handler of this connection is pending (or it was never opened).
  bool finished() const { return !opened_ || finished_; }
  const FrameCounts& counts() const { return counts_; }
  const sync::ClientSession& session() const { return session_; }

 private:
  void on_connect(boost::beast::error_code ec);
  void on_handshake(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void send(std::vector<std::string> frames);
  void do_write();
  void on_write(boost::beast::error_code ec, std::size_t bytes);
  void maybe_close();
  void on_close(boost::beast::error_code ec);
  void fail(Status s);
  void check_session();
  void update_finished();

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::asio::ip::tcp::endpoint endpoint_;
  std::string host_header_;
  sync::ClientSession session_;
  std::function<void()> on_event_;
  boost::beast::flat_buffer in_;
  std::deque<std::string> queue_;
  FrameCounts counts_;
  std::optional<Status> failure_;
  bool opened_ = false;
  bool connecting_ = false;  // connect or handshake pending
  bool reading_ = false;
  bool writing_ = false;
  bool open_ = false;  // the WebSocket is up
  bool close_requested_ = false;
  bool closing_ = false;  // async_close pending
  bool finished_ = false;
};

}  // namespace fieldsync::bench
