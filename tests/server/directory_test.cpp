// The directory in the server's store: teams and users, one-time enrolment codes (single use,
// expiry on an injected clock, stored only hashed), device states, the lease, the server's op
// identity, and the store's migration from format 1.
#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>

#include <catch2/catch.hpp>

#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/crypto/password.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/enroll_code.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "test_util.hpp"

using namespace fieldsync;
using namespace fieldsync::test;
using server::DeviceState;
using server::Role;

namespace {

constexpr std::int64_t kDay = 24 * server::kHourMs;

struct Fixture {
  TempDir dir;
  std::string path = dir.file(server::kStoreFileName);
  std::unique_ptr<server::Directory> d = open(path);

  static std::unique_ptr<server::Directory> open(const std::string& p,
                                                 const std::string& key_file = {}) {
    auto file = server::StoreFile::open(p, key_file);
    REQUIRE(file);
    auto d = server::Directory::open(*file);
    REQUIRE(d);
    return std::move(*d);
  }

  // Teams north and south; ana (worker, north), lee (lead, north), root (admin).
  void people() {
    REQUIRE(d->add_team("north", kNowMs));
    REQUIRE(d->add_team("south", kNowMs));
    REQUIRE(d->add_user("ana", Role::worker, "north", kNowMs));
    REQUIRE(d->add_user("lee", Role::lead, "north", kNowMs));
    REQUIRE(d->add_user("root", Role::admin, "", kNowMs));
  }

  std::string enrol(const std::string& user, const std::string& device, std::int64_t now = kNowMs) {
    auto code = d->new_enroll_code(user, server::kDefaultEnrollCodeTtlMs, now);
    REQUIRE(code);
    auto redeemed = d->redeem_enroll_code(code->code, device, key(device), now);
    REQUIRE(redeemed);
    return code->code;
  }

