// Merge rules, one scenario each (rules listed in sync/merge.hpp).
#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "fieldsync/sync/merge.hpp"
#include "test_device.hpp"

using namespace fieldsync;
using namespace fieldsync::sync;
using test::TestDevice;

namespace {
const CollectionSpec& cases() { return *default_schema().collection("cases"); }

RecordState apply_all(const std::vector<Op>& ops) {
  RecordState st;
  for (const auto& op : ops) apply(st, op, *default_schema().collection(op.collection));
  return st;
}

std::string field(const RecordState& st, const std::string& name) {
  auto fields = materialize(st, cases());
  auto it = fields.find(name);
  return it == fields.end() ? "" : std::string(it->value().as_string());
}
}  // namespace

TEST_CASE("merge: edits of different fields on two devices both survive, no conflict") {
  TestDevice a(test::device_id(1), "ana"), b(test::device_id(2), "ben");
  Op base = a.set("cases", "k", "programme", "outreach", 1000);
  b.receive(base, 1000);
  Op ea = a.set("cases", "k", "status", "planning", 2000);
  Op eb = b.set("cases", "k", "programme", "housing-first", 2000);
  RecordState st = apply_all({base, ea, eb});
  CHECK(field(st, "status") == "planning");
  CHECK(field(st, "programme") == "housing-first");
  CHECK(conflicts(st, cases(), "cases", "k").empty());
}

TEST_CASE("merge: a concurrent edit of one field keeps the loser as a resolved conflict") {
  TestDevice a(test::device_id(1), "ana"), b(test::device_id(2), "ben");
  Op base = a.set("cases", "k", "status", "assessment", 1000);
  b.receive(base, 1000);
  Op ea = a.set("cases", "k", "status", "planning", 2000);
  Op eb = b.set("cases", "k", "status", "closed", 2500);
  RecordState st = apply_all({base, ea, eb});
  CHECK(field(st, "status") == "closed");  // later HLC wins
  auto cs = conflicts(st, cases(), "cases", "k");
  REQUIRE(cs.size() == 1);
  CHECK(cs[0].field == "status");
  CHECK(cs[0].competitors.size() == 2);
  CHECK(cs[0].winner == eb.id);
  CHECK_FALSE(cs[0].open);
}

TEST_CASE("merge: equal clocks are broken by device id") {
  TestDevice a(test::device_id(1), "ana"), b(test::device_id(2), "ben");
  Op ea = a.set("cases", "k", "programme", "x", 1000);
  Op eb = b.set("cases", "k", "programme", "y", 1000);
  CHECK(field(apply_all({ea, eb}), "programme") == "y");
  CHECK(field(apply_all({eb, ea}), "programme") == "y");
}

TEST_CASE("merge: a sequential edit replaces the value, no conflict") {
  TestDevice a(test::device_id(1), "ana"), b(test::device_id(2), "ben");
  Op first = a.set("cases", "k", "status", "assessment", 1000);
  b.receive(first, 1000);
  Op second = b.set("cases", "k", "status", "planning", 2000);
  RecordState st = apply_all({second, first});  // even out of order
  CHECK(field(st, "status") == "planning");
  CHECK(conflicts(st, cases(), "cases", "k").empty());
}

TEST_CASE("merge: a device whose clock runs days ahead does not win against later edits") {
  const std::int64_t three_days = 3LL * 24 * 3600 * 1000;
  TestDevice fast(test::device_id(1), "ana", three_days), b(test::device_id(2), "ben");
  Op skewed = fast.set("cases", "k", "status", "closed", 1000);
  b.receive(skewed, 1000);  // b does not adopt the clock...
  Op fix = b.set("cases", "k", "status", "planning", 2000);
  CHECK(fix.hlc < skewed.hlc);  // ...so its clock is behind, yet
  RecordState st = apply_all({skewed, fix});
  CHECK(field(st, "status") == "planning");  // causality beats the clock
  CHECK(conflicts(st, cases(), "cases", "k").empty());
}

TEST_CASE("merge: a review field conflict stays open until a decision names every head") {
  TestDevice a(test::device_id(1), "ana"), b(test::device_id(2), "ben"),
      lead(test::device_id(3), "lea");
  Op ra = a.set("cases", "k", "risk", "high", 1000);
  Op rb = b.set("cases", "k", "risk", "low", 1100);
  RecordState st = apply_all({ra, rb});
  auto cs = conflicts(st, cases(), "cases", "k");
  REQUIRE(cs.size() == 1);
  CHECK(cs[0].open);
  // A worker's further edit does not close the review.
  a.receive(rb, 1200);
  Op again = a.set("cases", "k", "risk", "medium", 1300);
  st = apply_all({ra, rb, again});
  cs = conflicts(st, cases(), "cases", "k");
  REQUIRE(cs.size() == 1);
  CHECK(cs[0].open);
  // The lead's decision closes it; the conflict stays on record as resolved.
  lead.receive(ra, 1400);
  lead.receive(rb, 1400);
  lead.receive(again, 1400);
  Op decision = lead.set("cases", "k", "risk", "high", 1500, /*decide=*/true);
  st = apply_all({decision, again, rb, ra});
  CHECK(field(st, "risk") == "high");
  cs = conflicts(st, cases(), "cases", "k");
  REQUIRE(cs.size() == 1);
  CHECK_FALSE(cs[0].open);
  CHECK(cs[0].resolved_by == decision.id);
}

