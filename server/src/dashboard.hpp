// The dashboard's reads (internal): the JSON of its pages, computed for one viewer from the
// store and the directory, within the viewer's scope (scope.hpp). Shapes: docs/DASHBOARD.md.
//
// Thread safety: the store's and the directory's reads may run on any thread, so these may
// too; they block on SQLite and belong on a worker thread, not a network one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/scope.hpp"
#include "fieldsync/server/store.hpp"
#include "fieldsync/sync/schema.hpp"

namespace fieldsync::server::dashboard {

// A device that has not synced for longer than this is shown as stale.
inline constexpr int kStaleAfterDays = 3;
inline constexpr int kWeeksShown = 12;

struct Sources {
  ServerStore& store;
  Directory& directory;
  const sync::Schema& schema;
};

// The caseload table, the workers and statuses to filter by, visits per week, the devices.
Result<boost::json::object> caseload(Sources& src, const Viewer& viewer, std::int64_t now_ms);
// One case with its client, visits, notes, referrals, tasks, conflicts and history; nullopt
// when there is no such case or the viewer may not see it (the same answer for both).
Result<std::optional<boost::json::object>> case_page(Sources& src, const Viewer& viewer,
                                                     const std::string& case_id);
// The open conflicts the viewer sees, each with its case and client.
Result<boost::json::object> open_conflicts(Sources& src, const Viewer& viewer);

// Whether the viewer's role may decide conflicts and assign cases (leads and admins).
bool may_decide(const Viewer& viewer);

// "YYYY-MM-DD" of a Unix millisecond time, in UTC.
std::string utc_date(std::int64_t ms);
// A date "YYYY-MM-DD" or time "YYYY-MM-DDTHH:MM[:SS][Z]" (taken as UTC) in Unix ms.
std::optional<std::int64_t> parse_utc(std::string_view text);

}  // namespace fieldsync::server::dashboard
