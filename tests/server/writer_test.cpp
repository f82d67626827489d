// The writer: group commit (many submissions, few transactions), every submission acked,
// contiguous sequence numbers, fan-out after commit, the storage-error path (and a real full
// disk: SQLITE_FULL), and work run inside the group's transaction (server-made operations).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/server/apply.hpp"
#include "fieldsync/server/audit.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "fieldsync/server/writer.hpp"
#include "test_util.hpp"

using namespace fieldsync;
using namespace fieldsync::test;
using namespace std::chrono_literals;

namespace {

// Waits (bounded) until `n` completions were recorded.
class Completions {
 public:
  server::Writer::Completion make(std::size_t slot) {
    return [this, slot](Result<std::vector<sync::OpResult>> r) {
      std::lock_guard lock(mu_);
      results_[slot] = std::move(r);
      ++count_;
      cv_.notify_all();
    };
  }
  explicit Completions(std::size_t n) : results_(n, Status(Code::internal, "not completed")) {}
  bool wait_all(std::chrono::seconds timeout = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return count_ == results_.size(); });
  }
  const Result<std::vector<sync::OpResult>>& at(std::size_t i) const { return results_[i]; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Result<std::vector<sync::OpResult>>> results_;
  std::size_t count_ = 0;
};

// A store whose commits can be made to fail (a full disk, an I/O error).
class FailingStore final : public server::ServerStore {
 public:
  explicit FailingStore(server::ServerStore& inner) : inner_(inner) {}
  std::atomic<bool> fail_commit{false};

  Result<std::unique_ptr<server::StoreTx>> begin() override {
    auto tx = inner_.begin();
    if (!tx) return tx.status();
    return std::unique_ptr<server::StoreTx>(new Tx(std::move(*tx), fail_commit));
  }
  Result<sync::Changes> read_log(std::uint64_t after, std::uint32_t limit,
                                 const std::string& exclude,
                                 const server::ScopeSet* scope) override {
    return inner_.read_log(after, limit, exclude, scope);
  }
  Result<server::ScopeSet> scope_of(const server::Viewer& v) override { return inner_.scope_of(v); }
  Result<std::vector<std::vector<sync::SnapshotRecord>>> read_items(
      const std::vector<std::string>& items) override {
    return inner_.read_items(items);
  }
  Result<std::uint64_t> head() override { return inner_.head(); }
  Result<sync::RecordLog> record_log(const std::string& c, const std::string& id) override {
    return inner_.record_log(c, id);
  }
  Result<std::optional<server::RecordRow>> get_record(const std::string& c,
                                                      const std::string& id) override {
    return inner_.get_record(c, id);
  }
  Result<std::vector<server::RecordRow>> list_records(const std::string& c,
                                                      const server::ScopeSet* scope,
                                                      bool with_state) override {
    return inner_.list_records(c, scope, with_state);
  }

 private:
  class Tx final : public server::StoreTx {
   public:
    Tx(std::unique_ptr<server::StoreTx> inner, std::atomic<bool>& fail)
        : inner_(std::move(inner)), fail_(fail) {}
    Result<std::optional<std::uint64_t>> find_op(const std::string& id) override {
      return inner_->find_op(id);
    }
    Result<std::optional<sync::RecordState>> load_record(const std::string& c,
                                                         const std::string& id) override {
      return inner_->load_record(c, id);
    }
    Status save_record(const std::string& c, const std::string& id, const sync::RecordState& s,
                       const boost::json::object& f, const server::RecordScope& scope) override {
      return inner_->save_record(c, id, s, f, scope);
    }
    Result<std::optional<server::RecordScope>> load_scope(const std::string& c,
                                                          const std::string& id) override {
      return inner_->load_scope(c, id);
    }
    Result<server::CaseAccess> load_case_access(const std::string& id) override {
      return inner_->load_case_access(id);
    }
    Status save_case_access(const std::string& id, const server::CaseAccess& a) override {
      return inner_->save_case_access(id, a);
    }
    Result<std::vector<std::string>> cases_of_client(const std::string& id) override {
      return inner_->cases_of_client(id);
    }
    Result<server::User> load_user(const std::string& name) override {
      return inner_->load_user(name);
    }
    Result<std::uint64_t> append_log(const sync::Op& op, bool skewed, std::int64_t ms,
                                     bool chained) override {
      return inner_->append_log(op, skewed, ms, chained);
    }
    Result<std::optional<std::string>> device_state(const std::string& device) override {
      return inner_->device_state(device);
    }
    Result<bool> has_ops_of(const std::string& device) override {
      return inner_->has_ops_of(device);
    }
    Result<std::optional<sync::OpResult>> find_refusal(const std::string& op_id,
                                                       const std::string& device) override {
      return inner_->find_refusal(op_id, device);
    }
    Result<std::uint64_t> append_audit(const server::audit::Event& e) override {
      return inner_->append_audit(e);
    }
    Result<std::optional<server::ChainHead>> load_chain(const std::string& device) override {
      return inner_->load_chain(device);
    }
    Status save_chain(const std::string& device, const server::ChainHead& head) override {
      return inner_->save_chain(device, head);
    }
    Status commit() override {
      if (fail_.load()) return Status(Code::storage, "disk I/O error");
      return inner_->commit();
    }

