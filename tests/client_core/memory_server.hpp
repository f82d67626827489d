// An in-memory server for sync client tests: sync::ServerSession per connection over a log
// kept in memory, reached through a Transport that can fail to connect, drop a connection
// after N frames, refuse the device, or reject operations on chosen records. Thread-safe, so
// that a run_live client on another thread can use it.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "fieldsync/client/transport.hpp"
#include "fieldsync/sync/server_session.hpp"

namespace fieldsync::test {

class MemoryServer {
 public:
  struct Connection {
    sync::ServerSession session{sync::default_schema()};
    std::deque<std::string> inbox;  // frames on their way to the client
    bool dropped = false;
    int deliver_left = -1;  // frames still delivered before the connection drops; -1: all
  };

  // Test knobs (set before syncing, or under lock()).
  int failed_connects = 0;          // the next N connection attempts fail
  std::deque<int> drop_plan;        // per new connection: frames delivered, then a drop
  std::set<std::string> forbidden;  // operations on these record ids are rejected
  bool refuse = false;              // every hello gets a fatal error
  bool fail_commits = false;        // pushes get a non-fatal error (a full disk)

  // Observations.
  int connect_attempts = 0;
  int connections = 0;
  std::vector<sync::LogEntry> log;

  std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(mutex_); }
  std::size_t log_size() {
    auto l = lock();
    return log.size();
  }
  std::function<std::unique_ptr<client::Transport>()> factory();

 private:
  friend class MemoryTransport;

  void deliver(Connection& c, std::string frame) {
    if (c.dropped) return;
    if (c.deliver_left == 0) {
      c.dropped = true;
    } else {
      if (c.deliver_left > 0) --c.deliver_left;
      c.inbox.push_back(std::move(frame));
    }
    cv_.notify_all();
  }

  void handle(Connection& c, sync::SessionActions a) {
    for (auto& f : a.send) deliver(c, std::move(f));
    if (a.submit && fail_commits)
      deliver(c, sync::encode(sync::Error{Code::storage, "disk full", false}));
    else if (a.submit)
      commit(c, *a.submit);
    if (a.read) {
      sync::Changes ch;
      ch.cursor = a.read->cursor;
      for (const auto& e : log) {
        if (e.seq <= a.read->cursor) continue;
        if (ch.entries.size() == a.read->limit) {
          ch.more = true;
          break;
        }
        ch.entries.push_back(e);
        ch.cursor = e.seq;
      }
      handle(c, c.session.on_read(std::move(ch)));
    }
    if (a.close) {
      c.dropped = true;
      cv_.notify_all();
    }
  }

  void commit(Connection& c, const sync::SubmittedPush& push) {
    std::vector<sync::OpResult> results;
    std::vector<sync::LogEntry> added;
    for (const auto& op : push.ops) {
      sync::OpResult r{op.id, sync::OpStatus::accepted, 0, false, Code::ok, {}};
      auto seen = seen_.find(op.id);
      if (seen != seen_.end()) {
        r.status = sync::OpStatus::duplicate;
        r.seq = seen->second;
      } else if (forbidden.contains(op.record)) {
        r.status = sync::OpStatus::rejected;
        r.code = Code::refused;
        r.reason = op.collection + "/" + op.record + " is outside your caseload";
      } else {
        r.seq = log.size() + 1;
        seen_[op.id] = r.seq;
        log.push_back(sync::LogEntry{r.seq, op, false});
        added.push_back(log.back());
      }
      results.push_back(std::move(r));
    }
    handle(c, c.session.on_committed(push.batch, results));
    for (auto& other : live_)
      if (other.get() != &c && !other->dropped) handle(*other, other->session.on_live(added));
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, std::uint64_t> seen_;
  std::vector<std::shared_ptr<Connection>> live_;
};

class MemoryTransport final : public client::Transport {
 public:
  explicit MemoryTransport(MemoryServer& server) : server_(server) {}
  ~MemoryTransport() override { close(Clock::now()); }

  Status connect(const client::Endpoint&, Clock::time_point) override {
    auto l = server_.lock();
    ++server_.connect_attempts;
    if (server_.failed_connects > 0) {
      --server_.failed_connects;
      return {Code::unreachable, "connection refused (test)"};
    }
    conn_ = std::make_shared<MemoryServer::Connection>();
    if (!server_.drop_plan.empty()) {
      conn_->deliver_left = server_.drop_plan.front();
      server_.drop_plan.pop_front();
    }
    ++server_.connections;
    server_.live_.push_back(conn_);
    return Status::ok();
  }

  void send(std::string frame) override {
    auto l = server_.lock();
    if (!conn_ || conn_->dropped) return;
    if (server_.refuse) {
      server_.deliver(*conn_, sync::encode(sync::Error{Code::refused, "device revoked", true}));
      conn_->dropped = true;
      return;
    }
    std::uint64_t head = server_.log.size();
    server_.handle(*conn_, conn_->session.on_frame(frame, head, 0));
  }

  Result<std::optional<std::string>> receive(Clock::time_point deadline) override {
    auto l = server_.lock();
    server_.cv_.wait_until(l, deadline, [&] { return !conn_->inbox.empty() || conn_->dropped; });
    if (!conn_->inbox.empty()) {
      std::string f = std::move(conn_->inbox.front());
      conn_->inbox.pop_front();
      return std::optional<std::string>(std::move(f));
    }
    if (conn_->dropped) return Status(Code::unreachable, "connection lost (test)");
    return std::optional<std::string>();
  }

  void close(Clock::time_point) override {
    auto l = server_.lock();
    if (!conn_) return;
    conn_->dropped = true;
    std::erase(server_.live_, conn_);
    conn_.reset();
  }

 private:
  MemoryServer& server_;
  std::shared_ptr<MemoryServer::Connection> conn_;
};

inline std::function<std::unique_ptr<client::Transport>()> MemoryServer::factory() {
  return [this] { return std::make_unique<MemoryTransport>(*this); };
}

}  // namespace fieldsync::test
