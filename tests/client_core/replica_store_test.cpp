// The replica as the sync session's store: acks, pending ops, pulled entries, the cursor and
// the clock bound.
#include <optional>

#include "fieldsync/sync/ids.hpp"
#include "replica_test_util.hpp"

using fieldsync::Code;
using fieldsync::client::FieldEdit;
using fieldsync::client::Replica;
using namespace fieldsync::test;
namespace fss = fieldsync::sync;

namespace {

using Kind = FieldEdit::Kind;
const std::string kBob = "b0b0000000000000000000000000000b";

// An operation from another device, as a pull delivers it.
fss::LogEntry remote_set(std::uint64_t seq, std::uint64_t counter, std::int64_t wall_ms,
                         const std::string& collection, const std::string& record,
                         const std::string& field, const std::string& value,
                         std::vector<std::string> base = {}) {
  fss::Op op;
  op.id = fss::make_op_id(kBob, counter);
  op.device = kBob;
  op.user = "bob";
  op.hlc = fss::Hlc{wall_ms, 0};
  op.collection = collection;
  op.record = record;
  op.writes.push_back({field, fss::WriteKind::set, boost::json::value(value), std::move(base)});
  return fss::LogEntry{seq, std::move(op), false};
}

fss::OpResult result(const std::string& op, fss::OpStatus status, Code code = Code::ok,
                     std::string reason = {}) {
  return fss::OpResult{op, status, 0, false, code, std::move(reason)};
}

}  // namespace

TEST_CASE("on_ack drops accepted ops and keeps rejected ones with their reason", "[replica]") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.file("r.db");
  auto r = make_replica(path, clock);
  std::vector<std::string> ids;
  for (const char* id : {"c1", "c2", "c3", "c4"})
    ids.push_back(*r->put("cases", id, {{"status", Kind::set, "assessment"}}));

  auto pending = r->pending_ops(10, {});
  REQUIRE(pending.is_ok());
  REQUIRE(pending->size() == 4);
  CHECK((*pending)[0].id == ids[0]);
  CHECK((*pending)[3].id == ids[3]);
  CHECK(r->pending_ops(2, {})->size() == 2);
  auto skipping = r->pending_ops(2, {ids[0]});
  REQUIRE(skipping->size() == 2);
  CHECK((*skipping)[0].id == ids[1]);

  REQUIRE(
      r->on_ack({result(ids[0], fss::OpStatus::accepted),
                 result(ids[1], fss::OpStatus::rejected, Code::refused, "outside your caseload"),
                 result(ids[2], fss::OpStatus::duplicate)})
          .is_ok());

  auto box = r->outbox();
  REQUIRE(box->size() == 2);
  CHECK((*box)[0].op.id == ids[1]);
  CHECK((*box)[0].rejected);
  CHECK((*box)[0].code == Code::refused);
  CHECK((*box)[0].reason == "outside your caseload");
  CHECK(!(*box)[1].rejected);

  // The rejected op never blocks the one behind it, and is never offered again.
  pending = r->pending_ops(10, {});
  REQUIRE(pending->size() == 1);
  CHECK((*pending)[0].id == ids[3]);
  // The record itself keeps the local value: the refused change stays visible.
  CHECK(field(**r->get("cases", "c2"), "status") == "assessment");
}

