// The device's identity in its replica: the Ed25519 key made at init and kept across opens,
// enrolment rewriting the outbox's user, the offline lease, and destroying a replica.
#include <filesystem>
#include <string>
#include <vector>

#include "replica_test_util.hpp"

using fieldsync::Code;
using fieldsync::client::FieldEdit;
using fieldsync::client::Replica;
using namespace fieldsync::test;

namespace {
// What a wipe leaves: the empty lock file (kept so that processes waiting on it and a replica
// made later at the same path still exclude each other).
bool only_lock_file_left(const TempDir& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    names.push_back(e.path().filename().string());
  return names == std::vector<std::string>{"r.db.lock"} &&
         std::filesystem::file_size(dir.file("r.db.lock")) == 0;
}
}  // namespace

TEST_CASE("a replica keeps its device key across opens, and forgets it when locked",
          "[replica][identity]") {
  TempDir dir;
  FakeClock clock;
  const auto path = dir.file("r.db");
  fieldsync::crypto::PublicKey first{};
  {
    auto r = make_replica(path, clock);
    REQUIRE(r->signing_key());
    first = r->signing_key()->public_key();
    r->lock();
    CHECK(r->signing_key() == nullptr);
  }
  auto again = Replica::open(path, credential(), options(clock));
  REQUIRE(again);
  REQUIRE((*again)->signing_key());
  CHECK((*again)->signing_key()->public_key() == first);
  auto other = make_replica(dir.file("other.db"), clock);
  CHECK(other->signing_key()->public_key() != first);
}

TEST_CASE("enrolment names the server's user, also in operations not yet sent",
          "[replica][identity]") {
  TempDir dir;
  FakeClock clock;
  auto r = make_replica(dir.file("r.db"), clock, "local-name");
  REQUIRE(r->put("clients", "c1", {{"name", FieldEdit::Kind::set, "Amina"}}));
  CHECK_FALSE(r->enrolled());
  REQUIRE(r->set_enrolled("ana", "worker", "ws://127.0.0.1:8700"));
  CHECK(r->enrolled());
  CHECK(r->user() == "ana");
  auto out = r->outbox();
  REQUIRE(out);
  REQUIRE(out->size() == 1);
  CHECK(out->front().op.user == "ana");
  REQUIRE(r->put("clients", "c2", {{"name", FieldEdit::Kind::set, "Ben"}}));
  out = r->outbox();
  CHECK(out->back().op.user == "ana");
}

TEST_CASE("the offline lease: sync first, then wiped", "[replica][identity]") {
  TempDir dir;
  FakeClock clock;
  const auto path = dir.file("r.db");
  constexpr std::int64_t kDay = 86'400'000;
  {
    auto r = make_replica(path, clock);
    REQUIRE(r->record_checkin({14 * kDay, 30 * kDay}));
  }
  clock.advance(13 * kDay);
  CHECK(Replica::open(path, credential(), options(clock)).is_ok());

  clock.advance(2 * kDay);  // 15 days without a check-in
  auto overdue = Replica::open(path, credential(), options(clock));
  CHECK(overdue.status().code() == Code::lease_expired);
  CHECK(overdue.status().message().find("sync it before using it") != std::string::npos);
  auto for_sync_options = options(clock);
  for_sync_options.for_sync = true;
  CHECK(Replica::open(path, credential(), for_sync_options).is_ok());

  clock.advance(16 * kDay);  // 31 days
  auto wiped = Replica::open(path, credential(), for_sync_options);
  CHECK(wiped.status().code() == Code::lease_expired);
  CHECK(wiped.status().message().find("wiped") != std::string::npos);
  CHECK(only_lock_file_left(dir));
}

TEST_CASE("destroy removes the key and every file, never under an open replica",
          "[replica][identity]") {
  TempDir dir;
  FakeClock clock;
  const auto path = dir.file("r.db");
  auto open = make_replica(path, clock);
  CHECK(Replica::destroy(path).code() == Code::busy);
  REQUIRE(std::filesystem::exists(path + ".keys"));
  open.reset();
  REQUIRE(Replica::destroy(path));
  CHECK(only_lock_file_left(dir));
  CHECK(Replica::open(path, credential(), options(clock)).status().code() == Code::not_found);
}
