// The single writer with group commit. Sessions submit batches of operations; one thread
// drains everything queued (up to a cap), applies every submission with apply_batch() inside
// ONE store transaction, commits once (one fsync), then completes each submission with its
// results and hands the newly accepted log entries to the fan-out callback.
//
// Callback order, per group: every completion (in submission order), then fan-out once with
// the group's accepted entries in ascending seq. Both run on the writer thread: they must be
// quick and must not call back into the Writer's stop() (post the work elsewhere instead).
// On a storage error the group is rolled back and every submission of the group completes
// with the error; nothing of it was stored, no fan-out happens. A full disk (Code::disk_full)
// is such an error, told to the submitters as "the server's disk is full..."; the next group
// simply tries again, so writes resume by themselves once space is freed.
//
// Other writers: sequence numbers come from the store (never cached here), so another process
// may append to the log beside the writer (fieldsync-admin's assignments). Every `poll_ms` the
// writer thread compares the store's head with the newest entry it has fanned out and fans
// out the entries it did not commit itself, in pages, through the same callback. Entries
// committed between two of its own groups are fanned out just before the later group's (up to
// 20 pages; beyond that, sessions fill the gap from the log).
//
// Ownership: the Writer borrows the store and the schema, which must outlive it.
// Thread safety: submit() and the counters may be called from any thread; stop() from any
// thread but the writer thread itself.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "fieldsync/server/store.hpp"
#include "fieldsync/sync/schema.hpp"
#include "fieldsync/sync/server_session.hpp"
#include "fieldsync/sync/wire.hpp"

namespace fieldsync::server {

struct WriterConfig {
  std::function<std::int64_t()> now_ms;                  // physical clock; null: the system clock
  std::int64_t max_ahead_ms = sync::kDefaultMaxAheadMs;  // beyond it an op is flagged skewed
  std::size_t max_group_ops = 10'000;  // a group stops draining once it holds this many ops
  // How often the store's head is checked for entries written by another process; 0: never.
  int poll_ms = 500;
  // Check each op against its user's scope (apply.hpp, scope.hpp); on with device
  // authentication.
  bool enforce_scopes = false;
  // Told when writes start failing because the store's disk is full (a group failed with
  // Code::disk_full: SQLite's error) and when a group commits again after that (an ok
  // Status): once per change, on the writer thread. Null: not told.
  std::function<void(const Status&)> on_disk_full;
};

class Writer {
 public:
  using Completion = std::function<void(Result<std::vector<sync::OpResult>>)>;
  using FanOut = std::function<void(const std::vector<sync::LogEntry>&)>;

  // Starts the writer thread. `fan_out` may be null.
  Writer(ServerStore& store, const sync::Schema& schema, WriterConfig config, FanOut fan_out);
  ~Writer();  // stop()
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Queues `ops` (already validated by the session); `done` is called once on the writer
  // thread with the results in the order of `ops`, or with the storage error. After stop()
  // has begun, returns an error and `done` is never called.
  Status submit(std::vector<sync::Op> ops, Completion done);
  // A push as a session submitted it (apply_push in apply.hpp): results for push.ops.
  Status submit(sync::SubmittedPush push, Completion done);
  // Audit events to append (reads reported by a device, ...); `done` gets the outcome.
  Status submit_events(std::vector<audit::Event> events, std::function<void(Status)> done);

  // Operations the server makes itself (the dashboard's decisions and assignments), built
  // where they are applied: `work` runs on the writer thread inside the group's transaction
  // and returns what it applied (ops and results of equal length, in order), having put the
  // scope of each accepted op's record into `scopes` (apply_push does) for the fan-out. An
  // error other than Code::storage or Code::internal is a refusal: it goes to `done` and the
  // group commits (whatever the work recorded, such as a refused op's audit entry, with it);
  // those two roll the whole group back like any storage error, and so do ops and results of
  // different lengths. Accepted ops are fanned out like a push's.
  struct WorkDone {
    std::vector<sync::Op> ops;
    std::vector<sync::OpResult> results;
  };
  using Work = std::function<Result<WorkDone>(StoreTx& tx, std::int64_t now_ms,
                                              std::vector<sync::EntryScope>* scopes)>;
  Status submit_work(Work work, std::function<void(Result<WorkDone>)> done);

  // Stops taking submissions, finishes everything already queued (completions and fan-out
  // included), joins the thread. Idempotent.
  void stop();

  // Counters for tests and metrics.
  std::uint64_t commits() const { return commits_.load(); }          // groups committed
  std::uint64_t ops_applied() const { return ops_applied_.load(); }  // ops in committed groups
  std::uint64_t submissions() const { return submissions_.load(); }  // completed submissions
  std::uint64_t failed_groups() const { return failed_groups_.load(); }
  // Whether the last group failed because the store's disk is full (until one commits).
  bool disk_full() const { return disk_full_.load(); }
  // Entries written by another process and fanned out by a poll.
  std::uint64_t external_entries() const { return external_entries_.load(); }

 private:
  struct Submission {
    sync::SubmittedPush push;
    Completion done;  // null for events and work
    std::vector<audit::Event> events{};
    std::function<void(Status)> events_done{};
    Work work{};
    std::function<void(Result<WorkDone>)> work_done{};
    std::optional<Status> refusal{};  // the work's refusal
  };
  Status enqueue(Submission sub);
  void run();
  void process(std::vector<Submission>& group);
  void poll_log();
  // Fans out the entries after known_head_ up to `through` (written by another process).
  void fan_out_external(std::uint64_t through);

  ServerStore& store_;
  const sync::Schema& schema_;
  WriterConfig config_;
  FanOut fan_out_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Submission> queue_;  // guarded by mu_
  bool stopping_ = false;         // guarded by mu_

  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> ops_applied_{0};
  std::atomic<std::uint64_t> submissions_{0};
  std::atomic<std::uint64_t> failed_groups_{0};
  std::atomic<std::uint64_t> external_entries_{0};
  std::atomic<bool> disk_full_{false};
  // The newest sequence number fanned out or committed here; unknown until the store's head
  // could be read. Writer thread only.
  std::optional<std::uint64_t> known_head_;
  std::thread thread_;  // last: started after every other member is ready
};

}  // namespace fieldsync::server
