// The server side of the protocol as a sans-I/O state machine, one per connection. It
// decodes and checks frames and says what the transport must do; it never touches storage.
//
//   hello           -> welcome (version and schema checked), or a fatal error; with
//                      require_auth: a challenge instead, then
//   auth            -> Actions::lookup_device: the transport finds the enrolled device and
//                      calls on_device(); a good signature of an active device -> welcome;
//                      a revoked device that may upload -> welcome with wipe (pushes only);
//                      unknown, revoked or a bad signature -> a fatal error with its code
//   enroll          -> Actions::redeem: the transport redeems the code, calls on_redeemed()
//                      -> enrolled (then close), or a fatal error with the code's problem
//   push            -> ops that fail validation are rejected at once; the rest are handed to
//                      the writer (Actions::submit); on_committed() then yields the ack
//   (scoped)        -> a device of a worker or lead, authenticated: before the welcome,
//                      Actions::load_scope: the transport reads the user's scope and the
//                      items saved for the device, and calls on_scope()
//   pull            -> Actions::read: the transport reads the log (filtered by visibility())
//                      and calls on_read(). A new device's first pull (cursor 0, holding no
//                      item) bootstraps: the log is read for creator-following records only
//                      and the cursor jumps to the head; the first scope frame then names
//                      every item, which the device fetches whole (current state, no history)
//   on_read         -> changes; when the pull caught up, the session becomes live, and a
//                      scoped session sends its first scope (Actions::save_scope: remember it)
//   fetch           -> Actions::read_items: the transport reads them and calls on_items()
//                      -> snapshot frames with what the device does not already hold; up to
//                      kMaxFetchesInFlight fetches may be in flight, answered in order
//   on_live         -> live changes while connected and caught up (or a read to fill a gap);
//                      an entry that may change the scope (an assignment, a share, a new
//                      case) loads the scope again, then re-reads from the cursor
// Anything else, or a malformed frame, gets an error frame; protocol violations are fatal.
//
// Thread safety: none; the transport calls it from one strand.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fieldsync/crypto/hash.hpp"
#include "fieldsync/crypto/random.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/sync/schema.hpp"
#include "fieldsync/sync/scope.hpp"
#include "fieldsync/sync/wire.hpp"

namespace fieldsync::sync {

struct ServerSessionConfig {
  std::uint32_t max_pull = kMaxPullLimit;
  std::size_t max_push_ops = kMaxPushOps;
  // Devices must answer a challenge with their enrolled key; hello's user is then ignored.
  bool require_auth = false;
  // The challenge nonces' source; nullptr means crypto::SodiumRandom. Borrowed.
  crypto::Random* random = nullptr;
  // The transport's channel binding (e.g. a TLS exporter value), signed with the nonce.
  std::string binding{};
  // The store's epoch and its base, told to devices at welcome (Welcome::epoch, epoch_base).
  std::string epoch{};
  std::uint64_t epoch_base = 0;
};

enum class DeviceState { active, revoked_may_upload, revoked, wiped };

// What the server's directory knows of an enrolled device.
struct DeviceRecord {
  std::string user;
  std::string role;  // worker, lead, admin
  crypto::PublicKey public_key{};
  DeviceState state = DeviceState::active;
  Lease lease{};  // the programme's offline lease, told to the device at welcome
};

// A push signed by its device (op_chain.hpp), as the session checked it. The writer checks
// that it continues the chain the server holds for the device and records it in the audit
// log (server/apply.hpp, apply_push).
struct SignedChain {
  std::string device;
  std::string user;                     // the authenticated user
  crypto::Digest prev{};                // the link before the push's first op
  std::vector<crypto::Digest> digests;  // claimed by the device, one per op of the push
  std::string signature;                // hex, over push_message()
  bool verified = false;                // the signature is the device's
};

// An op of the push the session refused before submitting (validation, another device's or
// user's op, an op that does not match its signed digest).
struct RefusedOp {
  std::size_t position = 0;  // in the push
  Op op;
  OpResult result;
};

// What a push hands to the writer: `ops` to apply (results come back for these, in order);
// the rest of the push, for the audit log: the ops refused already, and the signed chain.
struct SubmittedPush {
  std::uint64_t batch = 0;
  std::vector<Op> ops;
  std::vector<RefusedOp> refused{};
  std::optional<SignedChain> chain{};
};

// A record's log for a history request, and the record's scope (to check visibility).
struct RecordLog {
  bool exists = false;  // the record is in the store
  EntryScope scope{};
  std::vector<HistoryEntry> entries;  // oldest first, at most kMaxHistoryEntries
  bool more = false;                  // the log holds more
};

struct SessionActions {
  std::vector<std::string> send;             // frames to send, in order
  std::optional<SubmittedPush> submit;       // ops to apply durably (then call on_committed)
  std::optional<Pull> read;                  // log to read (then call on_read)
  std::optional<std::string> lookup_device;  // find this device (then call on_device)
  std::optional<Enroll> redeem;              // redeem this code (then call on_redeemed)
  bool load_scope = false;                   // read the user's scope (then call on_scope)
  std::optional<std::vector<std::string>> save_scope;  // the device's items now are these
  std::optional<std::vector<std::string>> read_items;  // read these items (then on_items)
  // Record these reads in the audit log as this session's user and device (then call
  // on_reads_recorded; batch 0: no answer is due).
  std::optional<Reads> record_reads;
  std::optional<HistoryRequest> read_history;  // read the record's log (then on_history)
  bool close = false;                          // close after sending
};

class ServerSession {
 public:
  explicit ServerSession(const Schema& schema, ServerSessionConfig config = {});

