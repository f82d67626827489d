// The in-process server over loopback: health check, hello/welcome, push/ack, live changes to
// a second device, pull pages, and a prompt, clean stop with sessions connected.
#include <chrono>
#include <future>
#include <memory>
#include <vector>

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "fieldsync/sync/schema.hpp"
#include "test_util.hpp"
#include "ws_client.hpp"

using namespace fieldsync;
using namespace fieldsync::test;

namespace {

const std::string kA = device_id(1);
const std::string kB = device_id(2);
const std::string kC = device_id(3);

sync::Hello hello(const std::string& device, std::uint64_t cursor = 0) {
  return sync::Hello{device, "alice", cursor, sync::default_schema().version(),
                     sync::kProtocolVersion};
}

// Connects and says hello; returns the welcome's head.
std::uint64_t join(WsClient& c, std::uint16_t port, const std::string& device) {
  REQUIRE(c.connect(port));
  REQUIRE(c.send(hello(device)));
  auto m = c.recv_message();
  const auto* w = as<sync::Welcome>(m);
  REQUIRE(w);
  return w->head;
}

// Pulls from `cursor`; returns the changes frame.
sync::Changes pull(WsClient& c, std::uint64_t cursor, std::uint32_t limit) {
  REQUIRE(c.send(sync::Pull{cursor, limit}));
  auto m = c.recv_message();
  const auto* ch = as<sync::Changes>(m);
  REQUIRE(ch);
  CHECK_FALSE(ch->live);
  return *ch;
}

std::uint64_t health_head(std::uint16_t port) {
  auto r = http_get(port, "/healthz");
  REQUIRE(r.status == 200);
  auto v = boost::json::parse(r.body);
  REQUIRE(v.at("status") == "ok");
  return v.at("head").to_number<std::uint64_t>();
}

}  // namespace

TEST_CASE("GET /healthz answers 200 with the head, other paths are 404", "[server]") {
  RunningServer s;
  CHECK(health_head(s.port()) == 0);
  CHECK(http_get(s.port(), "/nowhere").status == 404);
  CHECK(http_get(s.port(), "/sync").status == 404);  // a plain GET is not an upgrade
}

TEST_CASE("devices sync through the server: ack, live changes, pull pages", "[server]") {
  RunningServer s;
  WsClient a, b, c;
  CHECK(join(a, s.port(), kA) == 0);
  CHECK(join(b, s.port(), kB) == 0);
  // B catches up (nothing yet) and is then live.
  auto caught_up = pull(b, 0, 100);
  CHECK(caught_up.entries.empty());
  CHECK_FALSE(caught_up.more);

  auto op1 = put_op(kA, 1, "cases", "c1", {{"programme", "housing"}});
  auto op2 = note_op(kA, 2, "n1", "c1", "met at the shelter");
  REQUIRE(a.send(sync::Push{1, {op1, op2}}));
  auto ack_msg = a.recv_message();
  const auto* ack = as<sync::Ack>(ack_msg);
  REQUIRE(ack);
  CHECK(ack->batch == 1);
  REQUIRE(ack->results.size() == 2);
  CHECK(ack->results[0].status == sync::OpStatus::accepted);
  CHECK(ack->results[0].seq == 1);
  CHECK(ack->results[1].seq == 2);

  auto live_msg = b.recv_message();
  const auto* live = as<sync::Changes>(live_msg);
  REQUIRE(live);
  CHECK(live->live);
  REQUIRE(live->entries.size() == 2);
  CHECK(live->entries[0].seq == 1);
  CHECK(live->entries[0].op == op1);
  CHECK(live->entries[1].op == op2);

  SECTION("a late device pulls in pages") {
    CHECK(join(c, s.port(), kC) == 2);
    auto p1 = pull(c, 0, 1);
    REQUIRE(p1.entries.size() == 1);
    CHECK(p1.entries[0].op == op1);
    CHECK(p1.more);
    auto p2 = pull(c, p1.cursor, 1);
    REQUIRE(p2.entries.size() == 1);
    CHECK(p2.entries[0].op == op2);
    CHECK_FALSE(p2.more);
    CHECK(p2.cursor == 2);
  }
  SECTION("a resent push is acknowledged with the original sequence numbers") {
    REQUIRE(a.send(sync::Push{2, {op2, op1}}));
    auto again_msg = a.recv_message();
    const auto* again = as<sync::Ack>(again_msg);
    REQUIRE(again);
    CHECK(again->results[0].status == sync::OpStatus::duplicate);
    CHECK(again->results[0].seq == 2);
    CHECK(again->results[1].seq == 1);
  }
  SECTION("the author's own pull leaves out its own ops") {
    auto own = pull(a, 0, 100);
    CHECK(own.entries.empty());
    CHECK(own.cursor == 2);
  }
  CHECK(health_head(s.port()) == 2);
}

TEST_CASE("stop() with devices connected acks what was committed and ends promptly", "[server]") {
  auto s = std::make_unique<RunningServer>();
  WsClient a, b;
  join(a, s->port(), kA);
  join(b, s->port(), kB);
  REQUIRE(a.send(sync::Push{1, {put_op(kA, 1, "cases", "c1", {{"programme", "x"}})}}));
  auto ack = a.recv_message();
  REQUIRE(as<sync::Ack>(ack));

  const auto started = std::chrono::steady_clock::now();
  auto stopped = std::async(std::launch::async, [&] { s->stop(); });
  // The devices answer the server's close (the grace period is not needed).
  CHECK_FALSE(a.recv());
  CHECK(a.closed());
  CHECK_FALSE(b.recv());
  CHECK(b.closed());
  REQUIRE(stopped.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::milliseconds(1500));
  CHECK(s->server().counters().commits == 1);
}

TEST_CASE("with several io threads, many devices push and all see each other's ops", "[server]") {
  server::ServerConfig config;
  config.io_threads = 3;
  RunningServer s(config);
  constexpr int kDevices = 6;
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int d = 0; d < kDevices; ++d) {
    clients.push_back(std::make_unique<WsClient>());
    join(*clients.back(), s.port(), device_id(10 + d));
    auto c = pull(*clients.back(), 0, 100);
    CHECK(c.entries.empty());
  }
  for (int d = 0; d < kDevices; ++d) {
    const std::string dev = device_id(10 + d);
    REQUIRE(clients[d]->send(
        sync::Push{1, {put_op(dev, 1, "cases", "c" + std::to_string(d), {{"programme", "x"}})}}));
  }
  // Every device gets its ack and the other devices' ops, live, in some interleaving.
  for (int d = 0; d < kDevices; ++d) {
    int acks = 0;
    std::size_t seen = 0;
    while (acks < 1 || seen < kDevices - 1) {
      auto m = clients[d]->recv_message();
      REQUIRE(m);
      if (as<sync::Ack>(m)) ++acks;
      if (const auto* ch = as<sync::Changes>(m)) {
        CHECK(ch->live);
        for (const auto& e : ch->entries) CHECK(e.op.device != device_id(10 + d));
        seen += ch->entries.size();
      }
    }
    CHECK(seen == kDevices - 1);
  }
  CHECK(health_head(s.port()) == kDevices);
}
