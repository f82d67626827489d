// The replica's side of the audit trail: its outbox is the device's chain of operations from
// the genesis (also after enrolment rewrote the pending ops, and after a format-2 replica is
// migrated), the reads it keeps until the server noted them, and the acknowledged ops it
// keeps for a server restored from a backup.
#include <string>
#include <vector>

#include "fieldsync/sync/op_chain.hpp"
#include "replica_test_util.hpp"

using fieldsync::client::FieldEdit;
using fieldsync::client::Replica;
using namespace fieldsync;
using namespace fieldsync::test;

namespace {

// Each pending op's stored link is the fold of the digests before it from the genesis.
void check_chain(Replica& r) {
  auto out = r.outbox();
  REQUIRE(out);
  crypto::Digest link = sync::chain_genesis(r.device());
  for (const auto& e : *out) {
    auto before = r.chain_link_before(e.op.id);
    REQUIRE(before);
    REQUIRE(*before);
    CHECK(**before == link);
    link = sync::chain_next(link, sync::op_digest(e.op));
  }
}

}  // namespace

TEST_CASE("the outbox is the device's chain, also after enrolment rewrote it", "[replica][audit]") {
  TempDir dir;
  FakeClock clock;
  auto r = make_replica(dir.file("r.db"), clock, "local-name");
  REQUIRE(r->put("clients", "c1", {{"name", FieldEdit::Kind::set, "Amina"}}));
  REQUIRE(r->put("clients", "c2", {{"name", FieldEdit::Kind::set, "Ben"}}));
  check_chain(*r);
  REQUIRE(r->set_enrolled("ana", "worker", "ws://127.0.0.1:8700"));
  check_chain(*r);
  REQUIRE(r->put("clients", "c3", {{"name", FieldEdit::Kind::set, "Cleo"}}));
  check_chain(*r);
  CHECK(r->chain_link_before("no-such-op").status().code() == Code::not_found);
}

TEST_CASE("a format-2 replica's pending ops are chained from the genesis", "[replica][audit]") {
  TempDir dir;
  FakeClock clock;
  const std::string path = dir.file("r.db");
  {
    auto r = make_replica(path, clock);
    REQUIRE(r->put("clients", "c1", {{"name", FieldEdit::Kind::set, "Amina"}}));
    REQUIRE(r->put("clients", "c2", {{"name", FieldEdit::Kind::set, "Ben"}}));
  }
  {
    auto db = open_raw(path);
    REQUIRE(
        db->exec("ALTER TABLE outbox DROP COLUMN chain_prev; DROP TABLE reads; DROP TABLE sent;"
                 "DELETE FROM meta WHERE key = 'chain_head';"
                 "UPDATE meta SET value = '2' WHERE key = 'format';"));
  }
  auto r = Replica::open(path, credential(), options(clock));
  REQUIRE(r);
  CHECK(query_int(path, "SELECT value FROM meta WHERE key = 'format'") == 4);
  check_chain(**r);
  REQUIRE((*r)->put("clients", "c3", {{"name", FieldEdit::Kind::set, "Cleo"}}));
  check_chain(**r);
}

TEST_CASE("reads are kept until the server noted them, oldest first", "[replica][audit]") {
  TempDir dir;
  FakeClock clock;
  auto r = make_replica(dir.file("r.db"), clock);
  REQUIRE(r->note_read("clients", "c1"));
  clock.advance(5);
  REQUIRE(r->note_read("cases", "k1"));
  auto reads = r->pending_reads(10);
  REQUIRE(reads);
  REQUIRE(reads->size() == 2);
  CHECK(reads->at(0).collection == "clients");
  CHECK(reads->at(1).id == "k1");
  CHECK(reads->at(1).at_ms == reads->at(0).at_ms + 5);
  REQUIRE(r->on_reads_noted(reads->at(0).local));
  reads = r->pending_reads(10);
  REQUIRE(reads->size() == 1);
  CHECK(reads->at(0).id == "k1");
  // A batch in flight; a read made meanwhile stays when the batch is noted.
  auto batch = r->pending_reads(10);
  REQUIRE(r->note_read("visits", "v1"));
  REQUIRE(r->on_reads_noted(batch->back().local));
  reads = r->pending_reads(10);
  REQUIRE(reads->size() == 1);
  CHECK(reads->at(0).id == "v1");
}

TEST_CASE("a restored server gets back the ops it acknowledged after its backup",
          "[replica][audit]") {
  TempDir dir;
  FakeClock clock;
  const std::string path = dir.file("r.db");
  auto r = make_replica(path, clock);
  for (const char* id : {"c1", "c2", "c3", "c4"})
    REQUIRE(r->put("clients", id, {{"name", FieldEdit::Kind::set, id}}));
  auto out = r->outbox();
  REQUIRE(out);
  REQUIRE(out->size() == 4);
  std::vector<std::string> ids;
  std::vector<crypto::Digest> links;
  for (const auto& e : *out) {
    ids.push_back(e.op.id);
    auto link = r->chain_link_before(e.op.id);
    REQUIRE(link);
    REQUIRE(*link);
    links.push_back(**link);
  }
  REQUIRE(r->on_server_epoch("epoch-1", 0));  // the first epoch seen is only remembered
  // The server acknowledged all four as its entries 7 to 10, and the device pulled to 10.
  std::vector<sync::OpResult> acks;
  for (std::size_t i = 0; i < ids.size(); ++i)
    acks.push_back(sync::OpResult{ids[i], sync::OpStatus::accepted, 7 + i, false, Code::ok, {}});
  REQUIRE(r->on_ack(acks));
  REQUIRE(r->apply_remote({}, 10));
  REQUIRE(r->outbox()->empty());
  // Another sync of this replica may still ask for an op's link after its ack: it is kept.
  CHECK(*r->chain_link_before(ids[1]).value() == links[1]);
  REQUIRE(r->put("clients", "c5", {{"name", FieldEdit::Kind::set, "newer"}}));

  SECTION("the same epoch again changes nothing") {
    REQUIRE(r->on_server_epoch("epoch-1", 10));
    CHECK(r->outbox()->size() == 1);
    CHECK(r->cursor() == 10);
  }
  SECTION("a server restored to entry 8 gets 9 and 10 back first, chained as before") {
    REQUIRE(r->on_server_epoch("epoch-2", 8));
    auto again = r->outbox();
    REQUIRE(again);
    REQUIRE(again->size() == 3);
    CHECK((*again)[0].op.id == ids[2]);
    CHECK((*again)[1].op.id == ids[3]);
    CHECK((*again)[2].op.id != ids[3]);  // the newer op comes after them
    CHECK(*r->chain_link_before(ids[2]).value() == links[2]);
    CHECK(*r->chain_link_before(ids[3]).value() == links[3]);
    CHECK(r->cursor() == 8);
    // Noticed once: the next welcome with the same epoch puts nothing back.
    REQUIRE(r->on_server_epoch("epoch-2", 8));
    CHECK(r->outbox()->size() == 3);
  }
}
