// Device authentication and enrolment in the protocol state machines: a challenge answered
// with the enrolled key over the connection's channel binding, and every way it can fail;
// enrolment codes' outcomes.
#include <cstdint>
#include <span>
#include <string>

#include <catch2/catch.hpp>

#include "fieldsync/crypto/random.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/sync/client_session.hpp"
#include "fieldsync/sync/enroll_session.hpp"
#include "fieldsync/sync/ids.hpp"
#include "fieldsync/sync/op_chain.hpp"
#include "fieldsync/sync/server_session.hpp"
#include "memory_client_store.hpp"
#include "test_device.hpp"

using namespace fieldsync;
using namespace fieldsync::sync;
using fieldsync::test::MemoryClientStore;

namespace {

const std::string kDevice = "0123456789abcdef0123456789abcdef";

struct Pair {
  crypto::SigningKey key = crypto::SigningKey::generate();
  MemoryClientStore store;
  ClientSession client;
  ServerSession server;
  // `binding` and `server_binding`: the channel binding each end sees (equal on one TLS
  // connection; different through a man in the middle, which holds two connections).
  explicit Pair(const crypto::SigningKey* client_key = nullptr, std::string binding = "",
                std::string server_binding = "")
      : client(store, {.device = kDevice,
                       .user = "local-name",
                       .schema_version = 2,
                       .key = client_key ? client_key : &key,
                       .binding = std::move(binding)}),
        server(default_schema(), config(std::move(server_binding))) {}
  static ServerSessionConfig config(std::string binding = "") {
    ServerSessionConfig c;
    c.require_auth = true;
    c.binding = std::move(binding);
    return c;
  }
  DeviceRecord record(DeviceState state = DeviceState::active) const {
    return {"ana", "worker", key.public_key(), state, {14 * 86'400'000LL, 30 * 86'400'000LL}};
  }
};

Message decoded(const std::string& frame) {
  auto m = decode(frame);
  REQUIRE(m);
  return *m;
}

// hello -> challenge -> auth -> lookup; returns the server's actions after on_device.
SessionActions handshake(Pair& p, const Result<DeviceRecord>& answer) {
  auto hello = p.client.start();
  auto challenge = p.server.on_frame(hello.at(0), 7, 1000);
  REQUIRE(challenge.send.size() == 1);
  REQUIRE(std::holds_alternative<Challenge>(decoded(challenge.send[0])));
  CHECK_FALSE(p.server.authenticated());
  auto auth = p.client.on_frame(challenge.send[0]);
  REQUIRE(auth.size() == 1);
  auto lookup = p.server.on_frame(auth[0], 7, 1000);
  REQUIRE(lookup.lookup_device == kDevice);
  return p.server.on_device(answer, 7, 1000);
}

Code fatal_code(const SessionActions& a) {
  REQUIRE(a.close);
  REQUIRE(a.send.size() == 1);
  auto e = std::get<Error>(decoded(a.send[0]));
  CHECK(e.fatal);
  return e.code;
}

// A push of `ops` signed over the device's chain from `prev` with `key` (what a device's
// ClientSession sends).
Push signed_push(const std::vector<Op>& ops, const crypto::Digest& prev,
                 const crypto::SigningKey& key) {
  Push p{1, ops};
  PushChain c;
  c.prev = digest_hex(prev);
  crypto::Digest link = prev;
  for (const auto& op : ops) {
    c.digests.push_back(digest_hex(op_digest(op)));
    link = chain_next(link, op_digest(op));
  }
  const std::string m = push_message(kDevice, ops.back().id, link);
  c.signature =
      crypto::to_hex(key.sign({reinterpret_cast<const std::uint8_t*>(m.data()), m.size()}));
  p.chain = c;
  return p;
}

// An admin's device (no scope to load), welcomed.
void welcomed_admin(Pair& p) {
  auto record = p.record();
  record.role = "admin";
  (void)handshake(p, record);
  REQUIRE(p.server.authenticated());
}

}  // namespace

