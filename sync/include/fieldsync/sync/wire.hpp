// The wire codec. Every frame is one WebSocket text message holding one JSON object:
//   frame := { "v": PROTOCOL_VERSION, "t": TYPE, ...fields of TYPE }
// TYPE and its fields, one per message (docs/PROTOCOL.md has one section each):
//   hello    device, user, cursor, schema [, scope] client -> server, first frame
//   challenge nonce, server_ms, bound               server -> client (authenticated servers)
//   auth     signature                              client -> server, answers the challenge
//   enroll   device, public_key, code               client -> server, first frame (enrolment)
//   enrolled user, role                             server -> client, then the server closes
//   welcome  head, server_ms [, user, role, wipe, lease{sync_within_ms, wipe_after_ms},
//            scoped]
//   push     batch, ops[] [, chain{prev, d[], sig}] client -> server
//   ack      batch, results[]                       server -> client, after the durable commit
//   pull     cursor, limit                          client -> server
//   changes  entries[], cursor, more, live          server -> client
//   scope    full, add[], remove[], digest          server -> client, when the scope changed
//   fetch    items[{item, have}]                    client -> server, after a scope
//   snapshot records[{collection, id, state}], more server -> client, answers a fetch
//   reads    batch, events[{c, r, at}]              client -> server: records the device opened
//   noted    batch                                  server -> client, the reads are recorded
//   history  c, r                                   client -> server: a record's history
//   history_log c, r, entries[{seq, op, at}], more  server -> client, answers a history
//   error    code, message, fatal                   either way
// A frame over kMaxFrameBytes, not JSON, without a known "t", or with a "v" other than
// kProtocolVersion decodes to an error Status naming the problem.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "fieldsync/status.hpp"
#include "fieldsync/sync/history.hpp"
#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/op.hpp"
#include "fieldsync/sync/scope.hpp"

