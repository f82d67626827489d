// What every connection of a running Server shares: the store, the writer, the limits, the
// logger and the registry of open connections (for live fan-out and shutdown). Internal.
//
// Thread safety: the registry is guarded by mu_; the other members are set before the first
// connection and read-only afterwards, or atomic.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/store.hpp"
#include "fieldsync/server/writer.hpp"
#include "fieldsync/sync/schema.hpp"
#include "fieldsync/sync/wire.hpp"

namespace spdlog {
class logger;
}

namespace fieldsync::server {

using LiveEntries = std::shared_ptr<const std::vector<sync::LogEntry>>;

// An open connection (HTTP or WebSocket). Both calls may come from any thread: they post to
// the connection's strand.
class Connection {
 public:
  virtual ~Connection() = default;
  // Finish what is queued, then close (server shutdown).
  virtual void shutdown() = 0;
  // Entries the writer just committed (contiguous, ascending seq).
  virtual void deliver(const LiveEntries& /*entries*/) {}
};

struct WebContext;

class SharedState {
 public:
  SharedState(const sync::Schema& schema_in, ServerStore& store_in,
              std::shared_ptr<spdlog::logger> log_in, std::function<std::int64_t()> now_ms_in)
      : schema(schema_in), store(store_in), log(std::move(log_in)), now_ms(std::move(now_ms_in)) {}

  const sync::Schema& schema;
  ServerStore& store;
  Writer* writer = nullptr;  // set once before serving
  // The store's directory (devices, users, the lease); set once before serving.
  Directory* directory = nullptr;
  bool require_auth = false;
  std::string epoch;  // the store's epoch (StoreFile::serving_epoch), told at welcome
  std::uint64_t epoch_base = 0;
  // The dashboard's sessions and API (web_api.hpp); set once before serving.
  WebContext* web = nullptr;
  // Runs blocking work (the dashboard's API: Argon2id, SQLite, waits for the writer) on a
  // worker thread; set once before serving.
  std::function<void(std::function<void()>)> run_blocking;
  // Runs a dashboard sign-in (Argon2id) on the one sign-in thread; set once before serving.
  std::function<void(std::function<void()>)> run_login;
  std::shared_ptr<spdlog::logger> log;
  std::function<std::int64_t()> now_ms;
  std::size_t max_queued_frames = 256;
  std::size_t max_queued_bytes = std::size_t{16} * 1024 * 1024;

  std::atomic<std::uint64_t> head{0};  // the newest committed sequence number
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> ws_sessions{0};

  void join(const std::shared_ptr<Connection>& c);
  // Called from the connection's destructor.
  void leave(const Connection* c);
  std::vector<std::shared_ptr<Connection>> connections();
  std::size_t count();
  // Called (outside the lock) when the last connection leaves while stopping; may be reset
  // to null to stop the notifications.
  void set_on_empty(std::function<void()> f);

  // The writer's fan-out: updates head and hands the entries to every connection, in
  // frames small enough for the protocol's limit.
  void fan_out(const std::vector<sync::LogEntry>& entries);

 private:
  std::mutex mu_;
  std::unordered_map<const Connection*, std::weak_ptr<Connection>> conns_;  // guarded by mu_
  std::function<void()> on_empty_;                                          // guarded by mu_
};

}  // namespace fieldsync::server
