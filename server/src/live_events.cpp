// Which committed entries a dashboard page hears of (live_events.hpp).
#include "live_events.hpp"

namespace fieldsync::server {

LiveVerdict judge_live(const sync::Visibility& scope, const std::string& user,
                       const std::vector<sync::LogEntry>& entries) {
  LiveVerdict v;
  for (const auto& e : entries) {
    // An admin's scope is everything, whatever is assigned.
    if (!scope.all && sync::may_change_scope(scope, user, e.op, e.scope)) v.reload = true;
    if (scope.sees(e.scope)) v.notify = true;
    if (v.notify && v.reload) break;
  }
  // A change of scope is news to the page: a case came in or went out of its caseload.
  v.notify = v.notify || v.reload;
  return v;
}

}  // namespace fieldsync::server
