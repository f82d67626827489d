// The replica's side of scopes: the digest it reports (empty until a first scope frame, and
// counting only items fetched whole), purges that keep pending writes, and snapshots merged.
#include <string>
#include <vector>

#include "fieldsync/sync/scope.hpp"
#include "replica_test_util.hpp"

using fieldsync::client::FieldEdit;
using namespace fieldsync;
using namespace fieldsync::test;
using Kind = FieldEdit::Kind;

TEST_CASE("replica scope: digest, purge with pending writes kept, interrupted fetches",
          "[replica][scope]") {
  TempDir dir;
  FakeClock clock;
  auto r = make_replica(dir.file("r.db"), clock, "ana");
  // Records from before scopes (or from a server without them): no scope known yet, so the
  // empty digest asks the server for the whole set.
  REQUIRE(r->put("cases", "c1", {{"status", Kind::set, "planning"}}));
  REQUIRE(r->put("visits", "v1", {{"case_id", Kind::set, "c1"}}));
  REQUIRE(r->put("cases", "c2", {{"status", Kind::set, "planning"}}));
  CHECK(r->scope_digest().empty());
  // c2 has a write still pending; c1's are acknowledged.
  auto ob = r->outbox();
  REQUIRE(ob);
  std::vector<sync::OpResult> acks;
  for (const auto& e : *ob)
    if (e.op.record != "c2") acks.push_back({e.op.id, sync::OpStatus::accepted, 1, false, {}, {}});
  REQUIRE(r->on_ack(acks));

  // A full scope without c1 or c2: c1 and its visit go, c2 stays (its write is pending).
  auto applied = r->apply_scope(sync::Scope{true, {"c:c3"}, {}, sync::scope_digest({"c:c3"})});
  REQUIRE(applied);
  CHECK(applied->purged == 2);
  auto c1 = r->get("cases", "c1");
  REQUIRE(c1);
  CHECK_FALSE(c1->has_value());
  auto v1 = r->get("visits", "v1");
  REQUIRE(v1);
  CHECK_FALSE(v1->has_value());
  auto c2 = r->get("cases", "c2");
  REQUIRE(c2);
  CHECK(c2->has_value());
  REQUIRE(applied->fetch.size() == 1);
  CHECK(applied->fetch[0].item == "c:c3");
  CHECK(applied->fetch[0].have.empty());

  // Until c3's snapshot is merged and marked, the digest leaves it out: a cut-off fetch makes
  // the next session send the whole scope again.
  CHECK(r->scope_digest() == sync::scope_digest({}));
  sync::RecordState st;
  sync::Op op;
  op.id = "0123456789abcdef0123456789abcdef-1";
  op.device = "0123456789abcdef0123456789abcdef";
  op.user = "lee";
  op.hlc = sync::Hlc{kT0, 0};
  op.collection = "cases";
  op.record = "c3";
  op.writes.push_back({"status", sync::WriteKind::set, boost::json::value("evaluation"), {}});
  sync::apply(st, op, *sync::default_schema().collection("cases"));
  REQUIRE(r->apply_snapshot({{"cases", "c3", st}}));
  REQUIRE(r->mark_fetched({"c:c3"}));
  CHECK(r->scope_digest() == sync::scope_digest({"c:c3"}));
  auto c3 = r->get("cases", "c3");
  REQUIRE(c3);
  REQUIRE(c3->has_value());
  CHECK(field(**c3, "status") == "evaluation");
  // The same snapshot again changes nothing; what the replica holds of c3 now matches it.
  REQUIRE(r->apply_snapshot({{"cases", "c3", st}}));
  sync::HoldingDigest held;
  held.add("cases", "c3", st);
  auto again = r->apply_scope(sync::Scope{false, {"c:c3"}, {}, ""});
  REQUIRE(again);
  REQUIRE(again->fetch.size() == 1);
  CHECK(again->fetch[0].have == held.finish());
}
