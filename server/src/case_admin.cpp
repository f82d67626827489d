// change_case: assignments and shares as operations made by the server (contract in
// case_admin.hpp).
#include "fieldsync/server/case_admin.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "fieldsync/server/apply.hpp"
#include "fieldsync/sync/ids.hpp"
#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/op.hpp"
#include "fieldsync/sync/op_chain.hpp"

namespace fieldsync::server {
namespace {

constexpr const char* kCases = "cases";
constexpr const char* kAssignedTo = "assigned_to";
constexpr const char* kSharedWith = "shared_with";

// The case's current assignee ("" when unassigned).
std::string assignee_of(const sync::RecordState& state, const sync::CollectionSpec& spec) {
  boost::json::object fields = sync::materialize(state, spec);
  const auto* v = fields.if_contains(kAssignedTo);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// The team of the case (its assignee's), "" when unassigned or assigned to an unknown user.
Result<std::string> case_team(Directory& directory, const std::string& assignee) {
  if (assignee.empty()) return std::string();
  auto u = directory.user(assignee);
  if (u) return u->team;
  if (u.status().code() == Code::not_found) return std::string();
  return u.status();
}

// A lead's assignment to someone outside the team: the same answer whether that user exists,
// is an admin or belongs to another team (nothing about other teams' members is told).
Status outside_team(const User& lead, const std::string& target) {
  return Status(Code::forbidden, "a lead assigns cases within the team only: '" + target +
                                     "' is not a member of team '" + lead.team + "'");
}

// Whether `actor` may make `change` on a case whose team is `team`.
Status check_allowed(const User& actor, const User& target, const CaseChange& change,
                     const std::string& team) {
  if (actor.role == Role::admin) return Status::ok();
  const std::string who = "'" + actor.name + "' leads team '" + actor.team + "'";
  if (change.action == CaseAction::assign) {
    if (!team.empty() && team != actor.team)
      return Status(Code::forbidden,
                    "case " + change.case_id + " belongs to team '" + team + "' and " + who);
    if (target.team != actor.team) return outside_team(actor, target.name);
    return Status::ok();
  }
  if (team != actor.team)
    return Status(Code::forbidden, "case " + change.case_id +
                                       (team.empty() ? std::string(" is not assigned to a team")
                                                     : " belongs to team '" + team + "'") +
                                       " and " + who);
  return Status::ok();
}

// The write `change` needs on `state`; nullopt when it would change nothing.
Result<std::optional<sync::FieldWrite>> build_write(const CaseChange& change,
                                                    const sync::RecordState& state,
                                                    const std::string& assignee) {
  sync::FieldWrite w;
  w.value = boost::json::value(change.user);
  if (change.action == CaseAction::assign) {
    w.field = kAssignedTo;
    w.kind = sync::WriteKind::set;
    auto it = state.registers.find(kAssignedTo);
    if (it != state.registers.end()) {
      const auto heads = sync::heads(it->second);
      if (assignee == change.user && heads.size() == 1) return std::optional<sync::FieldWrite>();
      for (const sync::WriteMeta* h : heads) w.base.push_back(h->op);  // settles a conflict
    }
    return std::optional<sync::FieldWrite>(std::move(w));
  }
  w.field = kSharedWith;
  std::vector<std::string> tags;
  if (auto it = state.sets.find(kSharedWith); it != state.sets.end())
    tags = sync::live_tags(it->second, change.user);
  if (change.action == CaseAction::share) {
    if (!tags.empty()) return std::optional<sync::FieldWrite>();
    w.kind = sync::WriteKind::add;
    return std::optional<sync::FieldWrite>(std::move(w));
  }
  if (tags.empty())
    return Status(Code::not_found,
                  "case " + change.case_id + " is not shared with '" + change.user + "'");
  w.kind = sync::WriteKind::remove;
  w.base = std::move(tags);
  return std::optional<sync::FieldWrite>(std::move(w));
}

// The op's clock: after the server's previous ops and after every write on the record it
// builds on (within the HLC bound).
sync::Hlc op_clock(const ServerOpSlot& slot, const sync::RecordState& state, std::int64_t now_ms) {
  sync::HlcClock clock(slot.hlc);
  for (const auto& [_, reg] : state.registers)
    for (const sync::WriteMeta& w : reg.writes) (void)clock.observe(w.hlc, now_ms);
  return clock.now(now_ms);
}

// The op as a push of the server's own device: signed with the server's key over the
// server device's chain of operations, in the acting user's name (unsigned without a key).
Result<sync::SubmittedPush> sign_as_server(StoreTx& tx, const sync::Op& op,
                                           const std::string& actor,
                                           const crypto::SigningKey* key) {
  sync::SubmittedPush push;
  push.ops = {op};
  if (!key) return push;
  auto held = tx.load_chain(op.device);
  if (!held) return held.status();
  sync::SignedChain c;
  c.device = op.device;
  c.user = actor;
  c.prev = *held ? (*held)->link : sync::chain_genesis(op.device);
  c.digests = {sync::op_digest(op)};
  const std::string m =
      sync::push_message(op.device, op.id, sync::chain_next(c.prev, c.digests.front()));
  c.signature =
      crypto::to_hex(key->sign({reinterpret_cast<const std::uint8_t*>(m.data()), m.size()}));
  c.verified = true;
  push.chain = std::move(c);
  return push;
}

// Code::not_found with `missing` unless `actor` sees the stored record.
Status check_visible(StoreTx& tx, const User& actor, const std::string& collection,
                     const std::string& id, const std::string& missing) {
  auto scope = tx.load_scope(collection, id);
  if (!scope) return scope.status();
  if (!*scope) return Status(Code::not_found, missing);
  auto seen = sees_record(tx, actor, collection, id, **scope);
  if (!seen) return seen.status();
  return *seen ? Status::ok() : Status(Code::not_found, missing);
}

// Signs `op` as the server's device in `actor`'s name and applies it in `tx`; a refusal
// becomes the error.
Result<ServerOp> apply_server_op(StoreTx& tx, sync::Op op, const std::string& actor,
                                 std::int64_t now_ms, const sync::Schema& schema,
                                 const crypto::SigningKey* server_key, bool enforce_scopes,
                                 std::vector<sync::EntryScope>* scopes) {
  if (Status s = sync::validate(op, schema); !s) return s;
  auto push = sign_as_server(tx, op, actor, server_key);
  if (!push) return push.status();
  auto results = apply_push(tx, *push, schema,
                            ApplyOptions{now_ms, sync::kDefaultMaxAheadMs, enforce_scopes}, scopes);
  if (!results) return results.status();
  const sync::OpResult& r = results->front();
  if (r.status != sync::OpStatus::accepted) return Status(r.code, r.reason);
  return ServerOp{true, std::move(op), r};
}

// Loads the case, checks the change and applies its op in `tx`.
Result<ServerOp> apply_change(StoreTx& tx, Directory& directory, const CaseChange& change,
                              const User& actor, const User& target, const ServerOpSlot& slot,
                              std::int64_t now_ms, const sync::Schema& schema,
                              const crypto::SigningKey* server_key,
                              std::vector<sync::EntryScope>* scopes) {
  const sync::CollectionSpec& spec = *schema.collection(kCases);
  // A case outside a lead's scope is "not found", like one that does not exist.
  const std::string missing =
      "no case " + change.case_id + (actor.role == Role::admin ? "" : " in your scope");
  auto loaded = tx.load_record(kCases, change.case_id);
  if (!loaded) return loaded.status();
  if (!*loaded || (*loaded)->empty()) return Status(Code::not_found, missing);
  if (Status s = check_visible(tx, actor, kCases, change.case_id, missing); !s) return s;
  const sync::RecordState& state = **loaded;
  if (state.deleted()) return Status(Code::not_found, "case " + change.case_id + " is deleted");
  const std::string assignee = assignee_of(state, spec);
  auto team = case_team(directory, assignee);
  if (!team) return team.status();
  if (Status s = check_allowed(actor, target, change, *team); !s) return s;
  auto write = build_write(change, state, assignee);
  if (!write) return write.status();
  if (!*write) return ServerOp{};

  sync::Op op;
  op.id = sync::make_op_id(slot.device, slot.counter);
  op.device = slot.device;
  op.user = actor.name;
  op.hlc = op_clock(slot, state, now_ms);
  op.collection = kCases;
  op.record = change.case_id;
  op.kind = sync::OpKind::put;
  op.writes.push_back(std::move(**write));
  // The checks above are the assignment rules; the scope rules would refuse a lead's
  // assignment of an unassigned case.
  return apply_server_op(tx, std::move(op), actor.name, now_ms, schema, server_key, false, scopes);
}

// The acting user and the target of `change`, checked (both exist, the actor leads or
// administers, the target is not an admin).
Result<std::pair<User, User>> change_users(Directory& directory, const CaseChange& change,
                                           const sync::Schema& schema) {
  const sync::CollectionSpec* spec = schema.collection(kCases);
  if (!spec || !spec->field(kAssignedTo) || !spec->field(kSharedWith))
    return Status(Code::invalid_argument,
                  "the schema has no cases.assigned_to and cases.shared_with");
  if (!sync::is_valid_record_id(change.case_id))
    return Status(Code::invalid_id,
                  "case id '" + change.case_id + "' must be 1-64 characters of A-Za-z0-9._-");
  auto actor = directory.user(change.actor);
  if (!actor) return actor.status();
  if (actor->role == Role::worker)
    return Status(Code::forbidden, "'" + actor->name +
                                       "' is a worker: only leads and admins assign and share "
                                       "cases");
  auto target = directory.user(change.user);
  const bool lead_assigns = actor->role == Role::lead && change.action == CaseAction::assign;
  if (lead_assigns && ((!target && target.status().code() == Code::not_found) ||
                       (target && target->team != actor->team)))
    return outside_team(*actor, change.user);
  if (!target) return target.status();
  if (target->role == Role::admin)
    return Status(Code::invalid_argument,
                  "'" + target->name + "' is an admin: cases go to workers and leads");
  return std::pair<User, User>(std::move(*actor), std::move(*target));
}

}  // namespace

Result<ServerOp> change_case_in(StoreTx& tx, Directory& directory, const CaseChange& change,
                                const ServerOpSlot& slot, std::int64_t now_ms,
                                const sync::Schema& schema, const crypto::SigningKey* server_key,
                                std::vector<sync::EntryScope>* scopes) {
  auto users = change_users(directory, change, schema);
  if (!users) return users.status();
  return apply_change(tx, directory, change, users->first, users->second, slot, now_ms, schema,
                      server_key, scopes);
}

Result<ServerOp> decide_in(StoreTx& tx, Directory& directory, const Decision& decision,
                           const ServerOpSlot& slot, std::int64_t now_ms,
                           const sync::Schema& schema, const crypto::SigningKey* server_key,
                           std::vector<sync::EntryScope>* scopes) {
  auto actor = directory.user(decision.actor);
  if (!actor) return actor.status();
  const std::string where = decision.collection + "/" + decision.id;
  if (actor->role == Role::worker)
    return Status(Code::forbidden,
                  "only leads and admins decide conflicts ('" + actor->name + "' is a worker)");
  const sync::CollectionSpec* spec = schema.collection(decision.collection);
  if (!spec) return Status(Code::unknown_collection, "no collection '" + decision.collection + "'");
  const sync::FieldSpec* field = spec->field(decision.field);
  if (!field)
    return Status(Code::unknown_field,
                  decision.collection + " has no field '" + decision.field + "'");
  if (field->type == sync::FieldType::set)
    return Status(Code::wrong_type,
                  decision.collection + "." + decision.field + " is a set: sets do not conflict");
  if (!sync::is_valid_record_id(decision.id))
    return Status(Code::invalid_id,
                  "record id '" + decision.id + "' must be 1-64 characters of A-Za-z0-9._-");
  boost::json::value value(decision.value);
  if (Status s = schema.check_value(*spec, *field, value); !s) return s;
  // A record outside the actor's scope is "not found", like one that does not exist.
  const std::string missing =
      "no record " + where + (actor->role == Role::admin ? "" : " in your scope");
  auto loaded = tx.load_record(decision.collection, decision.id);
  if (!loaded) return loaded.status();
  if (!*loaded || (*loaded)->empty()) return Status(Code::not_found, missing);
  if (Status s = check_visible(tx, *actor, decision.collection, decision.id, missing); !s) return s;
  const sync::RecordState& state = **loaded;
  if (state.deleted()) return Status(Code::deleted, where + " is deleted");
  std::vector<std::string> base;
  if (auto it = state.registers.find(decision.field); it != state.registers.end())
    for (const sync::WriteMeta* h : sync::heads(it->second)) base.push_back(h->op);
  if (base.size() < 2)
    return Status(Code::not_found, "no conflict on " + where + " " + decision.field +
                                       " to decide (it has one value)");
  if (decision.shown) {
    std::vector<std::string> shown = *decision.shown;
    std::sort(shown.begin(), shown.end());
    shown.erase(std::unique(shown.begin(), shown.end()), shown.end());
    std::vector<std::string> now = base;
    std::sort(now.begin(), now.end());
    if (shown != now)
      return Status(Code::changed, "the conflict on " + where + " " + decision.field +
                                       " changed since it was shown (another value arrived): "
                                       "reload");
  }

  sync::Op op;
  op.id = sync::make_op_id(slot.device, slot.counter);
  op.device = slot.device;
  op.user = actor->name;
  op.hlc = op_clock(slot, state, now_ms);
  op.collection = decision.collection;
  op.record = decision.id;
  op.kind = sync::OpKind::put;
  sync::FieldWrite w;
  w.field = decision.field;
  w.kind = sync::WriteKind::set;
  w.value = std::move(value);
  w.base = std::move(base);
  op.writes.push_back(std::move(w));
  // A decision is a write like a device's: the scope rules say whether the actor may.
  return apply_server_op(tx, std::move(op), actor->name, now_ms, schema, server_key, true, scopes);
}

Result<CaseChangeResult> change_case(ServerStore& store, Directory& directory,
                                     const CaseChange& change, std::int64_t now_ms,
                                     const sync::Schema& schema,
                                     const crypto::SigningKey* server_key) {
  auto users = change_users(directory, change, schema);
  if (!users) return users.status();
  auto slot = directory.next_server_op(now_ms);
  if (!slot) return slot.status();
  auto tx = store.begin();
  if (!tx) return tx.status();
  // Destroying the transaction without commit() rolls back whatever apply_change refused.
  auto done = apply_change(**tx, directory, change, users->first, users->second, *slot, now_ms,
                           schema, server_key, nullptr);
  if (!done) return done.status();
  if (!done->changed) return CaseChangeResult{};
  if (Status s = (*tx)->commit(); !s) return s;
  return CaseChangeResult{true, done->op.id, done->result.seq};
}

}  // namespace fieldsync::server
