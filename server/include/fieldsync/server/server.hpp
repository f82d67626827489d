// The fieldsync server: one TCP listener speaking HTTP (GET /healthz) and the WebSocket sync
// protocol (upgrade on /sync), over TLS when given a certificate (wss://, https://) and plain
// otherwise (ws://, loopback only unless explicitly allowed), the SQLite store in
// DATA_DIR/fieldsync.db, one writer thread with group commit, and live fan-out of accepted
// operations to every connected device.
//
// Lifecycle: start() opens (or creates) the store and binds the listener; run() serves until
// stop(); stop() stops accepting, lets the writer finish the commits in flight (their acks
// are sent), closes every session and makes run() return. A Server may be started on port 0
// and run on a thread of a test.
//
// Thread safety: port(), stop() and the counters may be called from any thread; run() from
// one thread. The Server must outlive run(); destroying it stops it first.
// Logging: connections, device ids, counts and errors only, never record content.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "fieldsync/status.hpp"
#include "fieldsync/sync/hlc.hpp"
#include "fieldsync/sync/schema.hpp"

namespace spdlog {
class logger;
}

namespace fieldsync::server {

struct ServerConfig {
  std::string data_dir;  // must exist; the store is data_dir/fieldsync.db
  // Empty: a plain store. Set: the store is encrypted under this key file (see
  // SqliteStoreOptions::key_file); a new store is created encrypted.
  std::string key_file;
  // The server's Ed25519 key that signs the audit log's checkpoints and its own operations
  // (audit.hpp). Empty: data_dir/audit.key, made on first start.
  std::string audit_key_file;
  std::string host = "127.0.0.1";
  std::uint16_t port = 8700;  // 0: any free port (see Server::port())
  // TLS: both set (PEM files: the certificate chain, leaf first, and its unencrypted private
  // key) makes every connection TLS 1.3 (wss://HOST:PORT/sync, https://HOST:PORT/healthz), whose
  // tls-exporter value is the channel binding devices sign; both empty serves plain ws:// and
  // http:// (no binding). No client certificates are asked for.
  std::string tls_cert_file;
  std::string tls_key_file;
  // A connection that has not completed its TLS handshake by then is dropped.
  int tls_handshake_timeout_ms = 10'000;
  // Without TLS a host that is not a loopback address is refused, unless this is set: the
  // deployment puts a TLS-terminating proxy in front (a warning is logged).
  bool insecure_behind_proxy = false;
  // Devices must be enrolled (fieldsync-admin device enroll-code, then the device's enroll)
  // and answer a challenge with their key on every connection; the store's directory says
  // who they are, and refuses unknown and revoked devices. Off: a device names its user.
  bool require_auth = false;
  int io_threads = 1;                    // threads running the network, run()'s caller included
  std::function<std::int64_t()> now_ms;  // null: the system clock
  std::int64_t max_ahead_ms = sync::kDefaultMaxAheadMs;  // device clocks beyond: flagged
  const sync::Schema* schema = nullptr;                  // null: sync::default_schema()
  // null: a logger "fieldsync-server" on stderr at `log_level` (trace, debug, info, warn,
  // error, off); stdout is left to the program.
  std::shared_ptr<spdlog::logger> logger;
  std::string log_level = "info";
  std::size_t max_group_ops = 10'000;  // ops per group commit
  // A session whose unsent frames exceed either bound is closed (a slow device must not
  // grow the server's memory).
  std::size_t max_queued_frames = 256;
  std::size_t max_queued_bytes = std::size_t{16} * 1024 * 1024;
  // How long stop() waits for sessions to close before cutting them off.
  int shutdown_grace_ms = 5'000;
  // Stop on SIGINT/SIGTERM (for the fieldsync-server program; tests leave it off).
  bool handle_signals = false;
};

struct ServerCounters {
  std::uint64_t commits = 0;      // group commits
  std::uint64_t ops_applied = 0;  // ops in committed groups
  std::uint64_t sessions = 0;     // WebSocket sessions currently open
};

class Server {
 public:
  // Loads the TLS certificate and key, opens the store and binds the listener. Errors:
  // Code::storage (the store cannot be opened or is not a fieldsync store),
  // Code::invalid_argument (bad host, address in use, plain ws on a non-loopback address
  // without insecure_behind_proxy, one TLS file without the other, a TLS file missing,
  // unreadable or not PEM, a key that does not match the certificate),
  // and the key errors of SqliteStore::open (key file missing, malformed or too open; a plain
  // store given a key or an encrypted one given none; wrong key; tampered pages).
  static Result<std::unique_ptr<Server>> start(ServerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::uint16_t port() const;  // the bound port (useful after port 0)
  const std::string& host() const;
  void run();  // blocks until stop() has finished its work
  // Thread-safe, idempotent. Returns once the writer has finished the commits in flight;
  // sessions then close in the background and run() returns when they are gone.
  void stop();
  ServerCounters counters() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fieldsync::server
