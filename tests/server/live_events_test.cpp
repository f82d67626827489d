// Which commits an open dashboard page hears of (live_events.hpp): those on records its user
// sees, and those that may change what the user sees; never another team's.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "live_events.hpp"

using namespace fieldsync;
using server::judge_live;

namespace {

// A committed entry: one write of `field` = `value` on `collection`/`record`, whose stored
// scope is `item` (created by `creator`; `created`: this op made the record).
sync::LogEntry entry(std::uint64_t seq, const std::string& collection, const std::string& record,
                     const std::string& field, const std::string& value, const std::string& item,
                     const std::string& creator, bool created = false) {
  sync::LogEntry e;
  e.seq = seq;
  e.op.id = "d." + std::to_string(seq);
  e.op.collection = collection;
  e.op.record = record;
  e.op.writes.push_back(
      sync::FieldWrite{field, sync::WriteKind::set, boost::json::value(value), {}});
  e.scope = sync::EntryScope{item, creator, created};
  return e;
}

// Lea leads team north (ana and ben): she sees case-a1 and its client, and what her team
// creates outside cases.
sync::Visibility lea_sees() {
  sync::Visibility v;
  v.items = {"c:case-a1", "k:cl-a1"};
  v.creators = {"ana", "ben", "lea"};
  return v;
}

}  // namespace

TEST_CASE("a dashboard page hears of commits on what its user sees, not of other teams'", "[web]") {
  const sync::Visibility lea = lea_sees();
  SECTION("a visit of a case of hers") {
    auto v =
        judge_live(lea, "lea", {entry(7, "visits", "v1", "outcome", "seen", "c:case-a1", "ana")});
    CHECK(v.notify);
    CHECK_FALSE(v.reload);
  }
  SECTION("another team's case, its visit and its client") {
    auto v = judge_live(lea, "lea",
                        {entry(7, "cases", "case-s1", "risk", "high", "c:case-s1", "sam"),
                         entry(8, "visits", "v9", "outcome", "x", "c:case-s1", "sam"),
                         entry(9, "clients", "cl-s1", "name", "Sara", "k:cl-s1", "sam", true)});
    CHECK_FALSE(v.notify);
    CHECK_FALSE(v.reload);
  }
  SECTION("another team's case assigned to one of her team: it comes in") {
    auto v = judge_live(lea, "lea",
                        {entry(7, "cases", "case-s1", "assigned_to", "ben", "c:case-s1", "sam")});
    CHECK(v.notify);
    CHECK(v.reload);
  }
  SECTION("a case of hers handed to another team: it goes") {
    auto v = judge_live(lea, "lea",
                        {entry(7, "cases", "case-a1", "assigned_to", "sam", "c:case-a1", "ana")});
    CHECK(v.notify);
    CHECK(v.reload);
  }
  SECTION("another team's case made by her team, unassigned: it goes back to its creator") {
    // The owner of an unassigned case is its creator (case_access): ben, of her team.
    auto v = judge_live(lea, "lea",
                        {entry(7, "cases", "case-s2", "assigned_to", "", "c:case-s2", "ben")});
    CHECK(v.notify);
    CHECK(v.reload);
    auto cleared = entry(8, "cases", "case-s2", "assigned_to", "", "c:case-s2", "ben");
    cleared.op.writes.front().value = nullptr;
    v = judge_live(lea, "lea", {cleared});
    CHECK(v.notify);
    CHECK(v.reload);
  }
  SECTION("another team's case made by another team, unassigned: still not hers") {
    auto v = judge_live(lea, "lea",
                        {entry(7, "cases", "case-s3", "assigned_to", "", "c:case-s3", "sam")});
    CHECK_FALSE(v.notify);
    CHECK_FALSE(v.reload);
  }
  SECTION("a new unassigned case created by her team: it comes in") {
    auto v = judge_live(lea, "lea",
                        {entry(7, "cases", "case-n", "status", "intake", "c:case-n", "ben", true)});
    CHECK(v.notify);
    CHECK(v.reload);
  }
  SECTION("one entry of hers among others' is enough") {
    auto v = judge_live(lea, "lea",
                        {entry(7, "cases", "case-s1", "risk", "high", "c:case-s1", "sam"),
                         entry(8, "tasks", "t1", "status", "done", "c:case-a1", "ana")});
    CHECK(v.notify);
  }
  SECTION("an admin hears of everything, and never reloads") {
    sync::Visibility all;
    all.all = true;
    auto v = judge_live(all, "root",
                        {entry(7, "cases", "case-s1", "assigned_to", "ben", "c:case-s1", "sam")});
    CHECK(v.notify);
    CHECK_FALSE(v.reload);
  }
}