TEST_CASE("signed push: the client signs its chain of operations and the server checks it",
          "[auth][audit]") {
  Pair p;
  test::TestDevice dev(kDevice, "ana");
  p.store.outbox.push_back(dev.set("cases", "c1", "status", "closed", 1000));
  p.store.outbox.push_back(dev.set("cases", "c1", "programme", "housing", 1001));
  auto record = p.record();
  record.role = "admin";
  auto welcome = handshake(p, record);
  auto frames = p.client.on_frame(welcome.send.at(0));
  const std::string* push_frame = nullptr;
  for (const auto& f : frames)
    if (std::holds_alternative<Push>(decoded(f))) push_frame = &f;
  REQUIRE(push_frame);
  auto push = std::get<Push>(decoded(*push_frame));
  REQUIRE(push.chain);
  CHECK(push.chain->prev == digest_hex(chain_genesis(kDevice)));
  // The welcome said the server computes the digests: the push leaves them out.
  CHECK(push.chain->digests.empty());
  auto submitted = p.server.on_frame(*push_frame, 0, 1000);
  REQUIRE(submitted.submit);
  REQUIRE(submitted.submit->chain);
  CHECK(submitted.submit->chain->verified);
  REQUIRE(submitted.submit->chain->digests.size() == 2);
  CHECK(submitted.submit->chain->digests[1] == op_digest(push.ops[1]));
  CHECK(submitted.submit->chain->device == kDevice);
  CHECK(submitted.submit->chain->user == "ana");
  CHECK(submitted.submit->ops.size() == 2);
  CHECK(submitted.submit->refused.empty());
}

TEST_CASE("signed push: another device's key, a changed op, swapped ops are refused",
          "[auth][audit]") {
  Pair p;
  welcomed_admin(p);
  test::TestDevice dev(kDevice, "ana");
  std::vector<Op> ops{dev.set("cases", "c1", "status", "closed", 1000),
                      dev.set("cases", "c2", "status", "planning", 1001),
                      dev.set("cases", "c3", "status", "planning", 1002)};
  const crypto::Digest genesis = chain_genesis(kDevice);

  SECTION("signed with another key: the whole push, each op with the reason") {
    auto other = crypto::SigningKey::generate();
    auto a = p.server.on_frame(encode(signed_push(ops, genesis, other)), 0, 1000);
    REQUIRE(a.submit);
    REQUIRE(a.submit->chain);
    CHECK_FALSE(a.submit->chain->verified);
    CHECK(a.submit->ops.empty());
    REQUIRE(a.submit->refused.size() == 3);
    for (const auto& r : a.submit->refused) {
      CHECK(r.result.code == Code::bad_signature);
      CHECK(r.result.reason.find("does not verify") != std::string::npos);
    }
  }
  SECTION("one op changed after signing: that op alone") {
    Push push = signed_push(ops, genesis, p.key);
    push.ops[1].writes[0].value = "closed";
    auto a = p.server.on_frame(encode(push), 0, 1000);
    REQUIRE(a.submit);
    CHECK(a.submit->chain->verified);
    CHECK(a.submit->ops.size() == 2);
    REQUIRE(a.submit->refused.size() == 1);
    CHECK(a.submit->refused[0].position == 1);
    CHECK(a.submit->refused[0].result.code == Code::bad_signature);
  }
  SECTION("without digests, one op changed after signing: the whole push") {
    Push push = signed_push(ops, genesis, p.key);
    push.chain->digests.clear();
    push.ops[1].writes[0].value = "closed";
    auto a = p.server.on_frame(encode(push), 0, 1000);
    REQUIRE(a.submit);
    CHECK_FALSE(a.submit->chain->verified);
    CHECK(a.submit->ops.empty());
    CHECK(a.submit->refused.size() == 3);
  }
  SECTION("two ops swapped after signing: both") {
    Push push = signed_push(ops, genesis, p.key);
    std::swap(push.ops[0], push.ops[1]);
    auto a = p.server.on_frame(encode(push), 0, 1000);
    REQUIRE(a.submit);
    CHECK(a.submit->ops.size() == 1);
    CHECK(a.submit->refused.size() == 2);
  }
  SECTION("unsigned: a protocol error") {
    auto a = p.server.on_frame(encode(Push{1, ops}), 0, 1000);
    CHECK(fatal_code(a) == Code::bad_signature);
  }
}

TEST_CASE("auth: an enrolled, active device is welcomed as its enrolled user", "[auth]") {
  Pair p;
  auto loading = handshake(p, p.record());
  REQUIRE(loading.load_scope);  // a worker's device: its scope is read before the welcome
  CHECK(loading.send.empty());
  auto welcome = p.server.on_scope(Visibility{}, std::vector<std::string>{}, 7, 1000);
  REQUIRE(welcome.send.size() == 1);
  auto w = std::get<Welcome>(decoded(welcome.send[0]));
  CHECK(w.scoped);
  CHECK(w.user == "ana");
  CHECK(w.role == "worker");
  CHECK_FALSE(w.wipe);
  CHECK(p.server.authenticated());
  CHECK(p.server.user() == "ana");
  auto next = p.client.on_frame(welcome.send[0]);
  CHECK(p.client.server_user() == "ana");
  CHECK(p.client.lease().wipe_after_ms == 30 * 86'400'000LL);
  REQUIRE_FALSE(next.empty());
  CHECK(std::holds_alternative<Pull>(decoded(next[0])));
}

