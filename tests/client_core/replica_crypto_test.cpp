// The replica on the encrypting VFS: no plaintext in any file it leaves behind after a
// realistic workload (with an interrupted transaction and a WAL that was not checkpointed),
// wrong passphrases, tampering, locking and unlocking, passphrase change and re-key.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "fieldsync/client/idle_lock.hpp"
#include "replica_test_util.hpp"

using fieldsync::Code;
using fieldsync::Status;
using fieldsync::client::FieldEdit;
using fieldsync::client::IdleLock;
using fieldsync::client::Replica;
using fieldsync::client::ReplicaOptions;
using namespace fieldsync::test;

namespace {

// Strings of the workload that must never be on disk in the clear.
const std::vector<std::string> kSecrets = {
    "Amina Yusuf",
    "Bartholomew Quist",
    "shelter on Keller Street",
    "preferred_language",
    "date_of_birth",
    "text",
    "housing-first",
    "SQLite format 3",
    "Interrupted note",
    "outbox",
    "records",
    "wants help with forms",
};

std::vector<char> bytes_of(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool contains(const std::vector<char>& hay, const std::string& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

void workload(Replica& r, int cases) {
  for (int i = 0; i < cases; ++i) {
    std::string n = std::to_string(i);
    REQUIRE(r.put("clients", "cl-" + n,
                  {{"name", FieldEdit::Kind::set, i % 2 ? "Amina Yusuf" : "Bartholomew Quist"},
                   {"date_of_birth", FieldEdit::Kind::set, "1980-02-03"},
                   {"location_description", FieldEdit::Kind::set, "shelter on Keller Street"},
                   {"preferred_language", FieldEdit::Kind::set, "so"}}));
    REQUIRE(r.put("cases", "case-" + n,
                  {{"client_id", FieldEdit::Kind::set, "cl-" + n},
                   {"programme", FieldEdit::Kind::set, "housing-first"},
                   {"status", FieldEdit::Kind::set, "assessment"}}));
    REQUIRE(r.add_note("case-" + n, "Met at the shelter; wants help with forms. Visit " + n));
    REQUIRE(r.put("cases", "case-" + n, {{"status", FieldEdit::Kind::set, "planning"}}));
  }
}

// In a child process: opens the replica, then starts a transaction big enough to spill pages
// into the WAL and dies without committing (as a process killed mid-write does).
[[noreturn]] void die_mid_transaction(const std::string& path) {
  auto key = fieldsync::crypto::open_key(path, credential());
  if (!key) _exit(2);
  fieldsync::crypto::OpenOptions o;
  o.create = false;
  o.key = &*key;
  auto db = fieldsync::crypto::Database::open(path, o);
  if (!db) _exit(3);
  if (!(*db)->exec("PRAGMA cache_size=4; BEGIN IMMEDIATE;"
                   "UPDATE records SET fields_json = fields_json || 'Interrupted note';"
                   "INSERT INTO meta SELECT 'copy-' || collection || id, state_json FROM records;"))
    _exit(4);
  _exit(0);
}

std::vector<std::string> leaks_in(const std::filesystem::path& dir) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    auto bytes = bytes_of(entry.path());
    for (const auto& secret : kSecrets)
      if (contains(bytes, secret))
        found.push_back(entry.path().filename().string() + ": " + secret);
  }
  return found;
}

}  // namespace

TEST_CASE("no plaintext in any replica file after a workload, a crash and an open WAL",
          "[replica][crypto]") {
  TempDir dir;
  FakeClock clock;
  const auto path = dir.file("worker.db");
  auto r = make_replica(path, clock);
  workload(*r, 40);

  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) die_mid_transaction(path);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);

  // `r` is still open: the WAL holds committed frames not yet checkpointed and the torn
  // frames of the interrupted transaction.
  REQUIRE(std::filesystem::file_size(path + "-wal") > 8 * 4096);
  CHECK(leaks_in(dir.path()) == std::vector<std::string>{});  // prints what leaked, where

  workload(*r, 2);  // the replica goes on after the crash
  auto notes = r->list("notes");
  REQUIRE(notes);
  CHECK(notes->size() == 42);
  auto c = r->get("clients", "cl-1");
  REQUIRE(c);
  REQUIRE(*c);
  CHECK(field(**c, "name") == "Amina Yusuf");  // the interrupted update left nothing
  CHECK(query_int(path, "SELECT count(*) FROM meta WHERE key LIKE 'copy-%'") == 0);
  r.reset();
  CHECK(leaks_in(dir.path()) == std::vector<std::string>{});
  CHECK(Replica::check(path, credential()).is_ok());
}

TEST_CASE("replica files are private to their owner", "[replica][crypto]") {
  TempDir dir;
  FakeClock clock;
  auto r = make_replica(dir.file("r.db"), clock);
  workload(*r, 1);
  for (const char* suffix : {"", "-wal", ".keys"}) {
    struct stat st {};
    REQUIRE(::stat((dir.file("r.db") + suffix).c_str(), &st) == 0);
    CHECK((st.st_mode & 0077) == 0);
  }
}

