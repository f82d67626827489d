// One thread, one io_context, C++20 coroutines. Each accepted connection gets a socket to the
// target and two pipes (client -> target, target -> client); each pipe is a reader that
// queues chunks stamped with their release time (now + latency) and a writer that sends them
// in order, paced by a token bucket, held back by stalls and partitions, and cut at the
// connection's seeded byte offset.
#include "proxy/proxy.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace fieldsync::proxy {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;
using net::awaitable;
using std::chrono::milliseconds;

constexpr std::size_t kReadSize = std::size_t{16} * 1024;

auto with(error_code& ec) { return net::redirect_error(net::use_awaitable, ec); }

// Rethrows what escaped a coroutine, so that a bug ends run() instead of vanishing.
void rethrow(const std::exception_ptr& e) {
  if (e) std::rethrow_exception(e);
}

std::string seconds_text(Clock::duration d) {
  char text[32];
  std::snprintf(text, sizeof text, "+%.3f s",
                static_cast<double>(std::chrono::duration_cast<milliseconds>(d).count()) / 1000);
  return text;
}

struct Stats {
  std::uint64_t connections = 0;
  std::uint64_t refused = 0;
  std::uint64_t cuts = 0;
  std::uint64_t stalls = 0;
  std::uint64_t partitions = 0;
  std::uint64_t target_failures = 0;
  std::uint64_t bytes_to_target = 0;
  std::uint64_t bytes_to_clients = 0;
};

struct Chunk {
  std::vector<char> data;
  std::size_t sent = 0;
  Clock::time_point release;
};

// One direction of a connection.
struct Pipe {
  Pipe(const net::any_io_executor& ex, tcp::socket& src, tcp::socket& dst, bool upstream)
      : from(src), to(dst), to_target(upstream), data_ready(ex), space_ready(ex), sleep(ex) {}
  tcp::socket& from;
  tcp::socket& to;
  bool to_target;
  std::deque<Chunk> queue;
  std::size_t queued = 0;         // bytes in `queue` not yet sent
  bool eof = false;               // the reader saw the end of the stream
  bool done = false;              // everything forwarded and the send side shut down
  net::steady_timer data_ready;   // the reader wakes the writer
  net::steady_timer space_ready;  // the writer wakes the reader
  net::steady_timer sleep;        // the writer's own waits (latency, pacing, stalls)
  double tokens = 0;
  Clock::time_point refilled;
};

class Proxy;

struct Conn {
  Conn(Proxy& p, std::uint64_t number, tcp::socket accepted, SeededRng r);
  Proxy& proxy;
  std::uint64_t id;
  SeededRng rng;
  tcp::socket client;
  tcp::socket server;
  Pipe up;                      // client -> target
  Pipe down;                    // target -> client
  std::uint64_t forwarded = 0;  // bytes written, both directions
  std::optional<std::uint64_t> cut_at;
  bool armed = false;  // a timed cut is waiting for traffic
  bool closed = false;
};

// Waits until `t` is cancelled (a wake-up) or the connection closes.
awaitable<void> wait_for_wakeup(net::steady_timer& t) {
  error_code ec;
  t.expires_at(Clock::time_point::max());
  co_await t.async_wait(with(ec));
}

class Proxy {
 public:
  Proxy(net::io_context& io, const ProxyConfig& config, std::ostream& log)
      : io_(io), config_(config), plan_(config.faults), log_(log), acceptor_(io) {}

