// The swarm's in-memory ClientStore (swarm_store.hpp).
#include "swarm_store.hpp"

#include <algorithm>

#include "fieldsync/sync/ids.hpp"
#include "fieldsync/sync/op_chain.hpp"
#include "fieldsync/sync/scope.hpp"

namespace fieldsync::bench {
namespace {

std::string field_name(const std::string& collection, const std::string& field) {
  std::string out = collection;
  out += '.';
  out += field;
  return out;
}

}  // namespace

SwarmStore::SwarmStore(std::string device, std::string user, const sync::Schema& schema,
                       std::function<std::int64_t()> now_ms)
    : device_(std::move(device)),
      user_(std::move(user)),
      schema_(schema),
      now_ms_(std::move(now_ms)),
      chain_head_(sync::chain_genesis(device_)) {}

Result<sync::Op> SwarmStore::put(const std::string& collection, const std::string& id,
                                 const Fields& fields) {
  const sync::CollectionSpec* spec = schema_.collection(collection);
  if (!spec) return Status(Code::invalid_argument, "no collection " + collection);
  if (fields.empty()) return Status(Code::invalid_argument, "no fields to change");
  sync::RecordState& state = records_[{collection, id}];
  if (state.deleted()) return Status(Code::deleted, collection + "/" + id + " is deleted");
  sync::Op op;
  op.device = device_;
  op.user = user_;
  op.collection = collection;
  op.record = id;
  op.kind = sync::OpKind::put;
  for (const auto& [name, value] : fields) {
    const sync::FieldSpec* f = spec->field(name);
    if (!f) return Status(Code::invalid_argument, "no field " + field_name(collection, name));
    if (f->type == sync::FieldType::set)
      return Status(Code::wrong_type, field_name(collection, name) + " is a set");
    sync::FieldWrite w;
    w.field = name;
    w.kind = sync::WriteKind::set;
    w.value = value;
    // As a worker's replica: base on the value shown only, never decide a review conflict.
    if (auto it = state.registers.find(name); it != state.registers.end())
      w.base = sync::edit_base(it->second, f->policy);
    op.writes.push_back(std::move(w));
  }
  op.id = sync::make_op_id(device_, counter_ + 1);
  op.hlc = clock_.now(now_ms_());
  if (Status v = sync::validate(op, schema_); !v) return v;
  ++counter_;
  sync::apply(state, op, *spec);
  const crypto::Digest before = chain_head_;
  chain_head_ = sync::chain_next(before, sync::op_digest(op));
  outbox_.push_back(Pending{op, before, false});
  return op;
}

Result<std::vector<sync::Op>> SwarmStore::pending_ops(std::size_t limit,
                                                      const std::set<std::string>& exclude) {
  std::vector<sync::Op> out;
  for (const auto& p : outbox_) {
    if (out.size() >= limit) break;
    if (!p.rejected && !exclude.contains(p.op.id)) out.push_back(p.op);
  }
  return out;
}

Result<std::optional<crypto::Digest>> SwarmStore::chain_link_before(const std::string& op_id) {
  for (const auto& p : outbox_)
    if (p.op.id == op_id) return std::optional<crypto::Digest>(p.link_before);
  return Status(Code::not_found, "no op " + op_id + " in the outbox");
}

Status SwarmStore::on_ack(const std::vector<sync::OpResult>& results) {
  for (const auto& r : results) {
    auto it = std::find_if(outbox_.begin(), outbox_.end(),
                           [&](const Pending& p) { return p.op.id == r.op; });
    if (it == outbox_.end()) continue;
    if (r.status == sync::OpStatus::rejected) {
      it->rejected = true;
      if (!first_rejected_) first_rejected_ = r;
      continue;
    }
    if (r.status == sync::OpStatus::duplicate) ++duplicates_;
    outbox_.erase(it);
  }
  return Status::ok();
}

Status SwarmStore::apply_remote(const std::vector<sync::LogEntry>& entries, std::uint64_t cursor) {
  const std::int64_t now = now_ms_();
  for (const auto& e : entries) {
    (void)clock_.observe(e.op.hlc, now);
    if (const sync::CollectionSpec* spec = schema_.collection(e.op.collection))
      sync::apply(records_[{e.op.collection, e.op.record}], e.op, *spec);
    if (on_entry_) on_entry_(e);
  }
  cursor_ = std::max(cursor_, cursor);
  return Status::ok();
}

std::string SwarmStore::scope_digest() {
  return sync::scope_digest(std::vector<std::string>(scope_.begin(), scope_.end()));
}

Result<sync::ScopeApplied> SwarmStore::apply_scope(const sync::Scope& scope) {
  if (scope.full) scope_.clear();
  for (const auto& item : scope.remove) scope_.erase(item);
  sync::ScopeApplied out;
  for (const auto& item : scope.add)
    if (scope_.insert(item).second || scope.full) out.fetch.push_back({item, ""});
  return out;
}

Status SwarmStore::apply_snapshot(const std::vector<sync::SnapshotRecord>& records) {
  for (const auto& r : records) {
    sync::merge_state(records_[{r.collection, r.id}], r.state);
    if (on_record_) on_record_(r.collection, r.id);
  }
  return Status::ok();
}

Status SwarmStore::mark_fetched(const std::vector<std::string>& /*items*/) { return Status::ok(); }

Status SwarmStore::on_server_epoch(const std::string& /*epoch*/, std::uint64_t /*base*/) {
  return Status::ok();
}

}  // namespace fieldsync::bench
