// The protocol state machines, driven frame by frame without sockets or storage.
#include <catch2/catch.hpp>

#include "fieldsync/sync/client_session.hpp"
#include "fieldsync/sync/server_session.hpp"
#include "memory_client_store.hpp"
#include "test_device.hpp"

using namespace fieldsync;
using namespace fieldsync::sync;
using fieldsync::test::MemoryClientStore;

namespace {

Message decoded(const std::string& frame) {
  auto m = decode(frame);
  REQUIRE(m);
  return *m;
}

}  // namespace

TEST_CASE("session: hello, push, durable ack, pull until caught up") {
  test::TestDevice dev(test::device_id(1), "ana");
  MemoryClientStore store;
  store.outbox.push_back(dev.set("cases", "k", "status", "planning", 1000));
  Op bad = dev.set("cases", "k", "programme", "x", 1000);
  bad.writes[0].field = "colour";  // the server refuses it; it must not block the next op
  store.outbox.push_back(bad);
  store.outbox.push_back(dev.set("cases", "k", "programme", "outreach", 1000));

  ClientSession client(store, {.device = test::device_id(1),
                               .user = "ana",
                               .schema_version = 1,
                               .push_batch = 2,
                               .pull_limit = 10});
  ServerSession server(default_schema(), {.max_pull = 2, .max_push_ops = kMaxPushOps});

  auto out = client.start();
  auto a = server.on_frame(out.at(0), 5, 1000);
  REQUIRE(a.send.size() == 1);
  out = client.on_frame(a.send[0]);
  REQUIRE(client.welcomed());
  REQUIRE(out.size() == 2);  // pull + first push (batch of 2)

  // The push: one op refused by validation, one submitted to the writer.
  auto pa = server.on_frame(out[1], 5, 1000);
  REQUIRE(pa.submit);
  REQUIRE(pa.submit->ops.size() == 1);
  auto ack = server.on_committed(
      pa.submit->batch, {{pa.submit->ops[0].id, OpStatus::accepted, 6, false, Code::ok, {}}});
  auto next = client.on_frame(ack.send.at(0));
  REQUIRE(store.rejected.size() == 1);
  CHECK(store.rejected[0].code == Code::unknown_field);
  REQUIRE(next.size() == 1);  // the op behind the refused one goes next
  auto pb = server.on_frame(next[0], 6, 1000);
  REQUIRE(pb.submit);
  auto ack2 = server.on_committed(
      pb.submit->batch, {{pb.submit->ops[0].id, OpStatus::accepted, 7, false, Code::ok, {}}});
  CHECK(client.on_frame(ack2.send.at(0)).empty());
  CHECK(store.outbox.size() == 1);  // only the rejected op remains, marked

  // The pull: limit clamped to the server's max of 2, paged.
  auto pl = server.on_frame(out[0], 7, 1000);
  REQUIRE(pl.read);
  CHECK(pl.read->limit == 2);
  test::TestDevice other(test::device_id(2), "ben");
  Op o1 = other.set("cases", "k", "programme", "a", 900);
  Op o2 = other.set("cases", "k", "programme", "b", 901);
  Op o3 = other.set("cases", "k", "programme", "c", 902);
  auto r1 = server.on_read(Changes{{{1, o1, false}, {2, o2, false}}, 2, true, false});
  auto more = client.on_frame(r1.send.at(0));
  REQUIRE(more.size() == 1);
  CHECK_FALSE(client.up_to_date());
  server.on_frame(more[0], 7, 1000);
  auto r2 = server.on_read(Changes{{{3, o3, false}}, 7, false, false});
  client.on_frame(r2.send.at(0));
  CHECK(server.live());
  CHECK(client.up_to_date());
  CHECK(store.cursor() == 7);
  CHECK(store.applied.size() == 3);

  // Live: entries from others are pushed; the device's own are not echoed.
  Op o4 = other.set("cases", "k", "status", "closed", 903);
  Op own = dev.set("cases", "k", "programme", "z", 1000);
  auto live = server.on_live({{8, o4, false}, {9, own, false}});
  REQUIRE(live.send.size() == 1);
  client.on_frame(live.send[0]);
  CHECK(store.applied.back().op == o4);
  CHECK(store.cursor() == 9);
}

TEST_CASE("session: a device of another protocol version gets a clear fatal error") {
  ServerSession server(default_schema());
  Hello h{test::device_id(1), "ana", 0, 1, kProtocolVersion + 1};
  auto a = server.on_frame(encode(h), 0, 0);
  CHECK(a.close);
  auto e = std::get<Error>(decoded(a.send.at(0)));
  CHECK(e.code == Code::unsupported_version);
  CHECK(e.fatal);
  CHECK(e.message.find("update the app") != std::string::npos);

  MemoryClientStore store;
  ClientSession client(store, {.device = test::device_id(1), .user = "ana", .schema_version = 1});
  client.start();
  client.on_frame(a.send[0]);
  REQUIRE(client.failed());
  CHECK(client.failure()->code() == Code::unsupported_version);
}

TEST_CASE("session: frames out of order or malformed") {
  ServerSession server(default_schema());
  auto before = server.on_frame(encode(Pull{0, 10}), 0, 0);
  CHECK(before.close);
  CHECK(std::get<Error>(decoded(before.send.at(0))).code == Code::unexpected_message);

  ServerSession s2(default_schema());
  s2.on_frame(encode(Hello{test::device_id(1), "ana", 0, 1}), 0, 0);
  auto junk = s2.on_frame("{oops", 0, 0);
  CHECK_FALSE(junk.close);  // survived: the session goes on
  CHECK(std::get<Error>(decoded(junk.send.at(0))).code == Code::malformed_frame);
  auto ok = s2.on_frame(encode(Pull{0, 10}), 0, 0);
  CHECK(ok.read);

  // An op claiming another device is refused per op; the refusal still goes to the writer,
  // which records it in the audit log, and the ack follows the commit.
  test::TestDevice other(test::device_id(9), "ana");
  auto p = s2.on_frame(encode(Push{1, {other.set("cases", "k", "status", "closed", 1)}}), 0, 0);
  REQUIRE(p.submit);
  CHECK(p.submit->ops.empty());
  REQUIRE(p.submit->refused.size() == 1);
  CHECK(p.submit->refused[0].result.code == Code::refused);
  auto committed = s2.on_committed(1, {});
  REQUIRE(committed.send.size() == 1);
  auto ack = std::get<Ack>(decoded(committed.send[0]));
  CHECK(ack.results.at(0).status == OpStatus::rejected);
  CHECK(ack.results.at(0).code == Code::refused);
}

TEST_CASE("session: live entries that arrive during a read are not lost") {
  ServerSession server(default_schema());
  test::TestDevice other(test::device_id(2), "ben");
  server.on_frame(encode(Hello{test::device_id(1), "ana", 0, 1}), 0, 0);
  auto read = server.on_frame(encode(Pull{0, 10}), 0, 0);
  REQUIRE(read.read);
  Op late = other.set("cases", "k", "status", "closed", 5);
  CHECK(server.on_live({{4, late, false}}).send.empty());  // read in flight: remembered
  auto done = server.on_read(Changes{{}, 3, false, false});
  REQUIRE(done.read);  // a fill read from 3 follows at once
  CHECK(done.read->cursor == 3);
  auto fill = server.on_read(Changes{{{4, late, false}}, 4, false, false});
  REQUIRE(fill.send.size() == 1);
  auto c = std::get<Changes>(decoded(fill.send[0]));
  CHECK(c.live);
  CHECK(c.entries.at(0).op == late);
}
