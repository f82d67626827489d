// fieldsync-bench's devices (see fleet.hpp): bulk enrolment and offline writes on a few
// threads, sync rounds on one thread per device.
#include "bench/fleet.hpp"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <latch>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/json/serialize.hpp>

#include "fieldsync/sync/op.hpp"

namespace fieldsync::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Threads for the local writes (each an fsynced transaction) and for enrolment.
constexpr std::size_t kWriterThreads = 8;
// sync_once gives up after this long without progress.
constexpr std::chrono::seconds kSyncTimeout{120};

std::string who(const Device& d) {
  return "device " + std::to_string(d.index) + " (" + d.user + ")";
}

// The process's CPU time (every thread), in seconds.
double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double seconds(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

std::string describe(const client::SyncOutcome& outcome) {
  std::string text(client::outcome_name(outcome.kind));
  if (outcome.kind != client::SyncOutcome::Kind::up_to_date)
    text += ": " + outcome.detail.to_string();
  return text;
}

Result<client::SyncOutcome> sync_device(client::Replica& replica, WireTally& tally,
                                        const std::string& url, const std::string& who) {
  client::SyncClientOptions options;
  options.make_transport = [&tally] {
    return counting_transport(client::make_websocket_transport(), tally);
  };
  client::SyncClient sync(replica, options);
  client::SyncOutcome outcome = sync.sync_once(url, kSyncTimeout);
  if (outcome.kind != client::SyncOutcome::Kind::up_to_date)
    return Status(outcome.detail.code() == Code::ok ? Code::internal : outcome.detail.code(),
                  who + ": sync " + describe(outcome));
  if (!outcome.rejected.empty()) {
    const sync::OpResult& r = outcome.rejected.front();
    return Status(r.code, who + ": the server rejected " + std::to_string(outcome.rejected.size()) +
                              " operations, the first " + r.op + ": " +
                              std::string(code_name(r.code)) + ": " + r.reason);
  }
  return outcome;
}

Status Fleet::for_each_device(const std::function<Status(Device&)>& work) {
  std::atomic<std::size_t> next{0};
  std::mutex mutex;
  Status first;
  std::atomic<bool> failed{false};
  {
    std::vector<std::jthread> threads;
    const std::size_t n = std::min(kWriterThreads, devices_.size());
    threads.reserve(n);
    for (std::size_t t = 0; t < n; ++t)
      threads.emplace_back([&] {
        for (std::size_t i = next++; i < devices_.size() && !failed; i = next++) {
          Status s = work(*devices_[i]);
          if (s) continue;
          std::lock_guard lock(mutex);
          if (!failed.exchange(true))
            first = Status(s.code(), who(*devices_[i]) + ": " + s.message());
        }
      });
  }
  return first;
}

Result<std::unique_ptr<Fleet>> Fleet::enrol(server::Directory& directory, const Team& team,
                                            const std::string& dir, const std::string& url,
                                            Progress& progress) {
  std::unique_ptr<Fleet> fleet(new Fleet(url));
  for (std::size_t i = 0; i < team.workers.size(); ++i) {
    auto d = std::make_unique<Device>();
    d->index = i;
    d->user = team.workers[i];
    fleet->devices_.push_back(std::move(d));
  }
  progress.phase("enrol", fleet->size(), "devices");
  Status s = fleet->for_each_device([&](Device& d) -> Status {
    const std::string path = (fs::path(dir) / (d.user + ".replica")).string();
    auto replica = enrolled_replica(directory, path, d.user, url);
    if (!replica) return replica.status();
    d.replica = std::move(*replica);
    progress.add();
    return Status::ok();
  });
  if (!s) return s;
  return fleet;
}

Result<Written> Fleet::count_outboxes() {
  Written w;
  double op_bytes = 0;
  for (auto& d : devices_) {
    auto outbox = d->replica->outbox();
    if (!outbox) return Status(outbox.status().code(), who(*d) + ": " + outbox.status().message());
    d->pending_ops = outbox->size();
    w.ops += outbox->size();
    for (const auto& e : *outbox) {
      op_bytes += static_cast<double>(boost::json::serialize(sync::to_json(e.op)).size());
      w.pending.push_back(e.op);
    }
  }
  w.mean_op_bytes = w.ops ? op_bytes / static_cast<double>(w.ops) : 0;
  return w;
}

Result<Written> Fleet::create_caseloads(const Generator& generator, const std::string& id_prefix,
                                        std::size_t cases, Progress& progress) {
  std::vector<DevicePlan> plans;
  plans.reserve(devices_.size());
  Written w;
  for (auto& d : devices_) {
    plans.push_back(generator.caseload(d->index, d->user, id_prefix, cases));
    d->caseload = plans.back().caseload;
    w.writes += plans.back().writes.size();
    w.records += plans.back().records;
  }
  progress.phase("write", w.writes, "records");
  Status s = for_each_device([&](Device& d) -> Status {
    for (const Write& x : plans[d.index].writes) {
      if (Status a = apply(*d.replica, x); !a) return a;
      progress.add();
    }
    return Status::ok();
  });
  if (!s) return s;
  auto counted = count_outboxes();
  if (!counted) return counted.status();
  counted->writes = w.writes;
  counted->records = w.records;
  return counted;
}

Result<Written> Fleet::make_edits(const Generator& generator, std::size_t edits, std::size_t round,
                                  Progress& progress) {
  std::vector<std::vector<Write>> plans;
  plans.reserve(devices_.size());
  std::size_t total = 0;
  for (auto& d : devices_) {
    plans.push_back(generator.edits(d->index, d->caseload, edits, round));
    total += plans.back().size();
  }
  progress.phase("edit", total, "edits");
  Status s = for_each_device([&](Device& d) -> Status {
    for (const Write& x : plans[d.index]) {
      if (Status a = apply(*d.replica, x); !a) return a;
      progress.add();
    }
    return Status::ok();
  });
  if (!s) return s;
  auto counted = count_outboxes();
  if (!counted) return counted.status();
  counted->writes = total;
  return counted;
}

Result<Round> Fleet::sync_all(const std::string& phase, Progress& progress) {
  const std::size_t n = devices_.size();
  std::vector<WireCounts> before(n);
  for (std::size_t i = 0; i < n; ++i) before[i] = devices_[i]->tally.counts();
  std::vector<std::optional<Result<client::SyncOutcome>>> outcomes(n);
  std::vector<Clock::time_point> ended(n);
  std::latch start(static_cast<std::ptrdiff_t>(n + 1));
  progress.phase(phase, n, "devices synced");
  Clock::time_point t0;
  double cpu0 = 0;
  {
    std::vector<std::jthread> threads;
    threads.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      threads.emplace_back([&, i] {
        Device& d = *devices_[i];
        start.arrive_and_wait();
        outcomes[i] = sync_device(*d.replica, d.tally, url_, who(d));
        ended[i] = Clock::now();
        progress.add();
      });
    start.arrive_and_wait();
    t0 = Clock::now();
    cpu0 = process_cpu_seconds();
  }
  const double cpu = process_cpu_seconds() - cpu0;
  Round r;
  r.devices = n;
  Clock::time_point last_ack = t0, last_end = t0;
  for (std::size_t i = 0; i < n; ++i) {
    Device& d = *devices_[i];
    const auto& outcome = *outcomes[i];
    if (!outcome) return outcome.status();
    if (outcome->pushed != d.pending_ops)
      return Status(Code::internal, who(d) + ": " + std::to_string(outcome->pushed) + " of its " +
                                        std::to_string(d.pending_ops) +
                                        " operations were acknowledged");
    r.acked += outcome->pushed;
    r.pulled += outcome->pulled;
    r.snapshot_records += outcome->snapshot_records;
    last_ack = std::max(last_ack, d.tally.last_ack());
    last_end = std::max(last_end, ended[i]);
    r.wire += d.tally.counts() - before[i];
    d.pending_ops = 0;
  }
  r.seconds_to_last_ack = seconds(t0, last_ack);
  r.seconds_all_synced = seconds(t0, last_end);
  r.client_cpu_seconds = cpu;
  return r;
}

}  // namespace fieldsync::bench
