// The benchmark's swarm (tools/bench/swarm.hpp) against an in-process server with device
// authentication: identities enrolled through the directory, idle connections that
// authenticate and catch up, and live latency from five workers' devices to their lead's.
// Small and quick; fieldsync-bench runs the same functions at scale.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "bench/swarm.hpp"
#include "fieldsync/crypto/random.hpp"
#include "fieldsync/server/audit.hpp"
#include "fieldsync/server/directory.hpp"
#include "test_util.hpp"

namespace fieldsync {
namespace {

using std::chrono::milliseconds;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Two descriptors per connection in this process (the device's and the server's).
void raise_open_files() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &lim);
  }
}

server::ServerConfig with_auth() {
  server::ServerConfig c;
  c.require_auth = true;
  return c;
}

// Team "bench": lead "bench-lead", workers "bench-w0".."bench-w<n-1>" and "bench-idle".
struct BenchProgramme {
  test::RunningServer server{with_auth()};
  std::unique_ptr<server::Directory> directory;
  crypto::SodiumRandom random;

  explicit BenchProgramme(int workers) {
    auto file = server::StoreFile::open(server.data_dir() + "/fieldsync.db", "");
    REQUIRE(file);
    auto key = server::audit::open_key(*file, server.data_dir() + "/audit.key");
    REQUIRE(key);
    server::DirectoryOptions options;
    options.audit_key = *key;
    auto dir = server::Directory::open(*file, options);
    REQUIRE(dir);
    directory = std::move(*dir);
    REQUIRE(directory->add_team("bench", wall_ms()));
    REQUIRE(directory->add_user("bench-lead", server::Role::lead, "bench", wall_ms()));
    REQUIRE(directory->add_user("bench-idle", server::Role::worker, "bench", wall_ms()));
    for (int i = 0; i < workers; ++i)
      REQUIRE(directory->add_user(worker(i), server::Role::worker, "bench", wall_ms()));
  }
  static std::string worker(int i) { return "bench-w" + std::to_string(i); }

  std::vector<bench::Identity> enrol(const std::string& user, std::size_t n) {
    auto ids = bench::enrol_identities(*directory, user, n, random, wall_ms());
    INFO(ids.status().to_string());
    REQUIRE(ids);
    return std::move(*ids);
  }
  // One fresh device for each of the first `n` workers.
  std::vector<bench::Identity> writers(int n) {
    std::vector<bench::Identity> out;
    for (int i = 0; i < n; ++i) {
      auto one = enrol(worker(i), 1);
      out.push_back(std::move(one.front()));
    }
    return out;
  }
};

TEST_CASE("swarm: enrolled identities hold idle connections open", "[bench]") {
  raise_open_files();
  BenchProgramme p(0);
  auto ids = p.enrol("bench-idle", 20);
  REQUIRE(ids.size() == 20);
  for (const auto& id : ids) {
    CHECK(id.user == "bench-idle");
    auto device = p.directory->device(id.device);
    REQUIRE(device);
    CHECK(device->public_key == id.key.public_key());
  }

  auto f = bench::idle_connections("127.0.0.1", p.server.port(), getpid(), ids, milliseconds(200));
  INFO(f.status().to_string());
  REQUIRE(f);
  CHECK(f->connections == 20);
  CHECK(f->server_rss_before > 0);
  CHECK(f->server_rss_with > f->server_rss_before);
  CHECK(f->bytes_per_connection > 0);
  CHECK(f->connect_seconds > 0);
  // Every device authenticated: the directory saw each check in.
  for (const auto& id : ids) CHECK(p.directory->device(id.device)->last_sync_ms.has_value());
}

TEST_CASE("swarm: workers' edits reach their lead live", "[bench]") {
  raise_open_files();
  BenchProgramme p(5);
  auto writers = p.writers(5);
  auto lead = p.enrol("bench-lead", 1);
  std::vector<double> fractions;
  auto f = bench::live_latency("127.0.0.1", p.server.port(), writers, lead, milliseconds(200),
                               milliseconds(2000), [&](double d) { fractions.push_back(d); });
  INFO(f.status().to_string());
  REQUIRE(f);
  CHECK(f->writers == 5);
  CHECK(f->edits == 50);  // 5 writers, every 200 ms for 2 s
  CHECK(f->seen == f->edits);
  CHECK(f->lost == 0);
  CHECK(f->p50_ms > 0);
  CHECK(f->p99_ms >= f->p50_ms);
  CHECK(f->max_ms >= f->p99_ms);
  CHECK(f->encoded_edit_bytes > 100);
  CHECK(f->bytes_per_edit > f->encoded_edit_bytes);  // the push's envelope, chain and the ack
  REQUIRE_FALSE(fractions.empty());
  CHECK(fractions.back() == 1.0);

  // Writers that wrote before are refused, with the reason (their op counters start afresh).
  auto again = bench::live_latency("127.0.0.1", p.server.port(), writers, lead, milliseconds(200),
                                   milliseconds(200), nullptr);
  REQUIRE_FALSE(again);
  CHECK(again.status().message().find("wrote before") != std::string::npos);

  // An observer that does not see the writers' cases (a worker's device) is an error.
  auto other = p.enrol("bench-idle", 1);
  auto fresh = p.writers(1);  // bench-w0's second device, with a new case
  auto r = bench::live_latency("127.0.0.1", p.server.port(), fresh, other, milliseconds(200),
                               milliseconds(200), nullptr);
  REQUIRE_FALSE(r);
  CHECK(r.status().code() == Code::out_of_scope);
}

}  // namespace
}  // namespace fieldsync
