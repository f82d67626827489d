// The device's sync client: drives the protocol state machine (sync::ClientSession) over a
// Transport (WebSocket by default) against a Replica. Failed connections are retried with
// exponential backoff and full jitter; a connection lost mid-sync is re-established and the
// sync resumes from the replica's persisted cursor (the session is rebuilt per connection;
// outbox entries are dropped only when the server acknowledged them).
//
// Ownership: the client borrows the Replica, which must outlive it, and uses it from the
// thread that calls sync_once()/run_live() only. Threading: one thread at a time per client,
// except notify_local_change(), which any thread may call. The client owns its event loop; no
// background threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "fieldsync/client/replica.hpp"
#include "fieldsync/client/transport.hpp"
#include "fieldsync/crypto/random.hpp"
#include "fieldsync/status.hpp"
#include "fieldsync/sync/client_session.hpp"
#include "fieldsync/sync/wire.hpp"

namespace fieldsync::client {

struct SyncOutcome {
  enum class Kind {
    up_to_date,   // everything pushed (or rejected) and pulled; run_live: stopped on request
    unreachable,  // the server could not be reached (or made no progress) in time
    refused,      // the server refused this device (a fatal error frame)
    failed,       // a local failure (storage) or a protocol violation by the server
  };
  Kind kind = Kind::failed;
  Status detail;                         // why, when not up_to_date
  std::vector<sync::OpResult> rejected;  // operations the server refused during this run
  std::size_t pushed = 0;                // operations acknowledged (accepted or duplicate)
  std::size_t pulled = 0;                // log entries received and applied
  std::size_t purged = 0;                // records removed: they left this device's scope
  std::size_t snapshot_records = 0;      // records received whole (cases that came into scope)
  // The server revoked this device (after taking its uploads, if it allowed them): the
  // caller must close the replica and destroy it (Replica::destroy).
  bool wipe = false;
};

std::string_view outcome_name(SyncOutcome::Kind kind);

struct SyncClientOptions {
  // Backoff between connection attempts: a random wait in [0, min(max, initial * 2^n)].
  std::chrono::milliseconds backoff_initial{100};
  std::chrono::milliseconds backoff_max{5000};
  // run_live: how often the outbox is looked at for writes made elsewhere, and how long one
  // connection attempt may take.
  std::chrono::milliseconds live_poll{1000};
  std::chrono::milliseconds live_connect_timeout{10'000};
  // wss:// URLs: trust only the certificate authorities in this PEM file instead of the
  // system's store (see TransportOptions). Used by the default transport only.
  std::string ca_file;
  // Makes the transport for each connection; empty means make_websocket_transport.
  std::function<std::unique_ptr<Transport>()> make_transport;
  // Jitter source; nullptr means crypto::SodiumRandom. Borrowed.
  crypto::Random* random = nullptr;
  // Progress messages (connection attempts, drops); optional. Never record content.
  std::function<void(std::string_view)> log;
  // run_live: called after remote changes were applied to the replica.
  std::function<void()> on_remote_change;
};

// Full jitter: the wait before retry number `attempt` (0 for the first), drawn uniformly from
// [0, min(max, initial * 2^attempt)]. Many devices that lost the server at the same moment
// thus come back spread over the whole window instead of all together (docs/TESTING.md).
std::chrono::milliseconds full_jitter_backoff(std::chrono::milliseconds initial,
                                              std::chrono::milliseconds max, int attempt,
                                              crypto::Random& random);

class SyncClient {
 public:
  explicit SyncClient(Replica& replica, SyncClientOptions options = {});
  ~SyncClient();
  SyncClient(const SyncClient&) = delete;
  SyncClient& operator=(const SyncClient&) = delete;

  // Pushes the outbox and pulls everything, then closes. Gives up (unreachable) when no
  // connection could be made, or no progress was made, for `timeout` (each acknowledged,
  // refused or pulled operation restarts the clock, so a long first sync is not cut off).
  // A server whose TLS certificate does not verify (Code::untrusted_server) or a bad CA file
  // (Code::invalid_argument) fails at once: retrying cannot help.
  SyncOutcome sync_once(std::string_view url, std::chrono::milliseconds timeout);

  // Stays connected until `stop` is requested: applies live changes, pushes local writes,
  // reconnects with backoff after drops. Returns up_to_date when stopped, or refused/failed
  // (failed at once for an untrusted server or a bad CA file, as sync_once).
  SyncOutcome run_live(std::string_view url, const std::stop_token& stop);

  // Enrols the device with a one-time code (one connection, no retries): the server binds
  // the replica's public key to the code's user, and the replica records that user.
  // Code::code_invalid, code_expired, code_used, unreachable, untrusted_server, ...
  Result<sync::Enrolled> enroll(std::string_view url, const std::string& code,
                                std::chrono::milliseconds timeout);

  // A record's log from the server (one connection, no retries), for its history when the
  // replica holds only its current state. The server answers only for records in this
  // device's scope (Code::not_found otherwise) and records the read in its audit log.
  Result<sync::HistoryLog> fetch_history(std::string_view url, const std::string& collection,
                                         const std::string& id, std::chrono::milliseconds timeout);
  // A local write was made (through any Replica object on the same file): push soon.
  void notify_local_change() { local_change_.store(true); }

 private:
  // server_error: the server answered with a non-fatal error (it could not store a batch: a
  // full disk, ...); the operations stay in the outbox and the connection is tried again, with
  // growing waits.
  enum class End { up_to_date, dropped, server_error, refused, failed, stopped };
  // One connection's session. sync_once (stop == nullptr) ends when up to date, or with
  // `dropped` when nothing arrives before `deadline`, which progress pushes to now+timeout.
  End run_session(Transport& transport, SyncOutcome& outcome,
                  Transport::Clock::time_point& deadline, std::chrono::milliseconds timeout,
                  const std::stop_token* stop, bool& welcomed);
  std::chrono::milliseconds backoff_delay(int attempt);
  sync::ClientSessionConfig session_config(Transport& transport) const;
  // Halves the push batch after a connection dropped with a push unanswered (a link that
  // carries less than a batch between two drops would never get one through), doubles it
  // after a sync that got pushes through; kept in the replica.
  void adapt_push_batch(bool dropped_mid_push, bool pushed);
  void log(std::string_view message) const;

  Replica& replica_;
  SyncClientOptions options_;
  std::unique_ptr<crypto::Random> own_random_;
  std::atomic<bool> local_change_{false};
  std::size_t push_batch_ = 0;  // ops per push; set from the replica; the session thread only
};

}  // namespace fieldsync::client
