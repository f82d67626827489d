// Scopes in the store: the write rules of scope.hpp applied per op by apply_batch, the
// scope_of sets for workers, leads and admins, filtered log reads, and the migration of a
// format-2 store (scope columns and access lists filled in from what it holds).
#include <algorithm>

#include <catch2/catch.hpp>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/server/apply.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "fieldsync/sync/merge.hpp"
#include "test_util.hpp"

using namespace fieldsync;
using namespace fieldsync::test;
using server::Role;

namespace {

// Teams north (workers ana and ben, lead lee) and south (worker sam); admin root.
struct Programme {
  TempDir dir;
  std::string path = dir.file(server::kStoreFileName);
  std::unique_ptr<server::SqliteStore> store;
  std::unique_ptr<server::Directory> directory;
  std::uint64_t counter = 0;

  Programme() { open(); }
  void open() {
    auto s = server::SqliteStore::open(path);
    INFO((s ? "" : s.status().message()));
    REQUIRE(s);
    store = std::move(*s);
    auto d = server::Directory::open(store->file());
    REQUIRE(d);
    directory = std::move(*d);
  }
  void people() {
    REQUIRE(directory->add_team("north", kNowMs));
    REQUIRE(directory->add_team("south", kNowMs));
    REQUIRE(directory->add_user("ana", Role::worker, "north", kNowMs));
    REQUIRE(directory->add_user("ben", Role::worker, "north", kNowMs));
    REQUIRE(directory->add_user("lee", Role::lead, "north", kNowMs));
    REQUIRE(directory->add_user("sam", Role::worker, "south", kNowMs));
    REQUIRE(directory->add_user("root", Role::admin, "", kNowMs));
  }

  // One op by `user`, checked against the scope rules; the result.
  sync::OpResult write(const std::string& user, const std::string& collection,
                       const std::string& id, std::map<std::string, std::string> fields) {
    Fields values;
    for (auto& [k, v] : fields) values.emplace_back(k, boost::json::value(v));
    sync::Op op = put_op(device_id(1), ++counter, collection, id, values);
    op.user = user;
    auto tx = store->begin();
    REQUIRE(tx);
    auto r = server::apply_batch(**tx, {op}, sync::default_schema(), {kNowMs, 1000, true});
    REQUIRE(r);
    REQUIRE((*tx)->commit());
    return r->at(0);
  }
  void ok(const std::string& user, const std::string& collection, const std::string& id,
          std::map<std::string, std::string> fields) {
    auto r = write(user, collection, id, std::move(fields));
    INFO(r.reason);
    REQUIRE(r.status == sync::OpStatus::accepted);
  }
  Code refused(const std::string& user, const std::string& collection, const std::string& id,
               std::map<std::string, std::string> fields) {
    auto r = write(user, collection, id, std::move(fields));
    INFO(r.reason);
    CHECK(r.status == sync::OpStatus::rejected);
    return r.code;
  }
  server::ScopeSet scope(const std::string& user) {
    auto u = directory->user(user);
    REQUIRE(u);
    auto s = store->scope_of({u->name, u->role, u->team});
    REQUIRE(s);
    return *s;
  }
  // A client with a case assigned to `owner` and a visit, created by `owner`.
  void caseload(const std::string& owner, const std::string& tag) {
    ok(owner, "clients", "cl-" + tag, {{"name", "Client " + tag}});
    ok(owner, "cases", "case-" + tag, {{"client_id", "cl-" + tag}, {"assigned_to", owner}});
    ok(owner, "visits", "v-" + tag, {{"case_id", "case-" + tag}});
  }
};

using Items = std::vector<std::string>;

}  // namespace