   private:
    std::unique_ptr<server::StoreTx> inner_;
    std::atomic<bool>& fail_;
  };
  server::ServerStore& inner_;
};

crypto::OpenOptions read_only() {
  crypto::OpenOptions o;
  o.read_only = true;
  return o;
}

server::WriterConfig fixed_clock() {
  server::WriterConfig c;
  c.now_ms = [] { return kNowMs; };
  return c;
}

}  // namespace

TEST_CASE("concurrent submissions share group commits, all acked with contiguous seqs",
          "[writer]") {
  TempDir dir;
  auto store = server::SqliteStore::open(dir.file("fieldsync.db"));
  REQUIRE(store);
  std::mutex fan_mu;
  std::vector<sync::LogEntry> fanned;
  server::Writer writer(**store, sync::default_schema(), fixed_clock(),
                        [&](const std::vector<sync::LogEntry>& e) {
                          std::lock_guard lock(fan_mu);
                          fanned.insert(fanned.end(), e.begin(), e.end());
                        });

  // The first submission's completion holds the writer thread until every other submission
  // is queued: they must then all go into one group.
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  constexpr std::size_t kTotal = 1 + kThreads * kPerThread;
  Completions done(kTotal);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> first_done;
  REQUIRE(writer.submit({put_op(device_id(99), 1, "cases", "first", {{"programme", "x"}})},
                        [&, inner = done.make(0)](auto r) {
                          inner(std::move(r));
                          first_done.set_value();
                          released.wait();
                        }));
  REQUIRE(first_done.get_future().wait_for(10s) == std::future_status::ready);

  std::atomic<int> refused{0};  // Catch assertions are not thread-safe: count, check later
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string dev = device_id(t + 1);
      for (int i = 0; i < kPerThread; ++i) {
        const std::size_t slot = 1 + static_cast<std::size_t>(t * kPerThread + i);
        // Two ops per submission; the second repeats the first (a duplicate in the batch).
        auto op =
            put_op(dev, static_cast<std::uint64_t>(i + 1), "cases",
                   "c" + std::to_string(t) + "-" + std::to_string(i), {{"programme", "housing"}});
        if (!writer.submit({op, op}, done.make(slot))) ++refused;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(refused == 0);
  release.set_value();
  REQUIRE(done.wait_all());

  CHECK(writer.commits() == 2);
  CHECK(writer.submissions() == kTotal);
  std::vector<std::uint64_t> seqs;
  for (std::size_t i = 0; i < kTotal; ++i) {
    REQUIRE(done.at(i));
    const auto& r = *done.at(i);
    REQUIRE(r[0].status == sync::OpStatus::accepted);
    seqs.push_back(r[0].seq);
    if (i > 0) {
      CHECK(r[1].status == sync::OpStatus::duplicate);
      CHECK(r[1].seq == r[0].seq);
    }
  }
  std::sort(seqs.begin(), seqs.end());
  for (std::size_t i = 0; i < seqs.size(); ++i) CHECK(seqs[i] == i + 1);
  CHECK(*(*store)->head() == kTotal);

  writer.stop();
  std::lock_guard lock(fan_mu);
  REQUIRE(fanned.size() == kTotal);
  for (std::size_t i = 0; i < fanned.size(); ++i) CHECK(fanned[i].seq == i + 1);
}

TEST_CASE("a storage error fails the whole group, nothing is acked or stored", "[writer]") {
  TempDir dir;
  auto sqlite = server::SqliteStore::open(dir.file("fieldsync.db"));
  REQUIRE(sqlite);
  FailingStore store(**sqlite);
  store.fail_commit = true;
  std::atomic<int> fan_outs{0};
  server::Writer writer(store, sync::default_schema(), fixed_clock(),
                        [&](const std::vector<sync::LogEntry>&) { ++fan_outs; });
  Completions done(3);
  for (std::size_t i = 0; i < 3; ++i)
    REQUIRE(writer.submit({put_op(device_id(1), i + 1, "cases", "c1", {{"programme", "x"}})},
                          done.make(i)));
  REQUIRE(done.wait_all());
  for (std::size_t i = 0; i < 3; ++i) {
    REQUIRE_FALSE(done.at(i));
    CHECK(done.at(i).status().code() == Code::storage);
  }
  CHECK(writer.commits() == 0);
  CHECK(writer.failed_groups() >= 1);
  CHECK(fan_outs == 0);
  CHECK(*store.head() == 0);

  SECTION("the same ops sent again once the store works are stored") {
    store.fail_commit = false;
    Completions again(1);
    REQUIRE(writer.submit({put_op(device_id(1), 1, "cases", "c1", {{"programme", "x"}})},
                          again.make(0)));
    REQUIRE(again.wait_all());
    REQUIRE(again.at(0));
    CHECK((*again.at(0))[0].status == sync::OpStatus::accepted);
    CHECK((*again.at(0))[0].seq == 1);
  }
}

// A full disk for real: SQLite answers SQLITE_FULL (the store capped at its size on the
// writer's connection), not a store that pretends to fail.
TEST_CASE("a full disk refuses a group with disk_full, reads go on, writes resume with space",
          "[writer]") {
  TempDir dir;
  const std::string path = dir.file("fieldsync.db");
  auto key = std::make_shared<const crypto::SigningKey>(crypto::SigningKey::generate());
  server::SqliteStoreOptions options;
  options.audit_key = key;
  auto opened = server::SqliteStore::open(path, options);
  REQUIRE(opened);
  server::SqliteStore& store = **opened;
  std::mutex mu;
  std::vector<Status> told;  // what on_disk_full was told, in order
  server::WriterConfig config = fixed_clock();
  config.on_disk_full = [&](const Status& s) {
    std::lock_guard lock(mu);
    told.push_back(s);
  };
  std::atomic<std::size_t> fanned{0};
  server::Writer writer(store, sync::default_schema(), config,
                        [&](const std::vector<sync::LogEntry>& e) { fanned += e.size(); });
  // Runs `f` on the writer thread (the writer's connection is only ever used there).
  auto on_writer_thread = [&](std::function<Status()> f) {
    std::promise<Status> result;
    REQUIRE(writer.submit_work(
        [&](server::StoreTx&, std::int64_t,
            std::vector<sync::EntryScope>*) -> Result<server::Writer::WorkDone> {
          result.set_value(f());
          return server::Writer::WorkDone{};
        },
        [](const Result<server::Writer::WorkDone>&) {}));
    return result.get_future().get();
  };
  auto push = [&](std::vector<sync::Op> ops) {
    Completions done(1);
    const Status submitted = writer.submit(std::move(ops), done.make(0));
    REQUIRE(submitted);
    REQUIRE(done.wait_all());
    return done.at(0);
  };
  auto count = [&](const char* sql) {
    auto db = crypto::Database::open(path, read_only());
    REQUIRE(db);
    auto st = (*db)->prepare(sql);
    REQUIRE(st);
    auto row = st->step();
    REQUIRE(row);
    return st->column_int(0);
  };
  // 40 notes of 2 KB each: more than the store's free pages can take.
  const std::string text(2000, 'x');
  auto notes = [&](std::uint64_t first) {
    std::vector<sync::Op> ops;
    for (std::uint64_t i = first; i < first + 40; ++i)
      ops.push_back(note_op(device_id(1), i, "n" + std::to_string(i), "c1", text));
    return ops;
  };

  auto before = push(notes(1));
  REQUIRE(before);
  REQUIRE((*before)[0].status == sync::OpStatus::accepted);
  const auto log_rows = count("SELECT count(*) FROM log");
  const auto audit_rows = count("SELECT count(*) FROM audit_log");
  CHECK(log_rows == 40);
  REQUIRE(on_writer_thread([&] { return store.set_full_for_test(true); }));

  auto refused = push(notes(41));
  REQUIRE_FALSE(refused);
  CHECK(refused.status().code() == Code::disk_full);
  CHECK(refused.status().message().find("the server's disk is full") != std::string::npos);
  CHECK(writer.disk_full());
  // Nothing of the group: neither its log rows nor their audit entries (one transaction).
  CHECK(count("SELECT count(*) FROM log") == log_rows);
  CHECK(count("SELECT count(*) FROM audit_log") == audit_rows);
  CHECK(fanned == 40);
  // Reads go on.
  auto head = store.head();
  REQUIRE(head);
  CHECK(*head == 40);
  auto changes = store.read_log(0, 100, device_id(2));
  REQUIRE(changes);
  CHECK(changes->entries.size() == 40);
  // Refused again, and told only once.
  auto again = push(notes(41));
  REQUIRE_FALSE(again);
  CHECK(again.status().code() == Code::disk_full);
  {
    std::lock_guard lock(mu);
    REQUIRE(told.size() == 1);
    CHECK(told[0].code() == Code::disk_full);
  }

  // Space returns: the same writer stores the same operations, once.
  REQUIRE(on_writer_thread([&] { return store.set_full_for_test(false); }));
  auto stored = push(notes(41));
  REQUIRE(stored);
  for (std::size_t i = 0; i < stored->size(); ++i) {
    CHECK((*stored)[i].status == sync::OpStatus::accepted);
    CHECK((*stored)[i].seq == 41 + i);
  }
  auto duplicate = push(notes(41));
  REQUIRE(duplicate);
  CHECK((*duplicate)[0].status == sync::OpStatus::duplicate);
  CHECK_FALSE(writer.disk_full());
  CHECK(fanned == 80);
  {
    std::lock_guard lock(mu);
    REQUIRE(told.size() == 2);
    CHECK(told[1].is_ok());
  }
  writer.stop();
  CHECK(count("SELECT count(*) FROM log") == 80);
  auto db = crypto::Database::open(path, read_only());
  REQUIRE(db);
  auto report = server::audit::verify(**db, key->public_key());
  REQUIRE(report);
  CHECK_FALSE(report->problem.has_value());
}

TEST_CASE("stop() finishes queued work, later submissions are refused", "[writer]") {
  TempDir dir;
  auto store = server::SqliteStore::open(dir.file("fieldsync.db"));
  REQUIRE(store);
  server::Writer writer(**store, sync::default_schema(), fixed_clock(), nullptr);
  constexpr std::size_t kN = 50;
  Completions done(kN);
  for (std::size_t i = 0; i < kN; ++i)
    REQUIRE(writer.submit(
        {put_op(device_id(1), i + 1, "cases", "c" + std::to_string(i), {{"programme", "x"}})},
        done.make(i)));
  writer.stop();
  REQUIRE(done.wait_all(1s));
  CHECK(writer.ops_applied() == kN);
  CHECK(*(*store)->head() == kN);
  Status refused =
      writer.submit(std::vector<sync::Op>{}, [](auto) { FAIL("completion after stop"); });
  CHECK_FALSE(refused);
}

TEST_CASE(
    "work runs in the group's transaction: its op is stored and fanned out, a refusal "
    "is its own",
    "[writer]") {
  TempDir dir;
  auto store = server::SqliteStore::open(dir.file("fieldsync.db"));
  REQUIRE(store);
  std::mutex mu;
  std::vector<sync::LogEntry> fanned;
  server::Writer writer(**store, sync::default_schema(), fixed_clock(),
                        [&](const std::vector<sync::LogEntry>& e) {
                          std::lock_guard lock(mu);
                          fanned.insert(fanned.end(), e.begin(), e.end());
                        });
  using Done = Result<server::Writer::WorkDone>;
  auto run = [&](server::Writer::Work work) {
    auto promise = std::make_shared<std::promise<Done>>();
    auto future = promise->get_future();
    const Status submitted = writer.submit_work(
        std::move(work), [promise](Done d) { promise->set_value(std::move(d)); });
    REQUIRE(submitted);
    REQUIRE(future.wait_for(10s) == std::future_status::ready);
    return future.get();
  };

  const sync::Op op = put_op(device_id(2), 1, "cases", "c9", {{"programme", "x"}});
  Done ok = run(
      [&](server::StoreTx& tx, std::int64_t now, std::vector<sync::EntryScope>* scopes) -> Done {
        auto r = server::apply_batch(tx, {op}, sync::default_schema(), {now}, scopes);
        if (!r) return r.status();
        return server::Writer::WorkDone{{op}, std::move(*r)};
      });
  REQUIRE(ok);
  REQUIRE(ok->results.size() == 1);
  CHECK(ok->results[0].status == sync::OpStatus::accepted);
  CHECK(ok->results[0].seq == 1);
  // Completions come before the group's fan-out: wait for it.
  for (int i = 0; i < 1000; ++i) {
    {
      std::lock_guard lock(mu);
      if (!fanned.empty()) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  {
    std::lock_guard lock(mu);
    REQUIRE(fanned.size() == 1);
    CHECK(fanned[0].op.id == op.id);
    CHECK(fanned[0].scope.item == "c:c9");
  }

  // A refusal reaches its own completion; the writer goes on, nothing is fanned out.
  Done refused = run([](server::StoreTx&, std::int64_t, std::vector<sync::EntryScope>*) -> Done {
    return Status(Code::forbidden, "not yours");
  });
  REQUIRE_FALSE(refused);
  CHECK(refused.status().code() == Code::forbidden);
  CHECK(writer.failed_groups() == 0);
  CHECK(*(*store)->head() == 1);
  writer.stop();  // every fan-out done
  std::lock_guard lock(mu);
  CHECK(fanned.size() == 1);
}