  bool listen(std::ostream& out) {
    error_code ec;
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(config_.listen.host, std::to_string(config_.listen.port), ec);
    if (ec || results.empty()) {
      log_ << "fieldsync-proxy: cannot resolve " << config_.listen.display << ": " << ec.message()
           << "\n";
      return false;
    }
    const tcp::endpoint ep = *results.begin();
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      log_ << "fieldsync-proxy: cannot listen on " << config_.listen.display << ":"
           << config_.listen.port << ": " << ec.message() << "\n";
      return false;
    }
    start_ = Clock::now();
    describe();
    out << "listening on " << config_.listen.display << ":" << acceptor_.local_endpoint().port()
        << std::endl;
    return true;
  }

  void start() {
    auto ex = io_.get_executor();
    net::co_spawn(ex, accept_loop(), rethrow);
    if (plan_.options().stall_every_ms > 0) net::co_spawn(ex, stall_loop(), rethrow);
    if (plan_.options().cut_every_ms > 0) net::co_spawn(ex, timed_cut_loop(), rethrow);
    if (plan_.options().refuse_for_ms > 0 || plan_.options().partition_at_ms >= 0)
      net::co_spawn(ex, partition_loop(), rethrow);
  }

  void stop() {
    error_code ec;
    acceptor_.close(ec);
    log_ << "summary (seed " << seed() << "): " << stats_.connections << " connection(s), "
         << stats_.refused << " refused, " << stats_.cuts << " cut, " << stats_.stalls
         << " stall(s), " << stats_.partitions << " partition(s), " << stats_.target_failures
         << " target failure(s); " << stats_.bytes_to_target << " bytes to the target, "
         << stats_.bytes_to_clients << " bytes to clients, over " << seconds_text(elapsed())
         << std::endl;
  }

  std::uint64_t seed() const { return plan_.options().seed; }
  std::ostream& log() { return log_; }
  Clock::duration elapsed() const { return Clock::now() - start_; }

  // Ends a connection now: RST (linger 0) or FIN on both sockets.
  void close(Conn& c, bool reset) {
    if (c.closed) return;
    c.closed = true;
    error_code ec;
    for (tcp::socket* s : {&c.client, &c.server}) {
      if (reset)
        s->set_option(net::socket_base::linger(true, 0), ec);
      else
        s->shutdown(net::socket_base::shutdown_both, ec);
      s->close(ec);
    }
    for (Pipe* p : {&c.up, &c.down}) {
      p->data_ready.cancel();
      p->space_ready.cancel();
      p->sleep.cancel();
    }
    conns_.erase(c.id);
  }

  // `why`: how it was chosen and in which direction it lands (for the log line).
  void cut(Conn& c, const char* why) {
    if (c.closed) return;
    const bool reset = plan_.cut_with_reset(c.rng);
    ++stats_.cuts;
    log_ << "cut conn " << c.id << " after " << c.forwarded << " bytes" << why << " with "
         << (reset ? "RST" : "FIN") << " at " << seconds_text(elapsed()) << " (seed " << seed()
         << ")" << std::endl;
    close(c, reset);
  }

  // The end of the stall or partition that holds writes back now, if any.
  std::optional<Clock::time_point> blocked_until() const {
    const auto now = Clock::now();
    std::optional<Clock::time_point> until;
    if (stall_until_ > now) until = stall_until_;
    const auto ms = std::chrono::duration_cast<milliseconds>(now - start_).count();
    if (auto end = plan_.partitioned_until(ms)) {
      auto t = start_ + milliseconds(*end);
      if (!until || t > *until) until = t;
    }
    return until;
  }

  const FaultPlan& plan() const { return plan_; }
  Stats& stats() { return stats_; }

 private:
  void describe() {
    const auto& o = plan_.options();
    log_ << "faults (seed " << o.seed << "): latency " << o.latency_ms << " ms, bandwidth "
         << (o.bandwidth_kbit > 0
                 ? std::to_string(static_cast<long long>(o.bandwidth_kbit)) + " kbit/s"
                 : std::string("unlimited"));
    if (o.stall_every_ms > 0)
      log_ << ", stalls of " << o.stall_ms << " ms about every " << o.stall_every_ms << " ms";
    if (o.cut_after_bytes_max > 0)
      log_ << ", cuts after " << o.cut_after_bytes_min << "-" << o.cut_after_bytes_max << " bytes";
    if (o.cut_every_ms > 0) log_ << ", cuts about every " << o.cut_every_ms << " ms";
    if (o.refuse_for_ms > 0) log_ << ", refusing for the first " << o.refuse_for_ms << " ms";
    if (o.partition_at_ms >= 0)
      log_ << ", a partition at " << o.partition_at_ms << " ms for " << o.partition_ms << " ms";
    if (o.log_connections) log_ << ", every accepted connection logged";
    log_ << "; target " << config_.target.display << ":" << config_.target.port << std::endl;
  }

  awaitable<void> accept_loop();
  awaitable<void> serve(std::shared_ptr<Conn> c);
  awaitable<void> stall_loop();
  awaitable<void> timed_cut_loop();
  awaitable<void> partition_loop();

  net::io_context& io_;
  const ProxyConfig& config_;
  FaultPlan plan_;
  std::ostream& log_;
  tcp::acceptor acceptor_;
  Clock::time_point start_;
  Clock::time_point stall_until_;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, std::weak_ptr<Conn>> conns_;
  Stats stats_;
};