TEST_CASE("auth: unknown, revoked and forged answers are refused with their own codes", "[auth]") {
  SECTION("unknown device") {
    Pair p;
    CHECK(fatal_code(handshake(p, Status(Code::unknown_device, "no such device"))) ==
          Code::unknown_device);
  }
  SECTION("revoked without upload") {
    Pair p;
    CHECK(fatal_code(handshake(p, p.record(DeviceState::revoked))) == Code::revoked);
  }
  SECTION("a signature by another key") {
    Pair p;
    crypto::SigningKey other = crypto::SigningKey::generate();
    Pair forged(&other);
    CHECK(fatal_code(handshake(forged, p.record())) == Code::bad_signature);
  }
  SECTION("behind a TLS-terminating proxy the server checks no binding, and none is signed") {
    Pair p(nullptr, "binding of the connection to the proxy", "");
    DeviceRecord admin = p.record();
    admin.role = "admin";
    auto welcome = handshake(p, admin);
    REQUIRE(welcome.send.size() == 1);
    CHECK(std::holds_alternative<Welcome>(decoded(welcome.send[0])));
  }
  SECTION("a replayed answer from an earlier connection") {
    Pair first;
    auto hello = first.client.start();
    auto challenge = first.server.on_frame(hello.at(0), 0, 1000);
    auto answer = first.client.on_frame(challenge.send.at(0));
    // A second connection gets a fresh nonce; the old answer does not verify against it.
    ServerSession second(default_schema(), Pair::config());
    second.on_frame(hello.at(0), 0, 1000);
    auto lookup = second.on_frame(answer.at(0), 0, 1000);
    REQUIRE(lookup.lookup_device);
    CHECK(fatal_code(second.on_device(first.record(), 0, 1000)) == Code::bad_signature);
  }
  SECTION("a malformed signature") {
    Pair p;
    p.server.on_frame(p.client.start().at(0), 0, 1000);
    CHECK(fatal_code(p.server.on_frame(encode(Auth{"zz"}), 0, 1000)) == Code::bad_signature);
  }
}

TEST_CASE("auth: the answer is bound to the connection's channel binding", "[auth]") {
  // Two TLS connections' exporter values (RFC 9266 tls-exporter: 32 bytes, hex).
  const std::string device_side(64, 'a');
  const std::string server_side(64, 'b');
  SECTION("the same binding on both ends: welcome") {
    Pair p(nullptr, device_side, device_side);
    DeviceRecord admin = p.record();
    admin.role = "admin";  // welcomed at once (no scope to load first)
    auto welcome = handshake(p, admin);
    REQUIRE(welcome.send.size() == 1);
    CHECK(std::holds_alternative<Welcome>(decoded(welcome.send[0])));
    CHECK(p.server.authenticated());
  }
  SECTION("relayed through a man in the middle: each end sees its own connection") {
    Pair p(nullptr, device_side, server_side);
    CHECK(fatal_code(handshake(p, p.record())) == Code::bad_signature);
  }
  SECTION("a device that signs no binding, against a server on TLS") {
    Pair p(nullptr, "", server_side);
    CHECK(fatal_code(handshake(p, p.record())) == Code::bad_signature);
  }
  SECTION("a man in the middle that clears `bound` gains nothing") {
    Pair p(nullptr, device_side, server_side);
    auto challenge = p.server.on_frame(p.client.start().at(0), 0, 1000);
    auto c = std::get<Challenge>(decoded(challenge.send.at(0)));
    CHECK(c.bound);
    c.bound = false;  // the device now signs no binding; the real server still checks its own
    auto auth = p.client.on_frame(encode(c));
    REQUIRE(auth.size() == 1);
    auto lookup = p.server.on_frame(auth[0], 0, 1000);
    REQUIRE(lookup.lookup_device);
    CHECK(fatal_code(p.server.on_device(p.record(), 0, 1000)) == Code::bad_signature);
  }
  SECTION("the signed text differs only by the binding, and does not verify for another") {
    crypto::SigningKey key = crypto::SigningKey::generate();
    const std::string nonce(64, '7');
    auto bytes = [](const std::string& s) {
      return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()),
                                           s.size());
    };
    const std::string signed_text = auth_message(kProtocolVersion, kDevice, nonce, device_side);
    const crypto::Signature sig = key.sign(bytes(signed_text));
    CHECK(crypto::verify(key.public_key(), bytes(signed_text), sig));
    for (const std::string& other : {server_side, std::string()}) {
      const std::string text = auth_message(kProtocolVersion, kDevice, nonce, other);
      CHECK(text != signed_text);
      CHECK_FALSE(crypto::verify(key.public_key(), bytes(text), sig));
    }
  }
}

