// Bringing a store of format 3 into the audit trail (store_schema.cpp, format 4).
#pragma once

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::server::audit {

// Inside the migration's transaction: one op entry per existing log row, in order (not part
// of any device chain: they were accepted before devices signed), and one device entry per
// enrolled device with its public key, then an admin entry saying so.
Status backfill(crypto::Database& db);

}  // namespace fieldsync::server::audit
