// The SQL behind ServerStore::scope_of, read_items and list_records for the embedded store
// (internal).
//
// Thread safety: each call uses the one connection it is given.
#pragma once

#include <string>
#include <vector>

#include "fieldsync/server/scope.hpp"
#include "fieldsync/server/store.hpp"
#include "fieldsync/sync/wire.hpp"

namespace fieldsync::crypto {
class Database;
}

namespace fieldsync::server::store_scope {

Result<ScopeSet> scope_of(crypto::Database& db, const Viewer& viewer);
Result<std::vector<std::vector<sync::SnapshotRecord>>> read_items(
    crypto::Database& db, const std::vector<std::string>& items);
// ServerStore::list_records.
Result<std::vector<RecordRow>> list_records(crypto::Database& db, const std::string& collection,
                                            const ScopeSet* scope, bool with_state);

}  // namespace fieldsync::server::store_scope