TEST_CASE("auth: nothing but the answer is accepted before authentication", "[auth]") {
  Pair p;
  p.server.on_frame(p.client.start().at(0), 0, 1000);
  CHECK(fatal_code(p.server.on_frame(encode(Pull{0, 10}), 0, 1000)) == Code::unexpected_message);
}

TEST_CASE("auth: a device without a key cannot answer", "[auth]") {
  MemoryClientStore store;
  ClientSession client(store, {.device = kDevice, .user = "local", .schema_version = 2});
  ServerSession server(default_schema(), Pair::config());
  auto challenge = server.on_frame(client.start().at(0), 0, 1000);
  CHECK(client.on_frame(challenge.send.at(0)).empty());
  REQUIRE(client.failed());
  CHECK(client.failure()->code() == Code::unknown_device);
}

TEST_CASE("auth: a revoked device that may upload pushes, receives nothing, then wipes", "[auth]") {
  Pair p;
  p.store.outbox.push_back([] {
    Op op;
    op.id = make_op_id(kDevice, 1);  // ids.hpp
    op.device = kDevice;
    op.user = "ana";
    op.hlc = Hlc{1000, 0};
    op.collection = "tasks";
    op.record = "t1";
    op.writes.push_back({"title", WriteKind::set, boost::json::value("call back"), {}});
    return op;
  }());
  auto welcome = handshake(p, p.record(DeviceState::revoked_may_upload));
  CHECK(p.server.upload_only());
  auto pushes = p.client.on_frame(welcome.send.at(0));
  REQUIRE(pushes.size() == 1);  // no pull: only the push
  auto submitted = p.server.on_frame(pushes[0], 0, 1000);
  REQUIRE(submitted.submit);
  OpResult accepted;
  accepted.op = submitted.submit->ops[0].id;
  accepted.seq = 8;
  auto ack = p.server.on_committed(submitted.submit->batch, {accepted});
  CHECK_FALSE(p.client.wipe_requested());
  CHECK(p.client.on_frame(ack.send.at(0)).empty());
  CHECK(p.client.wipe_requested());
  // Pulls and live changes get nothing.
  auto refused = p.server.on_frame(encode(Pull{0, 10}), 0, 1000);
  CHECK(std::get<Error>(decoded(refused.send.at(0))).code == Code::revoked);
  CHECK(p.server.on_live({LogEntry{9, Op{}, false}}).send.empty());
}

TEST_CASE("enrol: a code is redeemed through the server's directory", "[auth]") {
  auto key = crypto::SigningKey::generate();
  EnrollSession device(kDevice, key.public_key(), "ABCD-EFGH-JKLM");
  ServerSession server(default_schema(), Pair::config());
  auto redeem = server.on_frame(device.start(), 0, 1000);
  REQUIRE(redeem.redeem);
  CHECK(redeem.redeem->code == "ABCD-EFGH-JKLM");
  CHECK(redeem.redeem->public_key == crypto::to_hex(key.public_key()));

  SECTION("redeemed") {
    auto done = server.on_redeemed(Enrolled{"ana", "worker"});
    CHECK(done.close);
    auto outcome = device.on_frame(done.send.at(0));
    REQUIRE(outcome);
    REQUIRE(*outcome);
    CHECK((*outcome)->user == "ana");
  }
  SECTION("expired, used or unknown codes are told apart") {
    for (Code c : {Code::code_expired, Code::code_used, Code::code_invalid}) {
      ServerSession s(default_schema(), Pair::config());
      s.on_frame(device.start(), 0, 1000);
      auto refused = s.on_redeemed(Status(c, "that code"));
      auto outcome = device.on_frame(refused.send.at(0));
      REQUIRE(outcome);
      CHECK(outcome->status().code() == c);
    }
  }
}