namespace fieldsync::sync {

// The protocol version. Changelog:
//   1  first version: hello/welcome, push/ack, pull/changes, live changes, error.
//   2  scopes: hello.scope, scope, fetch, snapshot.
//   3  the audit trail: push.chain (a device signs each batch of its chain of operations),
//      reads/noted (reads of records on the device), history/history_log.
inline constexpr int kProtocolVersion = 3;
inline constexpr std::size_t kMaxFrameBytes = std::size_t{4} * 1024 * 1024;
inline constexpr std::size_t kMaxPushOps = 1000;
inline constexpr std::uint32_t kMaxPullLimit = 5000;
inline constexpr std::size_t kMaxFetchItems = 500;
// Fetches a device may have in flight at once when the welcome allows it (fetch_window), so
// that the server reads the next items while the device stores the last answer.
inline constexpr std::uint32_t kMaxFetchesInFlight = 2;
inline constexpr std::size_t kMaxReadEvents = 1000;
inline constexpr std::size_t kMaxHistoryEntries = 2000;

struct Hello {
  std::string device;
  std::string user;
  std::uint64_t cursor = 0;
  int schema = 0;
  int version = kProtocolVersion;  // what the peer claims; checked by the server
  std::string scope{};             // scope_digest() of the items the device holds (scope.hpp)
};

// A fresh random nonce per connection; the device signs auth_message() over it.
struct Challenge {
  std::string nonce;  // 64 lowercase hex digits (32 bytes)
  std::int64_t server_ms = 0;
  // The server checks a channel binding (it terminates TLS itself): the device signs its
  // connection's binding. False (plain ws, or TLS ended at a proxy): the device signs none.
  bool bound = false;
};

struct Auth {
  std::string signature;  // 128 lowercase hex digits: Ed25519 over auth_message()
};

// Binds a new device's public key to a user, by a one-time code an admin handed out.
struct Enroll {
  std::string device;
  std::string public_key;  // 64 lowercase hex digits (Ed25519, 32 bytes)
  std::string code;
  int version = kProtocolVersion;  // what the peer claims; checked by the server
};

struct Enrolled {
  std::string user;
  std::string role;
};

// How long a device may go without checking in (0: no limit): past sync_within_ms the client
// core opens the replica for a sync only; past wipe_after_ms it destroys the replica.
struct Lease {
  std::int64_t sync_within_ms = 0;
  std::int64_t wipe_after_ms = 0;
};

struct Welcome {
  std::uint64_t head = 0;  // the server's newest sequence number
  std::int64_t server_ms = 0;
  // Authenticated sessions: who the server knows this device as (empty otherwise).
  std::string user{};
  std::string role{};
  // The device was revoked but may upload: push the outbox, expect nothing, then wipe.
  bool wipe = false;
  Lease lease{};  // the programme's offline lease (authenticated sessions)
  // The device holds a scope: a scope message follows the first pull that catches up.
  bool scoped = false;
  // The store's epoch: a random id that changes when the server starts on a store restored
  // from a backup. A device that saw another epoch pushes again what the server lost.
  std::string epoch{};
  // The log's head when the epoch began: a restored store's entries up to it are the backup's,
  // those after it are new. 0 for a store that was never restored.
  std::uint64_t epoch_base = 0;
  // Fetches the device may have in flight (servers before it was added take 1).
  std::uint32_t fetch_window = 1;
  // The server computes each pushed op's digest itself: a push's chain may leave them out.
  bool server_digests = false;
};

// A device's signature over its chain of operations (op_chain.hpp), hex text: the link
// before the first op, each op's digest, and the Ed25519 signature over push_message().
struct PushChain {
  std::string prev;
  // One per op of the push, or none when the server computes them from the ops (its welcome
  // said server_digests): the signature covers the chain either way.
  std::vector<std::string> digests;
  std::string signature;
};

struct Push {
  std::uint64_t batch = 0;
  std::vector<Op> ops;
  std::optional<PushChain> chain{};  // absent: an unsigned push (servers without auth only)
};

enum class OpStatus { accepted, duplicate, rejected };

struct OpResult {
  std::string op;
  OpStatus status = OpStatus::accepted;
  std::uint64_t seq = 0;  // accepted/duplicate: the op's server sequence number
  bool skewed = false;    // accepted with a clock more than the bound ahead of the server
  Code code = Code::ok;   // rejected: why
  std::string reason;
};

struct Ack {
  std::uint64_t batch = 0;
  std::vector<OpResult> results;
};

struct Pull {
  std::uint64_t cursor = 0;
  std::uint32_t limit = 1000;
};

struct LogEntry {
  std::uint64_t seq = 0;
  Op op;
  bool skewed = false;
  EntryScope scope{};  // server-side only (scope.hpp): never encoded, empty on a device
};

struct Changes {
  std::vector<LogEntry> entries;
  std::uint64_t cursor = 0;  // the client may resume after this sequence number
  bool more = false;         // another pull would return more
  bool live = false;         // pushed by the server without a pull
};

// The items (scope.hpp) a device may hold. `full`: `add` is the whole set and the device
// drops every item not in it; otherwise `add` and `remove` change the set it holds, whose
// digest becomes `digest`. A removed item is purged from the device.
struct Scope {
  bool full = false;
  std::vector<std::string> add;
  std::vector<std::string> remove;
  std::string digest;
};

struct FetchItem {
  std::string item;
  std::string have;  // HoldingDigest of what the device holds of it; empty: nothing
};

// The device asks for the current state of items it gained (at most kMaxFetchItems).
struct Fetch {
  std::vector<FetchItem> items;
};

struct SnapshotRecord {
  std::string collection;
  std::string id;
  RecordState state;
};

// The current state of the fetched items' records the device did not already hold; the
// last frame of an answer has more = false.
struct Snapshot {
  std::vector<SnapshotRecord> records;
  bool more = false;
};

// A record the device's user opened (read) on the device, at the device's clock; id "*":
// the user listed the collection's records.
struct ReadEvent {
  std::string collection;
  std::string id;
  std::int64_t at_ms = 0;
  std::string what = "opened";  // server side only: what kind of read (never encoded)
  std::uint64_t local = 0;      // device side only: the replica's number for it (never encoded)
};

struct Reads {
  std::uint64_t batch = 0;
  std::vector<ReadEvent> events;  // at most kMaxReadEvents
};

struct Noted {
  std::uint64_t batch = 0;
};

struct HistoryRequest {
  std::string collection;
  std::string id;
};

// The record's log entries (history.hpp), oldest first; more: the log holds more than
// kMaxHistoryEntries of them and the oldest are shown.
struct HistoryLog {
  std::string collection;
  std::string id;
  std::vector<HistoryEntry> entries;
  bool more = false;
};

struct Error {
  Code code = Code::internal;
  std::string message;
  bool fatal = false;  // the sender closes the session after this frame
};

using Message =
    std::variant<Hello, Welcome, Push, Ack, Pull, Changes, Error, Challenge, Auth, Enroll, Enrolled,
                 Scope, Fetch, Snapshot, Reads, Noted, HistoryRequest, HistoryLog>;

std::string encode(const Message& m);
// A snapshot frame built from records encoded one at a time: the same frame as encoding the
// Snapshot whole, for a sender that sizes its pages by the records' encoded lengths without
// encoding any record twice.
std::string encode_snapshot_record(const SnapshotRecord& record);
std::string encode_snapshot_frame(const std::vector<std::string>& encoded_records, bool more);

// The bytes a device signs to answer a challenge: a fixed context, the protocol version, the
// device id, the nonce, and `binding` (a TLS channel binding when the transport has one, else
// empty), each on its own line. A signature is good for that connection and version only.
std::string auth_message(int version, std::string_view device, std::string_view nonce,
                         std::string_view binding);
Result<Message> decode(std::string_view frame);

std::string_view op_status_name(OpStatus s);

}  // namespace fieldsync::sync
