// The device side of the protocol as a sans-I/O state machine: frames in, frames out. The
// transport (client_core's SyncClient, or the simulation) owns the socket and feeds it.
//
//   start()                 -> hello
//   challenge               -> auth: the nonce signed with the device key (an authenticating
//                              server; without a key the session fails: not enrolled)
//   welcome                 -> pull(cursor) and the first push of the outbox, signed with the
//                              device key over its chain of operations; a welcome
//                              with wipe: push only, then wipe_requested()
//   ack                     -> the store drops acknowledged ops / marks rejected; next push
//   changes (pulled)        -> the store applies them; pull again while `more`
//   changes (live)          -> the store applies them
//   scope                   -> the store purges what left the scope and names what it gained;
//                              fetch (at most kMaxFetchItems per frame; one in flight, or
//                              as many as the welcome's fetch_window allows)
//   snapshot                -> the store merges the records; the next fetch when more = false
//   (after welcome)         -> reads: the records opened on the device, a batch at a time;
//                              noted -> the store forgets them, next batch
//   error (fatal)           -> failed(); the transport closes
// With config.history_only the session instead sends one history request after welcome and
// is done when the history_log arrives.
// At most one push and one pull are in flight. Rejected operations stay in the store and
// never hold back the ones behind them.
//
// Ownership: the session borrows the store, which must outlive it. Thread safety: none; the
// transport calls it from one thread (or strand) at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fieldsync/crypto/hash.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/sync/wire.hpp"

namespace fieldsync::sync {

struct ScopeApplied {
  std::vector<FetchItem> fetch;
  std::size_t purged = 0;  // records removed from the device
};

// What the session needs from the device's storage (the Replica implements it).
class ClientStore {
 public:
  virtual ~ClientStore() = default;
  virtual std::uint64_t cursor() = 0;
  // Up to `limit` pending (not rejected) operations from the outbox, oldest first, skipping
  // the ids in `exclude` (those already in flight).
  virtual Result<std::vector<Op>> pending_ops(std::size_t limit,
                                              const std::set<std::string>& exclude) = 0;
  // The link of the device's chain of operations (op_chain.hpp) just before `op_id`, a
  // pending op; nullopt when the store keeps no chain (the push then goes unsigned).
  virtual Result<std::optional<crypto::Digest>> chain_link_before(const std::string& op_id) = 0;
  // Accepted and duplicate ops leave the outbox; rejected ones stay, marked with the reason.
  virtual Status on_ack(const std::vector<OpResult>& results) = 0;
  // Applies pulled or live entries and moves the cursor to `cursor`, in one transaction.
  virtual Status apply_remote(const std::vector<LogEntry>& entries, std::uint64_t cursor) = 0;
  // scope_digest() (scope.hpp) of the items the server last said this device may hold.
  virtual std::string scope_digest() = 0;
  // Applies a scope message in one transaction: purges removed items (a record with an
  // operation still pending stays), records the new set, and returns the items to fetch,
  // each with the HoldingDigest of what the store holds of it.
  virtual Result<ScopeApplied> apply_scope(const Scope& scope) = 0;
  // Merges snapshot records into the stored states (sync::merge_state), in one transaction.
  virtual Status apply_snapshot(const std::vector<SnapshotRecord>& records) = 0;
  // The items' snapshots are all merged: they count in scope_digest() from now on.
  virtual Status mark_fetched(const std::vector<std::string>& items) = 0;
  // Reads of records on the device not yet reported to the server, oldest first, each with
  // its ReadEvent::local number (a store that records none keeps these defaults) / the
  // server recorded those numbered up to `through`.
  virtual Result<std::vector<ReadEvent>> pending_reads(std::size_t /*limit*/) {
    return std::vector<ReadEvent>{};
  }
  virtual Status on_reads_noted(std::uint64_t /*through*/) { return Status::ok(); }
  // The server's store epoch and its base (Welcome) at welcome, before anything is pushed or
  // pulled. A store that remembers acknowledged ops puts back into the outbox those the server
  // acknowledged after `base` when the epoch is not the one it last saw (the server was
  // restored from a backup holding the log up to `base`), and moves its cursor back to `base`.
  // Pure: a store that wraps another must pass it on.
  virtual Status on_server_epoch(const std::string& epoch, std::uint64_t base) = 0;
};

struct ClientSessionConfig {
  std::string device;
  std::string user;
  int schema_version = 0;
  std::size_t push_batch = 500;
  std::uint32_t pull_limit = 1000;
  // The device's enrolled key, to answer a challenge; nullptr when not enrolled. Borrowed.
  const crypto::SigningKey* key = nullptr;
  // The transport's channel binding (e.g. a TLS exporter value); empty without one.
  std::string binding{};
  // Set: the session only asks for this record's history (no push, pull or reads) and is
  // done when history() holds the answer.
  std::optional<HistoryRequest> history_only{};
  std::size_t reads_batch = 500;
};

class ClientSession {
 public:
  ClientSession(ClientStore& store, ClientSessionConfig config);