  static crypto::PublicKey key(const std::string& device) {
    crypto::PublicKey k{};
    for (std::size_t i = 0; i < k.size(); ++i)
      k[i] = static_cast<std::uint8_t>(device.back() + static_cast<char>(i));
    return k;
  }
};

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("teams and users: roles, membership and their errors", "[directory]") {
  Fixture f;
  f.people();
  auto users = f.d->list_users();
  REQUIRE(users);
  REQUIRE(users->size() == 3);
  CHECK((*users)[0].name == "ana");
  CHECK((*users)[0].team == "north");
  CHECK((*users)[2].role == Role::admin);
  CHECK((*users)[2].team.empty());
  auto lee = f.d->user("lee");
  REQUIRE(lee);
  CHECK(lee->role == Role::lead);
  CHECK(lee->created_ms == kNowMs);

  auto teams = f.d->list_teams();
  REQUIRE(teams);
  REQUIRE(teams->size() == 2);
  CHECK((*teams)[0].name == "north");
  CHECK((*teams)[0].users == 2);
  CHECK((*teams)[1].users == 0);

  CHECK(f.d->user("nobody").status().code() == Code::not_found);
  CHECK(f.d->add_team("north", kNowMs).code() == Code::invalid_argument);
  CHECK(f.d->add_team("bad name", kNowMs).code() == Code::invalid_argument);
  CHECK(f.d->add_user("ana", Role::worker, "north", kNowMs).code() == Code::invalid_argument);
  CHECK(f.d->add_user("a/b", Role::worker, "north", kNowMs).code() == Code::invalid_argument);
  CHECK(f.d->add_user("max", Role::worker, "", kNowMs).code() == Code::invalid_argument);
  CHECK(f.d->add_user("max", Role::lead, "west", kNowMs).code() == Code::not_found);
  CHECK(f.d->add_user("max", Role::admin, "north", kNowMs).code() == Code::invalid_argument);
  CHECK(f.d->user("max").status().code() == Code::not_found);
}

TEST_CASE("enrolment codes: format, one use, typing forgiveness", "[directory]") {
  Fixture f;
  f.people();
  auto code = f.d->new_enroll_code("ana", server::kDefaultEnrollCodeTtlMs, kNowMs);
  REQUIRE(code);
  CHECK(code->user == "ana");
  CHECK(code->expires_ms == kNowMs + 24 * server::kHourMs);
  CHECK(std::regex_match(code->code, std::regex("[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-"
                                                "[2-9A-HJ-NP-Z]{4}")));

  // Lower case, no dashes, spaces: the same code.
  std::string typed;
  for (char c : code->code)
    if (c != '-') typed += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  typed.insert(6, " ");
  const std::string dev = device_id(1);
  auto user = f.d->redeem_enroll_code(typed, dev, Fixture::key(dev), kNowMs + 1000);
  REQUIRE(user);
  CHECK(user->name == "ana");
  CHECK(user->team == "north");

  auto again = f.d->redeem_enroll_code(code->code, device_id(2), Fixture::key(dev), kNowMs + 2000);
  CHECK(again.status().code() == Code::code_used);
  CHECK(f.d->device(device_id(2)).status().code() == Code::unknown_device);

  SECTION("unknown and malformed codes") {
    for (const char* bad : {"2222-2222-2222", "", "ABCD", "0000-0000-0000", "ABCD-EFGH-JKLM-N"})
      CHECK(f.d->redeem_enroll_code(bad, device_id(3), Fixture::key(dev), kNowMs).status().code() ==
            Code::code_invalid);
  }
  SECTION("lifetimes and users") {
    CHECK(f.d->new_enroll_code("nobody", kDay, kNowMs).status().code() == Code::not_found);
    CHECK(f.d->new_enroll_code("ana", 0, kNowMs).status().code() == Code::invalid_argument);
    CHECK(f.d->new_enroll_code("ana", server::kMaxEnrollCodeTtlMs + 1, kNowMs).status().code() ==
          Code::invalid_argument);
  }
  SECTION("codes are distinct") {
    std::set<std::string> seen;
    for (int i = 0; i < 50; ++i) {
      auto c = f.d->new_enroll_code("lee", kDay, kNowMs);
      REQUIRE(c);
      seen.insert(c->code);
    }
    CHECK(seen.size() == 50);
  }
}

TEST_CASE("an enrolment code expires at its expiry, on the injected clock", "[directory]") {
  Fixture f;
  f.people();
  auto code = f.d->new_enroll_code("ana", 2 * server::kHourMs, kNowMs);
  REQUIRE(code);
  const std::string dev = device_id(1);
  const std::int64_t expiry = kNowMs + 2 * server::kHourMs;
  CHECK(f.d->redeem_enroll_code(code->code, dev, Fixture::key(dev), expiry).status().code() ==
        Code::code_expired);
  CHECK(
      f.d->redeem_enroll_code(code->code, dev, Fixture::key(dev), expiry + kDay).status().code() ==
      Code::code_expired);
  // Refusing it did not use it up: a minute before expiry it still works.
  CHECK(f.d->redeem_enroll_code(code->code, dev, Fixture::key(dev), expiry - 60'000));
}

TEST_CASE("redeeming refuses bad or enrolled device ids without using the code", "[directory]") {
  Fixture f;
  f.people();
  f.enrol("ana", device_id(1));
  auto code = f.d->new_enroll_code("lee", kDay, kNowMs);
  REQUIRE(code);
  const auto k = Fixture::key(device_id(1));
  CHECK(f.d->redeem_enroll_code(code->code, device_id(1), k, kNowMs).status().code() ==
        Code::invalid_argument);
  CHECK(f.d->redeem_enroll_code(code->code, "not-a-device", k, kNowMs).status().code() ==
        Code::invalid_argument);
  auto user = f.d->redeem_enroll_code(code->code, device_id(2), k, kNowMs);
  REQUIRE(user);
  CHECK(user->name == "lee");
}

TEST_CASE("codes are stored only as keyed hashes: the plain code is not in the file",
          "[directory]") {
  Fixture f;
  f.people();
  std::vector<std::string> codes;
  for (int i = 0; i < 3; ++i) {
    auto c = f.d->new_enroll_code("ana", kDay, kNowMs);
    REQUIRE(c);
    codes.push_back(c->code);
  }
  const std::string bytes = file_bytes(f.path) + file_bytes(f.path + "-wal");
  REQUIRE(bytes.find("ana") != std::string::npos);  // the user is there, in plain text
  for (const auto& c : codes) {
    std::string plain = c;
    plain.erase(std::remove(plain.begin(), plain.end(), '-'), plain.end());
    CHECK(bytes.find(c) == std::string::npos);
    CHECK(bytes.find(plain) == std::string::npos);
  }
}

TEST_CASE("devices: enrolment, last sync, revocation states, wipe", "[directory]") {
  Fixture f;
  f.people();
  const std::string a = device_id(1);
  const std::string b = device_id(2);
  f.enrol("ana", a, kNowMs);
  f.enrol("lee", b, kNowMs + 5);

  auto d = f.d->device(a);
  REQUIRE(d);
  CHECK(d->user == "ana");
  CHECK(d->role == Role::worker);
  CHECK(d->team == "north");
  CHECK(d->public_key == Fixture::key(a));
  CHECK(d->state == DeviceState::active);
  CHECK(d->enrolled_ms == kNowMs);
  CHECK_FALSE(d->last_sync_ms);
  CHECK(f.d->device(device_id(9)).status().code() == Code::unknown_device);

  REQUIRE(f.d->touch_last_sync(a, kNowMs + 100));
  CHECK(f.d->device(a)->last_sync_ms == kNowMs + 100);
  CHECK(f.d->touch_last_sync(device_id(9), kNowMs).code() == Code::unknown_device);

  // Lost: may upload first. Then found stolen: no upload either. Then wiped.
  CHECK(f.d->mark_wiped(a).code() == Code::invalid_argument);
  REQUIRE(f.d->revoke_device(a, /*allow_upload=*/true, kNowMs + 200));
  CHECK(f.d->device(a)->state == DeviceState::revoked);
  CHECK(f.d->device(a)->revoked_ms == kNowMs + 200);
  CHECK(f.d->revoke_device(a, true, kNowMs + 250).code() == Code::invalid_argument);
  REQUIRE(f.d->revoke_device(a, /*allow_upload=*/false, kNowMs + 300));
  CHECK(f.d->device(a)->state == DeviceState::revoked_no_upload);
  CHECK(f.d->device(a)->revoked_ms == kNowMs + 200);  // first revocation kept
  REQUIRE(f.d->mark_wiped(a));
  REQUIRE(f.d->mark_wiped(a));
  CHECK(f.d->device(a)->state == DeviceState::wiped);
  CHECK(f.d->revoke_device(a, false, kNowMs).code() == Code::invalid_argument);

  REQUIRE(f.d->revoke_device(b, /*allow_upload=*/false, kNowMs));
  CHECK(f.d->device(b)->state == DeviceState::revoked_no_upload);
  CHECK(f.d->revoke_device(device_id(9), true, kNowMs).code() == Code::unknown_device);

  auto list = f.d->list_devices();
  REQUIRE(list);
  REQUIRE(list->size() == 2);
  CHECK((*list)[0].id == a);
  CHECK((*list)[0].last_sync_ms == kNowMs + 100);
  CHECK((*list)[1].user == "lee");
}

TEST_CASE("the lease: defaults, set, bounds", "[directory]") {
  Fixture f;
  auto lease = f.d->lease();
  REQUIRE(lease);
  CHECK(*lease == server::Lease{14, 30});
  REQUIRE(f.d->set_lease({7, 21}));
  CHECK(*f.d->lease() == server::Lease{7, 21});
  for (server::Lease bad : {server::Lease{0, 30}, server::Lease{30, 30}, server::Lease{31, 30},
                            server::Lease{1, server::kMaxLeaseDays + 1}})
    CHECK(f.d->set_lease(bad).code() == Code::invalid_argument);
  CHECK(*f.d->lease() == server::Lease{7, 21});
}

TEST_CASE("two directories on one store see each other's changes at once", "[directory]") {
  Fixture f;
  auto other = Fixture::open(f.path);
  REQUIRE(other->add_team("north", kNowMs));
  REQUIRE(f.d->add_user("ana", Role::worker, "north", kNowMs));
  CHECK(other->user("ana"));
  auto code = other->new_enroll_code("ana", kDay, kNowMs);
  REQUIRE(code);
  CHECK(f.d->redeem_enroll_code(code->code, device_id(1), Fixture::key(device_id(1)), kNowMs));
  CHECK(other->device(device_id(1))->user == "ana");
  REQUIRE(other->set_lease({3, 9}));
  CHECK(*f.d->lease() == server::Lease{3, 9});
}

TEST_CASE("the server's op identity: one device id, counters never reused", "[directory]") {
  Fixture f;
  auto id = f.d->server_device();
  REQUIRE(id);
  CHECK(id->size() == 32);
  auto s1 = f.d->next_server_op(kNowMs);
  auto s2 = Fixture::open(f.path)->next_server_op(kNowMs - 10'000);  // a clock behind
  REQUIRE(s1);
  REQUIRE(s2);
  CHECK(s1->device == *id);
  CHECK(s2->device == *id);
  CHECK(s1->counter == 1);
  CHECK(s2->counter == 2);
  CHECK(s2->hlc > s1->hlc);
  CHECK(*Fixture::open(f.path)->server_device() == *id);
}

TEST_CASE("a format 1 store is migrated in place with its log, a newer format is refused",
          "[directory]") {
  TempDir dir;
  const std::string path = dir.file(server::kStoreFileName);
  {
    auto db = crypto::Database::open(path, {});
    REQUIRE(db);
    REQUIRE((*db)->exec(R"sql(
      CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE log(seq INTEGER PRIMARY KEY AUTOINCREMENT, op_id TEXT NOT NULL UNIQUE,
        device TEXT NOT NULL, collection TEXT NOT NULL, record TEXT NOT NULL,
        op_json TEXT NOT NULL, skewed INTEGER NOT NULL, received_ms INTEGER NOT NULL);
      CREATE TABLE records(collection TEXT NOT NULL, id TEXT NOT NULL, state_json TEXT NOT NULL,
        fields_json TEXT NOT NULL, deleted INTEGER NOT NULL,
        PRIMARY KEY(collection, id)) WITHOUT ROWID;
      INSERT INTO meta VALUES ('format', '1'), ('kind', 'fieldsync-server');)sql"));
  }
  {
    auto store = server::SqliteStore::open(path);
    REQUIRE(store);
    auto tx = (*store)->begin();
    REQUIRE(tx);
    REQUIRE((*tx)->append_log(put_op(device_id(1), 1, "cases", "c1", {{"status", "planning"}}),
                              false, kNowMs, false));
    REQUIRE((*tx)->commit());
  }
  auto d = Fixture::open(path);
  REQUIRE(d->add_team("north", kNowMs));
  auto store = server::SqliteStore::open(path);
  REQUIRE(store);
  CHECK(*(*store)->head() == 1);
  {
    auto db = crypto::Database::open(path, {});
    REQUIRE(db);
    auto st = (*db)->prepare("SELECT value FROM meta WHERE key = 'format'");
    REQUIRE(st);
    REQUIRE(*st->step());
    CHECK(st->column_text(0) == std::to_string(server::kStoreFormat));
    REQUIRE((*db)->exec("UPDATE meta SET value = '99' WHERE key = 'format'"));
  }
  d.reset();
  store = server::SqliteStore::open(path);
  REQUIRE_FALSE(store);
  CHECK(store.status().code() == Code::storage);
  CHECK(store.status().message().find("format 99") != std::string::npos);
}

TEST_CASE("the directory of an encrypted store is encrypted too", "[directory]") {
  TempDir dir;
  const std::string key_file = dir.file("server.key");
  REQUIRE(crypto::write_key_file(key_file));
  const std::string path = dir.file(server::kStoreFileName);
  {
    auto d = Fixture::open(path, key_file);
    REQUIRE(d->add_team("northern-outreach", kNowMs));
    REQUIRE(d->add_user("amina.yusuf", Role::worker, "northern-outreach", kNowMs));
  }
  const std::string bytes = file_bytes(path) + file_bytes(path + "-wal");
  CHECK(bytes.find("amina.yusuf") == std::string::npos);
  CHECK(bytes.find("northern-outreach") == std::string::npos);
  CHECK(Fixture::open(path, key_file)->user("amina.yusuf"));
  CHECK_FALSE(server::StoreFile::open(path, ""));
}

TEST_CASE("passwords: an Argon2id hash per user, replaced, never for an unknown user",
          "[directory]") {
  Fixture f;
  f.people();
  auto none = f.d->password_hash("ana");
  REQUIRE(none);
  CHECK_FALSE(*none);
  const std::string pw = "a long password";
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(pw.data()),
                                            pw.size());
  auto hash = crypto::hash_password(bytes, crypto::KdfLimits::minimum());
  REQUIRE(hash);
  REQUIRE(f.d->set_password("ana", *hash, kNowMs));
  auto stored = f.d->password_hash("ana");
  REQUIRE(stored);
  REQUIRE(*stored);
  CHECK(crypto::verify_password(**stored, bytes));
  auto other = crypto::hash_password(bytes, crypto::KdfLimits::minimum());
  REQUIRE(f.d->set_password("ana", *other, kNowMs + 1));
  CHECK(**f.d->password_hash("ana") == *other);
  CHECK(f.d->set_password("nobody", *hash, kNowMs).code() == Code::not_found);
}
