// Local writes: each changes the record and appends to the outbox in one transaction, and a
// refused write leaves nothing behind.
#include <boost/json/serialize.hpp>

#include "fieldsync/sync/ids.hpp"
#include "replica_test_util.hpp"

using fieldsync::Code;
using fieldsync::client::FieldEdit;
using namespace fieldsync::test;

namespace {
using Kind = FieldEdit::Kind;
}

TEST_CASE("put changes the record and appends one operation to the outbox", "[replica]") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.file("r.db");
  auto r = make_replica(path, clock);

  auto op = r->put("cases", "c1",
                   {{"status", Kind::set, "assessment"}, {"programme", Kind::set, "housing"}});
  REQUIRE(op.is_ok());
  CHECK(*op == fieldsync::sync::make_op_id(r->device(), 1));

  auto rec = r->get("cases", "c1");
  REQUIRE(rec.is_ok());
  REQUIRE(rec->has_value());
  CHECK(field(**rec, "status") == "assessment");
  CHECK(field(**rec, "programme") == "housing");
  CHECK(outbox_size(path) == 1);
  CHECK(record_count(path) == 1);

  auto box = r->outbox();
  REQUIRE(box.is_ok());
  REQUIRE(box->size() == 1);
  const auto entry = box->front();  // a copy: `box` is reassigned below
  CHECK(entry.op.id == *op);
  CHECK(entry.op.user == "alice");
  CHECK(entry.op.hlc.wall_ms == kT0);
  CHECK(!entry.rejected);

  // An edit bases on what it saw; the clock moves forward even when time does not.
  REQUIRE(r->put("cases", "c1", {{"status", Kind::set, "planning"}}).is_ok());
  box = r->outbox();
  REQUIRE(box->size() == 2);
  const auto& w = (*box)[1].op.writes.at(0);
  CHECK(w.base == std::vector<std::string>{*op});
  CHECK((*box)[1].op.hlc > entry.op.hlc);
  CHECK(field(**r->get("cases", "c1"), "status") == "planning");
}

TEST_CASE("set fields take add and remove of elements", "[replica]") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.file("r.db");
  auto r = make_replica(path, clock);

  REQUIRE(r->put("cases", "c1", {{"needs", Kind::add, "shelter"}, {"needs", Kind::add, "food"}})
              .is_ok());
  CHECK(boost::json::serialize((*r->get("cases", "c1"))->fields) ==
        R"({"needs":["food","shelter"]})");

  REQUIRE(r->put("cases", "c1", {{"needs", Kind::remove, "food"}}).is_ok());
  CHECK(field(**r->get("cases", "c1"), "needs") == R"(["shelter"])");
  auto box = r->outbox();
  // One write is one operation, however many elements it adds; the remove of "food" names
  // the tag of the op that added it, and "shelter" (same tag) stays.
  REQUIRE(box->size() == 2);
  CHECK((*box)[0].op.writes.size() == 2);
  const auto& rem = box->back().op.writes.at(0);
  CHECK(rem.kind == fieldsync::sync::WriteKind::remove);
  CHECK(rem.base == std::vector<std::string>{fieldsync::sync::make_op_id(r->device(), 1)});

  auto absent = r->put("cases", "c1", {{"needs", Kind::remove, "food"}});
  CHECK(absent.status().code() == Code::not_found);
  CHECK(outbox_size(path) == 2);

  // Re-adding works, and a mixed write keeps register and set changes together.
  REQUIRE(r->put("cases", "c1",
                 {{"status", Kind::set, "planning"},
                  {"needs", Kind::add, "food"},
                  {"needs", Kind::remove, "shelter"}})
              .is_ok());
  CHECK(boost::json::serialize((*r->get("cases", "c1"))->fields) ==
        R"({"needs":["food"],"status":"planning"})");
}

