// apply_batch and apply_push: exactly-once application of pushed operations over the StoreTx
// primitives, with every op recorded in the audit log.
#include "fieldsync/server/apply.hpp"

#include <map>
#include <utility>

#include <boost/json.hpp>

#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/op.hpp"
#include "fieldsync/sync/op_chain.hpp"
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

// Who an op's audit entries name: the signing device and its user, or the op's own claim.
struct Author {
  std::string user;
  std::string device;
};

// How one op is applied: the batch's context.
struct Context {
  StoreTx& tx;
  const sync::Schema& schema;
  const ApplyOptions& options;
  std::vector<sync::EntryScope>* scopes;
  std::map<std::string, Result<User>> users;  // the writers of this batch
};

// An op that was not applied (refused, or a repeat within a device's chain): its audit entry.
Status record_unapplied(StoreTx& tx, const char* kind, const sync::Op& op, const Author& by,
                        const crypto::Digest& digest, bool chained, const sync::OpResult& r,
                        std::int64_t now_ms) {
  boost::json::object detail;
  detail["digest"] = sync::digest_hex(digest);
  detail["chained"] = chained;
  detail["collection"] = op.collection;  // ids only: what the op named, never its values
  detail["record"] = op.record;
  if (r.status == sync::OpStatus::rejected) {
    detail["code"] = code_name(r.code);
    detail["reason"] = r.reason;
  } else {
    detail["log"] = r.seq;
  }
  auto seq = tx.append_audit(
      audit::Event{kind, now_ms, by.user, by.device, op.id, boost::json::serialize(detail)});
  return seq ? Status::ok() : seq.status();
}

