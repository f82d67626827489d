// A record's operation log, read from the server's store for the audit trail
// (`fieldsync-admin audit history`; sync/history.hpp turns it into a field-by-field history).
//
// Ownership: the entries are plain values owned by the caller. Thread safety: read_history()
// opens its own read-only connection, used and closed within the call; it may be called from
// any thread, beside a running server.
#pragma once

#include <string>
#include <vector>

#include "fieldsync/server/store_file.hpp"
#include "fieldsync/status.hpp"
#include "fieldsync/sync/history.hpp"

namespace fieldsync::crypto {
class Database;
}

namespace fieldsync::server {

// Every log entry of record `id` of `collection`, in server sequence order; empty when the
// log holds none (an unknown collection or record is not an error here). Errors: those of
// StoreFile::connect, Code::storage (naming the store) for a query that fails or a row whose
// operation cannot be read.
Result<std::vector<sync::HistoryEntry>> read_history(const StoreFile& file,
                                                     const std::string& collection,
                                                     const std::string& id);
// The same on a connection the caller owns, at most `limit` entries (the oldest).
Result<std::vector<sync::HistoryEntry>> read_history(crypto::Database& db,
                                                     const std::string& collection,
                                                     const std::string& id, std::size_t limit);

}  // namespace fieldsync::server
