// The swarm's event loop and its devices (swarm.hpp): one io_context, one SwarmStore and one
// SwarmConnection per identity, opening them with a bounded number of handshakes in flight,
// running the loop until a condition holds, and closing everything.
//
// Ownership: a Swarm owns its io_context, stores and connections; it borrows the identities
// (their keys), which must outlive it. Destroying it closes every connection first.
// Thread safety: none; everything runs on the thread that calls into it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "fieldsync/status.hpp"
#include "swarm.hpp"
#include "swarm_connection.hpp"
#include "swarm_store.hpp"

namespace fieldsync::bench {

using SteadyClock = std::chrono::steady_clock;

// Unix milliseconds now (the devices' physical clock).
std::int64_t wall_ms();

class Swarm {
 public:
  Swarm() = default;
  ~Swarm();
  Swarm(const Swarm&) = delete;
  Swarm& operator=(const Swarm&) = delete;

  // Resolves HOST:PORT (before any device is added).
  Status resolve(const std::string& host, std::uint16_t port);
  // A device for `identity`, not connected yet; returns its index.
  std::size_t add(const Identity& identity);

  // Opens every device, at most `max_in_flight` of them between connecting and live, and runs
  // until all are live. Code::unreachable naming how many failed and the first failure, or
  // Code::timeout at `deadline`.
  Status connect_all(std::size_t max_in_flight, SteadyClock::time_point deadline);
  // Runs the loop until `done()` holds (true) or `deadline` passes (false). `done` is checked
  // after every handler and at least every 50 ms.
  bool run_until(const std::function<bool()>& done, SteadyClock::time_point deadline);
  // Runs the loop for `d`.
  void run_for(std::chrono::milliseconds d);
  // The first failed device's failure, naming the device; ok when none failed.
  Status first_failure() const;
  // Closes every connection (close handshakes, then a hard close of what remains) and runs
  // the loop until no handler is pending.
  void shutdown();

  boost::asio::io_context& io() { return ioc_; }
  std::size_t size() const { return connections_.size(); }
  SwarmStore& store(std::size_t i) { return *stores_[i]; }
  SwarmConnection& connection(std::size_t i) { return *connections_[i]; }
  const SwarmConnection& connection(std::size_t i) const { return *connections_[i]; }

 private:
  void on_event(std::size_t i);
  void open_next();

  boost::asio::io_context ioc_;  // destroyed last: the connections' sockets live on it
  boost::asio::ip::tcp::endpoint endpoint_;
  std::string host_header_;
  std::vector<const Identity*> identities_;
  std::vector<std::unique_ptr<SwarmStore>> stores_;
  std::vector<std::unique_ptr<SwarmConnection>> connections_;
  // connect_all's bookkeeping
  std::vector<bool> settled_;  // live or failed once
  std::size_t next_to_open_ = 0;
  std::size_t in_flight_ = 0;
  std::size_t settled_count_ = 0;
  std::size_t max_in_flight_ = 1;
  bool connecting_ = false;
};

}  // namespace fieldsync::bench
