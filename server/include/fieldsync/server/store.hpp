// The server's storage interface. The embedded SQLite store implements it; a PostgreSQL
// backend can implement the same primitives later. The merge is not here: apply_batch()
// (apply.hpp) runs the merge from sync/ over these primitives, so a new backend never
// touches it.
//
// Thread safety: begin() and the StoreTx it returns are used by the writer thread only.
// read_log(), head() and get_record() may be called from any thread concurrently (each
// implementation keeps its own read connections).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "fieldsync/crypto/hash.hpp"
#include "fieldsync/server/audit.hpp"
#include "fieldsync/server/scope.hpp"
#include "fieldsync/status.hpp"
#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/server_session.hpp"
#include "fieldsync/sync/wire.hpp"

namespace fieldsync::server {

// The newest link of a device's chain of operations, as the server last verified it.
struct ChainHead {
  std::string last_op;  // the id of the op it follows
  crypto::Digest link{};
};

// One write transaction. Destroying it without commit() rolls back.
class StoreTx {
 public:
  virtual ~StoreTx() = default;
  // The server sequence number of an op already applied, if any.
  virtual Result<std::optional<std::uint64_t>> find_op(const std::string& op_id) = 0;
  virtual Result<std::optional<sync::RecordState>> load_record(const std::string& collection,
                                                               const std::string& id) = 0;
  // Saves the record's state, its materialised fields and its scope (the creator is kept from
  // the first save).
  virtual Status save_record(const std::string& collection, const std::string& id,
                             const sync::RecordState& state, const boost::json::object& fields,
                             const RecordScope& scope) = 0;
  // The stored scope of a record, nullopt when there is none.
  virtual Result<std::optional<RecordScope>> load_scope(const std::string& collection,
                                                        const std::string& id) = 0;
  // Who sees a case (an empty owner when there is no such case) / replaces that.
  virtual Result<CaseAccess> load_case_access(const std::string& case_id) = 0;
  virtual Status save_case_access(const std::string& case_id, const CaseAccess& access) = 0;
  // The cases that refer to a client.
  virtual Result<std::vector<std::string>> cases_of_client(const std::string& client_id) = 0;
  // A user of the directory (Code::not_found), read inside the transaction.
  virtual Result<User> load_user(const std::string& name) = 0;
  // Appends an accepted op to the log, and its op entry to the audit log (audit.hpp);
  // returns its log sequence number. `chained`: the op is covered by its device's signed
  // chain (op_chain.hpp).
  virtual Result<std::uint64_t> append_log(const sync::Op& op, bool skewed,
                                           std::int64_t received_ms, bool chained) = 0;
  // The device's state in the directory (nullopt: not enrolled), read inside the transaction.
  virtual Result<std::optional<std::string>> device_state(const std::string& device) = 0;
  // Whether the log holds any op of `device` (by op id prefix).
  virtual Result<bool> has_ops_of(const std::string& device) = 0;
  // The last refusal of `device`'s op recorded in the audit log (a rejected result), if any.
  virtual Result<std::optional<sync::OpResult>> find_refusal(const std::string& op_id,
                                                             const std::string& device) = 0;
  // Appends an event to the audit log; returns its audit sequence number.
  virtual Result<std::uint64_t> append_audit(const audit::Event& event) = 0;
  // A device's newest chain link and the op it follows (nullopt: the device has not pushed
  // a signed batch yet) / records a new one (op_chain.hpp).
  virtual Result<std::optional<ChainHead>> load_chain(const std::string& device) = 0;
  virtual Status save_chain(const std::string& device, const ChainHead& head) = 0;
  // Makes everything durable (one fsync).
  virtual Status commit() = 0;
};

struct RecordRow {
  std::string collection;
  std::string id;
  boost::json::object fields;
  bool deleted = false;
  sync::RecordState state;
};

class ServerStore {
 public:
  virtual ~ServerStore() = default;
  virtual Result<std::unique_ptr<StoreTx>> begin() = 0;
  // Entries with seq > after, at most `limit`, leaving out ops made by `exclude_device` and,
  // with `scope`, entries on records the scope does not see (by the records' current scope).
  // Each entry carries its record's scope (LogEntry::scope). The returned cursor is the last
  // sequence number scanned (so skipped entries are not scanned again); `more` says whether
  // entries remain beyond it.
  virtual Result<sync::Changes> read_log(std::uint64_t after, std::uint32_t limit,
                                         const std::string& exclude_device,
                                         const ScopeSet* scope = nullptr) = 0;
  // What `viewer`'s devices may hold now.
  virtual Result<ScopeSet> scope_of(const Viewer& viewer) = 0;
  // The records of each item (case items: the case and every record that refers to it),
  // sorted by (collection, id) within an item, items in the order given.
  virtual Result<std::vector<std::vector<sync::SnapshotRecord>>> read_items(
      const std::vector<std::string>& items) = 0;
  virtual Result<std::uint64_t> head() = 0;
  // A record's log, oldest first (at most sync::kMaxHistoryEntries), and its scope.
  virtual Result<sync::RecordLog> record_log(const std::string& collection,
                                             const std::string& id) = 0;
  virtual Result<std::optional<RecordRow>> get_record(const std::string& collection,
                                                      const std::string& id) = 0;
  // The records of `collection` that are not deleted and that `scope` sees (null: all),
  // sorted by id, with their state only when `with_state` (the dashboard's reads).
  virtual Result<std::vector<RecordRow>> list_records(const std::string& collection,
                                                      const ScopeSet* scope, bool with_state) = 0;
};

}  // namespace fieldsync::server
