// Applying a batch of pushed operations inside one store transaction: exactly once by op id,
// merged with sync::apply, appended to the log. Pure over the StoreTx primitives.
#pragma once

#include <cstdint>
#include <vector>

#include "fieldsync/server/store.hpp"
#include "fieldsync/sync/schema.hpp"

namespace fieldsync::server {

struct ApplyOptions {
  std::int64_t now_ms = 0;
  std::int64_t max_ahead_ms = sync::kDefaultMaxAheadMs;  // beyond it an op is flagged skewed
  // Check every op against its user's scope (scope.hpp): off for ops the server made itself
  // after its own checks, and on a server that does not authenticate devices.
  bool enforce_scopes = false;
  // The ops are covered by their device's verified chain (recorded in their audit entries).
  bool chained = false;
};

// Results in the order of `ops`. An op refused by the merge rules (an edit of an existing
// append-only record) or by the scope rules is rejected without affecting the others. Every
// saved record gets its scope (and a case its access list). A storage error aborts the whole
// batch (the caller rolls back and reports it; nothing is acknowledged).
// `scopes`, when given, receives the saved scope of each accepted op's record, in the order
// of the accepted results (for the live fan-out).
Result<std::vector<sync::OpResult>> apply_batch(StoreTx& tx, const std::vector<sync::Op>& ops,
                                                const sync::Schema& schema,
                                                const ApplyOptions& options,
                                                std::vector<sync::EntryScope>* scopes = nullptr);

}  // namespace fieldsync::server
