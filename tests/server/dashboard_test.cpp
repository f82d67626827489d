// The dashboard's reads and decisions over a real store: the caseload's derived columns
// (client, last visit, next follow-up and overdue, open conflicts, visits per week), scopes
// (a lead sees the team, a worker their own, an admin everything, another team nothing), a
// case page, the open conflicts, and decide_in's rules and effect.
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "dashboard.hpp"
#include "fieldsync/server/apply.hpp"
#include "fieldsync/server/case_admin.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "fieldsync/server/writer.hpp"
#include "fieldsync/sync/merge.hpp"
#include "test_util.hpp"

using namespace fieldsync;
using namespace fieldsync::test;
using server::Role;
namespace dashboard = fieldsync::server::dashboard;
namespace json = boost::json;

namespace {

// kNowMs is 2023-11-14T22:13:20Z: a Tuesday; its week starts on Monday 2023-11-13.
constexpr const char* kToday = "2023-11-14";

// Teams north (lee leads ana and ben) and south (sam leads zoe); root is an admin. Ana's case
// c-a has a client, a visit, an overdue open task, a done task and an open conflict on risk
// from her two devices; zoe's case c-z is in team south.
struct Fixture {
  TempDir dir;
  std::unique_ptr<server::SqliteStore> store;
  std::unique_ptr<server::Directory> d;
  std::uint64_t counter = 0;

  Fixture() {
    auto s = server::SqliteStore::open(dir.file(server::kStoreFileName));
    REQUIRE(s);
    store = std::move(*s);
    auto dd = server::Directory::open(store->file());
    REQUIRE(dd);
    d = std::move(*dd);
    for (const char* team : {"north", "south"}) REQUIRE(d->add_team(team, kNowMs));
    REQUIRE(d->add_user("ana", Role::worker, "north", kNowMs));
    REQUIRE(d->add_user("ben", Role::worker, "north", kNowMs));
    REQUIRE(d->add_user("lee", Role::lead, "north", kNowMs));
    REQUIRE(d->add_user("zoe", Role::worker, "south", kNowMs));
    REQUIRE(d->add_user("sam", Role::lead, "south", kNowMs));
    REQUIRE(d->add_user("root", Role::admin, "", kNowMs));
    put(1, "ana", "clients", "cl-a", {{"name", "Alice Archer"}});
    put(1, "ana", "cases", "c-a",
        {{"client_id", "cl-a"}, {"assigned_to", "ana"}, {"status", "implementation"}});
    put(1, "ana", "visits", "v-a", {{"case_id", "c-a"}, {"time", "2023-11-10T10:00Z"}});
    put(1, "ana", "tasks", "t-late",
        {{"case_id", "c-a"}, {"due_date", "2023-11-01"}, {"status", "open"}});
    put(1, "ana", "tasks", "t-done",
        {{"case_id", "c-a"}, {"due_date", "2023-10-01"}, {"status", "done"}});
    put(1, "ana", "cases", "c-a", {{"risk", "high"}});
    put(2, "ana", "cases", "c-a", {{"risk", "medium"}});
    put(3, "zoe", "clients", "cl-z", {{"name", "Zed South"}});
    put(3, "zoe", "cases", "c-z", {{"client_id", "cl-z"}, {"assigned_to", "zoe"}});
  }

  void put(int device, const std::string& user, const std::string& collection,
           const std::string& id, const Fields& fields) {
    sync::Op op = put_op(device_id(device), ++counter, collection, id, fields);
    op.user = user;
    auto tx = store->begin();
    REQUIRE(tx);
    auto r =
        server::apply_batch(**tx, {op}, sync::default_schema(), {kNowMs, sync::kDefaultMaxAheadMs});
    REQUIRE(r);
    REQUIRE(r->front().status == sync::OpStatus::accepted);
    REQUIRE((*tx)->commit());
  }

  server::Viewer viewer(const std::string& name) {
    auto u = d->user(name);
    REQUIRE(u);
    return server::Viewer{u->name, u->role, u->team};
  }
  dashboard::Sources sources() { return dashboard::Sources{*store, *d, sync::default_schema()}; }
  json::object caseload(const std::string& who) {
    auto src = sources();
    auto c = dashboard::caseload(src, viewer(who), kNowMs);
    REQUIRE(c);
    return *c;
  }
  std::vector<std::string> case_ids(const std::string& who) {
    std::vector<std::string> out;
    const json::object load = caseload(who);
    for (const auto& row : load.at("cases").as_array()) out.emplace_back(row.at("id").as_string());
    return out;
  }

