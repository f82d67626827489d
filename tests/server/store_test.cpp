// SqliteStore: read_log paging and device filter, durability across reopen, rollback, and
// clear errors for files that are not a usable store.
#include <fstream>

#include <catch2/catch.hpp>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/server/apply.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "test_util.hpp"

using namespace fieldsync;
using namespace fieldsync::test;

namespace {

const std::string kA = device_id(1);
const std::string kB = device_id(2);

void store_ops(server::ServerStore& store, const std::vector<sync::Op>& ops) {
  auto tx = store.begin();
  REQUIRE(tx);
  auto r = server::apply_batch(**tx, ops, sync::default_schema(), {kNowMs, 1000});
  REQUIRE(r);
  REQUIRE((*tx)->commit());
}

std::vector<std::uint64_t> seqs(const sync::Changes& c) {
  std::vector<std::uint64_t> out;
  for (const auto& e : c.entries) out.push_back(e.seq);
  return out;
}

// seq 1..7: A, A, B, A, B, B, A
std::vector<sync::Op> mixed_ops() {
  std::vector<sync::Op> ops;
  int a = 0, b = 0;
  for (char who : std::string("AABABBA")) {
    const bool is_a = who == 'A';
    const int n = is_a ? ++a : ++b;
    ops.push_back(put_op(is_a ? kA : kB, static_cast<std::uint64_t>(n), "cases",
                         "c" + std::to_string(ops.size()), {{"programme", "housing"}}));
  }
  return ops;
}

}  // namespace

TEST_CASE("read_log pages by cursor and leaves out the reader's own ops", "[store]") {
  TempDir dir;
  auto store = server::SqliteStore::open(dir.file("fieldsync.db"));
  REQUIRE(store);
  store_ops(**store, mixed_ops());
  REQUIRE(*(*store)->head() == 7);

  SECTION("everything, in pages of 3") {
    auto p1 = (*store)->read_log(0, 3, "");
    REQUIRE(p1);
    CHECK(seqs(*p1) == std::vector<std::uint64_t>{1, 2, 3});
    CHECK(p1->more);
    CHECK(p1->cursor == 3);
    auto p2 = (*store)->read_log(p1->cursor, 3, "");
    CHECK(seqs(*p2) == std::vector<std::uint64_t>{4, 5, 6});
    CHECK(p2->more);
    auto p3 = (*store)->read_log(p2->cursor, 3, "");
    CHECK(seqs(*p3) == std::vector<std::uint64_t>{7});
    CHECK_FALSE(p3->more);
    CHECK(p3->cursor == 7);
    CHECK(p3->entries[0].op == mixed_ops()[6]);
  }
  SECTION("device B sees only A's ops, and its cursor moves past its own") {
    auto p1 = (*store)->read_log(0, 2, kB);
    CHECK(seqs(*p1) == std::vector<std::uint64_t>{1, 2});
    CHECK(p1->more);
    auto p2 = (*store)->read_log(p1->cursor, 2, kB);
    CHECK(seqs(*p2) == std::vector<std::uint64_t>{4, 7});
    CHECK_FALSE(p2->more);
    CHECK(p2->cursor == 7);
  }
  SECTION("the last page's cursor moves past own ops at the end of the log") {
    auto p1 = (*store)->read_log(4, 1, kA);
    CHECK(seqs(*p1) == std::vector<std::uint64_t>{5});
    CHECK(p1->more);
    auto p2 = (*store)->read_log(p1->cursor, 1, kA);
    CHECK(seqs(*p2) == std::vector<std::uint64_t>{6});
    CHECK_FALSE(p2->more);
    CHECK(p2->cursor == 7);  // seq 7 is A's own: scanned, not sent
  }
  SECTION("a cursor at the head returns nothing") {
    auto p = (*store)->read_log(7, 100, "");
    CHECK(p->entries.empty());
    CHECK_FALSE(p->more);
    CHECK(p->cursor == 7);
  }
}

TEST_CASE("committed data survives reopening, an uncommitted transaction leaves nothing",
          "[store]") {
  TempDir dir;
  const std::string path = dir.file("fieldsync.db");
  {
    auto store = server::SqliteStore::open(path);
    REQUIRE(store);
    store_ops(**store, {put_op(kA, 1, "cases", "c1", {{"programme", "housing"}})});
    auto tx = (*store)->begin();
    REQUIRE(tx);
    auto r = server::apply_batch(**tx, {put_op(kA, 2, "cases", "c2", {{"programme", "food"}})},
                                 sync::default_schema(), {kNowMs, 1000});
    REQUIRE(r);
    // destroyed without commit: rolled back
  }
  auto store = server::SqliteStore::open(path);
  REQUIRE(store);
  CHECK(*(*store)->head() == 1);
  auto c1 = (*store)->get_record("cases", "c1");
  REQUIRE(c1);
  REQUIRE(c1->has_value());
  CHECK((*c1)->fields.at("programme") == "housing");
  auto c2 = (*store)->get_record("cases", "c2");
  REQUIRE(c2);
  CHECK_FALSE(c2->has_value());
}

TEST_CASE("a file that is not a usable store is a clear error, not a crash", "[store]") {
  TempDir dir;
  SECTION("garbage bytes") {
    const std::string path = dir.file("fieldsync.db");
    std::ofstream(path) << std::string(8192, 'x');
    auto store = server::SqliteStore::open(path);
    REQUIRE_FALSE(store);
    CHECK(store.status().code() == Code::storage);
    CHECK(store.status().message().find(path) != std::string::npos);
  }
  SECTION("another SQLite database") {
    const std::string path = dir.file("other.db");
    {
      auto db = crypto::Database::open(path, {});
      REQUIRE(db);
      REQUIRE((*db)->exec("CREATE TABLE t(x)"));
    }
    auto store = server::SqliteStore::open(path);
    REQUIRE_FALSE(store);
    CHECK(store.status().message().find("not a fieldsync server store") != std::string::npos);
  }
  SECTION("a directory that does not exist") {
    auto store = server::SqliteStore::open(dir.file("missing/fieldsync.db"));
    REQUIRE_FALSE(store);
    CHECK(store.status().code() == Code::storage);
  }
}
