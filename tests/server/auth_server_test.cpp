// Device authentication through the real server over loopback, with the store's directory:
// enrolment by code, the challenge answered with the device key, and the refusals (unknown,
// forged, revoked) as distinct fatal errors while the server keeps serving others.
#include <chrono>

#include <catch2/catch.hpp>

#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "fieldsync/sync/enroll_session.hpp"
#include "test_util.hpp"
#include "ws_client.hpp"

using namespace fieldsync;
using namespace fieldsync::test;

namespace {

// The server runs on the system clock, so codes are made on it too.
std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

server::ServerConfig with_auth() {
  server::ServerConfig c;
  c.require_auth = true;
  return c;
}

// The directory of a running server's store, opened beside it as fieldsync-admin does.
std::unique_ptr<server::Directory> directory_of(RunningServer& s) {
  auto file = server::StoreFile::open(s.data_dir() + "/fieldsync.db", "");
  REQUIRE(file);
  auto dir = server::Directory::open(*file);
  REQUIRE(dir);
  return std::move(*dir);
}

sync::Error fatal_error(WsClient& c) {
  auto m = c.recv_message();
  const auto* e = as<sync::Error>(m);
  REQUIRE(e);
  CHECK(e->fatal);
  return *e;
}

// Says hello as `device` and answers the challenge with `key`; returns the server's reply.
std::optional<sync::Message> authenticate(WsClient& c, std::uint16_t port,
                                          const std::string& device,
                                          const crypto::SigningKey& key) {
  REQUIRE(c.connect(port));
  REQUIRE(
      c.send(sync::Hello{device, "", 0, sync::default_schema().version(), sync::kProtocolVersion}));
  auto m = c.recv_message();
  const auto* challenge = as<sync::Challenge>(m);
  REQUIRE(challenge);
  const std::string text = sync::auth_message(sync::kProtocolVersion, device, challenge->nonce, "");
  auto sig = key.sign(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  REQUIRE(c.send(sync::Auth{crypto::to_hex(sig)}));
  return c.recv_message();
}

}  // namespace

TEST_CASE("server: a device enrols with a code, then authenticates as its user", "[auth]") {
  RunningServer s(with_auth());
  auto dir = directory_of(s);
  REQUIRE(dir->add_team("north", wall_ms()));
  REQUIRE(dir->add_user("ana", server::Role::worker, "north", wall_ms()));
  auto code = dir->new_enroll_code("ana", server::kHourMs, wall_ms());
  REQUIRE(code);

  const auto key = crypto::SigningKey::generate();
  const std::string device = device_id(7);
  sync::EnrollSession enrol(device, key.public_key(), code->code);
  {
    WsClient c;
    REQUIRE(c.connect(s.port()));
    REQUIRE(c.send(enrol.start()));
    auto reply = c.recv();
    REQUIRE(reply);
    auto outcome = enrol.on_frame(*reply);
    REQUIRE(outcome);
    INFO(outcome->status().to_string());
    REQUIRE(*outcome);
    CHECK((*outcome)->user == "ana");
  }
  {
    WsClient again;  // the code works once
    REQUIRE(again.connect(s.port()));
    REQUIRE(again.send(enrol.start()));
    CHECK(fatal_error(again).code == Code::code_used);
  }

  WsClient c;
  auto reply = authenticate(c, s.port(), device, key);
  const auto* w = as<sync::Welcome>(reply);
  REQUIRE(w);
  CHECK(w->user == "ana");
  CHECK(w->role == "worker");
  CHECK(w->lease.wipe_after_ms == 30LL * 86'400'000);
  auto listed = dir->device(device);
  REQUIRE(listed);
  CHECK(listed->last_sync_ms.has_value());

  SECTION("a forged answer is refused, and the server goes on serving") {
    WsClient forger;
    auto refused = authenticate(forger, s.port(), device, crypto::SigningKey::generate());
    const auto* e = as<sync::Error>(refused);
    REQUIRE(e);
    CHECK(e->code == Code::bad_signature);
    REQUIRE(c.send(sync::Pull{0, 10}));
    CHECK(as<sync::Changes>(c.recv_message()));
  }
  SECTION("a revoked device is refused and told to wipe") {
    REQUIRE(dir->revoke_device(device, /*allow_upload=*/false, wall_ms()));
    WsClient later;
    auto refused = authenticate(later, s.port(), device, key);
    const auto* e = as<sync::Error>(refused);
    REQUIRE(e);
    CHECK(e->code == Code::revoked);
  }
}

TEST_CASE("server: an unknown device and a bad code are refused with their own codes", "[auth]") {
  RunningServer s(with_auth());
  WsClient c;
  auto refused = authenticate(c, s.port(), device_id(9), crypto::SigningKey::generate());
  const auto* e = as<sync::Error>(refused);
  REQUIRE(e);
  CHECK(e->code == Code::unknown_device);

  WsClient enrol;
  REQUIRE(enrol.connect(s.port()));
  auto key = crypto::SigningKey::generate();
  REQUIRE(
      enrol.send(sync::EnrollSession(device_id(9), key.public_key(), "AAAA-BBBB-CCCC").start()));
  CHECK(fatal_error(enrol).code == Code::code_invalid);
}