TEST_CASE("apply_remote is idempotent and the cursor survives a reopen", "[replica]") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.file("r.db");
  auto r = make_replica(path, clock);
  auto mine =
      r->put("cases", "c1", {{"status", Kind::set, "assessment"}, {"risk", Kind::set, "low"}});
  REQUIRE(mine.is_ok());
  CHECK(r->cursor() == 0);

  // Bob edited the same case concurrently (his writes do not base on ours).
  std::vector<fss::LogEntry> batch = {
      remote_set(7, 1, kT0 + 10, "cases", "c1", "status", "planning"),
      remote_set(8, 2, kT0 + 20, "cases", "c1", "risk", "high"),
      remote_set(9, 3, kT0 + 30, "clients", "p1", "name", "Sam"),
  };
  REQUIRE(r->apply_remote(batch, 9).is_ok());
  auto first = r->get("cases", "c1");
  auto first_conflicts = r->conflicts(true);
  REQUIRE(first_conflicts.is_ok());
  CHECK(first_conflicts->size() == 2);
  CHECK(field(**first, "status") == "planning");  // later clock wins the register
  // The review field's conflict stays open; the plain register's is resolved.
  auto open = r->conflicts(false);
  REQUIRE(open->size() == 1);
  CHECK(open->front().field == "risk");
  CHECK(open->front().open);
  CHECK(open->front().competitors.size() == 2);

  // The same entries again (a resent pull), and our own op echoed back: nothing changes.
  REQUIRE(r->apply_remote(batch, 9).is_ok());
  auto box = r->outbox();
  fss::LogEntry echo{10, box->front().op, false};
  REQUIRE(r->apply_remote({echo}, 10).is_ok());
  CHECK((*r->get("cases", "c1"))->fields == (*first)->fields);
  CHECK(r->conflicts(true)->size() == 2);
  CHECK(r->list("clients")->size() == 1);

  // A worker's edit of the review field does not close the review conflict.
  REQUIRE(r->put("cases", "c1", {{"risk", Kind::set, "medium"}}).is_ok());
  CHECK(r->conflicts(false)->size() == 1);

  r.reset();
  auto again = Replica::open(path, credential(), options(clock));
  REQUIRE(again.is_ok());
  CHECK((*again)->cursor() == 10);
  CHECK(field(**(*again)->get("clients", "p1"), "name") == "Sam");
}