TEST_CASE("refused writes write nothing", "[replica]") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.file("r.db");
  auto r = make_replica(path, clock);
  REQUIRE(r->put("cases", "c1", {{"status", Kind::set, "assessment"}}).is_ok());

  struct Case {
    std::string collection, id;
    std::vector<FieldEdit> edits;
    Code code;
  };
  const std::vector<Case> cases = {
      {"kases", "c1", {{"status", Kind::set, "planning"}}, Code::unknown_collection},
      {"cases", "c1", {{"colour", Kind::set, "red"}}, Code::unknown_field},
      {"cases", "c1", {{"status", Kind::set, "unsure"}}, Code::wrong_type},
      {"cases", "c1", {{"opened_on", Kind::set, "yesterday"}}, Code::wrong_type},
      {"cases", "c1", {{"needs", Kind::set, "food"}}, Code::wrong_type},
      {"cases", "c1", {{"status", Kind::add, "planning"}}, Code::wrong_type},
      {"cases", "bad id!", {{"status", Kind::set, "planning"}}, Code::invalid_id},
      {"cases", "c1", {}, Code::invalid_argument},
      // One bad edit among good ones: the good ones are not written either.
      {"cases",
       "c2",
       {{"programme", Kind::set, "x"}, {"colour", Kind::set, "red"}},
       Code::unknown_field},
      {"cases",
       "c1",
       {{"status", Kind::set, "planning"}, {"status", Kind::set, "closed"}},
       Code::invalid_argument},
  };
  for (const auto& c : cases) {
    INFO(c.collection << "/" << c.id);
    auto res = r->put(c.collection, c.id, c.edits);
    REQUIRE(!res.is_ok());
    CHECK(res.status().code() == c.code);
    CHECK(!res.status().message().empty());
  }
  CHECK(outbox_size(path) == 1);
  CHECK(record_count(path) == 1);
  CHECK(field(**r->get("cases", "c1"), "status") == "assessment");
  CHECK(!r->get("cases", "c2")->has_value());
  // The op counter did not move either: the next op is number 2.
  auto next = r->put("cases", "c1", {{"status", Kind::set, "planning"}});
  CHECK(*next == fieldsync::sync::make_op_id(r->device(), 2));
}

TEST_CASE("delete is a tombstone, editing a deleted record is an error", "[replica]") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.file("r.db");
  auto r = make_replica(path, clock);
  REQUIRE(r->put("cases", "c1", {{"status", Kind::set, "assessment"}, {"needs", Kind::add, "food"}})
              .is_ok());
  REQUIRE(r->put("cases", "c2", {{"status", Kind::set, "planning"}}).is_ok());

  CHECK(r->remove("cases", "nope").status().code() == Code::not_found);
  REQUIRE(r->remove("cases", "c1").is_ok());
  auto box = r->outbox();
  CHECK(box->back().op.kind == fieldsync::sync::OpKind::del);
  // Every write it saw: the first op (status and the needs add tag), not c2's.
  CHECK(box->back().op.del_base == std::vector<std::string>{box->front().op.id});

  auto rec = r->get("cases", "c1");
  REQUIRE(rec->has_value());
  CHECK((*rec)->deleted);
  auto listed = r->list("cases");
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().id == "c2");

  CHECK(r->put("cases", "c1", {{"status", Kind::set, "planning"}}).status().code() ==
        Code::deleted);
  CHECK(r->remove("cases", "c1").status().code() == Code::deleted);
  CHECK(outbox_size(path) == 3);
}

TEST_CASE("notes are append-only records with generated ids", "[replica]") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.file("r.db");
  auto r = make_replica(path, clock);

  auto id = r->add_note("c1", "Met at the shelter; needs a GP referral.");
  REQUIRE(id.is_ok());
  CHECK(fieldsync::sync::is_valid_record_id(*id));
  auto note = r->get("notes", *id);
  REQUIRE(note->has_value());
  CHECK(field(**note, "case_id") == "c1");
  CHECK(field(**note, "text") == "Met at the shelter; needs a GP referral.");

  auto other = r->add_note("c1", "Second visit.");
  REQUIRE(other.is_ok());
  CHECK(*other != *id);
  CHECK(r->list("notes")->size() == 2);

  CHECK(r->put("notes", *id, {{"text", Kind::set, "rewritten"}}).status().code() ==
        Code::append_only);
  CHECK(r->remove("notes", *id).status().code() == Code::append_only);
  CHECK(r->add_note("not a case!", "x").status().code() == Code::wrong_type);
  CHECK(r->add_note("c1", "").status().code() == Code::invalid_argument);
  CHECK(outbox_size(path) == 2);
}

TEST_CASE("queries: list sorted by id, unknown collections are errors", "[replica]") {
  TempDir dir;
  FakeClock clock;
  auto r = make_replica(dir.file("r.db"), clock);
  for (const char* id : {"b", "a", "c"})
    REQUIRE(r->put("clients", id, {{"name", Kind::set, std::string("n-") + id}}).is_ok());
  auto all = r->list("clients");
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].id == "a");
  CHECK((*all)[2].id == "c");
  CHECK(boost::json::serialize(fieldsync::client::to_json((*all)[0])) ==
        R"({"collection":"clients","id":"a","fields":{"name":"n-a"}})");
  CHECK(r->list("nope").status().code() == Code::unknown_collection);
  CHECK(r->get("nope", "a").status().code() == Code::unknown_collection);
  CHECK(!r->get("clients", "zz")->has_value());
  CHECK(r->conflicts(true)->empty());
}
