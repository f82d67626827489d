// Log entries written by another process beside a running server (fieldsync-admin's
// assignments): the writer never reuses their sequence numbers, notices them by polling and
// fans them out, so connected devices receive them live and /healthz reports the new head.
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "fieldsync/server/case_admin.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "fieldsync/server/writer.hpp"
#include "test_util.hpp"
#include "ws_client.hpp"

using namespace fieldsync;
using namespace fieldsync::test;
using namespace std::chrono_literals;

namespace {

const std::string kA = device_id(1);
const std::string kB = device_id(2);

// Entries handed to a writer's fan-out, waited for with a bound.
class FanOutLog {
 public:
  server::Writer::FanOut callback() {
    return [this](const std::vector<sync::LogEntry>& entries) {
      std::lock_guard lock(mu_);
      for (const auto& e : entries) seqs_.push_back(e.seq);
      cv_.notify_all();
    };
  }
  bool wait_for_seq(std::uint64_t seq, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return !seqs_.empty() && seqs_.back() >= seq; });
  }
  std::vector<std::uint64_t> seqs() {
    std::lock_guard lock(mu_);
    return seqs_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::uint64_t> seqs_;
};

// The directory and store an admin process would open on `dir`.
struct Admin {
  std::unique_ptr<server::SqliteStore> store;
  std::unique_ptr<server::Directory> d;
  explicit Admin(const std::string& dir) {
    auto s = server::SqliteStore::open(dir + "/" + server::kStoreFileName);
    REQUIRE(s);
    store = std::move(*s);
    auto dd = server::Directory::open(store->file());
    REQUIRE(dd);
    d = std::move(*dd);
    REQUIRE(d->add_team("north", kNowMs));
    REQUIRE(d->add_user("ana", server::Role::worker, "north", kNowMs));
    REQUIRE(d->add_user("lee", server::Role::lead, "north", kNowMs));
  }
  server::CaseChangeResult assign(const std::string& case_id, const std::string& user) {
    auto r =
        server::change_case(*store, *d, {server::CaseAction::assign, case_id, user, "lee"}, kNowMs);
    REQUIRE(r);
    REQUIRE(r->changed);
    return *r;
  }
};

Result<std::vector<sync::OpResult>> submit_and_wait(server::Writer& w, std::vector<sync::Op> ops) {
  std::promise<Result<std::vector<sync::OpResult>>> done;
  auto fut = done.get_future();
  const Status queued = w.submit(
      std::move(ops), [&](Result<std::vector<sync::OpResult>> r) { done.set_value(std::move(r)); });
  REQUIRE(queued);
  REQUIRE(fut.wait_for(10s) == std::future_status::ready);
  return fut.get();
}

std::uint64_t health_head(std::uint16_t port) {
  auto r = http_get(port, "/healthz");
  REQUIRE(r.status == 200);
  return boost::json::parse(r.body).at("head").to_number<std::uint64_t>();
}

}  // namespace

TEST_CASE("the writer interleaves with another writer's entries and fans them out",
          "[writer][external]") {
  TempDir dir;
  auto served = server::SqliteStore::open(dir.file(server::kStoreFileName));
  REQUIRE(served);
  FanOutLog fanned;
  server::WriterConfig config;
  config.poll_ms = 50;
  server::Writer writer(**served, sync::default_schema(), config, fanned.callback());
  Admin admin(dir.path().string());

  auto first = submit_and_wait(writer, {put_op(kA, 1, "cases", "c1", {{"assigned_to", "ana"}})});
  REQUIRE(first);
  CHECK(first->at(0).seq == 1);
  CHECK(admin.assign("c1", "lee").seq == 2);  // leads may hold cases too
  auto third = submit_and_wait(writer, {put_op(kA, 2, "cases", "c1", {{"status", "planning"}})});
  REQUIRE(third);
  CHECK(third->at(0).seq == 3);  // after the external entry, never over it
  CHECK(admin.assign("c1", "ana").seq == 4);

  // Entry 4 came from outside: a poll fans it out.
  REQUIRE(fanned.wait_for_seq(4, 5s));
  auto seqs = fanned.seqs();
  CHECK(seqs.front() == 1);
  CHECK(seqs.back() == 4);
  CHECK(writer.external_entries() >= 1);

  auto log = (*served)->read_log(0, 100, "");
  REQUIRE(log);
  REQUIRE(log->entries.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) CHECK(log->entries[i].seq == i + 1);
  CHECK(log->entries[1].op.user == "lee");
  auto row = (*served)->get_record("cases", "c1");
  REQUIRE(row);
  CHECK((*row)->fields.at("assigned_to") == "ana");
  CHECK((*row)->fields.at("status") == "planning");
}

