// A light device's storage for the swarm (swarm.hpp): a sync::ClientStore in memory instead of
// an encrypted replica. It builds real operations as the replica does (a counter per device,
// a hybrid logical clock, each register write based on the field's heads as this store knows
// them, the device's chain of operations), keeps an outbox until the server acknowledges,
// and merges what arrives (pulled or live entries, snapshots) into record states.
// Simplifications, none of which changes what goes on the wire: nothing is persisted (a device
// starts from cursor 0 and an empty chain, so an identity writes in one swarm run only), a
// scope message purges nothing, fetches send no holding digest, and no reads are reported.
//
// Ownership: a plain object owned by the swarm; the session borrows it. Thread safety: none
// (one event loop thread).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

#include "fieldsync/crypto/hash.hpp"
#include "fieldsync/status.hpp"
#include "fieldsync/sync/client_session.hpp"
#include "fieldsync/sync/hlc.hpp"
#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/op.hpp"
#include "fieldsync/sync/schema.hpp"

namespace fieldsync::bench {

class SwarmStore final : public sync::ClientStore {
 public:
  using Fields = std::vector<std::pair<std::string, boost::json::value>>;
  // Called for every entry applied (pulled or live) and every record id a snapshot brought.
  using EntryHook = std::function<void(const sync::LogEntry&)>;
  using RecordHook = std::function<void(const std::string& collection, const std::string& id)>;

  // `now_ms`: the device's physical clock (Unix milliseconds) for its HLC.
  SwarmStore(std::string device, std::string user, const sync::Schema& schema,
             std::function<std::int64_t()> now_ms);

  // Writes register fields of a record (a put), as Replica::put does for register fields:
  // each write based on the field's current heads. The op is merged here and queued in the
  // outbox; the caller tells the session (on_local_change). Returns the op.
  Result<sync::Op> put(const std::string& collection, const std::string& id, const Fields& fields);

  void on_entry(EntryHook hook) { on_entry_ = std::move(hook); }
  void on_record(RecordHook hook) { on_record_ = std::move(hook); }

  std::size_t outbox_size() const { return outbox_.size(); }
  // The first op the server refused (op id, code, reason), if any.
  const std::optional<sync::OpResult>& first_rejected() const { return first_rejected_; }
  // Acknowledged as duplicates: the server had these op ids already (a reused identity).
  std::size_t duplicates() const { return duplicates_; }

  // sync::ClientStore
  std::uint64_t cursor() override { return cursor_; }
  Result<std::vector<sync::Op>> pending_ops(std::size_t limit,
                                            const std::set<std::string>& exclude) override;
  Result<std::optional<crypto::Digest>> chain_link_before(const std::string& op_id) override;
  Status on_ack(const std::vector<sync::OpResult>& results) override;
  Status apply_remote(const std::vector<sync::LogEntry>& entries, std::uint64_t cursor) override;
  std::string scope_digest() override;
  Result<sync::ScopeApplied> apply_scope(const sync::Scope& scope) override;
  Status apply_snapshot(const std::vector<sync::SnapshotRecord>& records) override;
  Status mark_fetched(const std::vector<std::string>& items) override;
  Status on_server_epoch(const std::string& epoch, std::uint64_t base) override;

 private:
  struct Pending {
    sync::Op op;
    crypto::Digest link_before{};  // the chain's link before this op
    bool rejected = false;
  };

  std::string device_;
  std::string user_;
  const sync::Schema& schema_;
  std::function<std::int64_t()> now_ms_;
  std::uint64_t counter_ = 0;
  sync::HlcClock clock_;
  crypto::Digest chain_head_{};
  std::deque<Pending> outbox_;
  std::map<std::pair<std::string, std::string>, sync::RecordState> records_;
  std::set<std::string> scope_;
  std::uint64_t cursor_ = 0;
  std::optional<sync::OpResult> first_rejected_;
  std::size_t duplicates_ = 0;
  EntryHook on_entry_;
  RecordHook on_record_;
};

}  // namespace fieldsync::bench