  Result<server::ServerOp> decide(const std::string& actor, const std::string& value,
                                  const std::string& field = "risk", const std::string& id = "c-a",
                                  std::optional<std::vector<std::string>> shown = std::nullopt) {
    auto slot = d->next_server_op(kNowMs + 5000);
    REQUIRE(slot);
    auto tx = store->begin();
    REQUIRE(tx);
    auto r = server::decide_in(**tx, *d, {"cases", id, field, value, actor, std::move(shown)},
                               *slot, kNowMs + 5000, sync::default_schema(), nullptr);
    if (r) REQUIRE((*tx)->commit());
    return r;
  }
  std::vector<sync::Conflict> open_risk_conflicts() {
    auto row = store->get_record("cases", "c-a");
    REQUIRE(row);
    REQUIRE(*row);
    std::vector<sync::Conflict> out;
    for (auto& c : sync::conflicts((*row)->state, *sync::default_schema().collection("cases"),
                                   "cases", "c-a"))
      if (c.open) out.push_back(c);
    return out;
  }
};

}  // namespace

TEST_CASE("dates and times of the dashboard are read and written in UTC", "[dashboard]") {
  CHECK(dashboard::utc_date(kNowMs) == kToday);
  CHECK(dashboard::utc_date(0) == "1970-01-01");
  CHECK(dashboard::utc_date(-1) == "1969-12-31");
  CHECK(dashboard::parse_utc("1970-01-02") == 86'400'000);
  CHECK(dashboard::parse_utc("2023-11-14T22:13:20Z") == kNowMs);
  CHECK(dashboard::parse_utc("2023-11-14T22:13") == kNowMs - 20'000);
  CHECK(dashboard::parse_utc("2024-02-29") ==
        dashboard::parse_utc("2024-03-01").value() - 86'400'000);
  CHECK_FALSE(dashboard::parse_utc(""));
  CHECK_FALSE(dashboard::parse_utc("2023-13-01"));
  CHECK_FALSE(dashboard::parse_utc("20231114"));
  CHECK_FALSE(dashboard::parse_utc("2023-11-14X10:00"));
}

TEST_CASE("a lead's caseload holds the team's cases with their derived columns", "[dashboard]") {
  Fixture f;
  json::object c = f.caseload("lee");
  const json::array& cases = c.at("cases").as_array();
  REQUIRE(cases.size() == 1);
  const json::object& row = cases[0].as_object();
  CHECK(row.at("id") == "c-a");
  CHECK(row.at("client") == "Alice Archer");
  CHECK(row.at("client_id") == "cl-a");
  CHECK(row.at("status") == "implementation");
  CHECK(row.at("assigned_to") == "ana");
  CHECK(row.at("risk") == "medium");  // the shown value of the open conflict
  CHECK(row.at("programme").is_null());
  CHECK(row.at("last_visit_ms") == dashboard::parse_utc("2023-11-10T10:00Z").value());
  CHECK(row.at("next_follow_up") == "2023-11-01");  // the done task does not count
  CHECK(row.at("overdue") == true);
  CHECK(row.at("open_conflicts") == 1);

  std::vector<std::string> workers;
  for (const auto& w : c.at("workers").as_array()) workers.emplace_back(w.as_string());
  CHECK(workers == std::vector<std::string>{"ana", "ben", "lee"});
  const json::array& weeks = c.at("visits_per_week").as_array();
  REQUIRE(weeks.size() == dashboard::kWeeksShown);
  CHECK(weeks.back().at("week") == "2023-11-13");
  CHECK(weeks.back().at("visits") == 0);
  CHECK(weeks[weeks.size() - 2].at("week") == "2023-11-06");
  CHECK(weeks[weeks.size() - 2].at("visits") == 1);
  CHECK(c.at("statuses").as_array().size() == 5);
}

TEST_CASE("the caseload follows the scope rules", "[dashboard]") {
  Fixture f;
  CHECK(f.case_ids("ana") == std::vector<std::string>{"c-a"});
  CHECK(f.case_ids("ben").empty());
  CHECK(f.case_ids("sam") == std::vector<std::string>{"c-z"});
  CHECK(f.case_ids("root") == std::vector<std::string>{"c-a", "c-z"});
  // Nothing of team south reaches north's lead, not even a name in the filter.
  const std::string lee = json::serialize(f.caseload("lee"));
  CHECK(lee.find("Zed South") == std::string::npos);
  CHECK(lee.find("zoe") == std::string::npos);
}

TEST_CASE("devices are shown to their team's lead, with the stale ones marked", "[dashboard]") {
  Fixture f;
  const crypto::PublicKey key{};
  auto code = f.d->new_enroll_code("ana", server::kHourMs, kNowMs);
  REQUIRE(code);
  REQUIRE(f.d->redeem_enroll_code(code->code, device_id(7), key, kNowMs));
  auto zcode = f.d->new_enroll_code("zoe", server::kHourMs, kNowMs);
  REQUIRE(zcode);
  REQUIRE(f.d->redeem_enroll_code(zcode->code, device_id(8), key, kNowMs));
  REQUIRE(f.d->touch_last_sync(device_id(7), kNowMs - 4 * 86'400'000LL));
  const json::object lee = f.caseload("lee");
  const json::array& devices = lee.at("devices").as_array();
  REQUIRE(devices.size() == 1);
  CHECK(devices[0].at("user") == "ana");
  CHECK(devices[0].at("stale") == true);
  CHECK(f.caseload("zoe").at("devices").as_array().size() == 1);
  CHECK(f.caseload("root").at("devices").as_array().size() == 2);
}

TEST_CASE("a case page for those who may see it, the same 'none' for everyone else",
          "[dashboard]") {
  Fixture f;
  auto src = f.sources();
  auto page = dashboard::case_page(src, f.viewer("lee"), "c-a");
  REQUIRE(page);
  REQUIRE(*page);
  const json::object& p = **page;
  CHECK(p.at("fields").at("status") == "implementation");
  CHECK(p.at("client").at("fields").at("name") == "Alice Archer");
  CHECK(p.at("visits").as_array().size() == 1);
  CHECK(p.at("tasks").as_array().size() == 2);
  CHECK(p.at("notes").as_array().empty());
  REQUIRE(p.at("conflicts").as_array().size() == 1);
  const json::object& conflict = p.at("conflicts").as_array()[0].as_object();
  CHECK(conflict.at("status") == "open");
  CHECK(conflict.at("values").as_array().size() == 2);
  CHECK(conflict.at("values").as_array()[0].at("at_ms").is_int64());
  CHECK(p.at("history").at("steps").as_array().size() == 3);
  CHECK(p.at("history_more") == false);
  CHECK(p.at("can_resolve") == true);
  CHECK(p.at("can_assign") == true);
  CHECK(p.at("assignable").as_array().size() == 3);

  auto worker = dashboard::case_page(src, f.viewer("ana"), "c-a");
  REQUIRE(worker);
  REQUIRE(*worker);
  CHECK((**worker).at("can_resolve") == false);
  CHECK((**worker).at("can_assign") == false);
  CHECK((**worker).at("assignable").as_array().empty());

  for (const auto& [who, id] : std::vector<std::pair<std::string, std::string>>{
           {"sam", "c-a"}, {"ben", "c-a"}, {"lee", "c-z"}, {"lee", "no-such-case"}}) {
    auto none = dashboard::case_page(src, f.viewer(who), id);
    REQUIRE(none);
    CHECK_FALSE(*none);
  }
}

TEST_CASE("the open conflicts a viewer sees, with their case and client", "[dashboard]") {
  Fixture f;
  auto src = f.sources();
  auto lee = dashboard::open_conflicts(src, f.viewer("lee"));
  REQUIRE(lee);
  const json::array& list = lee->at("conflicts").as_array();
  REQUIRE(list.size() == 1);
  CHECK(list[0].at("case_id") == "c-a");
  CHECK(list[0].at("client") == "Alice Archer");
  CHECK(list[0].at("field") == "risk");
  auto sam = dashboard::open_conflicts(src, f.viewer("sam"));
  REQUIRE(sam);
  CHECK(sam->at("conflicts").as_array().empty());
}

TEST_CASE("a lead's decision closes the conflict as a new operation in the lead's name",
          "[dashboard][case_admin]") {
  Fixture f;
  REQUIRE(f.open_risk_conflicts().size() == 1);

  SECTION("workers may not decide") {
    auto r = f.decide("ana", "low");
    REQUIRE_FALSE(r);
    CHECK(r.status().code() == Code::forbidden);
    CHECK(f.open_risk_conflicts().size() == 1);
  }
  SECTION("another team's case is not found, like a case that does not exist") {
    auto r = f.decide("sam", "low");
    REQUIRE_FALSE(r);
    CHECK(r.status().code() == Code::not_found);
    CHECK(r.status().message() == "no record cases/c-a in your scope");
    auto missing = f.decide("sam", "low", "risk", "c-nope");
    CHECK(missing.status().message() == "no record cases/c-nope in your scope");
    CHECK(f.open_risk_conflicts().size() == 1);
  }
  SECTION("bad values and fields are refused by the schema") {
    CHECK(f.decide("lee", "purple").status().code() == Code::wrong_type);
    CHECK(f.decide("lee", "x", "colour").status().code() == Code::unknown_field);
    CHECK(f.decide("lee", "ben", "shared_with").status().code() == Code::wrong_type);
    CHECK(f.decide("lee", "planning", "status").status().code() == Code::not_found);
    CHECK(f.open_risk_conflicts().size() == 1);
  }
  SECTION("a third value") {
    auto r = f.decide("lee", "critical");
    REQUIRE(r);
    CHECK(r->changed);
    CHECK(r->op.user == "lee");
    CHECK(r->result.status == sync::OpStatus::accepted);
    CHECK(f.open_risk_conflicts().empty());
    auto row = f.store->get_record("cases", "c-a");
    REQUIRE(row);
    CHECK((*row)->fields.at("risk") == "critical");
    CHECK(f.caseload("lee").at("cases").as_array()[0].at("open_conflicts") == 0);
    // Decided: nothing is left to decide.
    CHECK(f.decide("lee", "low").status().code() == Code::not_found);
  }
  SECTION("the values shown, and values that are no longer all there is") {
    const auto open = f.open_risk_conflicts();
    std::vector<std::string> shown;
    for (const auto& v : open.at(0).competitors) shown.push_back(v.op);
    REQUIRE(shown.size() == 2);
    // One value the lead did not see (here: one of the two is missing from what was shown).
    auto stale = f.decide("lee", "critical", "risk", "c-a", std::vector<std::string>{shown[0]});
    REQUIRE_FALSE(stale);
    CHECK(stale.status().code() == Code::changed);
    CHECK(f.open_risk_conflicts().size() == 1);
    auto other =
        f.decide("lee", "critical", "risk", "c-a", std::vector<std::string>{shown[0], "x.9"});
    CHECK(other.status().code() == Code::changed);
    // Exactly the field's values, in any order: decided.
    auto r =
        f.decide("lee", "critical", "risk", "c-a", std::vector<std::string>{shown[1], shown[0]});
    REQUIRE(r);
    CHECK(f.open_risk_conflicts().empty());
  }
  SECTION("an admin keeps one of the values") {
    auto r = f.decide("root", "high");
    REQUIRE(r);
    CHECK(f.open_risk_conflicts().empty());
  }
}

TEST_CASE("a decision made through the writer is fanned out with its case's scope",
          "[dashboard][writer]") {
  Fixture f;
  std::mutex mu;
  std::vector<sync::LogEntry> fanned;
  server::WriterConfig config;
  config.now_ms = [] { return kNowMs + 5000; };
  server::Writer writer(*f.store, sync::default_schema(), config,
                        [&](const std::vector<sync::LogEntry>& e) {
                          std::lock_guard lock(mu);
                          fanned.insert(fanned.end(), e.begin(), e.end());
                        });
  auto slot = f.d->next_server_op(kNowMs + 5000);
  REQUIRE(slot);
  server::Directory& directory = *f.d;
  auto promise = std::make_shared<std::promise<Result<server::Writer::WorkDone>>>();
  auto future = promise->get_future();
  // In the same group as a push of another team's case: each keeps its own scope.
  REQUIRE(writer.submit_work(
      [&directory, slot = *slot](
          server::StoreTx& tx, std::int64_t now,
          std::vector<sync::EntryScope>* scopes) -> Result<server::Writer::WorkDone> {
        auto r = server::decide_in(tx, directory, {"cases", "c-a", "risk", "critical", "lee", {}},
                                   slot, now, sync::default_schema(), nullptr, scopes);
        if (!r) return r.status();
        return server::Writer::WorkDone{{r->op}, {r->result}};
      },
      [promise](Result<server::Writer::WorkDone> r) { promise->set_value(std::move(r)); }));
  sync::Op zoe = put_op(device_id(3), 100, "cases", "c-z", {{"status", "planning"}});
  zoe.user = "zoe";
  std::promise<void> pushed;
  REQUIRE(writer.submit({zoe}, [&](auto) { pushed.set_value(); }));
  REQUIRE(future.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  REQUIRE(future.get());
  REQUIRE(pushed.get_future().wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  writer.stop();
  std::lock_guard lock(mu);
  REQUIRE(fanned.size() == 2);
  for (const auto& e : fanned) CHECK(e.scope.item == (e.op.record == "c-a" ? "c:c-a" : "c:c-z"));
}
