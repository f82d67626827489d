// apply_batch: exactly-once application of pushed operations over the StoreTx primitives.
#include "fieldsync/server/apply.hpp"

#include <map>
#include <utility>

#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/op.hpp"
#include "fieldsync/sync/scope.hpp"

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

// A case's access list from its fields: the assignee (else the creator) and the shares.
CaseAccess access_of(const boost::json::object& fields, const std::string& creator) {
  CaseAccess a;
  const auto* assigned = fields.if_contains("assigned_to");
  if (assigned && assigned->is_string() && !assigned->get_string().empty())
    a.owner = assigned->get_string();
  else
    a.owner = creator;
  if (const auto* shared = fields.if_contains("shared_with"); shared && shared->is_array())
    for (const auto& u : shared->get_array())
      if (u.is_string()) a.shared.emplace_back(u.get_string());
  return a;
}

Result<std::vector<sync::OpResult>> apply_batch(StoreTx& tx, const std::vector<sync::Op>& ops,
                                                const sync::Schema& schema,
                                                const ApplyOptions& options,
                                                std::vector<sync::EntryScope>* scopes) {
  const std::int64_t now_ms = options.now_ms;
  std::map<std::string, Result<User>> users;  // the writers of this batch
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
      results.push_back(rejected(op, s));
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
    auto scope = tx.load_scope(op.collection, op.record);
    if (!scope) return scope.status();
    if (options.enforce_scopes) {
      auto it = users.find(op.user);
      if (it == users.end()) it = users.emplace(op.user, tx.load_user(op.user)).first;
      const Result<User>& writer = it->second;
      if (!writer && writer.status().code() != Code::not_found) return writer.status();
      Status allowed =
          writer ? check_write(tx, *writer, op, state, *scope)
                 : Status(Code::forbidden, "user '" + op.user + "' is not in the directory");
      if (!allowed) {
        if (allowed.code() == Code::storage || allowed.code() == Code::internal) return allowed;
        results.push_back(rejected(op, allowed));
        continue;
      }
    }
    sync::apply(state, op, spec);
    const boost::json::object fields = sync::materialize(state, spec);
    const std::string creator = *scope ? (*scope)->creator : op.user;
    RecordScope saved{sync::scope_item(op.collection, op.record, fields), creator,
                      !scope->has_value()};
    if (Status s = tx.save_record(op.collection, op.record, state, fields, saved); !s) return s;
    if (op.collection == "cases")
      if (Status s = tx.save_case_access(op.record, access_of(fields, creator)); !s) return s;
    if (scopes) scopes->push_back(saved);
    const bool skewed = op.hlc.wall_ms > now_ms + options.max_ahead_ms;
    auto seq = tx.append_log(op, skewed, now_ms, options.chained);
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
