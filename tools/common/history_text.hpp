// A record's history (sync/history.hpp) as text, the same for fieldsync-admin's `audit
// history` and the device's `fieldsync history`: one block per operation (server and device
// time, user, device, op), its visible changes, the writes that lost to concurrent ones, the
// conflicts it joined, then every conflict of the record with how it was resolved.
//
// This prints record content: callers show it only to someone allowed to read the record.
#pragma once

#include <ostream>

#include "fieldsync/sync/history.hpp"
#include "fieldsync/sync/schema.hpp"

namespace fieldsync::tools {

void print_history(std::ostream& out, const sync::RecordHistory& history,
                   const sync::CollectionSpec& spec);

}  // namespace fieldsync::tools
