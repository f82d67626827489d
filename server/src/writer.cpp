// The single writer thread with group commit (contract in writer.hpp).
#include "fieldsync/server/writer.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "fieldsync/server/apply.hpp"

namespace fieldsync::server {
namespace {

// A poll fans out at most this many pages of other processes' entries; the rest waits for
// the next poll, so a huge external import cannot stall the group commits for long.
constexpr std::uint32_t kPollPageEntries = 500;
constexpr int kPollMaxPages = 20;

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
  sync::SubmittedPush push;
  push.ops = std::move(ops);
  return submit(std::move(push), std::move(done));
}

Status Writer::enqueue(Submission sub) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Status(Code::internal, "the server is shutting down; send again later");
    queue_.push_back(std::move(sub));
  }
  cv_.notify_one();
  return Status::ok();
}

Status Writer::submit(sync::SubmittedPush push, Completion done) {
  return enqueue(Submission{std::move(push), std::move(done)});
}

Status Writer::submit_events(std::vector<audit::Event> events, std::function<void(Status)> done) {
  return enqueue(Submission{{}, nullptr, std::move(events), std::move(done)});
}

Status Writer::submit_work(Work work, std::function<void(Result<WorkDone>)> done) {
  return enqueue(Submission{{}, nullptr, {}, nullptr, std::move(work), std::move(done)});
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
  using Clock = std::chrono::steady_clock;
  if (auto head = store_.head()) known_head_ = *head;
  const auto poll_every = std::chrono::milliseconds(config_.poll_ms);
  auto next_poll = Clock::now() + poll_every;
  std::vector<Submission> group;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      auto ready = [this] { return stopping_ || !queue_.empty(); };
      if (config_.poll_ms > 0) {
        cv_.wait_until(lock, next_poll, ready);
      } else {
        cv_.wait(lock, ready);
      }
      if (stopping_ && queue_.empty()) return;  // everything queued is done
      // Drain: at least one submission, then more while the group stays under the cap.
      std::size_t ops = 0;
      while (!queue_.empty() &&
             (group.empty() || ops + queue_.front().push.ops.size() <= config_.max_group_ops)) {
        ops += queue_.front().push.ops.size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!group.empty()) process(group);
    group.clear();
    if (config_.poll_ms > 0 && Clock::now() >= next_poll) {
      poll_log();
      next_poll = Clock::now() + poll_every;
    }
  }
}

void Writer::poll_log() {
  auto head = store_.head();
  if (!head) return;  // try again at the next poll
  if (!known_head_) known_head_ = *head;
  fan_out_external(*head);
}

void Writer::fan_out_external(std::uint64_t through) {
  for (int page = 0; page < kPollMaxPages && *known_head_ < through; ++page) {
    auto changes = store_.read_log(*known_head_, kPollPageEntries, std::string());
    if (!changes) return;
    std::erase_if(changes->entries, [through](const sync::LogEntry& e) { return e.seq > through; });
    known_head_ = std::min(through, std::max(*known_head_, changes->cursor));
    external_entries_.fetch_add(changes->entries.size());
    if (fan_out_ && !changes->entries.empty()) fan_out_(changes->entries);
    if (!changes->more) break;
  }
}

void Writer::process(std::vector<Submission>& group) {
  const std::int64_t now = config_.now_ms();
  std::vector<std::vector<sync::OpResult>> results;
  results.reserve(group.size());
  // Per submission: the scope of each accepted op's record, in the order of its results.
  std::vector<std::vector<sync::EntryScope>> scopes(group.size());
  Status failure = [&]() -> Status {
    auto tx = store_.begin();
    if (!tx) return tx.status();
    for (std::size_t i = 0; i < group.size(); ++i) {
      Submission& sub = group[i];
      if (sub.work) {
        auto done = sub.work(**tx, now, &scopes[i]);
        if (!done &&
            (is_store_failure(done.status().code()) || done.status().code() == Code::internal))
          return done.status();
        if (done && done->ops.size() != done->results.size())
          return Status(Code::internal, "writer work returned ops and results of other lengths");
        if (!done) {
          sub.refusal = done.status();
          results.emplace_back();
        } else {
          sub.push.ops = std::move(done->ops);
          results.push_back(std::move(done->results));
        }
        continue;
      }
      if (!sub.done) {
        for (const auto& e : sub.events)
          if (auto seq = (*tx)->append_audit(e); !seq) return seq.status();
        results.emplace_back();
        continue;
      }
      auto r = apply_push(**tx, sub.push, schema_,
                          {now, config_.max_ahead_ms, config_.enforce_scopes}, &scopes[i]);
      if (!r) return r.status();  // destroying the tx rolls the whole group back
      results.push_back(std::move(*r));
    }
    return (*tx)->commit();
  }();

  if (!failure) {
    failed_groups_.fetch_add(1);
    if (failure.code() == Code::disk_full) {
      if (!disk_full_.exchange(true) && config_.on_disk_full) config_.on_disk_full(failure);
      failure = Status(Code::disk_full,
                       "the server's disk is full: nothing more can be stored until space is "
                       "freed there (" +
                           failure.message() + ")");
    }
    for (Submission& sub : group) {
      submissions_.fetch_add(1);  // before the callback: a waiter may read it at once
      if (sub.done)
        sub.done(failure);
      else if (sub.events_done)
        sub.events_done(failure);
      else if (sub.work_done)
        sub.work_done(failure);
    }
    return;
  }

  if (disk_full_.exchange(false) && config_.on_disk_full) config_.on_disk_full(Status::ok());
  std::size_t op_count = 0;
  std::vector<sync::LogEntry> accepted;
  for (std::size_t i = 0; i < group.size(); ++i) {
    op_count += group[i].push.ops.size();
    std::size_t accepted_here = 0;
    for (std::size_t k = 0; k < results[i].size(); ++k) {
      const sync::OpResult& r = results[i][k];
      if (r.status != sync::OpStatus::accepted) continue;
      sync::EntryScope scope;
      if (accepted_here < scopes[i].size()) scope = scopes[i][accepted_here];
      ++accepted_here;
      accepted.push_back(sync::LogEntry{r.seq, group[i].push.ops[k], r.skewed, std::move(scope)});
    }
  }
  commits_.fetch_add(1);
  ops_applied_.fetch_add(op_count);
  // Entries another process appended since the last fan-out come before this group's: fan
  // them out first, so that no session misses them (an assignment must reach the sessions
  // whose scope it changes, not just fill a gap under their old scope).
  if (!accepted.empty() && known_head_ && accepted.front().seq > *known_head_ + 1)
    fan_out_external(accepted.front().seq - 1);
  if (!accepted.empty()) known_head_ = std::max(known_head_.value_or(0), accepted.back().seq);
  for (std::size_t i = 0; i < group.size(); ++i) {
    submissions_.fetch_add(1);
    Submission& sub = group[i];
    if (sub.done) {
      sub.done(std::move(results[i]));
    } else if (sub.events_done) {
      sub.events_done(Status::ok());
    } else if (sub.work_done) {
      if (sub.refusal)
        sub.work_done(*sub.refusal);
      else
        sub.work_done(WorkDone{sub.push.ops, std::move(results[i])});
    }
  }
  if (fan_out_ && !accepted.empty()) fan_out_(accepted);
}

}  // namespace fieldsync::server
