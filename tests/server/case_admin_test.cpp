// Case assignments and shares made by the server on behalf of a lead or admin: ordinary
// operations with sequence numbers that a later read_log returns, the role and team rules,
// and the errors for unknown users and cases.
#include <catch2/catch.hpp>

#include "fieldsync/server/apply.hpp"
#include "fieldsync/server/case_admin.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "test_util.hpp"

using namespace fieldsync;
using namespace fieldsync::test;
using server::CaseAction;
using server::Role;

namespace {

const std::string kDevice = device_id(1);

// Teams north and south: ana, ben (workers) and lee (lead) in north; zoe (worker) and sam
// (lead) in south; root (admin). Case c1 assigned to ana by a device.
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
    device_put("c1", {{"status", "assessment"}, {"assigned_to", "ana"}});
  }

  void device_put(const std::string& id, const Fields& fields, const std::string& user = "alice") {
    auto tx = store->begin();
    REQUIRE(tx);
    sync::Op op = put_op(kDevice, ++counter, "cases", id, fields);
    op.user = user;
    auto r =
        server::apply_batch(**tx, {op}, sync::default_schema(), {kNowMs, sync::kDefaultMaxAheadMs});
    REQUIRE(r);
    REQUIRE(r->front().status == sync::OpStatus::accepted);
    REQUIRE((*tx)->commit());
  }

  Result<server::CaseChangeResult> change(CaseAction action, const std::string& case_id,
                                          const std::string& user, const std::string& actor) {
    return server::change_case(*store, *d, {action, case_id, user, actor}, kNowMs + 1000);
  }

  boost::json::object fields(const std::string& id) {
    auto row = store->get_record("cases", id);
    REQUIRE(row);
    REQUIRE(*row);
    return (*row)->fields;
  }
};

}  // namespace

TEST_CASE("an assignment is an operation with a sequence number that read_log returns",
          "[case_admin]") {
  Fixture f;
  auto r = f.change(CaseAction::assign, "c1", "ben", "lee");
  REQUIRE(r);
  CHECK(r->changed);
  CHECK(r->seq == 2);
  CHECK(f.fields("c1").at("assigned_to") == "ben");
  CHECK(f.fields("c1").at("status") == "assessment");

  auto log = f.store->read_log(0, 100, "");
  REQUIRE(log);
  REQUIRE(log->entries.size() == 2);
  const sync::LogEntry& e = log->entries[1];
  CHECK(e.seq == 2);
  CHECK(e.op.id == r->op_id);
  CHECK(e.op.device == *f.d->server_device());
  CHECK(e.op.user == "lee");
  CHECK(e.op.collection == "cases");
  CHECK(e.op.record == "c1");
  REQUIRE(e.op.writes.size() == 1);
  CHECK(e.op.writes[0].field == "assigned_to");
  // Based on the device's write, so it supersedes it rather than competing with it.
  CHECK(e.op.writes[0].base == std::vector<std::string>{kDevice + ".1"});
  CHECK(e.op.hlc.wall_ms >= kNowMs + 1000);
  // A device that pulls it leaves it out only when it is its own.
  auto other = f.store->read_log(1, 100, kDevice);
  REQUIRE(other);
  CHECK(other->entries.size() == 1);

  // Assigning the current assignee again changes nothing and writes nothing.
  auto same = f.change(CaseAction::assign, "c1", "ben", "lee");
  REQUIRE(same);
  CHECK_FALSE(same->changed);
  CHECK(*f.store->head() == 2);
}

TEST_CASE("shares add and remove users in cases.shared_with", "[case_admin]") {
  Fixture f;
  auto shared = f.change(CaseAction::share, "c1", "zoe", "lee");  // across teams: allowed
  REQUIRE(shared);
  CHECK(shared->changed);
  auto also = f.change(CaseAction::share, "c1", "ben", "root");
  REQUIRE(also);
  CHECK(also->seq == shared->seq + 1);
  CHECK(f.fields("c1").at("shared_with") == boost::json::array{"ben", "zoe"});

  auto twice = f.change(CaseAction::share, "c1", "zoe", "lee");
  REQUIRE(twice);
  CHECK_FALSE(twice->changed);

  auto removed = f.change(CaseAction::unshare, "c1", "zoe", "lee");
  REQUIRE(removed);
  CHECK(removed->changed);
  CHECK(f.fields("c1").at("shared_with") == boost::json::array{"ben"});
  CHECK(f.change(CaseAction::unshare, "c1", "zoe", "lee").status().code() == Code::not_found);

  auto log = f.store->read_log(0, 100, "");
  REQUIRE(log);
  CHECK(log->entries.size() == 4);
  CHECK(log->entries.back().op.writes.at(0).kind == sync::WriteKind::remove);
}

