// A record's field-by-field history (sync/history.hpp): the merge replayed op by op.
#include <catch2/catch.hpp>

#include <boost/json/serialize.hpp>

#include "fieldsync/sync/history.hpp"
#include "test_device.hpp"

using namespace fieldsync;
using namespace fieldsync::sync;
using test::TestDevice;

namespace {
const CollectionSpec& cases() { return *default_schema().collection("cases"); }

// The ops as log entries, seq 1, 2, ... received 10 s after each op's clock.
std::vector<HistoryEntry> entries(const std::vector<Op>& ops) {
  std::vector<HistoryEntry> out;
  out.reserve(ops.size());
  std::uint64_t seq = 0;
  for (const auto& op : ops) out.push_back({++seq, op, op.hlc.wall_ms + 10'000});
  return out;
}

RecordHistory history(const std::vector<Op>& ops) {
  return record_history("cases", "k", entries(ops), cases());
}

std::string js(const boost::json::value& v) { return boost::json::serialize(v); }

// "field: OLD -> NEW" for each change, to compare in one line.
std::vector<std::string> describe(const std::vector<FieldChange>& changes) {
  std::vector<std::string> out;
  out.reserve(changes.size());
  for (const auto& c : changes)
    out.push_back(c.field + ": " + js(c.old_value) + " -> " + js(c.new_value));
  return out;
}

using Strings = std::vector<std::string>;
}  // namespace

TEST_CASE("history: a create then an edit shows the old and new values") {
  TestDevice a(test::device_id(1), "ana");
  Op create = a.new_op("cases", "k", 1000);
  create.writes.push_back({"status", WriteKind::set, boost::json::value("assessment"), {}});
  create.writes.push_back({"programme", WriteKind::set, boost::json::value("outreach"), {}});
  a.receive(create, 1000);
  Op edit = a.set("cases", "k", "status", "planning", 2000);
  RecordHistory h = history({create, edit});
  CHECK(h.collection == "cases");
  CHECK(h.id == "k");
  REQUIRE(h.steps.size() == 2);
  const HistoryStep& s0 = h.steps[0];
  CHECK(s0.seq == 1);
  CHECK(s0.op == create.id);
  CHECK(s0.user == "ana");
  CHECK(s0.device == a.id());
  CHECK(s0.hlc == create.hlc);
  CHECK(s0.received_ms == create.hlc.wall_ms + 10'000);
  CHECK_FALSE(s0.deleted);
  CHECK(describe(s0.changes) ==
        Strings{R"(programme: null -> "outreach")", R"(status: null -> "assessment")"});
  CHECK(describe(s0.written) ==
        Strings{R"(status: null -> "assessment")", R"(programme: null -> "outreach")"});
  CHECK(s0.conflicts.empty());
  const HistoryStep& s1 = h.steps[1];
  CHECK(s1.seq == 2);
  CHECK(describe(s1.changes) == Strings{R"(status: "assessment" -> "planning")"});
  CHECK(describe(s1.written) == Strings{R"(status: null -> "planning")"});
  CHECK(s1.conflicts.empty());
  CHECK(h.conflicts.empty());
}

TEST_CASE("history: concurrent review edits show both writes, the conflict open, then resolved") {
  TestDevice a(test::device_id(1), "ana"), b(test::device_id(2), "ben"),
      lead(test::device_id(3), "lea");
  Op ra = a.set("cases", "k", "risk", "high", 1000);
  Op rb = b.set("cases", "k", "risk", "low", 1100);  // neither names the other: concurrent
  REQUIRE(ra.writes[0].base.empty());
  REQUIRE(rb.writes[0].base.empty());

  // The winner (later clock) reaches the server first; the loser's step changes nothing.
  RecordHistory open = history({rb, ra});
  REQUIRE(open.steps.size() == 2);
  CHECK(describe(open.steps[0].changes) == Strings{R"(risk: null -> "low")"});
  CHECK(open.steps[0].conflicts.empty());
  CHECK(open.steps[1].changes.empty());
  CHECK(describe(open.steps[1].written) == Strings{R"(risk: null -> "high")"});
  CHECK(open.steps[1].conflicts == Strings{"risk"});
  REQUIRE(open.conflicts.size() == 1);
  CHECK(open.conflicts[0].field == "risk");
  CHECK(open.conflicts[0].kind == ConflictKind::concurrent_edit);
  CHECK(open.conflicts[0].open);
  CHECK(open.conflicts[0].winner == rb.id);
  CHECK(open.conflicts[0].competitors.size() == 2);
  CHECK(open.conflicts[0].resolved_by.empty());

  // A lead's decision names both heads: the conflict stays on record, resolved by it.
  lead.receive(rb, 1200);
  lead.receive(ra, 1200);
  Op decision = lead.set("cases", "k", "risk", "high", 1500, /*decide=*/true);
  REQUIRE(decision.writes[0].base.size() == 2);
  RecordHistory closed = history({rb, ra, decision});
  REQUIRE(closed.steps.size() == 3);
  CHECK(describe(closed.steps[2].changes) == Strings{R"(risk: "low" -> "high")"});
  CHECK(closed.steps[2].user == "lea");
  CHECK(closed.steps[2].conflicts.empty());
  REQUIRE(closed.conflicts.size() == 1);
  CHECK_FALSE(closed.conflicts[0].open);
  CHECK(closed.conflicts[0].resolved_by == decision.id);
  CHECK(closed.conflicts[0].competitors.size() == 2);
}

TEST_CASE("history: the loser arriving first still shows both writes and the conflict") {
  TestDevice a(test::device_id(1), "ana"), b(test::device_id(2), "ben");
  Op ra = a.set("cases", "k", "risk", "high", 1000);
  Op rb = b.set("cases", "k", "risk", "low", 1100);
  RecordHistory h = history({ra, rb});
  REQUIRE(h.steps.size() == 2);
  CHECK(describe(h.steps[0].changes) == Strings{R"(risk: null -> "high")"});
  CHECK(describe(h.steps[1].changes) == Strings{R"(risk: "high" -> "low")"});
  CHECK(h.steps[1].conflicts == Strings{"risk"});
  REQUIRE(h.conflicts.size() == 1);
  CHECK(h.conflicts[0].open);
}

TEST_CASE("history: a delete step, and an edit it did not see") {
  TestDevice a(test::device_id(1), "ana"), b(test::device_id(2), "ben");
  Op create = a.set("cases", "k", "status", "assessment", 1000);
  b.receive(create, 1000);
  Op del = a.del("cases", "k", 2000);
  Op edit = b.set("cases", "k", "programme", "outreach", 2100);
  RecordHistory h = history({create, del, edit});
  REQUIRE(h.steps.size() == 3);
  const HistoryStep& d = h.steps[1];
  CHECK(d.deleted);
  CHECK(d.written.empty());
  CHECK(d.changes.empty());  // a tombstone: the fields' values are kept
  CHECK(d.conflicts.empty());
  const HistoryStep& e = h.steps[2];
  CHECK_FALSE(e.deleted);
  CHECK(describe(e.changes) == Strings{R"(programme: null -> "outreach")"});
  CHECK(e.conflicts == Strings{"programme"});
  REQUIRE(h.conflicts.size() == 1);
  CHECK(h.conflicts[0].kind == ConflictKind::edit_vs_delete);
  CHECK(h.conflicts[0].winner == del.id);

  // The other way round: the delete arrives after the edit it did not see.
  RecordHistory late = history({create, edit, del});
  CHECK(late.steps[1].conflicts.empty());
  CHECK(late.steps[2].deleted);
  CHECK(late.steps[2].conflicts == Strings{"programme"});
}

TEST_CASE("history: set adds and removes show the element written and the whole set") {
  TestDevice a(test::device_id(1), "ana"), b(test::device_id(2), "ben");
  Op add1 = a.add("cases", "k", "needs", "housing", 1000);
  Op add2 = a.add("cases", "k", "needs", "food", 1100);
  Op rem = a.remove("cases", "k", "needs", "housing", 1200);
  RecordHistory h = history({add1, add2, rem});
  REQUIRE(h.steps.size() == 3);
  CHECK(describe(h.steps[0].changes) == Strings{R"(needs: null -> ["housing"])"});
  CHECK(describe(h.steps[0].written) == Strings{R"(needs: null -> "housing")"});
  CHECK(describe(h.steps[1].changes) == Strings{R"(needs: ["housing"] -> ["food","housing"])"});
  CHECK(describe(h.steps[2].changes) == Strings{R"(needs: ["food","housing"] -> ["food"])"});
  CHECK(describe(h.steps[2].written) == Strings{R"(needs: "housing" -> null)"});
  for (const auto& s : h.steps) CHECK(s.conflicts.empty());
  CHECK(h.conflicts.empty());

  // A remove that lost to a concurrent add changes nothing visible.
  b.receive(add1, 1000);
  Op rem_b = b.remove("cases", "k", "needs", "housing", 1300);
  Op re_add = a.add("cases", "k", "needs", "housing", 1300);
  RecordHistory won = history({add1, re_add, rem_b});
  CHECK(won.steps[2].changes.empty());
  CHECK(describe(won.steps[2].written) == Strings{R"(needs: "housing" -> null)"});
}

TEST_CASE("history: a duplicate entry gets a step that changes nothing") {
  TestDevice a(test::device_id(1), "ana");
  Op e = a.set("cases", "k", "status", "planning", 1000);
  RecordHistory h = history({e, e});
  REQUIRE(h.steps.size() == 2);
  CHECK(h.steps[1].changes.empty());
  CHECK(h.steps[1].written.size() == 1);
  CHECK(h.steps[1].conflicts.empty());
}

TEST_CASE("history: JSON form") {
  TestDevice a(test::device_id(1), "ana"), b(test::device_id(2), "ben");
  Op ra = a.set("cases", "k", "risk", "high", 1000);
  Op rb = b.set("cases", "k", "risk", "low", 1100);
  Op del = a.del("cases", "k", 1200);
  boost::json::value v = to_json(history({ra, rb, del}));
  const auto& o = v.as_object();
  CHECK(o.at("collection") == "cases");
  CHECK(o.at("id") == "k");
  const auto& steps = o.at("steps").as_array();
  REQUIRE(steps.size() == 3);
  const auto& s1 = steps[1].as_object();
  CHECK(s1.at("seq") == 2);
  CHECK(s1.at("op") == boost::json::value(rb.id));
  CHECK(s1.at("user") == "ben");
  CHECK(s1.at("device") == boost::json::value(b.id()));
  CHECK(s1.at("hlc").at("wall_ms") == rb.hlc.wall_ms);
  CHECK(s1.at("hlc").at("logical") == rb.hlc.logical);
  CHECK(s1.at("received_ms") == rb.hlc.wall_ms + 10'000);
  CHECK(s1.at("deleted") == false);
  CHECK(js(s1.at("changes")) == R"([{"field":"risk","old":"high","new":"low"}])");
  CHECK(js(s1.at("written")) == R"([{"field":"risk","old":null,"new":"low"}])");
  CHECK(js(s1.at("conflicts")) == R"(["risk"])");
  CHECK(steps[2].at("deleted") == true);
  const auto& conflicts = o.at("conflicts").as_array();
  REQUIRE(conflicts.size() == 2);  // the open review, and ben's edit the delete did not see
  CHECK(conflicts[0].at("kind") == "concurrent_edit");
  CHECK(conflicts[0].at("status") == "open");
  CHECK(conflicts[1].at("kind") == "edit_vs_delete");
}