TEST_CASE("scope rules: each role writes within its scope, per op", "[scope]") {
  Programme p;
  p.people();
  p.caseload("ana", "a");
  p.caseload("ben", "b");
  p.caseload("sam", "s");

  // Out of scope: another worker's case, client and visit, by id; pointing at them.
  CHECK(p.refused("ana", "cases", "case-b", {{"status", "closed"}}) == Code::out_of_scope);
  CHECK(p.refused("ana", "clients", "cl-b", {{"name", "x"}}) == Code::out_of_scope);
  CHECK(p.refused("ana", "visits", "v-b", {{"outcome", "x"}}) == Code::out_of_scope);
  CHECK(p.refused("ana", "visits", "v-new", {{"case_id", "case-b"}}) == Code::out_of_scope);
  CHECK(p.refused("ana", "cases", "case-new", {{"client_id", "cl-b"}, {"assigned_to", "ana"}}) ==
        Code::out_of_scope);
  CHECK(p.refused("ana", "visits", "v-ghost", {{"case_id", "no-such-case"}}) == Code::out_of_scope);
  // Handing cases to others: leads within their team, admins anywhere.
  CHECK(p.refused("ana", "cases", "case-a", {{"assigned_to", "ben"}}) == Code::forbidden);
  CHECK(p.refused("ana", "cases", "case-a2", {{"assigned_to", "ben"}}) == Code::forbidden);
  CHECK(p.refused("lee", "cases", "case-a", {{"assigned_to", "sam"}}) == Code::forbidden);
  CHECK(p.refused("lee", "cases", "case-s", {{"status", "closed"}}) == Code::out_of_scope);
  CHECK(p.refused("root", "cases", "case-a", {{"assigned_to", "root"}}) == Code::invalid_argument);
  CHECK(p.refused("lee", "cases", "case-a", {{"assigned_to", "nobody"}}) == Code::invalid_argument);
  p.ok("lee", "cases", "case-a", {{"status", "planning"}});
  p.ok("lee", "cases", "case-a", {{"assigned_to", "ben"}});
  CHECK(p.refused("ana", "cases", "case-a", {{"status", "closed"}}) == Code::out_of_scope);
  p.ok("root", "cases", "case-s", {{"assigned_to", "ana"}});
  p.ok("ana", "visits", "v-s", {{"outcome", "seen"}});
  // A lead with another team's case shared with them may edit it, not hand it on.
  p.ok("root", "cases", "case-s", {{"assigned_to", "sam"}});
  sync::Op share = put_op(device_id(3), 500, "cases", "case-s", {});
  share.user = "sam";
  share.writes.push_back({"shared_with", sync::WriteKind::add, boost::json::value("lee"), {}});
  {
    auto tx = p.store->begin();
    REQUIRE(tx);
    auto r = server::apply_batch(**tx, {share}, sync::default_schema(), {kNowMs, 1000, true});
    REQUIRE(r);
    REQUIRE(r->at(0).status == sync::OpStatus::accepted);
    REQUIRE((*tx)->commit());
  }
  p.ok("lee", "cases", "case-s", {{"risk", "high"}});
  CHECK(p.refused("lee", "cases", "case-s", {{"assigned_to", "ana"}}) == Code::forbidden);
  // Unknown writers are refused.
  CHECK(p.refused("mallory", "clients", "cl-m", {{"name", "x"}}) == Code::forbidden);
}

TEST_CASE("scope sets of workers, leads and admins filter the log reads", "[scope]") {
  Programme p;
  p.people();
  p.caseload("ana", "a");
  p.caseload("ben", "b");
  p.caseload("sam", "s");
  p.ok("ben", "clients", "cl-lone", {{"name", "No case yet"}});

  auto ana = p.scope("ana");
  CHECK(ana.items == Items{"c:case-a", "k:cl-a"});
  CHECK(ana.creators == Items{"ana"});
  auto lee = p.scope("lee");
  CHECK(lee.items == Items{"c:case-a", "c:case-b", "k:cl-a", "k:cl-b", "k:cl-lone"});
  CHECK(p.scope("root").all);

  auto log = p.store->read_log(0, 100, "", &ana);
  REQUIRE(log);
  REQUIRE(log->entries.size() == 3);
  for (const auto& e : log->entries) CHECK(e.op.record.ends_with("-a"));
  CHECK(log->entries[2].scope.item == "c:case-a");
  CHECK(log->entries[2].scope.creator == "ana");

  // Shared with ana: the case and what hangs off it, and its client.
  sync::Op share = put_op(device_id(2), 99, "cases", "case-b", {});
  share.user = "ben";
  share.writes.push_back({"shared_with", sync::WriteKind::add, boost::json::value("ana"), {}});
  {
    auto tx = p.store->begin();
    REQUIRE(tx);
    auto r = server::apply_batch(**tx, {share}, sync::default_schema(), {kNowMs, 1000, true});
    REQUIRE(r);
    INFO(r->at(0).reason);
    REQUIRE(r->at(0).status == sync::OpStatus::accepted);
    REQUIRE((*tx)->commit());
  }
  ana = p.scope("ana");
  CHECK(ana.items == Items{"c:case-a", "c:case-b", "k:cl-a", "k:cl-b"});
  p.ok("ana", "visits", "v-b", {{"outcome", "seen together"}});
  auto items = p.store->read_items({"c:case-b", "k:cl-b"});
  REQUIRE(items);
  REQUIRE(items->size() == 2);
  CHECK(items->at(0).size() == 2);  // the case and its visit
  CHECK(items->at(1).size() == 1);
}