TEST_CASE("a remote clock beyond the bound is not adopted", "[replica]") {
  TempDir dir;
  FakeClock clock;
  auto r = make_replica(dir.file("r.db"), clock);
  const std::int64_t day = 24 * 3600 * 1000;

  REQUIRE(r->apply_remote({remote_set(1, 1, kT0 + day, "cases", "c1", "status", "planning")}, 1)
              .is_ok());
  // The skewed op is applied (it is real data) but our clock stays near real time.
  CHECK(field(**r->get("cases", "c1"), "status") == "planning");
  REQUIRE(r->put("cases", "c2", {{"status", Kind::set, "closed"}}).is_ok());
  auto mine = r->outbox()->back().op;
  CHECK(mine.hlc.wall_ms < kT0 + 60'000);

  // A remote clock a little ahead (within the bound) is adopted: we order after it.
  REQUIRE(r->apply_remote({remote_set(2, 2, kT0 + 60'000, "cases", "c3", "status", "planning")}, 2)
              .is_ok());
  REQUIRE(r->put("cases", "c3", {{"status", Kind::set, "closed"}}).is_ok());
  auto later = r->outbox()->back().op;
  CHECK(later.hlc > fss::Hlc{kT0 + 60'000, 0});
  CHECK(field(**r->get("cases", "c3"), "status") == "closed");  // causally after: it wins
}

TEST_CASE("apply_remote refuses what this schema cannot hold and keeps the cursor", "[replica]") {
  TempDir dir;
  FakeClock clock;
  auto r = make_replica(dir.file("r.db"), clock);
  REQUIRE(r->apply_remote({remote_set(1, 1, kT0, "cases", "c1", "status", "planning")}, 1).is_ok());
  auto bad = r->apply_remote({remote_set(2, 2, kT0, "cases", "c1", "colour", "red"),
                              remote_set(3, 3, kT0, "cases", "c2", "status", "closed")},
                             3);
  CHECK(bad.code() == Code::unknown_field);
  CHECK(r->cursor() == 1);
  CHECK(!r->get("cases", "c2")->has_value());
}

TEST_CASE("resolve decides a conflict with one op based on every head", "[replica][resolve]") {
  TempDir dir;
  FakeClock clock;
  auto r = make_replica(dir.file("r.db"), clock);
  REQUIRE(r->put("cases", "c1", {{"status", Kind::set, "assessment"}, {"risk", Kind::set, "low"}})
              .is_ok());
  REQUIRE(
      r->put("cases", "c2", {{"risk", Kind::set, "low"}, {"needs", Kind::add, "housing"}}).is_ok());
  // Bob edited c1 concurrently: an open review conflict on risk, an lww one on status.
  REQUIRE(r->apply_remote({remote_set(1, 1, kT0 + 10, "cases", "c1", "risk", "high"),
                           remote_set(2, 2, kT0 + 20, "cases", "c1", "status", "planning")},
                          2)
              .is_ok());
  REQUIRE(r->conflicts(false)->size() == 1);
  const std::size_t queued = r->outbox()->size();

  // What cannot be decided is refused, and nothing is written.
  auto bad = r->resolve("cases", "c1", "risk", "extreme");
  CHECK(bad.status().code() == Code::wrong_type);
  CHECK(bad.status().message() ==
        r->put("cases", "c1", {{"risk", Kind::set, "extreme"}}).status().message());
  auto no_conflict = r->resolve("cases", "c2", "risk", "high");
  CHECK(no_conflict.status().code() == Code::not_found);
  CHECK(no_conflict.status().message().find("no conflict") != std::string::npos);
  CHECK(r->resolve("cases", "c2", "status", "closed").status().code() == Code::not_found);
  CHECK(r->resolve("cases", "nope", "risk", "high").status().code() == Code::not_found);
  auto on_set = r->resolve("cases", "c2", "needs", "food");
  CHECK(on_set.status().code() == Code::wrong_type);
  CHECK(on_set.status().message().find("sets do not conflict") != std::string::npos);
  CHECK(r->resolve("cases", "c1", "colour", "red").status().code() == Code::unknown_field);
  CHECK(r->outbox()->size() == queued);

  // A third value closes the review conflict; the decision is an ordinary outbox op.
  auto decided = r->resolve("cases", "c1", "risk", "critical");
  REQUIRE(decided.is_ok());
  CHECK(field(**r->get("cases", "c1"), "risk") == "critical");
  CHECK(r->conflicts(false)->empty());
  auto box = r->outbox();
  REQUIRE(box->size() == queued + 1);
  const fss::Op& op = box->back().op;
  CHECK(op.id == *decided);
  REQUIRE(op.writes.size() == 1);
  CHECK(op.writes[0].field == "risk");
  CHECK(op.writes[0].base.size() == 2);
  auto risk_conflict = [&]() -> std::optional<fss::Conflict> {
    auto all = r->conflicts(true);
    REQUIRE(all.is_ok());
    for (const auto& c : *all)
      if (c.record == "c1" && c.field == "risk") return c;
    return std::nullopt;
  };
  auto closed = risk_conflict();
  REQUIRE(closed);
  CHECK(!closed->open);
  CHECK(closed->resolved_by == *decided);
  // Nothing is left to decide on risk; the lww status conflict can still be settled.
  CHECK(r->resolve("cases", "c1", "risk", "low").status().code() == Code::not_found);
  auto settled = r->resolve("cases", "c1", "status", "assessment");
  REQUIRE(settled.is_ok());
  CHECK(field(**r->get("cases", "c1"), "status") == "assessment");
  bool status_settled = false;
  auto all = r->conflicts(true);
  REQUIRE(all.is_ok());
  for (const auto& c : *all)
    if (c.field == "status") status_settled = c.resolved_by == *settled;
  CHECK(status_settled);
}

TEST_CASE("resolve is refused on a device enrolled for a worker", "[replica][resolve]") {
  TempDir dir;
  FakeClock clock;
  auto r = make_replica(dir.file("r.db"), clock);
  REQUIRE(r->put("cases", "c1", {{"risk", Kind::set, "low"}}).is_ok());
  REQUIRE(r->apply_remote({remote_set(1, 1, kT0 + 10, "cases", "c1", "risk", "high")}, 1).is_ok());
  REQUIRE(r->set_enrolled("ana", "worker", "ws://127.0.0.1:8700"));
  auto refused = r->resolve("cases", "c1", "risk", "critical");
  CHECK(refused.status().code() == Code::forbidden);
  CHECK(refused.status().message().find("only leads and admins decide conflicts") !=
        std::string::npos);
  CHECK(r->conflicts(false)->size() == 1);
  CHECK(r->outbox()->size() == 1);
  // A lead's device decides.
  REQUIRE(r->set_enrolled("lee", "lead", "ws://127.0.0.1:8700"));
  REQUIRE(r->resolve("cases", "c1", "risk", "critical").is_ok());
  CHECK(r->conflicts(false)->empty());
}