TEST_CASE("enrol: refused by a server that does not authenticate, and not after hello", "[auth]") {
  auto key = crypto::SigningKey::generate();
  EnrollSession device(kDevice, key.public_key(), "CODE");
  ServerSession open_server(default_schema(), {});
  CHECK(fatal_code(open_server.on_frame(device.start(), 0, 1000)) == Code::unexpected_message);
}

TEST_CASE("signing keys round-trip through their secret bytes", "[auth]") {
  auto key = crypto::SigningKey::generate();
  auto again = crypto::SigningKey::from_secret(key.secret());
  REQUIRE(again);
  CHECK(again->public_key() == key.public_key());
  std::vector<std::uint8_t> bad(key.secret().begin(), key.secret().end());
  bad[40] ^= 1;  // the public half no longer matches the seed
  CHECK(crypto::SigningKey::from_secret(bad).status().code() == Code::invalid_argument);
  CHECK(crypto::SigningKey::from_secret(std::vector<std::uint8_t>(10)).status().code() ==
        Code::invalid_argument);
}

TEST_CASE("reads: recorded as the session's, nonsense left out, one batch at a time",
          "[auth][audit]") {
  Pair p;
  welcomed_admin(p);
  Reads r{1, {{"cases", "c1", 5}, {"no-such-collection", "x", 6}, {"notes", "*", 7}}};
  auto a = p.server.on_frame(encode(r), 0, 1000);
  REQUIRE(a.record_reads);
  REQUIRE(a.record_reads->events.size() == 2);
  CHECK(a.record_reads->events[0].what == "opened");
  CHECK(a.record_reads->events[1].what == "listed");
  auto second = p.server.on_frame(encode(Reads{2, {{"cases", "c2", 8}}}), 0, 1000);
  CHECK(fatal_code(second) == Code::unexpected_message);
}

TEST_CASE("reads: noted once recorded, an error when not", "[auth][audit]") {
  Pair p;
  welcomed_admin(p);
  REQUIRE(p.server.on_frame(encode(Reads{1, {{"cases", "c1", 5}}}), 0, 1000).record_reads);
  auto noted = p.server.on_reads_recorded(1, Status::ok());
  REQUIRE(noted.send.size() == 1);
  CHECK(std::get<Noted>(decoded(noted.send[0])).batch == 1);
  REQUIRE(p.server.on_frame(encode(Reads{2, {{"cases", "c1", 6}}}), 0, 1000).record_reads);
  auto failed = p.server.on_reads_recorded(2, Status(Code::storage, "disk full"));
  auto e = std::get<Error>(decoded(failed.send.at(0)));
  CHECK(e.code == Code::storage);
  CHECK_FALSE(e.fatal);
}

TEST_CASE("history: the answer goes out only after its read is recorded", "[auth][audit]") {
  Pair p;
  welcomed_admin(p);
  test::TestDevice dev(kDevice, "ana");
  auto ask = p.server.on_frame(encode(HistoryRequest{"cases", "c1"}), 0, 1000);
  REQUIRE(ask.read_history);
  RecordLog log;
  log.exists = true;
  log.entries.push_back(HistoryEntry{3, dev.set("cases", "c1", "status", "closed", 900), 950});
  auto answered = p.server.on_history(log);
  CHECK(answered.send.empty());
  REQUIRE(answered.record_reads);
  CHECK(answered.record_reads->batch == 0);
  CHECK(answered.record_reads->events.at(0).what == "history");
  SECTION("recorded: the log is sent") {
    auto sent = p.server.on_reads_recorded(0, Status::ok());
    auto h = std::get<HistoryLog>(decoded(sent.send.at(0)));
    CHECK(h.entries.size() == 1);
    CHECK(h.entries[0].received_ms == 950);
  }
  SECTION("not recorded: nothing of it is sent") {
    auto refused = p.server.on_reads_recorded(0, Status(Code::storage, "disk full"));
    CHECK(std::get<Error>(decoded(refused.send.at(0))).code == Code::storage);
  }
  SECTION("a second request before the first answer went out is refused") {
    auto again = p.server.on_frame(encode(HistoryRequest{"cases", "c9"}), 0, 1000);
    CHECK(fatal_code(again) == Code::unexpected_message);
  }
  SECTION("a record that does not exist is not found") {
    (void)p.server.on_reads_recorded(0, Status::ok());
    auto again = p.server.on_frame(encode(HistoryRequest{"cases", "c9"}), 0, 1000);
    REQUIRE(again.read_history);
    auto none = p.server.on_history(RecordLog{});
    CHECK(std::get<Error>(decoded(none.send.at(0))).code == Code::not_found);
  }
}
