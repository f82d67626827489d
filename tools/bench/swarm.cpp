// The swarm's enrolment and idle-connection phases (swarm.hpp); live_latency is in
// swarm_live.cpp, the event loop in swarm_driver.cpp.
#include "swarm.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "fieldsync/server/directory.hpp"
#include "fieldsync/sync/ids.hpp"
#include "swarm_driver.hpp"

namespace fieldsync::bench {
namespace {

constexpr std::int64_t kEnrollCodeTtlMs = 3'600'000;
// Handshakes (connect, upgrade, challenge, auth, welcome, pull, scope) in flight at once.
constexpr std::size_t kMaxHandshakesInFlight = 64;
constexpr auto kConnectBase = std::chrono::seconds(60);
constexpr auto kConnectPerDevice = std::chrono::milliseconds(20);

// VmRSS of /proc/PID/status, in bytes.
Result<std::uint64_t> resident_bytes(int pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/status";
  std::ifstream in(path);
  if (!in) return Status(Code::not_found, "cannot read " + path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::istringstream fields(line.substr(6));
    std::uint64_t kib = 0;
    std::string unit;
    if (fields >> kib >> unit && unit == "kB") return kib * 1024;
    break;
  }
  return Status(Code::internal, "no VmRSS line in " + path);
}

// Every SigningKey keeps its secret in its own sodium_malloc'ed page, mlock'ed. libsodium
// ignores a failed mlock (the key then works, unlocked), so a low RLIMIT_MEMLOCK does not
// break the swarm; still, raise the soft limit towards the hard one so that the keys stay
// locked where the system allows it.
void allow_locked_pages(std::size_t keys) {
  const auto page = static_cast<rlim_t>(sysconf(_SC_PAGESIZE));
  rlimit lim{};
  if (getrlimit(RLIMIT_MEMLOCK, &lim) != 0) return;
  const rlim_t want = lim.rlim_cur + page * static_cast<rlim_t>(keys);
  if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur >= lim.rlim_max) return;
  lim.rlim_cur = (lim.rlim_max == RLIM_INFINITY || want < lim.rlim_max) ? want : lim.rlim_max;
  (void)setrlimit(RLIMIT_MEMLOCK, &lim);
}

}  // namespace

Result<std::vector<Identity>> enrol_identities(server::Directory& directory,
                                               const std::string& user, std::size_t n,
                                               crypto::Random& random, std::int64_t now_ms) {
  allow_locked_pages(n);
  std::vector<Identity> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string device = sync::new_device_id(random);
    crypto::SigningKey key = crypto::SigningKey::generate();
    auto code = directory.new_enroll_code(user, kEnrollCodeTtlMs, now_ms);
    if (!code) return code.status();
    auto redeemed = directory.redeem_enroll_code(code->code, device, key.public_key(), now_ms);
    if (!redeemed) return redeemed.status();
    out.push_back(Identity{device, redeemed->name, std::move(key)});
  }
  return out;
}

Result<IdleFigures> idle_connections(const std::string& host, std::uint16_t port, int server_pid,
                                     const std::vector<Identity>& identities,
                                     std::chrono::milliseconds settle) {
  if (identities.empty()) return Status(Code::invalid_argument, "no identities to connect");
  auto before = resident_bytes(server_pid);
  if (!before) return before.status();

  Swarm swarm;
  if (Status s = swarm.resolve(host, port); !s) return s;
  for (const auto& id : identities) swarm.add(id);
  const auto start = SteadyClock::now();
  const auto deadline =
      start + kConnectBase + kConnectPerDevice * static_cast<int>(identities.size());
  if (Status s = swarm.connect_all(kMaxHandshakesInFlight, deadline); !s) return s;
  IdleFigures f;
  f.connect_seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  swarm.run_for(settle);
  if (Status s = swarm.first_failure(); !s) return s;
  auto with = resident_bytes(server_pid);
  if (!with) return with.status();
  swarm.shutdown();

  f.connections = identities.size();
  f.server_rss_before = *before;
  f.server_rss_with = *with;
  f.bytes_per_connection = (static_cast<double>(*with) - static_cast<double>(*before)) /
                           static_cast<double>(identities.size());
  return f;
}

}  // namespace fieldsync::bench
