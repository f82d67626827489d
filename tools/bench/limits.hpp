// The machine's limits for fieldsync-bench, each measured in the same run as the figure it
// bounds: raw SQLite writing per operation the rows the server writes (same disk, same
// durability setting, same batching), Ed25519 verification, XChaCha20-Poly1305 sealing, and a
// bare Beast WebSocket echo on loopback. docs/PERFORMANCE.md says how each is used.
//
// Threading: every function runs on the calling thread (the echo starts its own server thread
// and joins it before returning). Nothing is shared between calls.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fieldsync/status.hpp"
#include "fieldsync/sync/op.hpp"

namespace fieldsync::bench {

// What the baseline did to one of the store's tables over the whole run.
struct TableWrites {
  std::string table;         // "log", "records", "case_access", "audit_log", "device_chains"
  std::size_t inserted = 0;  // rows inserted
  std::size_t updated = 0;   // rows updated (an upsert of an existing row)
  std::size_t deleted = 0;   // rows deleted (a case's access list is rewritten on each edit)
  std::uint64_t bytes = 0;   // text and blob bytes of the rows inserted or updated
  std::size_t indexes = 0;   // indexes on the table (sqlite_master), as the server has them
};

struct SqliteBaseline {
  double ops_per_s = 0;     // operations durably committed per second
  double rows_per_op = 0;   // rows inserted or updated per operation (log, records, audit...)
  double bytes_per_op = 0;  // text and blob bytes of those rows per operation
  std::size_t ops = 0;      // how many were written
  std::size_t batch = 0;    // operations per transaction (the server's group commit)
  std::size_t transactions = 0;
  std::string durability;  // the journal mode and synchronous setting used, e.g. "WAL/FULL"
  std::vector<TableWrites> tables;  // the breakdown behind rows_per_op and bytes_per_op
};

// Writes `ops` into a fresh SQLite database in a new temporary folder under `dir` (removed
// afterwards): per operation the rows the server's store writes for it, with the same
// indexes, journal mode and synchronous setting, `batch` operations per transaction. No
// fieldsync code on the timed path: plain prepared statements.
//
// The rows are those of an authenticated server accepting every op (apply_push with a signed
// chain, server/src/apply.cpp), computed before the timing with the real merge and encoders:
//   per op           the log row (op_json as the log stores it), the record's row upserted
//                    with its merged state_json, fields_json and scope, the case's access
//                    list rewritten (cases only), the op's audit entry with its hash
//   per push         the batch audit entry (the device's signature) and the device's chain
//                    head upserted; a push is a run of consecutive ops of one device within
//                    a transaction, so the order of `ops` says how the devices pushed
//   per transaction  the audit checkpoint
// Only writes are timed: the reads the server makes before writing (the op id, the record's
// state, its scope, the chain head) are not. Ops must be valid for the default schema, with
// unique ids, and never edit an existing append-only record (Code::invalid_argument).
// SQLite failures are Code::storage with SQLite's message.
Result<SqliteBaseline> sqlite_baseline(const std::string& dir, const std::vector<sync::Op>& ops,
                                       std::size_t batch);

struct Rate {
  double per_s = 0;   // operations (or bytes, for throughputs) per second
  std::size_t n = 0;  // how many were timed
};

// Ed25519 signature verifications per second (libsodium, one thread) of one signature over
// a 300-byte message, over ~`budget` (the clock is read every 64 verifications).
Rate ed25519_verify_rate(std::chrono::milliseconds budget);
// XChaCha20-Poly1305 (IETF) sealing throughput in bytes per second for messages of
// `message_bytes` (the VFS seals 4 KiB pages), over ~`budget`. The AEAD alone: the random
// nonce the VFS draws per page (one getrandom call) is not included. `n`: messages sealed.
Rate aead_seal_rate(std::size_t message_bytes, std::chrono::milliseconds budget);

struct EchoFigures {
  double round_trips_per_s = 0;  // one message in flight at a time
  double rtt_p50_us = 0;
  double rtt_p99_us = 0;
  double messages_per_s = 0;  // pipelined: many in flight, counted when echoed
  std::size_t message_bytes = 0;
};

// A bare Beast WebSocket echo server and client on 127.0.0.1 (port 0), text frames of
// `message_bytes`: what loopback, Asio and Beast allow before fieldsync does anything. The
// server is a synchronous read-write loop on its own thread; the client runs on the calling
// thread: one message at a time for the first half of `budget` (round trips and their
// percentiles), then up to 64 messages in flight for the second half. Like fieldsync's own
// server and client: no compression, Nagle's algorithm left on.
Result<EchoFigures> websocket_echo(std::size_t message_bytes, std::chrono::milliseconds budget);

}  // namespace fieldsync::bench
