// Scopes on the server: who may see and write which records (docs/ARCHITECTURE.md, "Scopes").
//
//   - A case belongs to its owner: the user in assigned_to, or its creator while unassigned.
//     Its owner and the users in shared_with see it and write to it (a share gives both).
//   - A lead sees every case owned by a member of the lead's team, and the cases shared with
//     the lead. An admin sees everything.
//   - A record that refers to a case (visits, notes, referrals, tasks) goes with its case.
//   - A client is seen by whoever sees a case that refers to it, and by its creator (for a
//     lead: by the creator's lead too). A record that refers to no case follows its creator.
//   - Creating a new record is allowed; writing to an existing record outside the writer's
//     scope is refused (Code::out_of_scope), and so is pointing a record at a case or a
//     client outside it. Only leads and admins set assigned_to to someone else (a worker
//     may set it to themselves on a new case or one they own); a lead assigns and shares only
//     the team's cases, within the team for assignments; only a case's owner, its team's
//     lead or an admin changes shared_with (Code::forbidden otherwise).
//   - Only leads and admins decide conflicts: a worker's register write to a register_review
//     field (cases.risk, cases.consent) whose base names two or more of the field's current
//     heads would close an open review conflict, and is refused (Code::forbidden). A worker's
//     ordinary edit bases on the winner only and leaves the conflict open.
//
// Thread safety: plain values and pure functions over a StoreTx (writer thread).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fieldsync/server/directory.hpp"
#include "fieldsync/status.hpp"
#include "fieldsync/sync/scope.hpp"

namespace fieldsync::sync {
struct CollectionSpec;
struct Op;
struct RecordState;
}  // namespace fieldsync::sync

namespace fieldsync::server {

class StoreTx;

// Where a stored record belongs, and what a user's devices may see (sync/scope.hpp).
using RecordScope = sync::EntryScope;
using ScopeSet = sync::Visibility;

// Who may see a case besides its team's lead.
struct CaseAccess {
  std::string owner;  // assigned_to, else the creator
  std::vector<std::string> shared;
};

// The user whose scope is asked, as the directory knows them.
struct Viewer {
  std::string user;
  Role role = Role::worker;
  std::string team;
};

// Whether `user` sees the stored record `collection`/`id` whose stored scope is `scope` (the
// rules above; what the user's devices may hold). Storage errors are errors.
Result<bool> sees_record(StoreTx& tx, const User& user, const std::string& collection,
                         const std::string& id, const RecordScope& scope);

// Checks one op of `writer` before it is applied: Status::ok, or Code::out_of_scope /
// Code::forbidden naming the record. `spec` is the op's collection, `before` the record's
// stored state (empty when new) and `scope` its stored scope (nullopt when new).
Status check_write(StoreTx& tx, const User& writer, const sync::Op& op,
                   const sync::CollectionSpec& spec, const sync::RecordState& before,
                   const std::optional<RecordScope>& scope);

}  // namespace fieldsync::server
