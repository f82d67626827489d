// Creating and opening replicas: identity kept, clear errors for missing or foreign files,
// encryption always on.
#include <cstdlib>
#include <fstream>

#include "fieldsync/sync/ids.hpp"
#include "replica_test_util.hpp"

using fieldsync::Code;
using fieldsync::client::Replica;
using fieldsync::client::ReplicaOptions;
using namespace fieldsync::test;

TEST_CASE("init creates a device, open finds the same identity", "[replica]") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.file("r.db");
  std::string device;
  {
    auto r = make_replica(path, clock, "carol");
    CHECK(fieldsync::sync::is_valid_device_id(r->device()));
    CHECK(r->user() == "carol");
    device = r->device();
  }
  auto again = Replica::open(path, credential(), ReplicaOptions{});
  REQUIRE(again.is_ok());
  CHECK((*again)->device() == device);
  CHECK((*again)->user() == "carol");

  auto twice = Replica::init(path, credential(), ReplicaOptions{});
  CHECK(twice.status().code() == Code::invalid_argument);
}

TEST_CASE("two replicas get different device ids, the user defaults to $USER", "[replica]") {
  TempDir dir;
  const char* old = std::getenv("USER");
  std::string saved = old ? old : "";
  ::setenv("USER", "dana", 1);
  auto a = Replica::init(dir.file("a.db"), credential(), ReplicaOptions{});
  ::unsetenv("USER");
  auto b = Replica::init(dir.file("b.db"), credential(), ReplicaOptions{});
  if (old) ::setenv("USER", saved.c_str(), 1);
  REQUIRE(a.is_ok());
  REQUIRE(b.is_ok());
  CHECK((*a)->user() == "dana");
  CHECK((*b)->user() == "worker");
  CHECK((*a)->device() != (*b)->device());
}

TEST_CASE("an injected Random makes the device id deterministic", "[replica]") {
  TempDir dir;
  fieldsync::crypto::SeededRandom r1(42), r2(42);
  ReplicaOptions o1, o2;
  o1.random = &r1;
  o2.random = &r2;
  auto a = Replica::init(dir.file("a.db"), credential(), o1);
  auto b = Replica::init(dir.file("b.db"), credential(), o2);
  REQUIRE(a.is_ok());
  REQUIRE(b.is_ok());
  CHECK((*a)->device() == (*b)->device());
}

TEST_CASE("opening a missing or foreign file is a clear error", "[replica]") {
  TempDir dir;
  auto missing = Replica::open(dir.file("none.db"), credential(), ReplicaOptions{});
  CHECK(missing.status().code() == Code::not_found);
  CHECK(missing.status().message().find("run init first") != std::string::npos);

  auto text = dir.file("notes.txt");
  std::ofstream(text) << "not a database, just some text that is long enough to be a header\n";
  auto foreign = Replica::open(text, credential(), ReplicaOptions{});
  CHECK(foreign.status().code() == Code::invalid_argument);
  CHECK(foreign.status().message().find("not an encrypted fieldsync replica") != std::string::npos);

  auto other_db = dir.file("other.db");
  {
    auto db = fieldsync::crypto::Database::open(other_db, fieldsync::crypto::OpenOptions{});
    REQUIRE(db.is_ok());
    REQUIRE((*db)->exec("CREATE TABLE t(x)").is_ok());
  }
  auto sqlite_file = Replica::open(other_db, credential(), ReplicaOptions{});
  CHECK(sqlite_file.status().code() == Code::invalid_argument);
  CHECK(sqlite_file.status().message().find("not an encrypted fieldsync replica") !=
        std::string::npos);
}
