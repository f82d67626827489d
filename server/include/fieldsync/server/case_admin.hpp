// Assigning and sharing cases on behalf of a user (fieldsync-admin `case assign|share|
// unshare`). Each change is an ordinary operation, made by the server's own device identity
// (Directory::next_server_op) under the acting user's name and signed with the server's key,
// applied with apply_batch in one store transaction and appended to the log with the next sequence
// number, so devices receive it like any other change:
//   assign    cases.assigned_to = USER   (register write based on every current head)
//   share     cases.shared_with += USER  (add-wins set)
//   unshare   cases.shared_with -= USER  (removes the tags it saw)
//
// Who may: an admin, any case; a lead, the cases of their team, where a case's team is the
// team of its assigned user; a lead may assign a case only to a member of their team (an
// unassigned case in the lead's scope, one a team member opened, thus joins the lead's team);
// sharing may cross teams. Workers may not. A case outside a lead's scope is reported as not
// found, with the same message as one that does not exist.
// The target must be a worker or a lead. A change that changes nothing (assigning the current
// assignee, sharing twice) writes no operation.
//
// Errors: Code::not_found (unknown acting or target user, no such case, a case deleted, an
// unshare of a user the case is not shared with), Code::forbidden (the acting user's role or
// team does not allow it), Code::invalid_argument (an admin as target), storage errors.
//
// Thread safety: uses store.begin(), so it must run where the store's StoreTx may be used
// (one thread at a time per SqliteStore; fieldsync-admin opens a store of its own, beside the
// running server's). The Directory may be shared.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/store.hpp"
#include "fieldsync/sync/schema.hpp"

namespace fieldsync::server {

enum class CaseAction { assign, share, unshare };

struct CaseChange {
  CaseAction action = CaseAction::assign;
  std::string case_id;
  std::string user;   // the target
  std::string actor;  // the acting user (recorded as the op's user)
};

struct CaseChangeResult {
  bool changed = false;   // false: nothing to do, no operation written
  std::string op_id;      // set when changed
  std::uint64_t seq = 0;  // the op's server sequence number, when changed
};

// `server_key`: the server's audit key (audit.hpp); the op is then signed over the server
// device's chain like a device's push. Null: unsigned (a store without an audit key).
Result<CaseChangeResult> change_case(ServerStore& store, Directory& directory,
                                     const CaseChange& change, std::int64_t now_ms,
                                     const sync::Schema& schema = sync::default_schema(),
                                     const crypto::SigningKey* server_key = nullptr);

// A server-made operation applied in a transaction the caller owns, which commits it (the
// running server's writer: Writer::submit_work). A refusal is returned as the error; the
// refused op may have left its audit entry in the transaction.
struct ServerOp {
  bool changed = false;   // false: nothing to do, no operation written
  sync::Op op;            // when changed
  sync::OpResult result;  // when changed: accepted, with its sequence number
};

// change_case inside `tx`, under a slot the caller reserved (Directory::next_server_op, which
// must not be called inside a write transaction of the same store: it writes too). `scopes`,
// when given, receives the scope of the accepted op's record (apply_push, for the fan-out).
Result<ServerOp> change_case_in(StoreTx& tx, Directory& directory, const CaseChange& change,
                                const ServerOpSlot& slot, std::int64_t now_ms,
                                const sync::Schema& schema, const crypto::SigningKey* server_key,
                                std::vector<sync::EntryScope>* scopes = nullptr);

// A decision on a conflict of a register field, by a lead or an admin: one put whose write
// names every head of the field in its base, so it closes an open review conflict (and
// settles any other), with `value` one of the competing values or a new one. Made like
// change_case's ops (the server's device, the actor's name, signed) and applied under the
// actor's scope rules. Errors: Code::forbidden (a worker), Code::not_found (unknown user,
// no such record or one outside the actor's scope, with the same message; a field with fewer
// than two heads: nothing to decide), Code::deleted,
// the schema's errors for the collection, the field (a set: Code::wrong_type) and the value,
// Code::out_of_scope, storage errors.
struct Decision {
  std::string collection;
  std::string id;
  std::string field;
  std::string value;
  std::string actor;
  // The op ids of the values the actor was shown, if known: when the field's current values
  // are others (one arrived since), the decision is refused with Code::changed rather than
  // override a value nobody reviewed.
  std::optional<std::vector<std::string>> shown;
};
Result<ServerOp> decide_in(StoreTx& tx, Directory& directory, const Decision& decision,
                           const ServerOpSlot& slot, std::int64_t now_ms,
                           const sync::Schema& schema, const crypto::SigningKey* server_key,
                           std::vector<sync::EntryScope>* scopes = nullptr);

}  // namespace fieldsync::server
