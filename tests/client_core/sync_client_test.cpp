// The sync client: push and pull to convergence, resume after a dropped connection, backoff
// on failed connections, rejected and refused outcomes, live mode, and a real unreachable port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <boost/json/serialize.hpp>

#include "fieldsync/client/sync_client.hpp"
#include "memory_server.hpp"
#include "replica_test_util.hpp"

using fieldsync::Code;
using fieldsync::client::FieldEdit;
using fieldsync::client::Replica;
using fieldsync::client::SyncClient;
using fieldsync::client::SyncClientOptions;
using fieldsync::client::SyncOutcome;
using namespace fieldsync::test;
using namespace std::chrono_literals;

namespace {

using Kind = FieldEdit::Kind;
constexpr const char* kUrl = "ws://127.0.0.1:9/sync";  // the memory transport ignores it

SyncClientOptions memory_options(MemoryServer& server, fieldsync::crypto::Random& random) {
  SyncClientOptions o;
  o.make_transport = server.factory();
  o.random = &random;
  o.backoff_initial = 5ms;
  o.backoff_max = 50ms;
  return o;
}

std::string json_of(Replica& r, const std::string& c, const std::string& id) {
  auto rec = r.get(c, id);
  REQUIRE(rec.is_ok());
  REQUIRE(rec->has_value());
  return boost::json::serialize(fieldsync::client::to_json(**rec));
}

// A TCP port on loopback with nothing listening on it.
std::uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A TCP listener that never answers: connections complete (the kernel's backlog) but the
// WebSocket handshake does not.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace

TEST_CASE("two devices converge through the server", "[sync_client]") {
  TempDir dir;
  FakeClock clock;
  MemoryServer server;
  fieldsync::crypto::SeededRandom random(1);
  auto a = make_replica(dir.file("a.db"), clock, "alice");
  auto b = make_replica(dir.file("b.db"), clock, "bob");

  REQUIRE(a->put("cases", "c1", {{"status", Kind::set, "assessment"}, {"needs", Kind::add, "food"}})
              .is_ok());
  REQUIRE(a->add_note("c1", "first visit").is_ok());
  SyncClient ca(*a, memory_options(server, random));
  SyncOutcome out = ca.sync_once(kUrl, 5s);
  CHECK(out.kind == SyncOutcome::Kind::up_to_date);
  CHECK(out.detail.is_ok());
  CHECK(out.pushed == 2);
  CHECK(a->outbox()->empty());
  CHECK(server.log_size() == 2);

  clock.advance(1000);
  REQUIRE(b->put("cases", "c1", {{"programme", Kind::set, "housing"}}).is_ok());
  REQUIRE(b->add_note("c1", "second visit").is_ok());
  SyncClient cb(*b, memory_options(server, random));
  out = cb.sync_once(kUrl, 5s);
  CHECK(out.kind == SyncOutcome::Kind::up_to_date);
  CHECK(out.pushed == 2);
  CHECK(out.pulled >= 2);

  out = ca.sync_once(kUrl, 5s);
  CHECK(out.kind == SyncOutcome::Kind::up_to_date);
  CHECK(json_of(*a, "cases", "c1") == json_of(*b, "cases", "c1"));
  CHECK(
      json_of(*a, "cases", "c1") ==
      R"({"collection":"cases","id":"c1","fields":{"needs":["food"],"programme":"housing","status":"assessment"}})");
  CHECK(a->list("notes")->size() == 2);
  CHECK(b->list("notes")->size() == 2);
  CHECK(a->cursor() == 4);
}

TEST_CASE("a connection lost before the ack: reconnect, resend, nothing lost or doubled",
          "[sync_client]") {
  TempDir dir;
  FakeClock clock;
  MemoryServer server;
  fieldsync::crypto::SeededRandom random(2);
  auto a = make_replica(dir.file("a.db"), clock);
  for (int i = 0; i < 5; ++i)
    REQUIRE(a->put("cases", "c" + std::to_string(i), {{"status", Kind::set, "planning"}}).is_ok());

  // First connection: the welcome arrives, then the line dies; the push is committed but
  // its ack never reaches the device.
  server.drop_plan = {1};
  SyncClient client(*a, memory_options(server, random));
  SyncOutcome out = client.sync_once(kUrl, 5s);
  CHECK(out.kind == SyncOutcome::Kind::up_to_date);
  CHECK(server.connections == 2);
  CHECK(server.log_size() == 5);  // exactly once each
  CHECK(a->outbox()->empty());
  CHECK(out.pushed == 5);  // acknowledged as duplicates the second time
  CHECK(a->list("cases")->size() == 5);
}

TEST_CASE("failed connections are retried with backoff until the timeout", "[sync_client]") {
  TempDir dir;
  FakeClock clock;
  MemoryServer server;
  fieldsync::crypto::SeededRandom random(3);
  auto a = make_replica(dir.file("a.db"), clock);
  REQUIRE(a->put("cases", "c1", {{"status", Kind::set, "planning"}}).is_ok());

  server.failed_connects = 4;
  SyncClient client(*a, memory_options(server, random));
  CHECK(client.sync_once(kUrl, 5s).kind == SyncOutcome::Kind::up_to_date);
  CHECK(server.connect_attempts == 5);

  server.failed_connects = 1'000'000;
  REQUIRE(a->put("cases", "c2", {{"status", Kind::set, "planning"}}).is_ok());
  auto start = std::chrono::steady_clock::now();
  SyncOutcome out = client.sync_once(kUrl, 300ms);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(out.kind == SyncOutcome::Kind::unreachable);
  CHECK(out.detail.code() == Code::unreachable);
  CHECK(took >= 290ms);
  CHECK(took < 2s);
  CHECK(a->outbox()->size() == 1);
}

TEST_CASE("a rejected op is reported and kept, the ones behind it sync", "[sync_client]") {
  TempDir dir;
  FakeClock clock;
  MemoryServer server;
  fieldsync::crypto::SeededRandom random(4);
  auto a = make_replica(dir.file("a.db"), clock);
  auto bad = a->put("cases", "secret", {{"status", Kind::set, "planning"}});
  REQUIRE(a->put("cases", "c1", {{"status", Kind::set, "planning"}}).is_ok());
  REQUIRE(a->put("cases", "c2", {{"status", Kind::set, "planning"}}).is_ok());
  server.forbidden = {"secret"};

  SyncClient client(*a, memory_options(server, random));
  SyncOutcome out = client.sync_once(kUrl, 5s);
  CHECK(out.kind == SyncOutcome::Kind::up_to_date);
  REQUIRE(out.rejected.size() == 1);
  CHECK(out.rejected[0].op == *bad);
  CHECK(out.rejected[0].code == Code::refused);
  CHECK(out.pushed == 2);
  CHECK(server.log_size() == 2);
  auto box = a->outbox();
  REQUIRE(box->size() == 1);
  CHECK(box->front().rejected);
  CHECK(box->front().reason.find("outside your caseload") != std::string::npos);

  // Not sent again; the next sync is clean.
  out = client.sync_once(kUrl, 5s);
  CHECK(out.kind == SyncOutcome::Kind::up_to_date);
  CHECK(out.rejected.empty());
  CHECK(server.log_size() == 2);
}

TEST_CASE("a refusal by the server ends the sync at once", "[sync_client]") {
  TempDir dir;
  FakeClock clock;
  MemoryServer server;
  fieldsync::crypto::SeededRandom random(5);
  auto a = make_replica(dir.file("a.db"), clock);
  REQUIRE(a->put("cases", "c1", {{"status", Kind::set, "planning"}}).is_ok());
  server.refuse = true;
  SyncClient client(*a, memory_options(server, random));
  SyncOutcome out = client.sync_once(kUrl, 5s);
  CHECK(out.kind == SyncOutcome::Kind::refused);
  CHECK(out.detail.code() == Code::refused);
  CHECK(out.detail.message() == "device revoked");
  CHECK(server.connect_attempts == 1);
  CHECK(a->outbox()->size() == 1);
}

TEST_CASE("a server that cannot commit: retried until the timeout, the outbox kept",
          "[sync_client]") {
  TempDir dir;
  FakeClock clock;
  MemoryServer server;
  fieldsync::crypto::SeededRandom random(8);
  auto a = make_replica(dir.file("a.db"), clock);
  REQUIRE(a->put("cases", "c1", {{"status", Kind::set, "planning"}}).is_ok());
  server.fail_commits = true;
  SyncClient client(*a, memory_options(server, random));
  SyncOutcome out = client.sync_once(kUrl, 300ms);
  CHECK(out.kind == SyncOutcome::Kind::unreachable);
  CHECK(out.detail.message().find("disk full") != std::string::npos);
  CHECK(server.connections > 1);
  CHECK(a->outbox()->size() == 1);

  server.fail_commits = false;
  CHECK(client.sync_once(kUrl, 5s).kind == SyncOutcome::Kind::up_to_date);
  CHECK(a->outbox()->empty());
}

TEST_CASE("run_live applies live changes and pushes local writes until stopped", "[sync_client]") {
  TempDir dir;
  FakeClock clock;
  MemoryServer server;
  fieldsync::crypto::SeededRandom random_a(6), random_b(7);
  auto a = make_replica(dir.file("a.db"), clock, "alice");
  make_replica(dir.file("b.db"), clock, "bob").reset();

  auto b_sync = Replica::open(dir.file("b.db"), credential(), options(clock));
  REQUIRE(b_sync.is_ok());
  auto opts = memory_options(server, random_b);
  opts.live_poll = 50ms;
  std::atomic<int> remote_changes{0};
  opts.on_remote_change = [&] { ++remote_changes; };
  SyncClient live(**b_sync, opts);
  SyncOutcome live_out;
  std::jthread runner([&](std::stop_token stop) { live_out = live.run_live(kUrl, stop); });

  auto wait_for = [](auto pred) {
    for (auto end = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < end;
         std::this_thread::sleep_for(10ms))
      if (pred()) return true;
    return false;
  };
  REQUIRE(wait_for([&] {
    auto l = server.lock();
    return server.connections >= 1;
  }));

  // Alice's change reaches Bob's replica while Bob stays connected.
  REQUIRE(a->put("cases", "c1", {{"status", Kind::set, "planning"}}).is_ok());
  SyncClient ca(*a, memory_options(server, random_a));
  REQUIRE(ca.sync_once(kUrl, 5s).kind == SyncOutcome::Kind::up_to_date);
  auto b_view = Replica::open(dir.file("b.db"), credential(), options(clock));
  REQUIRE(b_view.is_ok());
  CHECK(wait_for([&] { return (*b_view)->get("cases", "c1")->has_value(); }));
  // The callback runs on the client's thread just after the commit the replica shows.
  CHECK(wait_for([&] { return remote_changes.load() >= 1; }));

  // A write on Bob's device (another Replica object on the file) is pushed without a new sync.
  REQUIRE((*b_view)->put("cases", "c2", {{"status", Kind::set, "closed"}}).is_ok());
  live.notify_local_change();
  CHECK(wait_for([&] { return server.log_size() == 2; }));
  CHECK(wait_for([&] { return (*b_view)->outbox()->empty(); }));

  runner.request_stop();
  runner.join();
  CHECK(live_out.kind == SyncOutcome::Kind::up_to_date);
}

TEST_CASE("an unreachable port gives up after about the timeout", "[sync_client]") {
  TempDir dir;
  FakeClock clock;
  auto a = make_replica(dir.file("a.db"), clock);
  SyncClient client(*a);
  std::string url = "ws://127.0.0.1:" + std::to_string(closed_port());
  auto start = std::chrono::steady_clock::now();
  SyncOutcome out = client.sync_once(url, 1500ms);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(out.kind == SyncOutcome::Kind::unreachable);
  CHECK(out.detail.message().find("could not sync with") != std::string::npos);
  CHECK(took >= 1400ms);
  CHECK(took < 4s);

  out = client.sync_once("http://127.0.0.1:80", 1s);
  CHECK(out.kind == SyncOutcome::Kind::failed);
  CHECK(out.detail.code() == Code::invalid_argument);
}

TEST_CASE("a server that accepts but never answers does not hang the client", "[sync_client]") {
  TempDir dir;
  FakeClock clock;
  auto a = make_replica(dir.file("a.db"), clock);
  SilentListener silent;
  SyncClient client(*a);
  auto start = std::chrono::steady_clock::now();
  SyncOutcome out =
      client.sync_once("ws://127.0.0.1:" + std::to_string(silent.port()) + "/sync", 1s);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(out.kind == SyncOutcome::Kind::unreachable);
  CHECK(took >= 900ms);
  CHECK(took < 4s);
}

TEST_CASE("an untrusted server certificate ends the sync at once, without retries",
          "[sync_client]") {
  // A transport whose every connection finds the server's certificate untrusted.
  class Untrusted final : public fieldsync::client::Transport {
   public:
    explicit Untrusted(int& attempts) : attempts_(attempts) {}
    fieldsync::Status connect(const fieldsync::client::Endpoint&, Clock::time_point) override {
      ++attempts_;
      return {Code::untrusted_server, "server certificate not trusted: certificate verify failed"};
    }
    void send(std::string) override {}
    fieldsync::Result<std::optional<std::string>> receive(Clock::time_point) override {
      return fieldsync::Status(Code::unreachable, "not connected");
    }
    void close(Clock::time_point) override {}

   private:
    int& attempts_;
  };

  TempDir dir;
  FakeClock clock;
  fieldsync::crypto::SeededRandom random(9);
  auto a = make_replica(dir.file("a.db"), clock);
  int attempts = 0;
  SyncClientOptions o;
  o.random = &random;
  o.make_transport = [&attempts] { return std::make_unique<Untrusted>(attempts); };
  SyncClient client(*a, std::move(o));

  const auto start = std::chrono::steady_clock::now();
  SyncOutcome out = client.sync_once("wss://127.0.0.1:9/sync", 10s);
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  CHECK(out.kind == SyncOutcome::Kind::failed);
  CHECK(out.detail.code() == Code::untrusted_server);
  CHECK(attempts == 1);

  std::stop_source stop;
  out = client.run_live("wss://127.0.0.1:9/sync", stop.get_token());
  CHECK(out.kind == SyncOutcome::Kind::failed);
  CHECK(out.detail.code() == Code::untrusted_server);
  CHECK(attempts == 2);
}