  std::vector<std::string> start();
  // Handles one frame from the server and returns the frames to send.
  std::vector<std::string> on_frame(std::string_view frame);
  // The outbox grew (a local write while connected): returns a push if none is in flight.
  std::vector<std::string> on_local_change();

  bool welcomed() const { return welcomed_; }
  // A push was sent and not answered yet.
  bool push_in_flight() const { return push_batch_in_flight_.has_value(); }
  // Who the server knows this device as (from an authenticated welcome; empty otherwise).
  const std::string& server_user() const { return server_user_; }
  const std::string& server_role() const { return server_role_; }
  const Lease& lease() const { return lease_; }
  // The server revoked this device and its outbox has been uploaded: destroy the replica.
  bool wipe_requested() const { return wipe_ && up_to_date(); }
  // Connected, the outbox holds nothing pending, nothing in flight, the pull caught up.
  bool up_to_date() const;
  bool failed() const { return failure_.has_value(); }
  const std::optional<Status>& failure() const { return failure_; }
  // Operations the server rejected during this session (op id, reason).
  const std::vector<OpResult>& rejected() const { return rejected_; }
  std::size_t acked() const { return acked_; }
  std::size_t received() const { return received_; }
  std::size_t purged() const { return purged_; }  // records purged (left the scope)
  std::size_t snapshot_records() const { return snapshot_records_; }
  std::size_t reads_noted() const { return reads_noted_; }  // reads the server recorded
  // The answer to config.history_only, once it came.
  const std::optional<HistoryLog>& history() const { return history_; }

 private:
  std::vector<std::string> fail(Status s);
  std::vector<std::string> next_push();
  std::vector<std::string> handle(const Challenge& m);
  std::vector<std::string> handle(const Welcome& m);
  std::vector<std::string> handle(const Ack& m);
  std::vector<std::string> handle(const Changes& m);
  std::vector<std::string> handle(const Error& m);
  std::vector<std::string> handle(const Scope& m);
  std::vector<std::string> handle(const Snapshot& m);
  std::vector<std::string> next_fetch();
  std::vector<std::string> next_reads();
  std::vector<std::string> handle(const Noted& m);
  std::vector<std::string> handle(const HistoryLog& m);

  // batch, number of reads, the highest ReadEvent::local among them
  struct ReadsInFlight {
    std::uint64_t batch = 0;
    std::size_t count = 0;
    std::uint64_t through = 0;
  };

  ClientStore& store_;
  ClientSessionConfig config_;
  std::string server_user_;
  std::string server_role_;
  Lease lease_{};
  std::uint64_t next_batch_ = 1;
  std::optional<std::uint64_t> push_batch_in_flight_;
  std::set<std::string> in_flight_;
  std::optional<Status> failure_;
  std::vector<OpResult> rejected_;
  std::size_t acked_ = 0;
  std::size_t received_ = 0;
  std::vector<FetchItem> to_fetch_;
  std::deque<std::vector<std::string>> fetching_;  // the items of each fetch in flight
  std::uint32_t fetch_window_ = 1;                 // fetches in flight at most (welcome)
  bool server_digests_ = false;  // the server computes op digests: pushes leave them out
  std::size_t purged_ = 0;
  std::size_t snapshot_records_ = 0;
  std::uint64_t next_reads_batch_ = 1;
  std::optional<ReadsInFlight> reads_in_flight_;
  std::size_t reads_noted_ = 0;
  std::optional<HistoryLog> history_;
  bool welcomed_ = false;
  bool challenged_ = false;
  bool wipe_ = false;
  bool pull_in_flight_ = false;
  bool caught_up_ = false;
  bool outbox_drained_ = false;
  bool scoped_ = false;      // the server sends a scope after the first catch-up
  bool scope_seen_ = false;  // ... and it came
  bool reads_drained_ = false;
  bool history_in_flight_ = false;
};

}  // namespace fieldsync::sync
