// The device's local replica: one SQLite file (WAL mode) that holds the materialised records,
// their merge state, the outbox of operations not yet acknowledged by the server, and the
// device's identity, clock and pull cursor. Every local write is one transaction that changes
// the record and appends its operation to the outbox; nothing is written when a write fails.
//
// Storage: every database is opened through crypto::Database::open with ReplicaOptions::vfs,
// so the file can sit on a custom (encrypting) SQLite VFS.
//
// Ownership: a Replica owns its database connection. Results are returned by value.
// Thread safety: one thread at a time per Replica object. Several Replica objects (in one
// process or in several) may use the same file at once: writers wait for each other (BEGIN
// IMMEDIATE with the busy timeout) instead of failing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/crypto/maintenance.hpp"
#include "fieldsync/crypto/random.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/status.hpp"
#include "fieldsync/sync/client_session.hpp"
#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/schema.hpp"

namespace fieldsync::crypto {
class Database;
}

namespace fieldsync::client {

class FileLock;

// The on-disk layout version of a replica (meta key "format").
inline constexpr int kReplicaFormat = 4;
// The page cache of a replica's connection. A worker's caseload (a few MiB) then stays
// decrypted in memory after its first read; see docs/PERFORMANCE.md.
inline constexpr int kReplicaPageCacheKib = 8192;

struct ReplicaOptions {
  // init only: the user recorded in every operation; empty means $USER, else "worker".
  std::string user;
  // Milliseconds since the epoch; empty means the system clock. Tests skew it.
  std::function<std::int64_t()> now_ms;
  // init only: the source of the device id; nullptr means crypto::SodiumRandom. add_note also
  // draws its record ids from it. Borrowed: must outlive the Replica.
  crypto::Random* random = nullptr;
  // The schema; nullptr means sync::default_schema(). Borrowed: must outlive the Replica.
  const sync::Schema* schema = nullptr;
  // How far ahead of the local clock a remote clock may pull this replica's clock.
  std::int64_t max_clock_ahead_ms = sync::kDefaultMaxAheadMs;
  // How long to wait for another process's write lock before failing with Code::storage, and
  // for the replica's file lock before failing with Code::busy.
  int busy_timeout_ms = 60'000;
  int page_cache_kib = kReplicaPageCacheKib;
  // Open even when the offline lease asks for a sync first (the sync itself sets this).
  bool for_sync = false;
};

// One change to one field in a local write. Values are given as text and converted by the
// field's type: `set` for register fields, `add`/`remove` of one element for set fields.
struct FieldEdit {
  enum class Kind { set, add, remove };
  std::string field;
  Kind kind = Kind::set;
  std::string value;
};

// A record as the replica shows it.
struct RecordView {
  std::string collection;
  std::string id;
  boost::json::object fields;  // materialised: names sorted, set values as sorted arrays
  bool deleted = false;
};

// {"collection": ..., "id": ..., "fields": {...}}: nothing device-local in it, so it is
// byte-identical (once serialised) on every replica that has seen the same operations.
boost::json::object to_json(const RecordView& record);

struct OutboxEntry {
  std::int64_t seq = 0;  // local order of the write
  sync::Op op;
  bool rejected = false;  // refused by the server; kept, never pushed again
  Code code = Code::ok;   // rejected: why
  std::string reason;
};

class Replica final : public sync::ClientStore {
 public:
  // Creates a new replica at `path`, encrypted under a new data key wrapped for `credential`
  // (with its KDF limits). An error when the replica or its key file is already there; on
  // failure nothing is left behind.
  static Result<std::unique_ptr<Replica>> init(const std::string& path,
                                               const crypto::Credential& credential,
                                               ReplicaOptions options);
  // Opens an existing replica: Code::not_found when there is none at `path`,
  // Code::wrong_passphrase, Code::tampered, Code::busy (a maintenance step holds it).
  static Result<std::unique_ptr<Replica>> open(const std::string& path,
                                               const crypto::Credential& credential,
                                               ReplicaOptions options);

  // --- Whole-file maintenance: each waits (up to busy_timeout_ms) for every open Replica on
  // the file, in any process, to close. ---

  // Rewraps the data key for `next`; no page is rewritten.
  static Status change_passphrase(const std::string& path, const crypto::Credential& current,
                                  const crypto::Credential& next,
                                  const ReplicaOptions& options = {});
  // Rotates the data key: every page is rewritten under a new one, wrapped for `credential`.
  static Status rekey(const std::string& path, const crypto::Credential& credential,
                      const ReplicaOptions& options = {});
  // Authenticates every page of the replica and its WAL; Code::tampered names the first
  // page that fails.
  static Result<crypto::CheckReport> check(const std::string& path,
                                           const crypto::Credential& credential,
                                           const ReplicaOptions& options = {});

  ~Replica() override;
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  const std::string& path() const { return path_; }
  const std::string& device() const { return device_; }
  const std::string& user() const { return user_; }
  const sync::Schema& schema() const { return *schema_; }

  // --- Device identity: an Ed25519 key pair made at init; the secret half lives only in the
  // (encrypted) replica and in locked memory while unlocked. ---

