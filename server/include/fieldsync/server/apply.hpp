// Applying a batch of pushed operations inside one store transaction: exactly once by op id,
// merged with sync::apply, appended to the log. Pure over the StoreTx primitives.
#pragma once

#include <cstdint>
#include <vector>

#include "fieldsync/server/store.hpp"
#include "fieldsync/sync/schema.hpp"
#include "fieldsync/sync/server_session.hpp"

namespace fieldsync::server {

struct ApplyOptions {
  std::int64_t now_ms = 0;
  std::int64_t max_ahead_ms = sync::kDefaultMaxAheadMs;  // beyond it an op is flagged skewed
  // Check every op against its user's scope (scope.hpp): off for ops the server made itself
  // after its own checks, and on a server that does not authenticate devices.
  bool enforce_scopes = false;
};

// Results in the order of `ops`. An op refused by the merge rules (an edit of an existing
// append-only record) or by the scope rules is rejected without affecting the others. Every
// saved record gets its scope (and a case its access list). A storage error aborts the whole
// batch (the caller rolls back and reports it; nothing is acknowledged).
// `scopes`, when given, receives the saved scope of each accepted op's record, in the order
// of the accepted results (for the live fan-out).
// Every op the batch refuses is recorded in the audit log (kind refused: its digest, code and
// reason).
Result<std::vector<sync::OpResult>> apply_batch(StoreTx& tx, const std::vector<sync::Op>& ops,
                                                const sync::Schema& schema,
                                                const ApplyOptions& options,
                                                std::vector<sync::EntryScope>* scopes = nullptr);

// A push as the session submitted it (server_session.hpp): results for push.ops, in order.
// Every op of the push is recorded in the audit log in the push's order: accepted ones as op
// entries, the session's and the merge's refusals as refused entries. A signed push must
// continue the chain the store holds for its device (StoreTx::load_chain; a device's first
// push starts at its genesis): ops already in the chain are answered as before (duplicate,
// or their earlier refusal), the new ones are applied, and a batch entry with the device's
// signature follows them. A push whose signature did not verify, or that does not continue
// the chain (Code::chain_broken), is refused whole and recorded as one refused entry.
Result<std::vector<sync::OpResult>> apply_push(StoreTx& tx, const sync::SubmittedPush& push,
                                               const sync::Schema& schema,
                                               const ApplyOptions& options,
                                               std::vector<sync::EntryScope>* scopes = nullptr);

}  // namespace fieldsync::server
