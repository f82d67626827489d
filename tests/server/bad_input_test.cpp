// Bad input over a real socket: each gets an error frame with the right code; protocol
// violations end that session only; the server keeps serving the others.
#include <catch2/catch.hpp>

#include "fieldsync/sync/schema.hpp"
#include "test_util.hpp"
#include "ws_client.hpp"

using namespace fieldsync;
using namespace fieldsync::test;

namespace {

const std::string kA = device_id(1);
const std::string kB = device_id(2);

std::string hello_frame(const std::string& device) {
  return sync::encode(
      sync::Hello{device, "alice", 0, sync::default_schema().version(), sync::kProtocolVersion});
}

// The next frame must be an error with `code`; returns it.
sync::Error expect_error(WsClient& c, Code code, bool fatal) {
  auto m = c.recv_message();
  const auto* e = as<sync::Error>(m);
  REQUIRE(e);
  CHECK(e->code == code);
  CHECK(e->fatal == fatal);
  CHECK_FALSE(e->message.empty());
  return *e;
}

void expect_closed(WsClient& c) {
  CHECK_FALSE(c.recv());
  CHECK(c.closed());
}

// Another device can still connect and sync.
void expect_serving(std::uint16_t port) {
  WsClient other;
  REQUIRE(other.connect(port));
  REQUIRE(other.send(hello_frame(kB)));
  auto m = other.recv_message();
  CHECK(as<sync::Welcome>(m));
}

}  // namespace

TEST_CASE("malformed or truncated JSON gets malformed_frame and the session goes on",
          "[server][bad-input]") {
  RunningServer s;
  WsClient c;
  REQUIRE(c.connect(s.port()));
  REQUIRE(c.send("{not json"));
  expect_error(c, Code::malformed_frame, false);
  REQUIRE(c.send(R"({"v":3,"t":"push","batch":1,"ops":[)"));
  expect_error(c, Code::malformed_frame, false);
  REQUIRE(c.send(hello_frame(kA)));
  auto m = c.recv_message();
  CHECK(as<sync::Welcome>(m));
  expect_serving(s.port());
}

TEST_CASE("an unknown protocol version gets unsupported_version and the session ends",
          "[server][bad-input]") {
  RunningServer s;
  WsClient c;
  REQUIRE(c.connect(s.port()));
  REQUIRE(c.send(R"({"v":99,"t":"hello","device":")" + kA +
                 R"(","user":"alice","cursor":0,"schema":1})"));
  auto e = expect_error(c, Code::unsupported_version, true);
  CHECK(e.message.find("99") != std::string::npos);
  expect_closed(c);
  expect_serving(s.port());
}

TEST_CASE("an unknown message type gets malformed_frame", "[server][bad-input]") {
  RunningServer s;
  WsClient c;
  REQUIRE(c.connect(s.port()));
  REQUIRE(c.send(hello_frame(kA)));
  REQUIRE(c.recv_message());
  REQUIRE(c.send(R"({"v":3,"t":"gossip"})"));
  auto e = expect_error(c, Code::malformed_frame, false);
  CHECK(e.message.find("gossip") != std::string::npos);
  expect_serving(s.port());
}

TEST_CASE("a push before hello gets unexpected_message and the session ends",
          "[server][bad-input]") {
  RunningServer s;
  WsClient c;
  REQUIRE(c.connect(s.port()));
  REQUIRE(c.send(sync::Push{1, {put_op(kA, 1, "cases", "c1", {{"programme", "x"}})}}));
  expect_error(c, Code::unexpected_message, true);
  expect_closed(c);
  expect_serving(s.port());
  CHECK(s.server().counters().ops_applied == 0);
}

TEST_CASE("an oversized frame gets frame_too_large and the session ends", "[server][bad-input]") {
  RunningServer s;
  WsClient c;
  REQUIRE(c.connect(s.port()));
  REQUIRE(c.send(hello_frame(kA)));
  REQUIRE(c.recv_message());
  REQUIRE(c.send(std::string(sync::kMaxFrameBytes + 1, 'x')));
  expect_error(c, Code::frame_too_large, true);
  expect_closed(c);
  expect_serving(s.port());

  SECTION("far over the limit: the connection is dropped, the server stays up") {
    WsClient big;
    REQUIRE(big.connect(s.port()));
    (void)big.send(std::string(5 * sync::kMaxFrameBytes, 'x'));
    CHECK_FALSE(big.recv());
    expect_serving(s.port());
  }
}

TEST_CASE("invalid operations in a push are rejected one by one and valid ones are stored",
          "[server][bad-input]") {
  RunningServer s;
  WsClient c;
  REQUIRE(c.connect(s.port()));
  REQUIRE(c.send(hello_frame(kA)));
  REQUIRE(c.recv_message());
  auto unknown_collection = put_op(kA, 1, "pets", "p1", {{"name", "rex"}});
  auto unknown_field = put_op(kA, 2, "cases", "c1", {{"colour", "blue"}});
  auto wrong_type = put_op(kA, 3, "cases", "c1", {{"status", 42}});
  auto good = put_op(kA, 4, "cases", "c1", {{"programme", "housing"}});
  REQUIRE(c.send(sync::Push{7, {unknown_collection, unknown_field, wrong_type, good}}));
  auto m = c.recv_message();
  const auto* ack = as<sync::Ack>(m);
  REQUIRE(ack);
  CHECK(ack->batch == 7);
  REQUIRE(ack->results.size() == 4);
  CHECK(ack->results[0].code == Code::unknown_collection);
  CHECK(ack->results[1].code == Code::unknown_field);
  CHECK(ack->results[2].code == Code::wrong_type);
  for (int i = 0; i < 3; ++i) CHECK(ack->results[i].status == sync::OpStatus::rejected);
  CHECK(ack->results[3].status == sync::OpStatus::accepted);
  CHECK(ack->results[3].seq == 1);
}
