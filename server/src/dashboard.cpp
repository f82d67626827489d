// The dashboard's reads (contract in dashboard.hpp).
#include "dashboard.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "fieldsync/sync/history.hpp"
#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/scope.hpp"

namespace fieldsync::server::dashboard {
namespace json = boost::json;
namespace {

constexpr std::int64_t kDayMs = 86'400'000;

// Days since 1970-01-01 of a civil date, and back (proleptic Gregorian calendar).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::string civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
  char out[32];
  std::snprintf(out, sizeof out, "%04lld-%02u-%02u", static_cast<long long>(y), m % 100, d % 100);
  return out;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - (a % b < 0 ? 1 : 0); }

// The Monday that starts the week of day `d` (days since 1970-01-01, a Thursday).
std::int64_t week_start(std::int64_t d) { return d - ((d % 7 + 7 + 3) % 7); }

std::optional<std::string> text_field(const json::object& fields, std::string_view name) {
  const json::value* v = fields.if_contains(name);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

json::value or_null(const std::optional<std::string>& s) {
  return s ? json::value(*s) : json::value(nullptr);
}

bool has_review_field(const sync::CollectionSpec& spec) {
  return std::any_of(spec.fields.begin(), spec.fields.end(), [](const sync::FieldSpec& f) {
    return f.policy == sync::MergePolicy::register_review;
  });
}

// The conflict as JSON, each competing value with its device time in ms.
json::object conflict_json(const sync::Conflict& c) {
  json::object o = sync::to_json(c).as_object();
  json::array& values = o["values"].as_array();
  for (std::size_t i = 0; i < values.size() && i < c.competitors.size(); ++i)
    values[i].as_object()["at_ms"] = c.competitors[i].hlc.wall_ms;
  return o;
}

// The case a record belongs to: the record itself for a case, else its case_id.
std::optional<std::string> case_of(const RecordRow& r) {
  if (r.collection == "cases") return r.id;
  return text_field(r.fields, "case_id");
}

// The users whose cases the viewer may see in the filter (a lead: the team; an admin: every
// worker and lead; a worker: themself).
Result<std::vector<std::string>> team_users(Directory& directory, const Viewer& viewer) {
  std::vector<std::string> out;
  if (viewer.role == Role::worker) return std::vector<std::string>{viewer.user};
  auto users = directory.list_users();
  if (!users) return users.status();
  for (const User& u : *users)
    if (u.role != Role::admin && (viewer.role == Role::admin || u.team == viewer.team))
      out.push_back(u.name);
  return out;
}

Result<json::array> devices_json(Directory& directory, const Viewer& viewer, std::int64_t now_ms) {
  auto devices = directory.list_devices();
  if (!devices) return devices.status();
  json::array out;
  for (const Device& d : *devices) {
    const bool mine = viewer.role == Role::admin ||
                      (viewer.role == Role::lead ? d.team == viewer.team : d.user == viewer.user);
    if (!mine) continue;
    const std::int64_t since = d.last_sync_ms.value_or(d.enrolled_ms);
    json::object o{
        {"id", d.id},
        {"user", d.user},
        {"state", device_state_name(d.state)},
        {"enrolled_ms", d.enrolled_ms},
        {"stale", d.state == DeviceState::active && now_ms - since > kStaleAfterDays * kDayMs}};
    o["last_sync_ms"] = d.last_sync_ms ? json::value(*d.last_sync_ms) : json::value(nullptr);
    out.push_back(std::move(o));
  }
  return out;
}

std::map<std::string, std::string> client_names(const std::vector<RecordRow>& clients) {
  std::map<std::string, std::string> out;
  for (const RecordRow& c : clients)
    if (auto name = text_field(c.fields, "name")) out[c.id] = *name;
  return out;
}

}  // namespace

bool may_decide(const Viewer& viewer) { return viewer.role != Role::worker; }

std::string utc_date(std::int64_t ms) { return civil_from_days(floor_div(ms, kDayMs)); }

std::optional<std::int64_t> parse_utc(std::string_view s) {
  auto num = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    if (s.size() < at + n) return std::nullopt;
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return std::nullopt;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  auto y = num(0, 4), m = num(5, 2), d = num(8, 2);
  if (!y || !m || !d || s[4] != '-' || s[7] != '-' || *m < 1 || *m > 12 || *d < 1 || *d > 31)
    return std::nullopt;
  std::int64_t ms =
      days_from_civil(*y, static_cast<unsigned>(*m), static_cast<unsigned>(*d)) * kDayMs;
  if (s.size() == 10) return ms;
  auto hh = num(11, 2), mm = num(14, 2);
  if (!hh || !mm || (s[10] != 'T' && s[10] != ' ') || s[13] != ':') return std::nullopt;
  ms += (*hh * 60LL + *mm) * 60'000;
  if (s.size() >= 19 && s[16] == ':')
    if (auto ss = num(17, 2)) ms += *ss * 1000LL;
  return ms;
}

Result<json::object> caseload(Sources& src, const Viewer& viewer, std::int64_t now_ms) {
  auto scope = src.store.scope_of(viewer);
  if (!scope) return scope.status();
  auto cases = src.store.list_records("cases", &*scope, true);
  if (!cases) return cases.status();
  auto clients = src.store.list_records("clients", &*scope, false);
  if (!clients) return clients.status();
  auto visits = src.store.list_records("visits", &*scope, false);
  if (!visits) return visits.status();
  auto tasks = src.store.list_records("tasks", &*scope, false);
  if (!tasks) return tasks.status();
  const auto names = client_names(*clients);

  std::map<std::string, std::int64_t> last_visit;
  const std::int64_t this_week = week_start(floor_div(now_ms, kDayMs));
  const std::int64_t first_week = this_week - 7LL * (kWeeksShown - 1);
  std::vector<std::int64_t> per_week(kWeeksShown, 0);
  for (const RecordRow& v : *visits) {
    auto time = text_field(v.fields, "time");
    auto ms = time ? parse_utc(*time) : std::nullopt;
    if (!ms) continue;
    if (auto c = case_of(v)) last_visit[*c] = std::max(last_visit[*c], *ms);
    const std::int64_t week = week_start(floor_div(*ms, kDayMs));
    if (week >= first_week && week <= this_week) ++per_week[(week - first_week) / 7];
  }
  std::map<std::string, std::string> next_due;  // case -> earliest open task's due date
  for (const RecordRow& t : *tasks) {
    auto status = text_field(t.fields, "status");
    auto due = text_field(t.fields, "due_date");
    auto c = case_of(t);
    if (!due || !c || (status && *status != "open")) continue;
    auto [it, fresh] = next_due.emplace(*c, *due);
    if (!fresh && *due < it->second) it->second = *due;
  }
  std::map<std::string, int> open_conflicts;
  auto count_conflicts = [&](const std::vector<RecordRow>& rows, const sync::CollectionSpec& spec) {
    for (const RecordRow& r : rows)
      if (auto c = case_of(r))
        for (const auto& conflict : sync::conflicts(r.state, spec, r.collection, r.id))
          if (conflict.open) ++open_conflicts[*c];
  };
  for (const auto& spec : src.schema.collections()) {
    if (!has_review_field(spec)) continue;
    if (spec.name == "cases") {
      count_conflicts(*cases, spec);
      continue;
    }
    auto rows = src.store.list_records(spec.name, &*scope, true);
    if (!rows) return rows.status();
    count_conflicts(*rows, spec);
  }

  const std::string today = utc_date(now_ms);
  auto workers = team_users(src.directory, viewer);
  if (!workers) return workers.status();
  std::set<std::string> worker_set(workers->begin(), workers->end());
  json::array rows;
  for (const RecordRow& c : *cases) {
    auto client_id = text_field(c.fields, "client_id");
    std::optional<std::string> client;
    if (client_id)
      if (auto it = names.find(*client_id); it != names.end()) client = it->second;
    auto assigned = text_field(c.fields, "assigned_to");
    if (assigned && !assigned->empty()) worker_set.insert(*assigned);
    json::object row{{"id", c.id},
                     {"client_id", or_null(client_id)},
                     {"client", or_null(client)},
                     {"programme", or_null(text_field(c.fields, "programme"))},
                     {"status", or_null(text_field(c.fields, "status"))},
                     {"risk", or_null(text_field(c.fields, "risk"))},
                     {"assigned_to", or_null(assigned)},
                     {"open_conflicts", open_conflicts[c.id]}};
    auto lv = last_visit.find(c.id);
    row["last_visit_ms"] = lv == last_visit.end() ? json::value(nullptr) : json::value(lv->second);
    auto due = next_due.find(c.id);
    row["next_follow_up"] = due == next_due.end() ? json::value(nullptr) : json::value(due->second);
    row["overdue"] = due != next_due.end() && due->second < today;
    rows.push_back(std::move(row));
  }
  json::array weeks;
  for (int i = 0; i < kWeeksShown; ++i)
    weeks.push_back(json::object{{"week", civil_from_days(first_week + 7LL * i)},
                                 {"visits", per_week[static_cast<std::size_t>(i)]}});
  json::array statuses;
  if (const auto* spec = src.schema.collection("cases"))
    if (const auto* f = spec->field("status"))
      for (const auto& s : f->choices) statuses.emplace_back(s);
  auto devices = devices_json(src.directory, viewer, now_ms);
  if (!devices) return devices.status();
  json::array worker_list;
  for (const auto& w : worker_set) worker_list.emplace_back(w);
  return json::object{{"now_ms", now_ms},
                      {"user", viewer.user},
                      {"role", role_name(viewer.role)},
                      {"cases", std::move(rows)},
                      {"workers", std::move(worker_list)},
                      {"statuses", std::move(statuses)},
                      {"visits_per_week", std::move(weeks)},
                      {"devices", std::move(*devices)},
                      {"stale_after_days", kStaleAfterDays}};
}

Result<std::optional<json::object>> case_page(Sources& src, const Viewer& viewer,
                                              const std::string& case_id) {
  using Page = std::optional<json::object>;
  const std::string item = sync::case_item(case_id);
  auto scope = src.store.scope_of(viewer);
  if (!scope) return scope.status();
  if (!scope->all && !scope->contains(item)) return Page();
  auto items = src.store.read_items({item});
  if (!items) return items.status();
  json::object page{{"id", case_id}};
  std::map<std::string, json::array> parts{
      {"visits", {}}, {"notes", {}}, {"referrals", {}}, {"tasks", {}}};
  json::array conflicts;
  bool found = false;
  std::optional<std::string> assignee;
  std::optional<std::string> client_id;
  for (const sync::SnapshotRecord& r : items->front()) {
    const sync::CollectionSpec* spec = src.schema.collection(r.collection);
    if (!spec || r.state.deleted()) continue;
    json::object fields = sync::materialize(r.state, *spec);
    for (const auto& c : sync::conflicts(r.state, *spec, r.collection, r.id))
      conflicts.push_back(conflict_json(c));
    if (r.collection == "cases") {
      if (r.id != case_id) continue;
      found = true;
      assignee = text_field(fields, "assigned_to");
      client_id = text_field(fields, "client_id");
      page["fields"] = std::move(fields);
      continue;
    }
    // When the record was made, by the clock of the device that made it.
    std::int64_t made_ms = 0;
    for (const auto& [_, reg] : r.state.registers)
      for (const auto& w : reg.writes)
        if (made_ms == 0 || w.hlc.wall_ms < made_ms) made_ms = w.hlc.wall_ms;
    auto part = parts.find(r.collection);
    if (part != parts.end())
      part->second.push_back(
          json::object{{"id", r.id}, {"made_ms", made_ms}, {"fields", std::move(fields)}});
  }
  if (!found) return Page();
  auto& visits = parts["visits"];
  std::sort(visits.begin(), visits.end(), [](const json::value& a, const json::value& b) {
    auto ta = text_field(a.as_object().at("fields").as_object(), "time").value_or("");
    auto tb = text_field(b.as_object().at("fields").as_object(), "time").value_or("");
    return ta > tb;
  });
  for (auto& [name, list] : parts) page[name] = std::move(list);
  page["conflicts"] = std::move(conflicts);

  page["client"] = nullptr;
  if (client_id && !client_id->empty()) {
    auto client = src.store.get_record("clients", *client_id);
    if (!client) return client.status();
    if (*client && !(*client)->deleted)
      page["client"] = json::object{{"id", *client_id}, {"fields", (*client)->fields}};
  }

  auto log = src.store.record_log("cases", case_id);
  if (!log) return log.status();
  page["history"] = sync::to_json(
      sync::record_history("cases", case_id, log->entries, *src.schema.collection("cases")));
  page["history_more"] = log->more;

  // Who may decide and reassign (case_admin.hpp's rules: a lead within the team).
  json::array assignable;
  bool can_assign = may_decide(viewer);
  if (can_assign && viewer.role == Role::lead && assignee && !assignee->empty()) {
    auto owner = src.directory.user(*assignee);
    if (!owner && owner.status().code() != Code::not_found) return owner.status();
    can_assign = !owner || owner->team == viewer.team;
  }
  if (can_assign) {
    auto users = team_users(src.directory, viewer);
    if (!users) return users.status();
    for (const auto& u : *users) assignable.emplace_back(u);
  }
  page["can_resolve"] = may_decide(viewer);
  page["can_assign"] = can_assign;
  page["assignable"] = std::move(assignable);
  return Page(std::move(page));
}

Result<json::object> open_conflicts(Sources& src, const Viewer& viewer) {
  auto scope = src.store.scope_of(viewer);
  if (!scope) return scope.status();
  auto clients = src.store.list_records("clients", &*scope, false);
  if (!clients) return clients.status();
  auto cases = src.store.list_records("cases", &*scope, false);
  if (!cases) return cases.status();
  const auto names = client_names(*clients);
  std::map<std::string, std::string> client_of_case;
  for (const RecordRow& c : *cases)
    if (auto id = text_field(c.fields, "client_id"))
      if (auto it = names.find(*id); it != names.end()) client_of_case[c.id] = it->second;
  json::array out;
  for (const auto& spec : src.schema.collections()) {
    if (!has_review_field(spec)) continue;
    auto rows = src.store.list_records(spec.name, &*scope, true);
    if (!rows) return rows.status();
    for (const RecordRow& r : *rows) {
      for (const auto& c : sync::conflicts(r.state, spec, r.collection, r.id)) {
        if (!c.open) continue;
        json::object o = conflict_json(c);
        auto case_id = case_of(r);
        o["case_id"] = or_null(case_id);
        auto it = case_id ? client_of_case.find(*case_id) : client_of_case.end();
        o["client"] = it == client_of_case.end() ? json::value(nullptr) : json::value(it->second);
        out.push_back(std::move(o));
      }
    }
  }
  return json::object{{"conflicts", std::move(out)}, {"can_resolve", may_decide(viewer)}};
}

}  // namespace fieldsync::server::dashboard