TEST_CASE("merge: add-wins sets") {
  TestDevice a(test::device_id(1), "ana"), b(test::device_id(2), "ben");
  Op add1 = a.add("cases", "k", "needs", "housing", 1000);
  b.receive(add1, 1000);
  Op rem = b.remove("cases", "k", "needs", "housing", 2000);
  Op add2 = a.add("cases", "k", "needs", "housing", 2000);  // concurrent re-add
  Op add3 = b.add("cases", "k", "needs", "food", 2100);
  for (auto order :
       {std::vector<Op>{add1, rem, add2, add3}, std::vector<Op>{add3, add2, rem, add1}}) {
    auto fields = materialize(apply_all(order), cases());
    CHECK(boost::json::serialize(fields.at("needs")) == R"(["food","housing"])");
  }
  auto fields = materialize(apply_all({add1, rem, add3}), cases());
  CHECK(boost::json::serialize(fields.at("needs")) == R"(["food"])");
}

TEST_CASE("merge: removing one element added by a multi-element op keeps the others") {
  TestDevice a(test::device_id(1), "ana");
  Op both = a.new_op("cases", "k", 1000);
  both.writes.push_back({"needs", WriteKind::add, boost::json::value("food"), {}});
  both.writes.push_back({"needs", WriteKind::add, boost::json::value("housing"), {}});
  RecordState st = apply_all({both});
  Op rem = a.new_op("cases", "k", 2000);
  rem.writes.push_back({"needs", WriteKind::remove, boost::json::value("food"),
                        live_tags(st.sets["needs"], "food")});
  apply(st, rem, cases());
  CHECK(boost::json::serialize(materialize(st, cases()).at("needs")) == R"(["housing"])");
}

TEST_CASE("merge: a delete wins over a concurrent edit, which is kept as a conflict") {
  TestDevice a(test::device_id(1), "ana"), b(test::device_id(2), "ben");
  Op create = a.set("cases", "k", "status", "assessment", 1000);
  b.receive(create, 1000);
  Op del = a.del("cases", "k", 2000);
  Op edit = b.set("cases", "k", "programme", "outreach", 2100);
  RecordState st = apply_all({edit, del, create});
  CHECK(st.deleted());
  auto cs = conflicts(st, cases(), "cases", "k");
  REQUIRE(cs.size() == 1);
  CHECK(cs[0].kind == ConflictKind::edit_vs_delete);
  CHECK(cs[0].winner == del.id);
  CHECK(cs[0].field == "programme");
}

TEST_CASE("merge: append-only notes take the first write and never conflict") {
  TestDevice a(test::device_id(1), "ana"), b(test::device_id(2), "ben");
  Op n1 = a.set("notes", "n", "text", "first", 1000);
  Op n2 = b.set("notes", "n", "text", "second", 2000);
  const auto& notes = *default_schema().collection("notes");
  for (auto order : {std::vector<Op>{n1, n2}, std::vector<Op>{n2, n1}}) {
    RecordState st = apply_all(order);
    CHECK(materialize(st, notes).at("text").as_string() == "first");
    CHECK(conflicts(st, notes, "notes", "n").empty());
  }
}

TEST_CASE("merge: applying the same operation twice changes nothing") {
  TestDevice a(test::device_id(1), "ana");
  Op e = a.set("cases", "k", "status", "planning", 1000);
  Op s = a.add("cases", "k", "needs", "food", 1000);
  RecordState st;
  CHECK(apply(st, e, cases()));
  CHECK(apply(st, s, cases()));
  RecordState copy = st;
  CHECK_FALSE(apply(st, e, cases()));
  CHECK_FALSE(apply(st, s, cases()));
  CHECK(st == copy);
}

TEST_CASE("merge: record state survives its storage form") {
  TestDevice a(test::device_id(1), "ana"), b(test::device_id(2), "ben");
  Op e1 = a.set("cases", "k", "status", "planning", 1000);
  Op e2 = b.set("cases", "k", "status", "closed", 1000);
  Op s1 = a.add("cases", "k", "needs", "food", 1000);
  Op s2 = a.remove("cases", "k", "needs", "food", 1100);
  Op d = b.del("cases", "k", 1200);
  RecordState st = apply_all({e1, e2, s1, s2, d});
  auto back = record_state_from_json(to_json(st));
  REQUIRE(back);
  CHECK(*back == st);
  CHECK_FALSE(record_state_from_json(boost::json::parse(R"({"r":3})")));
}