// Applies one op. `claimed`: the digest the device signed (a chained op), else nullptr.
Result<sync::OpResult> apply_one(Context& c, const sync::Op& op, const Author& by,
                                 const crypto::Digest* claimed) {
  StoreTx& tx = c.tx;
  const std::int64_t now_ms = c.options.now_ms;
  const bool chained = claimed != nullptr;
  const crypto::Digest digest = chained ? *claimed : sync::op_digest(op);
  auto refuse = [&](const Status& why) -> Result<sync::OpResult> {
    sync::OpResult r = rejected(op, why);
    if (Status s = record_unapplied(tx, "refused", op, by, digest, chained, r, now_ms); !s)
      return s;
    return r;
  };
  // Exactly once: an op id already in the log is answered with its first sequence number,
  // also when the earlier copy came in this very batch.
  auto seen = tx.find_op(op.id);
  if (!seen) return seen.status();
  if (*seen) {
    sync::OpResult r;
    r.op = op.id;
    r.status = sync::OpStatus::duplicate;
    r.seq = **seen;
    // In a device's chain the repeat still takes a link: record it so the chain has no gap.
    if (chained)
      if (Status s = record_unapplied(tx, "repeat", op, by, digest, true, r, now_ms); !s) return s;
    return r;
  }
  // The session validated already; checking again keeps this function safe on its own.
  if (Status s = sync::validate(op, c.schema); !s) return refuse(s);
  const sync::CollectionSpec& spec = *c.schema.collection(op.collection);
  auto loaded = tx.load_record(op.collection, op.record);
  if (!loaded) return loaded.status();
  sync::RecordState state = loaded->has_value() ? std::move(**loaded) : sync::RecordState{};
  if (spec.append_only && !state.empty())
    return refuse(Status(Code::append_only, op.collection + " records are append-only: record '" +
                                                op.record +
                                                "' already exists and cannot be changed"));
  auto scope = tx.load_scope(op.collection, op.record);
  if (!scope) return scope.status();
  if (c.options.enforce_scopes) {
    auto it = c.users.find(op.user);
    if (it == c.users.end()) it = c.users.emplace(op.user, tx.load_user(op.user)).first;
    const Result<User>& writer = it->second;
    if (!writer && writer.status().code() != Code::not_found) return writer.status();
    Status allowed =
        writer ? check_write(tx, *writer, op, spec, state, *scope)
               : Status(Code::forbidden, "user '" + op.user + "' is not in the directory");
    if (!allowed) {
      if (is_store_failure(allowed.code()) || allowed.code() == Code::internal) return allowed;
      return refuse(allowed);
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
  if (c.scopes) c.scopes->push_back(saved);
  const bool skewed = op.hlc.wall_ms > now_ms + c.options.max_ahead_ms;
  auto seq = tx.append_log(op, skewed, now_ms, chained);
  if (!seq) return seq.status();
  sync::OpResult r;
  r.op = op.id;
  r.status = sync::OpStatus::accepted;
  r.seq = *seq;
  r.skewed = skewed;
  return r;
}

// Whether the server already answered every op of the push (logged it, or recorded its
// refusal); `refused_at[pos]` is the session's refusal at that position, if any.
Result<bool> all_known(StoreTx& tx, const sync::SubmittedPush& push,
                       const std::vector<const sync::RefusedOp*>& refused_at,
                       const std::string& device) {
  std::size_t next = 0;
  for (const sync::RefusedOp* refused : refused_at) {
    const sync::Op& op = refused ? refused->op : push.ops[next++];
    auto seen = tx.find_op(op.id);
    if (!seen) return seen.status();
    if (*seen) continue;
    auto refusal = tx.find_refusal(op.id, device);
    if (!refusal) return refusal.status();
    if (!*refusal) return false;
  }
  return true;
}

// One refused entry for a whole push that cannot be attributed to the device's chain.
Result<std::vector<sync::OpResult>> refuse_push(StoreTx& tx, const sync::SubmittedPush& push,
                                                const Status& why, std::int64_t now_ms) {
  const sync::SignedChain& chain = *push.chain;
  boost::json::object detail;
  detail["code"] = code_name(why.code());
  detail["reason"] = why.message();
  detail["ops"] = push.ops.size() + push.refused.size();
  auto seq = tx.append_audit(audit::Event{"refused", now_ms, chain.user, chain.device, "push",
                                          boost::json::serialize(detail)});
  if (!seq) return seq.status();
  std::vector<sync::OpResult> out;
  out.reserve(push.ops.size());
  for (const auto& op : push.ops) out.push_back(rejected(op, why));
  return out;
}

// An op already in the device's chain, sent again: its first answer.
Result<sync::OpResult> answer_again(StoreTx& tx, const sync::Op& op, const std::string& device) {
  auto seen = tx.find_op(op.id);
  if (!seen) return seen.status();
  if (*seen) return sync::OpResult{op.id, sync::OpStatus::duplicate, **seen, false, Code::ok, {}};
  auto refusal = tx.find_refusal(op.id, device);
  if (!refusal) return refusal.status();
  if (*refusal) return **refusal;
  return rejected(op, Status(Code::chain_broken,
                             "operation " + op.id + " is in the device's chain but not stored"));
}

}  // namespace

Result<std::vector<sync::OpResult>> apply_batch(StoreTx& tx, const std::vector<sync::Op>& ops,
                                                const sync::Schema& schema,
                                                const ApplyOptions& options,
                                                std::vector<sync::EntryScope>* scopes) {
  Context c{tx, schema, options, scopes, {}};
  std::vector<sync::OpResult> results;
  results.reserve(ops.size());
  for (const sync::Op& op : ops) {
    auto r = apply_one(c, op, Author{op.user, op.device}, nullptr);
    if (!r) return r.status();
    results.push_back(std::move(*r));
  }
  return results;
}

Result<std::vector<sync::OpResult>> apply_push(StoreTx& tx, const sync::SubmittedPush& push,
                                               const sync::Schema& schema,
                                               const ApplyOptions& options,
                                               std::vector<sync::EntryScope>* scopes) {
  const std::int64_t now_ms = options.now_ms;
  const std::size_t total = push.ops.size() + push.refused.size();
  // The push's ops in order: at each position an op to apply or one the session refused.
  std::vector<const sync::RefusedOp*> refused_at(total, nullptr);
  for (const auto& r : push.refused)
    if (r.position < total) refused_at[r.position] = &r;

  Context c{tx, schema, options, scopes, {}};
  std::vector<sync::OpResult> results;
  results.reserve(push.ops.size());
  if (!push.chain) {
    std::size_t next = 0;
    for (std::size_t pos = 0; pos < total; ++pos) {
      if (const sync::RefusedOp* r = refused_at[pos]) {
        if (Status s = record_unapplied(tx, "refused", r->op, Author{r->op.user, r->op.device},
                                        sync::op_digest(r->op), false, r->result, now_ms);
            !s)
          return s;
        continue;
      }
      const sync::Op& op = push.ops[next++];
      auto res = apply_one(c, op, Author{op.user, op.device}, nullptr);
      if (!res) return res.status();
      results.push_back(std::move(*res));
    }
    return results;
  }

  const sync::SignedChain& chain = *push.chain;
  if (!chain.verified || chain.digests.size() != total)
    return refuse_push(tx, push,
                       Status(Code::bad_signature,
                              "the push's signature does not verify with "
                              "device " +
                                  chain.device + "'s key"),
                       now_ms);
  std::vector<crypto::Digest> links;  // links[i]: the link after op i
  links.reserve(total);
  crypto::Digest link = chain.prev;
  for (const auto& d : chain.digests) links.push_back(link = sync::chain_next(link, d));

  // The device's first signed push starts its chain as the server knows it, wherever the
  // device's own chain stands (it may have pushed unsigned to a server without device
  // authentication before); every later push must continue from the link the server holds.
  // A device revoked without uploads while its session was open: nothing more of it.
  auto state = tx.device_state(chain.device);
  if (!state) return state.status();
  if (*state && (**state == "revoked_no_upload" || **state == "wiped"))
    return refuse_push(
        tx, push,
        Status(Code::revoked, "device " + chain.device + " was revoked: its uploads are refused"),
        now_ms);
  auto held = tx.load_chain(chain.device);
  if (!held) return held.status();
  std::optional<std::size_t> first_new;
  if (*held && chain.prev == (*held)->link) {
    first_new = 0;
  } else if (!*held) {
    // Mid-chain only after unsigned pushes of the device to this store: otherwise the start
    // of its chain would be missing unnoticed.
    bool starts = chain.prev == sync::chain_genesis(chain.device);
    if (!starts) {
      auto earlier = tx.has_ops_of(chain.device);
      if (!earlier) return earlier.status();
      starts = *earlier;
    }
    if (starts) first_new = 0;
  } else {
    for (std::size_t i = 0; i < total; ++i)
      if (links[i] == (*held)->link) first_new = i + 1;
    // A resend wholly behind the link the server holds: the device's push batch got smaller
    // after an answer was lost (sync_client.cpp), so this push ends before the earlier one
    // did. When the server holds every op of it, each gets its first answer again.
    if (!first_new) {
      auto known = all_known(tx, push, refused_at, chain.device);
      if (!known) return known.status();
      if (*known) first_new = total;
    }
  }
  if (!first_new)
    return refuse_push(
        tx, push,
        Status(Code::chain_broken,
               "this push does not continue device " + chain.device + "'s chain of operations" +
                   (*held ? " (the server holds it through " + (*held)->last_op + ")"
                          : std::string(" (it does not start at the chain's beginning)"))),
        now_ms);
  // The link the new ops continue from: recorded with the batch, so verify can recompute.
  const crypto::Digest from = *first_new == 0 ? chain.prev : links[*first_new - 1];

  const Author by{chain.user, chain.device};
  std::size_t next = 0;
  std::string last_op;
  for (std::size_t pos = 0; pos < total; ++pos) {
    const sync::RefusedOp* refused = refused_at[pos];
    const sync::Op& op = refused ? refused->op : push.ops[next];
    last_op = op.id;
    if (pos < *first_new) {
      if (refused) continue;  // its answer is the session's
      auto res = answer_again(tx, op, chain.device);
      if (!res) return res.status();
      results.push_back(std::move(*res));
      ++next;
      continue;
    }
    if (refused) {
      if (Status s = record_unapplied(tx, "refused", op, by, chain.digests[pos], true,
                                      refused->result, now_ms);
          !s)
        return s;
      continue;
    }
    auto res = apply_one(c, op, by, &chain.digests[pos]);
    if (!res) return res.status();
    results.push_back(std::move(*res));
    ++next;
  }
  if (*first_new < total) {
    boost::json::object detail;
    detail["last"] = last_op;
    detail["from"] = sync::digest_hex(from);
    detail["head"] = sync::digest_hex(links.back());
    detail["sig"] = chain.signature;
    auto seq = tx.append_audit(audit::Event{"batch", now_ms, chain.user, chain.device, last_op,
                                            boost::json::serialize(detail)});
    if (!seq) return seq.status();
    if (Status s = tx.save_chain(chain.device, ChainHead{last_op, links.back()}); !s) return s;
  }
  return results;
}

}  // namespace fieldsync::server