Conn::Conn(Proxy& p, std::uint64_t number, tcp::socket accepted, SeededRng r)
    : proxy(p),
      id(number),
      rng(r),
      client(std::move(accepted)),
      server(client.get_executor()),
      up(client.get_executor(), client, server, true),
      down(client.get_executor(), server, client, false) {}

// Reads from the pipe's source into its queue until the end of the stream; stops reading
// while the queue holds more than the limit (so a slow link bounds memory).
awaitable<void> read_loop(std::shared_ptr<Conn> c, Pipe* p) {
  const auto& o = c->proxy.plan().options();
  std::vector<char> buffer(kReadSize);
  for (;;) {
    while (p->queued >= o.max_buffer_bytes && !c->closed) co_await wait_for_wakeup(p->space_ready);
    if (c->closed) co_return;
    error_code ec;
    const std::size_t n = co_await p->from.async_read_some(net::buffer(buffer), with(ec));
    if (c->closed) co_return;
    if (ec == net::error::eof) {
      p->eof = true;
      p->data_ready.cancel();
      co_return;
    }
    if (ec) {  // reset or another failure: pass it on as a reset
      c->proxy.close(*c, true);
      co_return;
    }
    Chunk chunk;
    chunk.data.assign(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n));
    chunk.release = Clock::now() + milliseconds(o.latency_ms);
    p->queue.push_back(std::move(chunk));
    p->queued += n;
    p->data_ready.cancel();
  }
}

// Sleeps on the pipe's timer until `t`; false when the connection closed meanwhile.
awaitable<bool> sleep_until(Conn& c, Pipe& p, Clock::time_point t) {
  if (t > Clock::now()) {
    error_code ec;
    p.sleep.expires_at(t);
    co_await p.sleep.async_wait(with(ec));
  }
  co_return !c.closed;
}

// Takes `n` bytes' worth of tokens from the pipe's bucket, waiting for them.
awaitable<bool> take_tokens(Conn& c, Pipe& p, std::size_t n) {
  const double rate = c.proxy.plan().bytes_per_second();
  if (rate <= 0) co_return true;
  const auto capacity = static_cast<double>(c.proxy.plan().paced_slice());
  for (;;) {
    const auto now = Clock::now();
    const std::chrono::duration<double> since = now - p.refilled;
    p.tokens = std::min(capacity, p.tokens + since.count() * rate);
    p.refilled = now;
    if (p.tokens >= static_cast<double>(n)) break;
    const auto wait = std::chrono::duration<double>((static_cast<double>(n) - p.tokens) / rate);
    if (!co_await sleep_until(c, p, now + std::chrono::duration_cast<Clock::duration>(wait)))
      co_return false;
  }
  p.tokens -= static_cast<double>(n);
  co_return true;
}

awaitable<bool> wait_unblocked(Conn& c, Pipe& p) {
  while (auto until = c.proxy.blocked_until())
    if (!co_await sleep_until(c, p, *until)) co_return false;
  co_return !c.closed;
}

