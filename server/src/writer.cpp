// The single writer thread with group commit (contract in writer.hpp).
#include "fieldsync/server/writer.hpp"

#include <chrono>
#include <utility>

#include "fieldsync/server/apply.hpp"

namespace fieldsync::server {
namespace {

std::int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

Writer::Writer(ServerStore& store, const sync::Schema& schema, WriterConfig config, FanOut fan_out)
    : store_(store), schema_(schema), config_(std::move(config)), fan_out_(std::move(fan_out)) {
  if (!config_.now_ms) config_.now_ms = system_now_ms;
  if (config_.max_group_ops == 0) config_.max_group_ops = 1;
  thread_ = std::thread([this] { run(); });
}

Writer::~Writer() { stop(); }

Status Writer::submit(std::vector<sync::Op> ops, Completion done) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status(Code::internal, "the server is shutting down; send again later");
    queue_.push_back(Submission{std::move(ops), std::move(done)});
  }
  cv_.notify_one();
  return Status::ok();
}

void Writer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Writer::run() {
  std::vector<Submission> group;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is done
      // Drain: at least one submission, then more while the group stays under the cap.
      std::size_t ops = 0;
      while (!queue_.empty() &&
             (group.empty() || ops + queue_.front().ops.size() <= config_.max_group_ops)) {
        ops += queue_.front().ops.size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    process(group);
    group.clear();
  }
}

void Writer::process(std::vector<Submission>& group) {
  const std::int64_t now = config_.now_ms();
  std::vector<std::vector<sync::OpResult>> results;
  results.reserve(group.size());
  Status failure = [&]() -> Status {
    auto tx = store_.begin();
    if (!tx) return tx.status();
    for (const Submission& sub : group) {
      auto r = apply_batch(**tx, sub.ops, schema_, now, config_.max_ahead_ms);
      if (!r) return r.status();  // destroying the tx rolls the whole group back
      results.push_back(std::move(*r));
    }
    return (*tx)->commit();
  }();

  if (!failure) {
    failed_groups_.fetch_add(1);
    for (Submission& sub : group) {
      sub.done(failure);
      submissions_.fetch_add(1);
    }
    return;
  }

  std::size_t op_count = 0;
  std::vector<sync::LogEntry> accepted;
  for (std::size_t i = 0; i < group.size(); ++i) {
    op_count += group[i].ops.size();
    for (std::size_t k = 0; k < results[i].size(); ++k) {
      const sync::OpResult& r = results[i][k];
      if (r.status == sync::OpStatus::accepted)
        accepted.push_back(sync::LogEntry{r.seq, group[i].ops[k], r.skewed});
    }
  }
  commits_.fetch_add(1);
  ops_applied_.fetch_add(op_count);
  for (std::size_t i = 0; i < group.size(); ++i) {
    group[i].done(std::move(results[i]));
    submissions_.fetch_add(1);
  }
  if (fan_out_ && !accepted.empty()) fan_out_(accepted);
}

}  // namespace fieldsync::server