TEST_CASE(
    "an entry written by another process between two groups is fanned out before the "
    "later group, without waiting for a poll",
    "[writer][external]") {
  TempDir dir;
  auto served = server::SqliteStore::open(dir.file(server::kStoreFileName));
  REQUIRE(served);
  FanOutLog fanned;
  server::WriterConfig config;
  config.poll_ms = 0;  // never polls: only the gap before a group can bring entry 2
  server::Writer writer(**served, sync::default_schema(), config, fanned.callback());
  Admin admin(dir.path().string());
  REQUIRE(submit_and_wait(writer, {put_op(kA, 1, "cases", "c1", {{"assigned_to", "ana"}})}));
  CHECK(admin.assign("c1", "lee").seq == 2);
  REQUIRE(submit_and_wait(writer, {put_op(kA, 2, "cases", "c1", {{"status", "planning"}})}));
  REQUIRE(fanned.wait_for_seq(3, 5s));
  CHECK(fanned.seqs() == std::vector<std::uint64_t>{1, 2, 3});
  CHECK(writer.external_entries() == 1);
}

TEST_CASE("a connected device receives an assignment made by another process, live",
          "[server][external]") {
  RunningServer s;
  Admin admin(s.data_dir());
  WsClient a, b;
  for (auto* c : {&a, &b}) {
    REQUIRE(c->connect(s.port()));
    sync::Hello h;
    h.device = c == &a ? kA : kB;
    h.user = "alice";  // put_op's user
    h.schema = sync::default_schema().version();
    REQUIRE(c->send(h));
    REQUIRE(as<sync::Welcome>(c->recv_message()));
  }
  // B catches up and is live; A creates the case, which B receives live.
  REQUIRE(b.send(sync::Pull{0, 100}));
  REQUIRE(as<sync::Changes>(b.recv_message()));
  REQUIRE(a.send(sync::Push{1, {put_op(kA, 1, "cases", "c1", {{"assigned_to", "ana"}})}}));
  REQUIRE(as<sync::Ack>(a.recv_message()));
  auto created = b.recv_message();
  REQUIRE(as<sync::Changes>(created));

  const auto started = std::chrono::steady_clock::now();
  auto assigned = admin.assign("c1", "lee");
  auto live_msg = b.recv_message(5s);
  const auto* live = as<sync::Changes>(live_msg);
  REQUIRE(live);
  CHECK(live->live);
  REQUIRE(live->entries.size() == 1);
  CHECK(live->entries[0].seq == assigned.seq);
  CHECK(live->entries[0].op.id == assigned.op_id);
  CHECK(std::chrono::steady_clock::now() - started < 3s);
  CHECK(health_head(s.port()) == assigned.seq);
  // The device that made the case (not live: it never pulled) gets the assignment by pull,
  // without its own op.
  REQUIRE(a.send(sync::Pull{0, 100}));
  auto pulled_msg = a.recv_message();
  const auto* pulled = as<sync::Changes>(pulled_msg);
  REQUIRE(pulled);
  REQUIRE(pulled->entries.size() == 1);
  CHECK(pulled->entries[0].op.id == assigned.op_id);
}