// Sends the queue in order: each chunk once its latency has passed, in paced slices, and
// cuts the connection when the forwarded byte count reaches its cut point.
awaitable<void> write_loop(std::shared_ptr<Conn> c, Pipe* p) {
  auto& proxy = c->proxy;
  const std::size_t slice_max = proxy.plan().paced_slice();
  p->tokens = static_cast<double>(slice_max);
  p->refilled = Clock::now();
  for (;;) {
    while (p->queue.empty() && !p->eof && !c->closed) co_await wait_for_wakeup(p->data_ready);
    if (c->closed) co_return;
    if (p->queue.empty()) {  // the source ended and everything went through
      error_code ec;
      p->to.shutdown(net::socket_base::shutdown_send, ec);
      p->done = true;
      if (c->up.done && c->down.done) proxy.close(*c, false);
      co_return;
    }
    Chunk& chunk = p->queue.front();
    if (!co_await sleep_until(*c, *p, chunk.release)) co_return;
    while (chunk.sent < chunk.data.size()) {
      std::size_t n = std::min(slice_max, chunk.data.size() - chunk.sent);
      if (!co_await take_tokens(*c, *p, n)) co_return;
      if (!co_await wait_unblocked(*c, *p)) co_return;
      // The cut point counts both directions: while this pipe waited, the other may have
      // forwarded past it, so what is left before it may be nothing.
      bool cut_here = false;
      if (c->cut_at && c->forwarded + n >= *c->cut_at) {
        n = *c->cut_at > c->forwarded ? static_cast<std::size_t>(*c->cut_at - c->forwarded) : 0;
        cut_here = true;
      }
      if (n > 0) {
        error_code ec;
        co_await net::async_write(p->to, net::buffer(chunk.data.data() + chunk.sent, n), with(ec));
        if (c->closed) co_return;
        if (ec) {
          proxy.close(*c, true);
          co_return;
        }
        chunk.sent += n;
        c->forwarded += n;
        (p->to_target ? proxy.stats().bytes_to_target : proxy.stats().bytes_to_clients) += n;
      }
      if (cut_here) {
        proxy.cut(*c, p->to_target ? (c->armed ? " (timed) to target" : " to target")
                                   : (c->armed ? " (timed) to client" : " to client"));
        co_return;
      }
    }
    p->queued -= chunk.data.size();
    p->queue.pop_front();
    p->space_ready.cancel();
  }
}

awaitable<void> Proxy::accept_loop() {
  for (;;) {
    error_code ec;
    tcp::socket socket(io_);
    co_await acceptor_.async_accept(socket, with(ec));
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) continue;
    const std::uint64_t id = ++next_id_;
    ++stats_.connections;
    const auto ms = std::chrono::duration_cast<milliseconds>(elapsed()).count();
    if (auto until = plan_.refused_until(ms)) {
      ++stats_.refused;
      log_ << "refused conn " << id << " at " << seconds_text(elapsed()) << " (open again in "
           << (*until - ms) << " ms; seed " << seed() << ")" << std::endl;
      socket.set_option(net::socket_base::linger(true, 0), ec);
      socket.close(ec);
      continue;
    }
    if (plan_.options().log_connections) {
      const auto peer = socket.remote_endpoint(ec);
      log_ << "accepted conn " << id << " from "
           << (ec ? std::string("?")
                  : peer.address().to_string() + ":" + std::to_string(peer.port()))
           << " at " << seconds_text(elapsed()) << std::endl;
    }
    // The proxy adds only the delays its plan asks for: no Nagle delay on either side.
    socket.set_option(tcp::no_delay(true), ec);
    auto c = std::make_shared<Conn>(*this, id, std::move(socket), plan_.connection_rng(id));
    c->cut_at = plan_.initial_cut(c->rng);
    conns_[id] = c;
    net::co_spawn(io_, serve(std::move(c)), rethrow);
  }
}