TEST_CASE("a wrong passphrase is refused as such, and the right one opens", "[replica][crypto]") {
  TempDir dir;
  FakeClock clock;
  const auto path = dir.file("r.db");
  workload(*make_replica(path, clock), 1);
  auto wrong = Replica::open(path, credential("not the passphrase"), options(clock));
  CHECK(wrong.status().code() == Code::wrong_passphrase);
  CHECK(wrong.status().message() == "wrong passphrase for the replica " + path);
  CHECK(Replica::open(path, credential(), options(clock)).is_ok());
}

TEST_CASE("a flipped byte is reported as tampering by check and by a read", "[replica][crypto]") {
  TempDir dir;
  FakeClock clock;
  const auto path = dir.file("r.db");
  workload(*make_replica(path, clock), 30);  // closed: checkpointed into the database file
  // The root page of the records table: every read of a record goes through it.
  const auto page = query_int(path, "SELECT rootpage FROM sqlite_master WHERE name = 'records'");
  REQUIRE(page > 1);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg((page - 1) * 4096 + 300);
    const char was = static_cast<char>(f.get());
    f.seekp((page - 1) * 4096 + 300);
    f.put(static_cast<char>(was ^ 0x01));
  }
  const std::string where = "page " + std::to_string(page) + " failed authentication";
  auto checked = Replica::check(path, credential());
  CHECK(checked.status().code() == Code::tampered);
  CHECK(checked.status().message().find(where) != std::string::npos);

  auto r = Replica::open(path, credential(), options(clock));
  REQUIRE(r);
  auto read = (*r)->get("clients", "cl-3");
  CHECK(read.status().code() == Code::tampered);
  CHECK(read.status().message().find(where) != std::string::npos);
}

TEST_CASE("a locked replica refuses every call until unlocked", "[replica][crypto]") {
  TempDir dir;
  FakeClock clock;
  auto r = make_replica(dir.file("r.db"), clock);
  workload(*r, 1);
  r->lock();
  CHECK(r->locked());
  CHECK(r->get("clients", "cl-0").status().code() == Code::locked);
  CHECK(r->put("clients", "cl-9", {{"name", FieldEdit::Kind::set, "x"}}).status().code() ==
        Code::locked);
  CHECK(r->pending_ops(10, {}).status().code() == Code::locked);
  CHECK(r->unlock(credential("wrong passphrase")).code() == Code::wrong_passphrase);
  CHECK(r->locked());
  REQUIRE(r->unlock(credential()));
  auto c = r->get("clients", "cl-0");
  REQUIRE(c);
  CHECK(*c);
}

TEST_CASE("an idle replica locks itself, a use in progress is not cut off", "[replica][crypto]") {
  TempDir dir;
  FakeClock clock;
  auto r = make_replica(dir.file("r.db"), clock);
  IdleLock idle(*r, std::chrono::milliseconds(50));
  Status long_use = idle.use([](Replica& replica) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // longer than the idle time
    return replica.locked() ? Status(Code::internal, "locked during use") : Status::ok();
  });
  CHECK(long_use);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!idle.locked() && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(idle.locked());
  CHECK(idle.use([](Replica&) { return Status::ok(); }).code() == Code::locked);
  REQUIRE(idle.unlock(credential()));
  CHECK(idle.use([](Replica& replica) { return replica.get("clients", "x").status(); }));
}

TEST_CASE("passphrase change and re-key keep the data, and wait for open replicas",
          "[replica][crypto]") {
  TempDir dir;
  FakeClock clock;
  const auto path = dir.file("r.db");
  ReplicaOptions quick = options(clock);
  quick.busy_timeout_ms = 100;
  {
    auto r = make_replica(path, clock);
    workload(*r, 5);
    CHECK(Replica::rekey(path, credential(), quick).code() == Code::busy);
    CHECK(Replica::change_passphrase(path, credential(), credential("second passphrase"), quick)
              .code() == Code::busy);
  }
  REQUIRE(Replica::change_passphrase(path, credential(), credential("second passphrase")));
  CHECK(Replica::open(path, credential(), options(clock)).status().code() ==
        Code::wrong_passphrase);
  const auto envelope_before = bytes_of(path + ".keys");
  REQUIRE(Replica::rekey(path, credential("second passphrase")));
  CHECK(bytes_of(path + ".keys") != envelope_before);
  auto r = Replica::open(path, credential("second passphrase"), options(clock));
  REQUIRE(r);
  auto notes = (*r)->list("notes");
  REQUIRE(notes);
  CHECK(notes->size() == 5);
  r->reset();
  CHECK(Replica::check(path, credential("second passphrase")).is_ok());
  CHECK(leaks_in(dir.path()) == std::vector<std::string>{});
}

TEST_CASE("a failed init leaves no file behind", "[replica][crypto]") {
  TempDir dir;
  FakeClock clock;
  auto r = Replica::init(dir.file("missing-dir/r.db"), credential(), options(clock));
  CHECK_FALSE(r);
  CHECK(std::filesystem::is_empty(dir.path()));
}
