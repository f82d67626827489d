// fieldsync-admin: devices (enrolment codes, list, revoke) and case assignments and shares.
#include <cmath>
#include <iostream>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "admin/commands.hpp"
#include "admin/open_store.hpp"
#include "admin/output.hpp"

namespace fieldsync::admin {
namespace json = boost::json;

namespace {

const char* action_name(server::CaseAction a) {
  switch (a) {
    case server::CaseAction::assign:
      return "assign";
    case server::CaseAction::share:
      return "share";
    case server::CaseAction::unshare:
      return "unshare";
  }
  return "?";
}

std::string describe(server::CaseAction a, const std::string& case_id, const std::string& user,
                     bool changed) {
  switch (a) {
    case server::CaseAction::assign:
      return changed ? "case " + case_id + " assigned to " + user
                     : "case " + case_id + " is already assigned to " + user;
    case server::CaseAction::share:
      return changed ? "case " + case_id + " shared with " + user
                     : "case " + case_id + " is already shared with " + user;
    case server::CaseAction::unshare:
      return "case " + case_id + " no longer shared with " + user;
  }
  return "";
}

}  // namespace

int device_enroll_code(const Context& ctx, const std::string& user, double ttl_hours) {
  if (!(ttl_hours > 0))
    return fail(Status(Code::invalid_argument, "--ttl must be a positive number of hours"));
  auto dir = open_directory(ctx, /*writes=*/false);
  if (!dir) return fail(dir.status());
  const auto ttl_ms = static_cast<std::int64_t>(std::llround(ttl_hours * server::kHourMs));
  auto code = (*dir)->new_enroll_code(user, ttl_ms, ctx.now_ms());
  if (!code) return fail(code.status());
  if (ctx.json) {
    print_json(std::cout, json::object{{"code", code->code},
                                       {"user", code->user},
                                       {"expires", iso_utc(code->expires_ms)}});
  } else {
    std::cout << "enrolment code for " << code->user << ": " << code->code << "\n"
              << "works once, until " << iso_utc(code->expires_ms) << "\n";
  }
  return 0;
}

int device_list(const Context& ctx) {
  auto dir = open_directory(ctx, /*writes=*/false);
  if (!dir) return fail(dir.status());
  auto devices = (*dir)->list_devices();
  if (!devices) return fail(devices.status());
  if (ctx.json) {
    json::array a;
    for (const auto& d : *devices)
      a.push_back(json::object{{"id", d.id},
                               {"user", d.user},
                               {"state", server::device_state_name(d.state)},
                               {"last_sync", iso_or_null(d.last_sync_ms)},
                               {"enrolled", iso_utc(d.enrolled_ms)}});
    print_json(std::cout, a);
    return 0;
  }
  if (devices->empty()) {
    std::cout << "no devices\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : *devices)
    rows.push_back({d.id, d.user, std::string(server::device_state_name(d.state)),
                    d.last_sync_ms ? iso_utc(*d.last_sync_ms) : "never", iso_utc(d.enrolled_ms)});
  print_table(std::cout, {"DEVICE", "USER", "STATE", "LAST SYNC", "ENROLLED"}, rows);
  return 0;
}

int device_revoke(const Context& ctx, const std::string& id, bool no_upload) {
  auto dir = open_directory(ctx);
  if (!dir) return fail(dir.status());
  if (Status s = (*dir)->revoke_device(id, !no_upload, ctx.now_ms()); !s) return fail(s);
  const auto state =
      no_upload ? server::DeviceState::revoked_no_upload : server::DeviceState::revoked;
  if (ctx.json) {
    print_json(std::cout, json::object{{"id", id}, {"state", server::device_state_name(state)}});
  } else {
    std::cout << "device " << id << " revoked ("
              << (no_upload ? "no uploads" : "may upload what it has not sent")
              << "); it is refused and told to wipe at its next connection\n";
  }
  return 0;
}

int case_change(const Context& ctx, server::CaseAction action, const std::string& case_id,
                const std::string& user, const std::string& actor) {
  auto opened = open_store(ctx);
  if (!opened) return fail(opened.status());
  auto who = acting_user(*opened->directory, actor);
  if (!who) return fail(who.status());
  server::CaseChange change{action, case_id, user, *who};
  // Signed with the server's audit key, like the server's own operations.
  auto r = server::change_case(*opened->store, *opened->directory, change, ctx.now_ms(),
                               sync::default_schema(), opened->audit_key.get());
  if (!r) return fail(r.status());
  if (ctx.json) {
    json::object o{{"case", case_id},
                   {"user", user},
                   {"action", action_name(action)},
                   {"by", *who},
                   {"changed", r->changed}};
    o["op"] = r->changed ? json::value(r->op_id) : json::value(nullptr);
    o["seq"] = r->changed ? json::value(r->seq) : json::value(nullptr);
    print_json(std::cout, o);
  } else {
    std::cout << describe(action, case_id, user, r->changed);
    if (r->changed)
      std::cout << " (by " << *who << ", op " << r->op_id << ", seq " << r->seq << ")";
    std::cout << "\n";
  }
  return 0;
}

}  // namespace fieldsync::admin