  // `head` is the store's newest sequence number, `now_ms` the server's physical clock.
  SessionActions on_frame(std::string_view frame, std::uint64_t head, std::int64_t now_ms);
  // The writer committed the submitted batch: results for the submitted ops, in order.
  SessionActions on_committed(std::uint64_t batch, const std::vector<OpResult>& results);
  // The writer could not store the submitted batch (nothing of it was stored): a non-fatal
  // error frame; the device keeps the ops and sends them again.
  SessionActions on_failed(std::uint64_t batch, const Status& error);
  // The directory's answer to `lookup_device`: the device, or Code::unknown_device (or a
  // storage error). `head` and `now_ms` as for on_frame.
  SessionActions on_device(const Result<DeviceRecord>& device, std::uint64_t head,
                           std::int64_t now_ms);
  // The directory's answer to `redeem`: the enrolled user and role, or the code's problem
  // (Code::code_invalid, code_expired, code_used, invalid_argument).
  SessionActions on_redeemed(const Result<Enrolled>& enrolled);
  // The answer to `load_scope`: the user's scope now, and the items saved for this device by
  // an earlier session. `head` and `now_ms` as for on_frame.
  SessionActions on_scope(const Result<Visibility>& scope,
                          const Result<std::vector<std::string>>& saved, std::uint64_t head,
                          std::int64_t now_ms);
  // The records of the items of the last `read_items` action, in its order. A fetch's items
  // are asked for a group at a time (the next group in the answer's read_items): read it when
  // the outgoing queue is short again.
  SessionActions on_items(const Result<std::vector<std::vector<SnapshotRecord>>>& records);
  // The audit log took (or could not take) the reads of `record_reads`.
  SessionActions on_reads_recorded(std::uint64_t batch, const Status& status);
  // The answer to `read_history`.
  SessionActions on_history(const Result<RecordLog>& log);
  // The log read for the last `read` action.
  SessionActions on_read(Changes changes);
  // Entries just committed by the writer (contiguous, ascending). Ops of this session's own
  // device are filtered here.
  SessionActions on_live(const std::vector<LogEntry>& entries);

  // Hello accepted and, with require_auth, the device's signature checked.
  bool authenticated() const { return hello_.has_value() && phase_ == Phase::ready; }
  // Revoked with upload allowed: pushes are taken, nothing is sent, the device wipes.
  bool upload_only() const { return upload_only_; }
  const std::string& device() const;
  const std::string& user() const;
  bool live() const { return live_; }
  // The filter for this session's log reads; nullptr when it sees everything. While a new
  // device bootstraps (bootstrapping()), it lets through only the records that follow their
  // creator: the items' records reach the device whole, by fetch, after the catch-up.
  const Visibility* visibility() const {
    if (!scoped_) return nullptr;
    return bootstrapping_ ? &bootstrap_filter_ : &visibility_;
  }
  // A new device's first pull (cursor 0, holding no item) skips the log of its scope's items:
  // it gets their current state by fetch instead of replaying their history.
  bool bootstrapping() const { return bootstrapping_; }

