// Applying a batch of pushed operations inside one store transaction: exactly once by op id,
// merged with sync::apply, appended to the log. Pure over the StoreTx primitives.
#pragma once

#include <cstdint>
#include <vector>

#include "fieldsync/server/store.hpp"
#include "fieldsync/sync/schema.hpp"

namespace fieldsync::server {

// Results in the order of `ops`. An op refused by the merge rules (an edit of an existing
// append-only record) is rejected without affecting the others. A storage error aborts the
// whole batch (the caller rolls back and reports it; nothing is acknowledged).
Result<std::vector<sync::OpResult>> apply_batch(StoreTx& tx, const std::vector<sync::Op>& ops,
                                                const sync::Schema& schema, std::int64_t now_ms,
                                                std::int64_t max_ahead_ms);

}  // namespace fieldsync::server