  // nullptr while locked.
  const crypto::SigningKey* signing_key() const { return key_ ? &*key_ : nullptr; }
  // Whether a server has bound this device to a user (enroll).
  bool enrolled() const { return !enrolled_server_.empty(); }
  const std::string& enrolled_server() const { return enrolled_server_; }
  // Records an enrolment: the server's user replaces the local name, also in operations
  // still in the outbox (they never left the device).
  Status set_enrolled(const std::string& user, const std::string& role, const std::string& server);
  // An authenticated sync ended well (now, by the replica's clock): the lease clock restarts,
  // with the programme's current lease.
  Status record_checkin(const sync::Lease& lease);
  // How many operations the sync client puts in one push (SyncClient adapts it to the link and
  // keeps it here, so that the next run starts from it); 0 when never set.
  std::size_t push_batch_hint();
  Status set_push_batch_hint(std::size_t ops);
  // Destroys a replica and its keys: the key envelope is overwritten and removed first (what
  // is left cannot be decrypted), then every other file. No Replica may have it open.
  static Status destroy(const std::string& path);

  // --- Locking: while locked, every call below fails with Code::locked. ---

  // Closes the database: the page key is wiped from memory, the file lock released.
  void lock();
  bool locked() const { return db_ == nullptr; }
  // Reopens with the passphrase: Code::wrong_passphrase, or any error of open().
  Status unlock(const crypto::Credential& credential);

  // --- Local writes: each is one transaction; on error nothing is written. ---

  // Creates or edits a record. Returns the id of the new operation. (Adding several elements
  // to one set field takes one operation per element, all in the same transaction, so that
  // each element gets its own add tag; the id returned is the first one's.)
  Result<std::string> put(const std::string& collection, const std::string& id,
                          const std::vector<FieldEdit>& edits);
  // Decides a conflict of a register field: one put op whose write to `field` has as its base
  // EVERY head of the field, so it closes an open review conflict (register_review) and
  // settles any lww one. `value` may be one of the competing values or another; the schema
  // checks it as for put. The op goes through the outbox, signed and chained like any other.
  // Returns its id. Errors: Code::not_found for an unknown record or a field with no conflict
  // to decide (fewer than two heads); Code::deleted; Code::unknown_field; Code::wrong_type
  // for a set field (sets do not conflict); Code::append_only; Code::forbidden when this
  // device is enrolled for a worker (only leads and admins decide; a device not enrolled is
  // let through and the server decides).
  Result<std::string> resolve(const std::string& collection, const std::string& id,
                              const std::string& field, const std::string& value);
  // Deletes a record (a tombstone). Returns the id of the new operation.
  Result<std::string> remove(const std::string& collection, const std::string& id);
  // Appends a progress note to a case. Returns the new note's record id.
  Result<std::string> add_note(const std::string& case_id, const std::string& text);

  // --- Queries ---

  // Remembers that the user opened a record here (shown in full), for the server's audit
  // log: reported at the next sync (ids and the device's time only).
  Status note_read(const std::string& collection, const std::string& id);

  // The record, also when deleted (RecordView::deleted); nullopt when never seen.
  Result<std::optional<RecordView>> get(const std::string& collection, const std::string& id);
  // The records of a collection that are not deleted, sorted by id.
  Result<std::vector<RecordView>> list(const std::string& collection);
  // Conflicts of every record, sorted by (collection, id): the open ones, or all.
  Result<std::vector<sync::Conflict>> conflicts(bool include_resolved);
  // Operations not yet acknowledged (pending and rejected), oldest first.
  Result<std::vector<OutboxEntry>> outbox();

  // --- sync::ClientStore, called by the sync client ---

  std::uint64_t cursor() override;
  Result<std::vector<sync::Op>> pending_ops(std::size_t limit,
                                            const std::set<std::string>& exclude) override;
  Result<std::optional<crypto::Digest>> chain_link_before(const std::string& op_id) override;
  Status on_ack(const std::vector<sync::OpResult>& results) override;
  Status apply_remote(const std::vector<sync::LogEntry>& entries, std::uint64_t cursor) override;
  // Scopes (replica_scope.cpp): purges what left the device's scope (records with pending
  // operations are kept), records the new scope, and says what to fetch.
  std::string scope_digest() override;
  Result<sync::ScopeApplied> apply_scope(const sync::Scope& scope) override;
  Status apply_snapshot(const std::vector<sync::SnapshotRecord>& records) override;
  Status mark_fetched(const std::vector<std::string>& items) override;
  Result<std::vector<sync::ReadEvent>> pending_reads(std::size_t limit) override;
  Status on_reads_noted(std::uint64_t through) override;
  // A server restored from a backup that holds its log up to `base` (another epoch than the
  // last one seen): the ops it acknowledged after `base` go back into the outbox, in their
  // order and with their chain links, rejected ops are sent again (their refusals may be lost
  // too), and the cursor moves back to `base`. The first epoch seen is only remembered.
  Status on_server_epoch(const std::string& epoch, std::uint64_t base) override;

 private:
  Replica(std::string path, ReplicaOptions options);
  // Takes the file lock, unwraps the key, opens the database (replica_files.cpp).
  Status attach(const crypto::Credential& credential);
  Status create(const crypto::Credential& credential);
  // After a failed init: closes and removes every file init made.
  void discard_files();
  Status load_meta();
  Status require_unlocked() const;
  // After load_meta: the offline lease's verdict (Code::lease_expired, or the replica wiped).
  Status check_lease();
  std::int64_t now();
  Result<std::string> write_op(
      const std::string& collection, const std::string& id,
      const std::function<Status(const sync::CollectionSpec&, const sync::RecordState&, sync::Op&)>&
          build);

  std::string path_;
  std::unique_ptr<FileLock> file_lock_;  // held shared while unlocked
  std::unique_ptr<crypto::Database> db_;
  ReplicaOptions options_;
  const sync::Schema* schema_;
  std::string device_;
  std::string user_;
  std::uint64_t cursor_cache_ = 0;
  std::optional<crypto::SigningKey> key_;
  std::string enrolled_server_;
};

}  // namespace fieldsync::client