 private:
  enum class Phase { hello, challenged, looking_up, scoping, enrolling, ready };

  SessionActions handle(const Hello& m, std::uint64_t head, std::int64_t now_ms);
  SessionActions handle(const Auth& m);
  SessionActions handle(const Enroll& m);
  SessionActions welcome(std::uint64_t head, std::int64_t now_ms);
  SessionActions handle(const Push& m);
  // The signed chain of a push: parsed, linked and checked against the device's key.
  SignedChain check_chain(const Push& m) const;
  SessionActions handle(const Pull& m);
  SessionActions protocol_error(Code code, std::string message);
  SessionActions handle(const Fetch& m);
  // Answers the fetches at the front that need no read, then reads the next one's items.
  SessionActions next_fetch_read();
  SessionActions handle(const Reads& m);
  SessionActions handle(const HistoryRequest& m);
  // The scope frame that brings the device from what it holds to visibility_.
  SessionActions announce_scope(bool always);
  static void append(SessionActions& a, SessionActions more);
  // Whether a live entry may change this session's scope.
  bool may_rescope(const LogEntry& e) const;

  const Schema& schema_;
  ServerSessionConfig config_;
  std::optional<Hello> hello_;
  Phase phase_ = Phase::hello;
  std::string nonce_;
  crypto::Signature signature_{};
  std::string enrolled_user_;                    // from the directory (require_auth)
  std::optional<crypto::PublicKey> device_key_;  // the enrolled key (require_auth)
  std::string role_;
  Lease lease_{};
  bool upload_only_ = false;
  // Per submitted batch: the results already decided (validation) and the ops' order.
  struct PendingBatch {
    std::vector<OpResult> results;       // one per op of the push, in order
    std::vector<std::size_t> submitted;  // indexes of results awaiting the writer
  };
  std::map<std::uint64_t, PendingBatch> pending_;
  std::optional<HistoryRequest> history_;     // in flight
  std::optional<HistoryLog> history_answer_;  // waiting for its read to be recorded
  bool reads_in_flight_ = false;
  SessionActions read_more(std::uint64_t after);
  bool read_in_flight_ = false;
  bool read_is_internal_ = false;  // the read fills the live stream, not a client pull
  bool live_ = false;
  bool live_gap_ = false;          // live entries arrived while a read was in flight
  std::uint64_t sent_cursor_ = 0;  // every entry up to here has been sent (or skipped)
  std::uint64_t told_cursor_ = 0;  // the last cursor sent to the device
  // Live entries skipped (invisible) before the device is told the cursor anyway.
  static constexpr std::uint64_t kCursorNoticeEntries = 1000;
  void send_changes(SessionActions& a, const Changes& c);
  // Scopes (a worker's or lead's device on an authenticating server).
  Visibility visibility_;
  std::vector<std::string> device_items_;  // what the device holds, when known
  std::vector<std::string> saved_items_;   // what the store remembers for the device
  std::deque<Fetch> fetches_;      // in flight, answered in order (the front one is being read)
  std::size_t fetch_pos_ = 0;      // the front fetch's items answered so far
  std::vector<std::string> page_;  // the front fetch's next snapshot page, records encoded
  std::size_t page_bytes_ = 0;
  // Items per read_items action: one, so that a large case is paced on its own (a snapshot
  // page still gathers many items).
  static constexpr std::size_t kItemsPerRead = 1;
  std::uint64_t rescoped_through_ = 0;  // entries up to here already reloaded the scope
  bool scoped_ = false;
  bool device_items_known_ = false;
  bool scope_announced_ = false;  // the first scope frame went out
  bool scope_loading_ = false;
  bool announce_pending_ = false;  // the scope changed: announce after the re-read
  // Bootstrap (a new device): the first pull reads only creator-following records' log.
  bool bootstrap_checked_ = false;
  bool bootstrapping_ = false;
  Visibility bootstrap_filter_;  // visibility_ without its items
};

}  // namespace fieldsync::sync