awaitable<void> Proxy::serve(std::shared_ptr<Conn> c) {
  error_code ec;
  tcp::resolver resolver(io_);
  auto results = co_await resolver.async_resolve(config_.target.host,
                                                 std::to_string(config_.target.port), with(ec));
  if (!ec && !c->closed) co_await net::async_connect(c->server, results, with(ec));
  if (!ec) c->server.set_option(tcp::no_delay(true), ec);
  if (c->closed) co_return;
  if (ec) {
    ++stats_.target_failures;
    log_ << "conn " << c->id << ": target " << config_.target.display << ":" << config_.target.port
         << " unreachable: " << ec.message() << std::endl;
    close(*c, true);
    co_return;
  }
  c->client.set_option(tcp::no_delay(true), ec);
  c->server.set_option(tcp::no_delay(true), ec);
  auto ex = io_.get_executor();
  net::co_spawn(ex, read_loop(c, &c->up), rethrow);
  net::co_spawn(ex, read_loop(c, &c->down), rethrow);
  net::co_spawn(ex, write_loop(c, &c->up), rethrow);
  net::co_spawn(ex, write_loop(c, &c->down), rethrow);
}

awaitable<void> Proxy::stall_loop() {
  net::steady_timer timer(io_);
  const auto& o = plan_.options();
  for (;;) {
    error_code ec;
    timer.expires_after(milliseconds(plan_.next_stall_gap_ms()));
    co_await timer.async_wait(with(ec));
    if (ec || !acceptor_.is_open()) co_return;
    ++stats_.stalls;
    stall_until_ = Clock::now() + milliseconds(o.stall_ms);
    log_ << "stall " << stats_.stalls << " for " << o.stall_ms << " ms at "
         << seconds_text(elapsed()) << ", " << conns_.size() << " conn(s) open (seed " << seed()
         << ")" << std::endl;
    timer.expires_at(stall_until_);
    co_await timer.async_wait(with(ec));
    if (ec) co_return;
  }
}

// Every so often (seeded), each open connection is armed to be cut within its next few
// kilobytes; one still armed at the next round (no traffic) is cut there and then.
awaitable<void> Proxy::timed_cut_loop() {
  net::steady_timer timer(io_);
  for (;;) {
    error_code ec;
    timer.expires_after(milliseconds(plan_.next_cut_gap_ms()));
    co_await timer.async_wait(with(ec));
    if (ec || !acceptor_.is_open()) co_return;
    std::vector<std::shared_ptr<Conn>> open;
    for (auto& [id, weak] : conns_)
      if (auto c = weak.lock()) open.push_back(std::move(c));
    for (auto& c : open) {
      if (c->closed) continue;
      if (c->armed) {
        cut(*c, " (timed, idle)");
        continue;
      }
      c->armed = true;
      const std::uint64_t at = c->forwarded + plan_.armed_cut(c->rng);
      if (!c->cut_at || at < *c->cut_at) c->cut_at = at;
    }
  }
}

awaitable<void> Proxy::partition_loop() {
  net::steady_timer timer(io_);
  const auto& o = plan_.options();
  error_code ec;
  if (o.refuse_for_ms > 0)
    log_ << "refusing connections for " << o.refuse_for_ms << " ms (seed " << seed() << ")"
         << std::endl;
  if (o.partition_at_ms < 0) co_return;
  timer.expires_at(start_ + milliseconds(o.partition_at_ms));
  co_await timer.async_wait(with(ec));
  if (ec || !acceptor_.is_open()) co_return;
  ++stats_.partitions;
  log_ << "partition for " << o.partition_ms << " ms at " << seconds_text(elapsed())
       << ": new connections refused, " << conns_.size() << " open one(s) stalled (seed " << seed()
       << ")" << std::endl;
  timer.expires_at(start_ + milliseconds(o.partition_at_ms + o.partition_ms));
  co_await timer.async_wait(with(ec));
  if (ec || !acceptor_.is_open()) co_return;
  log_ << "partition healed at " << seconds_text(elapsed()) << std::endl;
}

}  // namespace

int run_proxy(const ProxyConfig& config, std::ostream& out, std::ostream& log) {
  net::io_context io(1);
  Proxy proxy(io, config, log);
  if (!proxy.listen(out)) return 1;
  net::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const error_code& ec, int) {
    if (ec) return;
    proxy.stop();
    io.stop();
  });
  proxy.start();
  io.run();
  return 0;
}

}  // namespace fieldsync::proxy
