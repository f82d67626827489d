// fieldsync-bench's phases beside the sync rounds (see side_phases.hpp).
#include "bench/side_phases.hpp"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "bench/limits.hpp"
#include "bench/programme.hpp"
#include "bench/server_process.hpp"
#include "bench/swarm.hpp"
#include "fieldsync/crypto/random.hpp"
#include "fieldsync/server/directory.hpp"

namespace fieldsync::bench {
namespace {

namespace fs = std::filesystem;

constexpr double kMiB = 1024.0 * 1024.0;
constexpr auto kIdleSettle = std::chrono::milliseconds(1000);
constexpr auto kServerStartTimeout = std::chrono::seconds(30);

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status in_phase(const std::string& phase, const Status& s) {
  return Status(s.code(), phase + ": " + s.message());
}

}  // namespace

Status measure_limits(const SideConfig& config, const std::string& dir,
                      const std::vector<sync::Op>& ops, Values& v, Progress& progress) {
  progress.phase("limits", 0, "");
  if (!ops.empty()) {
    auto sqlite = sqlite_baseline(dir, ops, config.sqlite_batch);
    if (!sqlite) return in_phase("the raw SQLite baseline", sqlite.status());
    v["limits.sqlite_ops_per_s"] = sqlite->ops_per_s;
    v["limits.sqlite_rows_per_op"] = sqlite->rows_per_op;
  }
  v["limits.ed25519_verify_per_s"] = ed25519_verify_rate(config.crypto_budget).per_s;
  v["limits.aead_mib_per_s"] = aead_seal_rate(4096, config.crypto_budget).per_s / kMiB;
  auto echo = websocket_echo(700, config.echo_budget);
  if (!echo) return in_phase("the bare WebSocket echo", echo.status());
  v["limits.echo_round_trips_per_s"] = echo->round_trips_per_s;
  v["limits.echo_rtt_p50_ms"] = echo->rtt_p50_us / 1000.0;
  v["limits.echo_rtt_p99_ms"] = echo->rtt_p99_us / 1000.0;
  v["limits.echo_messages_per_s"] = echo->messages_per_s;
  return Status::ok();
}

Status measure_live(const SideConfig& config, server::Directory& directory, const std::string& tag,
                    const std::string& host, std::uint16_t port, Values& v, Progress& progress) {
  if (config.live_writers == 0) return Status::ok();
  auto team = set_up_team(directory, tag + "live", config.live_writers, wall_ms());
  if (!team) return in_phase("live: setting up the team", team.status());
  crypto::SodiumRandom random;
  std::vector<Identity> writers;
  progress.phase("live: enrol", config.live_writers, "devices");
  for (const auto& worker : team->workers) {
    auto one = enrol_identities(directory, worker, 1, random, wall_ms());
    if (!one) return in_phase("live: enrolling " + worker, one.status());
    writers.push_back(std::move(one->front()));
    progress.add();
  }
  auto lead = enrol_identities(directory, team->lead, 1, random, wall_ms());
  if (!lead) return in_phase("live: enrolling the lead", lead.status());
  const auto window_ms = static_cast<std::uint64_t>(config.live_duration.count());
  progress.phase("live", window_ms, "ms");
  std::uint64_t shown = 0;
  auto live = live_latency(
      host, port, writers, *lead, config.live_interval, config.live_duration, [&](double fraction) {
        const auto now = static_cast<std::uint64_t>(fraction * static_cast<double>(window_ms));
        if (now > shown) progress.add(now - shown);
        shown = std::max(shown, now);
      });
  if (!live) return in_phase("live", live.status());
  if (live->lost > 0)
    return in_phase("live", Status(Code::internal, std::to_string(live->lost) + " of " +
                                                       std::to_string(live->edits) +
                                                       " edits never reached the lead"));
  v["live.writers"] = static_cast<double>(live->writers);
  v["live.edits"] = static_cast<double>(live->edits);
  v["live.p50_ms"] = live->p50_ms;
  v["live.p99_ms"] = live->p99_ms;
  v["live.max_ms"] = live->max_ms;
  v["live.bytes_per_edit"] = live->bytes_per_edit;
  v["live.encoded_edit_bytes"] = live->encoded_edit_bytes;
  if (live->encoded_edit_bytes > 0)
    v["live.wire_ratio"] = live->bytes_per_edit / live->encoded_edit_bytes;
  return Status::ok();
}

Status measure_idle(const SideConfig& config, const std::string& server_bin, const std::string& dir,
                    Values& v, Progress& progress) {
  if (config.idle_connections == 0) return Status::ok();
  const std::string data = (fs::path(dir) / "idle-server").string();
  std::error_code ec;
  fs::create_directories(data, ec);
  if (ec) return Status(Code::storage, "idle: cannot make " + data + ": " + ec.message());
  auto directory = open_directory(data);
  if (!directory) return in_phase("idle: opening the store", directory.status());
  auto team = set_up_team(**directory, "idle", 1, wall_ms());
  if (!team) return in_phase("idle: setting up the team", team.status());
  progress.phase("idle: enrol", 0, "");
  crypto::SodiumRandom random;
  auto identities = enrol_identities(**directory, team->workers.front(), config.idle_connections,
                                     random, wall_ms());
  if (!identities) return in_phase("idle: enrolling", identities.status());
  auto server = ServerProcess::start(server_bin, data, kServerStartTimeout);
  if (!server) return in_phase("idle: starting a fresh server", server.status());
  progress.phase("idle", 0, "");
  auto idle = idle_connections((*server)->host(), (*server)->port(), (*server)->pid(), *identities,
                               kIdleSettle);
  Status stopped = (*server)->stop();
  if (!idle) return in_phase("idle", idle.status());
  if (!stopped) return in_phase("idle: stopping the server", stopped);
  v["idle.connections"] = static_cast<double>(idle->connections);
  v["idle.bytes_per_connection"] = idle->bytes_per_connection;
  v["idle.connect_seconds"] = idle->connect_seconds;
  v["idle.server_rss_mib"] = static_cast<double>(idle->server_rss_with) / kMiB;
  return Status::ok();
}

}  // namespace fieldsync::bench
