// Which committed entries an open dashboard page is told about (GET /api/events). A page
// hears of a commit when it touched a record its user sees, or when it may change what the
// user sees (a case assigned, shared or moved to another client: sync::may_change_scope). So
// a lead's page stays quiet while other teams sync, and never learns when they do.
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <vector>

#include "fieldsync/sync/scope.hpp"
#include "fieldsync/sync/wire.hpp"

namespace fieldsync::server {

struct LiveVerdict {
  bool notify = false;  // tell the page that something it shows may have changed
  bool reload = false;  // the user's scope may have changed: load it again
};

// `entries` as committed (each with its record's scope), `scope` what `user` sees now.
LiveVerdict judge_live(const sync::Visibility& scope, const std::string& user,
                       const std::vector<sync::LogEntry>& entries);

}  // namespace fieldsync::server