TEST_CASE("only leads of the case's team and admins may assign and share", "[case_admin]") {
  Fixture f;
  CHECK(f.change(CaseAction::assign, "c1", "ben", "ana").status().code() == Code::forbidden);
  CHECK(f.change(CaseAction::share, "c1", "ben", "ana").status().code() == Code::forbidden);
  // Another team's lead does not see the case: not found, as if there were none.
  CHECK(f.change(CaseAction::assign, "c1", "zoe", "sam").status().message() ==
        "no case c1 in your scope");
  CHECK(f.change(CaseAction::share, "c1", "zoe", "sam").status().code() == Code::not_found);
  // A lead moves cases within the team only; an admin anywhere.
  CHECK(f.change(CaseAction::assign, "c1", "zoe", "lee").status().code() == Code::forbidden);
  CHECK(*f.store->head() == 1);
  REQUIRE(f.change(CaseAction::assign, "c1", "zoe", "root"));
  // Now a south case: sam may, lee may not.
  CHECK(f.change(CaseAction::share, "c1", "ben", "lee").status().code() == Code::not_found);
  CHECK(f.change(CaseAction::share, "c1", "ben", "sam"));

  SECTION("an unassigned case joins the lead's team by its first assignment") {
    f.device_put("c2", {{"status", "assessment"}}, "ben");
    CHECK(f.change(CaseAction::share, "c2", "ben", "lee").status().code() == Code::forbidden);
    CHECK(f.change(CaseAction::assign, "c2", "zoe", "lee").status().code() == Code::forbidden);
    REQUIRE(f.change(CaseAction::assign, "c2", "ben", "lee"));
    CHECK(f.change(CaseAction::share, "c2", "ana", "lee"));
  }
  SECTION("another team's unassigned case is out of a lead's reach") {
    f.device_put("c3", {{"status", "assessment"}}, "zoe");
    CHECK(f.change(CaseAction::assign, "c3", "ben", "lee").status().message() ==
          "no case c3 in your scope");
    CHECK(f.change(CaseAction::assign, "c3", "zoe", "sam"));
  }
}

TEST_CASE("unknown users and cases, admins as targets, deleted cases", "[case_admin]") {
  Fixture f;
  CHECK(f.change(CaseAction::assign, "c1", "ben", "nobody").status().code() == Code::not_found);
  CHECK(f.change(CaseAction::assign, "c1", "nobody", "root").status().code() == Code::not_found);
  // A lead is told the same about an unknown user, an admin and another team's member.
  const std::string outside = "a lead assigns cases within the team only: '";
  for (const char* target : {"nobody", "root", "zoe"}) {
    auto r = f.change(CaseAction::assign, "c1", target, "lee");
    CHECK(r.status().code() == Code::forbidden);
    CHECK(r.status().message() == outside + target + "' is not a member of team 'north'");
  }
  CHECK(f.change(CaseAction::assign, "c9", "ben", "lee").status().code() == Code::not_found);
  CHECK(f.change(CaseAction::share, "c1", "root", "lee").status().code() == Code::invalid_argument);
  CHECK(f.change(CaseAction::assign, "bad id", "ben", "lee").status().code() == Code::invalid_id);

  {
    auto tx = f.store->begin();  // one StoreTx at a time: released before change() begins one
    REQUIRE(tx);
    sync::Op del = put_op(kDevice, ++f.counter, "cases", "c1", {});
    del.kind = sync::OpKind::del;
    del.writes.clear();
    del.del_base = {kDevice + ".1"};
    REQUIRE(server::apply_batch(**tx, {del}, sync::default_schema(),
                                {kNowMs, sync::kDefaultMaxAheadMs}));
    REQUIRE((*tx)->commit());
  }
  auto refused = f.change(CaseAction::assign, "c1", "ben", "lee");
  CHECK(refused.status().code() == Code::not_found);
  CHECK(refused.status().message().find("deleted") != std::string::npos);
  CHECK(*f.store->head() == 2);
}
