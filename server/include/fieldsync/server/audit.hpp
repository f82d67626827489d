// The audit trail (docs/AUDIT.md): an append-only table of events, each hash-chained to the
// one before it, with signed checkpoints in the chain itself.
//
//   audit_log(seq, at_ms, kind, user, device, subject, detail, hash)
//     seq     1, 2, 3, ... without gaps
//     hash    BLAKE2b over the previous entry's hash and every other column (entry_hash)
//     kinds   op          an accepted operation; subject: its op id; detail: {log, digest,
//                         skewed}: its row in the sync log and the digest of that row's op_json
//             refused     an operation the server refused; detail: {digest, chained,
//                         collection, record, code, reason}; subject "push" for a whole push that
//                         could not be attributed (a bad signature, a broken chain)
//             repeat      an op of a device's chain already in the log (sent again before
//                         it was signed); detail: {digest, chained, collection, record, log}
//             batch       a device's signature over its chain; detail: {last, head, sig}
//             device      a device's key became known or its state changed; detail: {event,
//                         key?}
//             read        a person read records through the server, or a device reported
//                         reads; subject: what was read; detail: {what, count?, ...}
//             admin       a change an administrator made in the directory
//             checkpoint  the server's signature over (seq, head hash) of the entry before;
//                         detail: {through, head, sig}; every transaction that appends ends
//                         in one, so a healthy log always ends sealed
//             alarm       entries were found appended without a checkpoint after them (an
//                         insertion, or a writer without the key); detail: {event, from,
//                         through}
// The sync log's rows are covered through their `op` entries: verify_audit() checks that
// every log row has exactly one, in order, and that it matches the row's contents.
//
// Thread safety: the functions here take a connection the caller owns and uses from one
// thread; appends must run inside the caller's write transaction.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "fieldsync/crypto/hash.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::crypto {
class Database;
}
namespace fieldsync::server {
class StoreFile;
}

namespace fieldsync::server::audit {

// The server's audit key in its data directory, unless configured elsewhere.
inline constexpr const char* kAuditKeyFileName = "audit.key";

struct Event {
  std::string kind;
  std::int64_t at_ms = 0;  // the server's clock when the event was recorded
  std::string user;        // who acted ('' for the server itself)
  std::string device;      // from which device ('' for none)
  std::string subject;     // an op id, a record "collection/id", a case, ...
  std::string detail;      // a compact JSON object
};

// The hash of entry `seq` holding `e`, chained to `prev` (all zero before the first entry).
crypto::Digest entry_hash(const crypto::Digest& prev, std::uint64_t seq, const Event& e);
// The bytes the server signs in a checkpoint.
std::string checkpoint_message(std::uint64_t through, const crypto::Digest& head);
// The digest a log row's op_json is recorded under (the device chain's op digest).
crypto::Digest log_row_digest(std::string_view op_json);

// The op entry of a sync log row. `chained`: the op is part of its device's signed chain
// (false for ops accepted before devices signed, or by a server that does not authenticate).
Event op_event(std::uint64_t log_seq, std::string_view op_id, std::string_view device,
               std::string_view user, std::string_view op_json, bool skewed,
               std::int64_t received_ms, bool chained);

// Appends `e` as the next entry and seals it with a checkpoint signed by `key` (see
// AuditWriter in audit_writer.hpp for the seal check). Inside a write transaction.
Result<std::uint64_t> append(crypto::Database& db, const Event& e,
                             const std::shared_ptr<const crypto::SigningKey>& key);

// The server's public audit key as the store pinned it (meta "audit_public_key"; nullopt
// before the first key was used) / pins `key`, or Code::invalid_argument when the store is
// pinned to another key.
Result<std::optional<crypto::PublicKey>> pinned_key(crypto::Database& db);
Status pin_key(crypto::Database& db, const crypto::PublicKey& key);
// The audit key for a store: read from `key_path`, made there only when the store has no key
// yet (Code::not_found otherwise: the store's key file is elsewhere), and pinned.
Result<std::shared_ptr<const crypto::SigningKey>> open_key(const StoreFile& file,
                                                           const std::string& key_path);

struct Problem {
  std::uint64_t seq = 0;  // the first audit entry that does not verify (0: not an entry)
  std::string what;
};

struct VerifyReport {
  std::uint64_t entries = 0;
  std::uint64_t ops = 0;           // log rows checked against their op entries
  std::uint64_t unsigned_ops = 0;  // of them, not covered by a device's signature
  std::uint64_t batches = 0;       // device signatures checked
  std::uint64_t checkpoints = 0;   // server signatures checked
  std::uint64_t last_checkpoint = 0;
  std::string head_hash;           // hex of the newest entry's hash
  std::optional<Problem> problem;  // the first problem found; none: everything verifies
};

// Re-checks the whole chain, every op entry against the sync log, every device chain and
// batch signature, every checkpoint against `server_key`. Storage errors are errors; a
// chain that does not verify is a report with a problem.
Result<VerifyReport> verify(crypto::Database& db, const crypto::PublicKey& server_key);

}  // namespace fieldsync::server::audit
