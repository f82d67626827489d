// fieldsync-bench's repetition (see run.hpp).
#include "bench/run.hpp"

#include <sys/resource.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>

#include "bench/dashboard_reads.hpp"
#include "bench/fleet.hpp"
#include "bench/generator.hpp"
#include "bench/lead.hpp"
#include "bench/programme.hpp"
#include "bench/server_process.hpp"
#include "fieldsync/client/transport.hpp"
#include "fieldsync/crypto/random.hpp"

namespace fieldsync::bench {
namespace {

namespace fs = std::filesystem;

constexpr auto kServerStartTimeout = std::chrono::seconds(30);
constexpr double kMiB = 1024.0 * 1024.0;
constexpr int kDashboardReads = 9;  // after the first, which also audits the listing

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The repetition's folder: removed with everything in it when the repetition ends, unless
// kept. Declared before the server and the replicas, so that it goes last.
class TempDir {
 public:
  static Result<std::unique_ptr<TempDir>> make(const std::string& parent, bool keep) {
    std::string pattern = (fs::path(parent) / "fieldsync-bench-XXXXXX").string();
    if (!::mkdtemp(pattern.data()))
      return Status(Code::storage, "cannot make a temporary folder under '" + parent + "'");
    return std::unique_ptr<TempDir>(new TempDir(pattern, keep));
  }
  ~TempDir() {
    std::error_code ec;
    if (!keep_) fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  Result<std::string> sub(const std::string& name) const {
    const std::string p = (fs::path(path_) / name).string();
    std::error_code ec;
    fs::create_directories(p, ec);
    if (ec) return Status(Code::storage, "cannot make " + p + ": " + ec.message());
    return p;
  }

 private:
  TempDir(std::string path, bool keep) : path_(std::move(path)), keep_(keep) {}
  std::string path_;
  bool keep_;
};

// A short random tag, so that runs against one --target store never share names or ids.
std::string run_tag() {
  crypto::SodiumRandom random;
  std::array<std::uint8_t, 3> bytes{};
  random.fill(bytes);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string tag = "-";
  for (auto b : bytes) {
    tag += kHex[b >> 4];
    tag += kHex[b & 15];
  }
  return tag;
}

Status in_step(const std::string& step, const Status& s, const ServerProcess* server) {
  std::string message = step + ": " + s.to_string();
  if (server) message += "\nthe server's log ends with:\n" + server->log_tail(8);
  return Status(s.code(), message);
}

double per(double a, double b) { return b > 0 ? a / b : 0; }

}  // namespace

std::uint64_t raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? 0 : static_cast<std::uint64_t>(limit.rlim_cur);
}

Result<Values> run_repetition(const RunConfig& config, int rep, Progress& progress) {
  auto temp = TempDir::make(config.dir, config.keep);
  if (!temp) return temp.status();
  auto devices_dir = (*temp)->sub("devices");
  if (!devices_dir) return devices_dir.status();

  const bool start = config.target.empty();
  std::string data_dir = config.data;
  std::string tag;
  if (start) {
    auto d = (*temp)->sub("server");
    if (!d) return d.status();
    data_dir = *d;
  } else {
    tag = run_tag();
  }
  progress.phase("setup", 0, "");
  auto directory = open_directory(data_dir);
  if (!directory) return in_step("opening the store's directory", directory.status(), nullptr);
  auto team = set_up_team(**directory, tag, config.devices, wall_ms());
  if (!team) return in_step("setting up the team", team.status(), nullptr);

  std::unique_ptr<ServerProcess> server;
  std::string url = config.target;
  pid_t server_pid = config.server_pid;
  std::string binary = config.server_bin;
  if (binary.empty()) {
    auto beside = server_beside_self();
    if (!beside) return beside.status();
    binary = *beside;
  }
  if (start) {
    auto s = ServerProcess::start(binary, data_dir, kServerStartTimeout);
    if (!s) return in_step("starting the server", s.status(), nullptr);
    server = std::move(*s);
    url = server->url();
    server_pid = server->pid();
  }
  const ServerProcess* srv = server.get();

  auto fleet = Fleet::enrol(**directory, *team, *devices_dir, url, progress);
  if (!fleet) return in_step("enrolling the devices", fleet.status(), srv);
  const Generator generator(config.seed);
  const std::string id_prefix = tag.empty() ? "" : "x" + tag.substr(1) + "-";
  auto created = (*fleet)->create_caseloads(generator, id_prefix, config.cases, progress);
  if (!created) return in_step("writing the caseloads", created.status(), srv);

  Values v;
  v["setup.records"] = static_cast<double>(created->records);
  v["setup.ops"] = static_cast<double>(created->ops);
  v["setup.mean_op_bytes"] = created->mean_op_bytes;

  // The server's CPU time so far (nothing known without its process).
  auto server_cpu = [&]() -> std::optional<double> {
    if (server_pid <= 0) return std::nullopt;
    auto cpu = process_cpu_seconds(server_pid);
    return cpu ? std::optional(*cpu) : std::nullopt;
  };
  const auto cpu_before_push = server_cpu();
  auto push = (*fleet)->sync_all("push", progress);
  if (!push) return in_step("push", push.status(), srv);
  const double acked = static_cast<double>(push->acked);
  v["push.acked"] = acked;
  v["push.seconds"] = push->seconds_to_last_ack;
  v["push.sync_seconds"] = push->seconds_all_synced;
  v["push.ops_per_s"] = per(acked, push->seconds_to_last_ack);
  v["push.bytes_per_op"] = per(static_cast<double>(push->wire.bytes()), acked);
  v["push.up_per_op"] = per(static_cast<double>(push->wire.bytes_up), acked);
  v["push.down_per_op"] = per(static_cast<double>(push->wire.bytes_down), acked);
  v["push.pulled_back"] = static_cast<double>(push->pulled);
  v["push.client_cpu_seconds"] = push->client_cpu_seconds;
  if (const auto now = server_cpu(); now && cpu_before_push)
    v["push.server_cpu_seconds"] = *now - *cpu_before_push;

  if (config.edits > 0) {
    auto edited =
        (*fleet)->make_edits(generator, config.edits, static_cast<std::size_t>(rep), progress);
    if (!edited) return in_step("making the edits", edited.status(), srv);
    const auto cpu_before_edits = server_cpu();
    auto round = (*fleet)->sync_all("edits", progress);
    if (!round) return in_step("pushing the edits", round.status(), srv);
    const double n = static_cast<double>(round->acked);
    v["edits.edits"] = n;
    v["edits.seconds"] = round->seconds_to_last_ack;
    v["edits.per_s"] = per(n, round->seconds_to_last_ack);
    v["edits.client_cpu_seconds"] = round->client_cpu_seconds;
    if (const auto now = server_cpu(); now && cpu_before_edits)
      v["edits.server_cpu_seconds"] = *now - *cpu_before_edits;
    v["edits.bytes_per_edit"] = per(static_cast<double>(round->wire.bytes()), n);
    const auto push_ack =
        static_cast<double>(round->wire.kind(FrameKind::push) + round->wire.kind(FrameKind::ack));
    v["edits.push_ack_bytes_per_edit"] = per(push_ack, n);
    const auto snapshots = static_cast<double>(round->wire.kind(FrameKind::snapshot));
    const auto syncs = static_cast<double>(round->devices);
    v["edits.snapshot_bytes_per_sync"] = per(snapshots, syncs);
    v["edits.other_bytes_per_sync"] =
        per(static_cast<double>(round->wire.bytes()) - push_ack - snapshots, syncs);
    v["edits.push_ack_ratio"] = per(per(push_ack, n), edited->mean_op_bytes);
    v["edits.mean_edit_bytes"] = edited->mean_op_bytes;
    v["edits.wire_ratio"] = per(v["edits.bytes_per_edit"], edited->mean_op_bytes);
  }

  const auto cpu_before_pull = server_cpu();
  auto pull = lead_initial_pull(**directory, *team, *devices_dir, url, progress);
  const auto cpu_after_pull = server_cpu();
  if (!pull) return in_step("the lead's initial pull", pull.status(), srv);
  if (pull->records != created->records)
    return in_step("the lead's initial pull",
                   Status(Code::internal,
                          "the lead's device holds " + std::to_string(pull->records) +
                              " records; the devices wrote " + std::to_string(created->records)),
                   srv);
  v["pull.seconds"] = pull->seconds;
  v["pull.client_cpu_seconds"] = pull->cpu_seconds;
  if (cpu_before_pull && cpu_after_pull)
    v["pull.server_cpu_seconds"] = *cpu_after_pull - *cpu_before_pull;
  v["pull.records"] = static_cast<double>(pull->records);
  v["pull.records_per_s"] = per(static_cast<double>(pull->records), pull->seconds);
  v["pull.pulled"] = static_cast<double>(pull->pulled);
  v["pull.snapshot_records"] = static_cast<double>(pull->snapshot_records);
  v["pull.snapshot_frames"] = static_cast<double>(pull->wire.frames(FrameKind::snapshot));
  v["pull.bytes_per_record"] =
      per(static_cast<double>(pull->wire.bytes_down), static_cast<double>(pull->records));

  auto endpoint = client::parse_ws_url(url);
  if (!endpoint) return in_step("the server's address", endpoint.status(), srv);
  // The dashboard phase speaks plain HTTP: a --target behind wss:// leaves it out.
  if (!endpoint->tls) {
    progress.phase("dashboard", 0, "");
    auto dash =
        dashboard_reads(**directory, team->lead, endpoint->host, endpoint->port, kDashboardReads);
    if (!dash) return in_step("the dashboard's caseload reads", dash.status(), srv);
    v["dash.cases"] = static_cast<double>(dash->cases);
    v["dash.first_ms"] = dash->first_ms;
    v["dash.median_ms"] = dash->median_ms;
    v["dash.max_ms"] = dash->max_ms;
    v["dash.kib"] = static_cast<double>(dash->bytes) / 1024;
  }

  if (Status s =
          measure_live(config.side, **directory, tag, endpoint->host, endpoint->port, v, progress);
      !s)
    return in_step("live", s, srv);

  if (server_pid > 0) {
    auto memory = process_memory(server_pid);
    if (!memory) return in_step("reading the server's memory", memory.status(), srv);
    v["server.peak_rss_mib"] = static_cast<double>(memory->peak_bytes) / kMiB;
    v["server.rss_mib"] = static_cast<double>(memory->rss_bytes) / kMiB;
  }
  progress.phase("stop", 0, "");
  fleet->reset();
  directory->reset();
  if (server)
    if (Status s = server->stop(); !s) return in_step("stopping the server", s, nullptr);
  if (Status s = measure_limits(config.side, (*temp)->path(), created->pending, v, progress); !s)
    return s;
  if (Status s = measure_idle(config.side, binary, (*temp)->path(), v, progress); !s) return s;
  return v;
}

}  // namespace fieldsync::bench
