// The scope rules of scope.hpp: what a user sees, and whether an op may be written.
#include "fieldsync/server/scope.hpp"

#include <algorithm>

#include "fieldsync/server/store.hpp"
#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/op.hpp"
#include "fieldsync/sync/schema.hpp"
#include "fieldsync/sync/scope.hpp"

namespace fieldsync::server {

namespace {

Status out_of_scope(const User& writer, const std::string& what) {
  return Status(Code::out_of_scope, what + " is not in the scope of '" + writer.name + "'");
}

// Whether `writer` sees the case; Code::not_found when there is no such case.
Result<bool> sees_case(StoreTx& tx, const User& writer, const std::string& case_id) {
  auto access = tx.load_case_access(case_id);
  if (!access) return access.status();
  if (access->owner.empty()) return Status(Code::not_found, "no case " + case_id);
  if (writer.role == Role::admin || access->owner == writer.name) return true;
  if (std::find(access->shared.begin(), access->shared.end(), writer.name) != access->shared.end())
    return true;
  if (writer.role != Role::lead) return false;
  auto owner = tx.load_user(access->owner);
  if (!owner)
    return owner.status().code() == Code::not_found ? Result<bool>(false) : owner.status();
  return owner->team == writer.team;
}

// Whether `writer` sees the creator-scoped records of `creator` (their own, or a lead's team).
Result<bool> sees_creator(StoreTx& tx, const User& writer, const std::string& creator) {
  if (writer.role == Role::admin || creator == writer.name) return true;
  if (writer.role != Role::lead) return false;
  auto u = tx.load_user(creator);
  if (!u) return u.status().code() == Code::not_found ? Result<bool>(false) : u.status();
  return u->team == writer.team;
}

Result<bool> sees_client(StoreTx& tx, const User& writer, const std::string& client_id) {
  auto scope = tx.load_scope("clients", client_id);
  if (!scope) return scope.status();
  if (!*scope) return Status(Code::not_found, "no client " + client_id);
  auto by_creator = sees_creator(tx, writer, (*scope)->creator);
  if (!by_creator || *by_creator) return by_creator;
  auto cases = tx.cases_of_client(client_id);
  if (!cases) return cases.status();
  for (const auto& c : *cases) {
    auto seen = sees_case(tx, writer, c);
    if (!seen) return seen.status();
    if (*seen) return true;
  }
  return false;
}

// A storage error stays one; not_found and false become `refusal`.
Status verdict(const Result<bool>& seen, Status refusal) {
  if (!seen && seen.status().code() != Code::not_found) return seen.status();
  if (seen && *seen) return Status::ok();
  return refusal;
}

// The stored record must be in the writer's scope.
Status check_existing(StoreTx& tx, const User& writer, const sync::Op& op,
                      const RecordScope& scope) {
  const std::string what = op.collection + " record " + op.record;
  if (sync::is_case_item(scope.item)) {
    const std::string case_id = scope.item.substr(sync::kCaseItemPrefix.size());
    return verdict(
        sees_case(tx, writer, case_id),
        out_of_scope(
            writer, what + (op.collection == "cases" ? std::string() : " (case " + case_id + ")")));
  }
  if (op.collection == "clients")
    return verdict(sees_client(tx, writer, op.record), out_of_scope(writer, what));
  return verdict(sees_creator(tx, writer, scope.creator), out_of_scope(writer, what));
}

// The references the op writes must point into the writer's scope.
Status check_refs(StoreTx& tx, const User& writer, const sync::Op& op) {
  for (const auto& w : op.writes) {
    if (!w.value.is_string() || w.value.get_string().empty()) continue;
    const std::string target(w.value.get_string());
    if (w.field == "case_id") {
      Status s = verdict(sees_case(tx, writer, target), out_of_scope(writer, "case " + target));
      if (!s) return s;
    } else if (w.field == "client_id" && op.collection == "cases") {
      Status s = verdict(sees_client(tx, writer, target), out_of_scope(writer, "client " + target));
      if (!s) return s;
    }
  }
  return Status::ok();
}

// A user a case may go to or be shared with: in the directory, not an admin.
Status check_target(StoreTx& tx, const std::string& name, const std::string& field) {
  auto u = tx.load_user(name);
  if (!u && u.status().code() != Code::not_found) return u.status();
  if (!u) return Status(Code::invalid_argument, field + ": no user '" + name + "'");
  if (u->role == Role::admin)
    return Status(Code::invalid_argument,
                  field + ": '" + name + "' is an admin; cases go to workers and leads");
  return Status::ok();
}

// assigned_to and shared_with: who may hand a case to whom.
Status check_case_fields(StoreTx& tx, const User& writer, const sync::Op& op, bool exists) {
  std::string owner;
  bool team_case = !exists;  // a lead's own new case, or one owned within the lead's team
  if (exists) {
    auto access = tx.load_case_access(op.record);
    if (!access) return access.status();
    owner = access->owner;
    if (writer.role == Role::lead) {
      auto o = tx.load_user(owner);
      if (!o && o.status().code() != Code::not_found) return o.status();
      team_case = owner == writer.name || (o && o->team == writer.team);
    }
  }
  for (const auto& w : op.writes) {
    if (w.field != "assigned_to" && w.field != "shared_with") continue;
    const std::string value = w.value.is_string() ? std::string(w.value.get_string()) : "";
    // Removing a share needs no valid target: a stale name must be removable.
    if (!value.empty() && w.kind != sync::WriteKind::remove)
      if (Status s = check_target(tx, value, op.collection + "." + w.field); !s) return s;
    if (writer.role == Role::admin) continue;
    if (writer.role == Role::lead && !team_case)
      return Status(Code::forbidden, "case " + op.record + " belongs to '" + owner +
                                         "', outside team '" + writer.team +
                                         "': only that team's lead or an admin assigns or "
                                         "shares it");
    if (w.field == "assigned_to") {
      if (writer.role == Role::worker && value != writer.name)
        return Status(Code::forbidden, "case " + op.record + ": '" + writer.name +
                                           "' is a worker; only leads and admins assign cases "
                                           "to others");
      if (writer.role == Role::worker && exists && owner != writer.name)
        return Status(Code::forbidden, "case " + op.record + " belongs to '" + owner +
                                           "'; only a lead or an admin reassigns it");
      if (writer.role == Role::lead && !value.empty()) {
        auto target = tx.load_user(value);
        if (!target) return target.status();
        if (target->team != writer.team)
          return Status(Code::forbidden, "case " + op.record + ": '" + writer.name +
                                             "' leads team '" + writer.team + "' and '" + value +
                                             "' is in team '" + target->team + "'");
      }
    } else if (writer.role == Role::worker && exists && owner != writer.name) {
      return Status(Code::forbidden, "case " + op.record + " belongs to '" + owner +
                                         "'; only its owner, a lead or an admin shares it");
    }
  }
  return Status::ok();
}

// A decision (a write whose base names two or more current heads of a review field) closes
// an open review conflict: leads and admins only.
Status check_decisions(const User& writer, const sync::Op& op, const sync::CollectionSpec& spec,
                       const sync::RecordState& before) {
  if (writer.role != Role::worker || op.kind != sync::OpKind::put) return Status::ok();
  for (const auto& w : op.writes) {
    if (w.kind != sync::WriteKind::set) continue;
    const sync::FieldSpec* f = spec.field(w.field);
    if (!f || f->policy != sync::MergePolicy::register_review) continue;
    auto reg = before.registers.find(w.field);
    if (reg == before.registers.end()) continue;
    const auto heads = sync::heads(reg->second);
    const auto named = std::count_if(heads.begin(), heads.end(), [&](const sync::WriteMeta* h) {
      return std::find(w.base.begin(), w.base.end(), h->op) != w.base.end();
    });
    if (named >= 2)
      return Status(Code::forbidden, "only leads and admins decide conflicts (" + op.collection +
                                         "/" + op.record + " " + w.field + ")");
  }
  return Status::ok();
}

}  // namespace

Result<bool> sees_record(StoreTx& tx, const User& user, const std::string& collection,
                         const std::string& id, const RecordScope& scope) {
  Result<bool> seen = false;
  if (sync::is_case_item(scope.item))
    seen = sees_case(tx, user, scope.item.substr(sync::kCaseItemPrefix.size()));
  else if (collection == "clients")
    seen = sees_client(tx, user, id);
  else
    seen = sees_creator(tx, user, scope.creator);
  if (!seen && seen.status().code() == Code::not_found) return false;
  return seen;
}

Status check_write(StoreTx& tx, const User& writer, const sync::Op& op,
                   const sync::CollectionSpec& spec, const sync::RecordState& before,
                   const std::optional<RecordScope>& scope) {
  const bool exists = scope.has_value() && !before.empty();
  if (exists)
    if (Status s = check_existing(tx, writer, op, *scope); !s) return s;
  if (Status s = check_refs(tx, writer, op); !s) return s;
  if (op.collection == "cases")
    if (Status s = check_case_fields(tx, writer, op, exists); !s) return s;
  return check_decisions(writer, op, spec, before);
}

}  // namespace fieldsync::server