TEST_CASE("a format-2 store gets its scopes filled in from its records and log", "[scope]") {
  Programme p;
  p.people();
  p.caseload("ana", "a");
  p.caseload("ben", "b");
  p.store.reset();
  p.directory.reset();
  {
    auto db = crypto::Database::open(p.path, {});
    REQUIRE(db);
    REQUIRE((*db)->exec(R"sql(
      DROP INDEX records_by_item; DROP INDEX records_by_creator; DROP INDEX cases_by_client;
      DROP INDEX log_by_record;
      ALTER TABLE records DROP COLUMN scope_item; ALTER TABLE records DROP COLUMN created_by;
      DROP TABLE case_access; DROP TABLE device_scope;
      DROP TABLE audit_log; DROP TABLE device_chains; DROP TABLE passwords;
      DROP TRIGGER log_append_only_update; DROP TRIGGER log_append_only_delete;
      UPDATE meta SET value = '2' WHERE key = 'format';)sql"));
  }
  p.open();
  CHECK(p.scope("ana").items == Items{"c:case-a", "k:cl-a"});
  CHECK(p.scope("lee").items == Items{"c:case-a", "c:case-b", "k:cl-a", "k:cl-b"});
  CHECK(p.refused("ana", "visits", "v-b", {{"outcome", "x"}}) == Code::out_of_scope);
}

TEST_CASE("scope rules: only leads and admins decide a review conflict", "[scope][resolve]") {
  Programme p;
  p.people();
  p.caseload("ana", "a");
  // Two concurrent risk values (neither bases on the other): an open review conflict.
  const std::string low = p.write("ana", "cases", "case-a", {{"risk", "low"}}).op;
  const std::string high = p.write("lee", "cases", "case-a", {{"risk", "high"}}).op;
  auto apply = [&](const std::string& user, const std::string& value,
                   std::vector<std::string> base) {
    sync::Op op = put_op(device_id(2), ++p.counter, "cases", "case-a", {});
    op.user = user;
    op.writes.push_back({"risk", sync::WriteKind::set, boost::json::value(value), std::move(base)});
    auto tx = p.store->begin();
    REQUIRE(tx);
    auto r = server::apply_batch(**tx, {op}, sync::default_schema(), {kNowMs, 1000, true});
    REQUIRE(r);
    REQUIRE((*tx)->commit());
    return r->at(0);
  };
  auto risk = [&]() {
    auto tx = p.store->begin();
    REQUIRE(tx);
    auto state = (*tx)->load_record("cases", "case-a");
    REQUIRE(state);
    REQUIRE(*state);
    const sync::CollectionSpec& spec = *sync::default_schema().collection("cases");
    return std::make_pair(sync::materialize(**state, spec).at("risk"),
                          sync::conflicts(**state, spec, "cases", "case-a"));
  };
  auto open_conflicts = [&]() {
    const auto list = risk().second;
    return std::count_if(list.begin(), list.end(), [](const sync::Conflict& c) { return c.open; });
  };
  REQUIRE(open_conflicts() == 1);
  const auto before = risk().first;

  // The worker's decision is refused and changes nothing.
  auto refused = apply("ana", "medium", {low, high});
  INFO(refused.reason);
  CHECK(refused.status == sync::OpStatus::rejected);
  CHECK(refused.code == Code::forbidden);
  CHECK(refused.reason == "only leads and admins decide conflicts (cases/case-a risk)");
  CHECK(risk().first == before);
  CHECK(open_conflicts() == 1);
  // A worker's ordinary edit (based on one head) is accepted and leaves the conflict open.
  REQUIRE(before == boost::json::value("high"));  // the later clock is shown
  auto edit = apply("ana", "medium", {high});
  CHECK(edit.status == sync::OpStatus::accepted);
  CHECK(open_conflicts() == 1);

  // The lead's decision names every current head and closes the conflict.
  const auto list = risk().second;
  std::vector<std::string> heads;
  for (const auto& c : list)
    if (c.open)
      for (const auto& k : c.competitors) heads.push_back(k.op);
  REQUIRE(heads.size() == 2);
  auto decided = apply("lee", "critical", heads);
  INFO(decided.reason);
  CHECK(decided.status == sync::OpStatus::accepted);
  CHECK(risk().first == boost::json::value("critical"));
  CHECK(open_conflicts() == 0);
}
