// The wire codec: every message round-trips; bad frames decode to clear errors.
#include <catch2/catch.hpp>

#include "fieldsync/sync/wire.hpp"
#include "test_device.hpp"

using namespace fieldsync;
using namespace fieldsync::sync;

namespace {
template <typename T>
T round_trip(const T& m) {
  auto back = decode(encode(m));
  REQUIRE(back);
  REQUIRE(std::holds_alternative<T>(*back));
  return std::get<T>(*back);
}
}  // namespace

TEST_CASE("wire: every message type round-trips") {
  test::TestDevice d(test::device_id(3), "ana");
  Op op = d.set("clients", "c1", "name", "Amina", 5000);

  Hello h = round_trip(Hello{test::device_id(3), "ana", 12, 1});
  CHECK(h.device == test::device_id(3));
  CHECK(h.cursor == 12);
  CHECK(h.version == kProtocolVersion);

  CHECK(round_trip(Welcome{.head = 99, .server_ms = 123456}).head == 99);
  auto full = round_trip(Welcome{99, 1, "ana", "lead", true, {3600, 7200}});
  CHECK((full.user == "ana" && full.role == "lead" && full.wipe));
  CHECK((full.lease.sync_within_ms == 3600 && full.lease.wipe_after_ms == 7200));
  CHECK(round_trip(Challenge{std::string(64, 'a'), 5}).nonce == std::string(64, 'a'));
  CHECK(round_trip(Auth{std::string(128, 'b')}).signature == std::string(128, 'b'));
  auto en = round_trip(Enroll{test::device_id(3), std::string(64, 'c'), "ABCD-EFGH", 1});
  CHECK((en.device == test::device_id(3) && en.code == "ABCD-EFGH" && en.version == 1));
  CHECK(round_trip(Enrolled{"ana", "worker"}).role == "worker");

  Push p = round_trip(Push{7, {op}});
  CHECK(p.batch == 7);
  CHECK(p.ops.at(0) == op);

  Ack a = round_trip(Ack{7,
                         {{op.id, OpStatus::accepted, 5, true, Code::ok, {}},
                          {"x.1", OpStatus::rejected, 0, false, Code::unknown_field, "no"}}});
  CHECK(a.results.at(0).seq == 5);
  CHECK(a.results.at(0).skewed);
  CHECK(a.results.at(1).code == Code::unknown_field);
  CHECK(a.results.at(1).reason == "no");

  CHECK(round_trip(Pull{4, 100}).limit == 100);

  Changes c = round_trip(Changes{{{3, op, false}}, 3, true, false});
  CHECK(c.entries.at(0).op == op);
  CHECK(c.more);

  Error e = round_trip(Error{Code::unsupported_version, "old", true});
  CHECK(e.code == Code::unsupported_version);
  CHECK(e.fatal);
}

TEST_CASE("wire: bad frames are errors with a code") {
  CHECK(decode("{not json").status().code() == Code::malformed_frame);
  CHECK(decode("[1,2]").status().code() == Code::malformed_frame);
  CHECK(decode(R"({"v":1})").status().code() == Code::malformed_frame);
  CHECK(decode(R"({"v":3,"t":"teleport"})").status().code() == Code::malformed_frame);
  CHECK(decode(R"({"v":99,"t":"pull","cursor":0,"limit":5})").status().code() ==
        Code::unsupported_version);
  CHECK(decode(R"({"v":3,"t":"pull","cursor":-3,"limit":5})").status().code() ==
        Code::malformed_frame);
  CHECK(decode(R"({"v":3,"t":"push","batch":1,"ops":[{"id":1}]})").status().code() ==
        Code::malformed_frame);
  std::string huge(kMaxFrameBytes + 1, ' ');
  CHECK(decode(huge).status().code() == Code::frame_too_large);
  // Truncated: a valid frame cut anywhere is an error, never a crash.
  std::string frame = encode(Pull{4, 100});
  for (std::size_t n = 0; n < frame.size(); ++n) CHECK_FALSE(decode(frame.substr(0, n)));
}

TEST_CASE("wire: a hello of another version still decodes so the server can answer it") {
  auto m = decode(R"({"v":2,"t":"hello","device":"d","user":"u","cursor":0,"schema":1})");
  REQUIRE(m);
  CHECK(std::get<Hello>(*m).version == 2);
}
