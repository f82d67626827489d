// apply_batch: exactly once by op id, append-only records, skewed clocks, refused ops that do
// not hold back the rest of the batch.
#include <catch2/catch.hpp>

#include "fieldsync/server/apply.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "fieldsync/sync/schema.hpp"
#include "test_util.hpp"

using namespace fieldsync;
using namespace fieldsync::test;
using sync::OpStatus;

namespace {

struct Fixture {
  TempDir dir;
  std::unique_ptr<server::SqliteStore> store;
  const sync::Schema& schema = sync::default_schema();
  Fixture() {
    auto s = server::SqliteStore::open(dir.file("fieldsync.db"));
    REQUIRE(s);
    store = std::move(*s);
  }
  std::vector<sync::OpResult> apply(const std::vector<sync::Op>& ops) {
    auto tx = store->begin();
    REQUIRE(tx);
    auto r = server::apply_batch(**tx, ops, schema, {kNowMs, sync::kDefaultMaxAheadMs});
    REQUIRE(r);
    REQUIRE((*tx)->commit());
    return std::move(*r);
  }
};

const std::string kA = device_id(1);

}  // namespace

TEST_CASE("apply_batch applies each op exactly once, also within one batch", "[apply]") {
  Fixture f;
  auto a1 = put_op(kA, 1, "cases", "c1", {{"programme", "housing"}});
  auto a2 = put_op(kA, 2, "cases", "c1", {{"status", "planning"}});
  auto r = f.apply({a1, a2, a1});
  REQUIRE(r.size() == 3);
  CHECK(r[0].op == a1.id);
  CHECK(r[0].status == OpStatus::accepted);
  CHECK(r[0].seq == 1);
  CHECK(r[1].status == OpStatus::accepted);
  CHECK(r[1].seq == 2);
  CHECK(r[2].status == OpStatus::duplicate);
  CHECK(r[2].seq == 1);

  SECTION("and across batches") {
    auto a3 = put_op(kA, 3, "cases", "c1", {{"assigned_to", "alice"}});
    auto again = f.apply({a2, a3, a1});
    CHECK(again[0].status == OpStatus::duplicate);
    CHECK(again[0].seq == 2);
    CHECK(again[1].status == OpStatus::accepted);
    CHECK(again[1].seq == 3);
    CHECK(again[2].status == OpStatus::duplicate);
    CHECK(again[2].seq == 1);
    CHECK(*f.store->head() == 3);
  }

  auto row = f.store->get_record("cases", "c1");
  REQUIRE(row);
  REQUIRE(row->has_value());
  CHECK((*row)->fields.at("programme") == "housing");
  CHECK((*row)->fields.at("status") == "planning");
  CHECK_FALSE((*row)->deleted);
}

TEST_CASE("an edit of an append-only record is rejected, the rest of the batch is accepted",
          "[apply]") {
  Fixture f;
  auto note = note_op(kA, 1, "n1", "c1", "first visit went well");
  auto edit = note_op(kA, 2, "n1", "c1", "rewritten history");
  auto other = put_op(kA, 3, "cases", "c1", {{"programme", "housing"}});
  auto r = f.apply({note, edit, other});
  REQUIRE(r.size() == 3);
  CHECK(r[0].status == OpStatus::accepted);
  CHECK(r[1].status == OpStatus::rejected);
  CHECK(r[1].code == Code::append_only);
  CHECK(r[1].reason.find("append-only") != std::string::npos);
  CHECK(r[2].status == OpStatus::accepted);
  CHECK(r[2].seq == 2);  // a rejected op takes no sequence number

  auto row = f.store->get_record("notes", "n1");
  REQUIRE(row);
  REQUIRE(row->has_value());
  CHECK((*row)->fields.at("text") == "first visit went well");

  SECTION("resending the original note is a duplicate, not an edit") {
    auto again = f.apply({note});
    CHECK(again[0].status == OpStatus::duplicate);
    CHECK(again[0].seq == 1);
  }
}

TEST_CASE("apply_batch refuses an invalid op without holding back the others", "[apply]") {
  Fixture f;
  auto bad = put_op(kA, 1, "cases", "c1", {{"colour", "blue"}});
  auto good = put_op(kA, 2, "cases", "c1", {{"programme", "housing"}});
  auto r = f.apply({bad, good});
  CHECK(r[0].status == OpStatus::rejected);
  CHECK(r[0].code == Code::unknown_field);
  CHECK(r[1].status == OpStatus::accepted);
  CHECK(r[1].seq == 1);
}

TEST_CASE("an op whose clock is beyond the bound is accepted and flagged skewed", "[apply]") {
  Fixture f;
  auto ahead = put_op(kA, 1, "cases", "c1", {{"programme", "housing"}});
  ahead.hlc.wall_ms = kNowMs + sync::kDefaultMaxAheadMs + 1;
  auto fine = put_op(kA, 2, "cases", "c2", {{"programme", "housing"}});
  fine.hlc.wall_ms = kNowMs + sync::kDefaultMaxAheadMs;
  auto r = f.apply({ahead, fine});
  CHECK(r[0].status == OpStatus::accepted);
  CHECK(r[0].skewed);
  CHECK_FALSE(r[1].skewed);
  auto log = f.store->read_log(0, 10, "");
  REQUIRE(log);
  REQUIRE(log->entries.size() == 2);
  CHECK(log->entries[0].skewed);
  CHECK_FALSE(log->entries[1].skewed);
}
