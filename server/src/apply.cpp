// apply_batch: exactly-once application of pushed operations over the StoreTx primitives.
#include "fieldsync/server/apply.hpp"

#include <utility>

#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/op.hpp"

namespace fieldsync::server {
namespace {

sync::OpResult rejected(const sync::Op& op, const Status& why) {
  sync::OpResult r;
  r.op = op.id;
  r.status = sync::OpStatus::rejected;
  r.code = why.code();
  r.reason = why.message();
  return r;
}

}  // namespace

Result<std::vector<sync::OpResult>> apply_batch(StoreTx& tx, const std::vector<sync::Op>& ops,
                                                const sync::Schema& schema, std::int64_t now_ms,
                                                std::int64_t max_ahead_ms) {
  std::vector<sync::OpResult> results;
  results.reserve(ops.size());
  for (const sync::Op& op : ops) {
    // Exactly once: an op id already in the log is answered with its first sequence number,
    // also when the earlier copy came in this very batch.
    auto seen = tx.find_op(op.id);
    if (!seen) return seen.status();
    if (*seen) {
      sync::OpResult r;
      r.op = op.id;
      r.status = sync::OpStatus::duplicate;
      r.seq = **seen;
      results.push_back(std::move(r));
      continue;
    }
    // The session validated already; checking again keeps this function safe on its own.
    if (Status s = sync::validate(op, schema); !s) {
      results.push_back(rejected(op, std::move(s)));
      continue;
    }
    const sync::CollectionSpec& spec = *schema.collection(op.collection);
    auto loaded = tx.load_record(op.collection, op.record);
    if (!loaded) return loaded.status();
    sync::RecordState state = loaded->has_value() ? std::move(**loaded) : sync::RecordState{};
    if (spec.append_only && !state.empty()) {
      results.push_back(rejected(
          op, Status(Code::append_only, op.collection + " records are append-only: record '" +
                                            op.record + "' already exists and cannot be changed")));
      continue;
    }
    sync::apply(state, op, spec);
    if (Status s = tx.save_record(op.collection, op.record, state, sync::materialize(state, spec));
        !s)
      return s;
    const bool skewed = op.hlc.wall_ms > now_ms + max_ahead_ms;
    auto seq = tx.append_log(op, skewed, now_ms);
    if (!seq) return seq.status();
    sync::OpResult r;
    r.op = op.id;
    r.status = sync::OpStatus::accepted;
    r.seq = *seq;
    r.skewed = skewed;
    results.push_back(std::move(r));
  }
  return results;
}

}  // namespace fieldsync::server
