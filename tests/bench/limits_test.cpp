// fieldsync-bench's machine limits (tools/bench/limits.hpp): each runs and gives sane figures,
// and the SQLite baseline writes exactly what the server's store writes for the same ops. The
// last is proven by applying the ops through the real store (SqliteStore, apply_push with
// signed chains, checkpoints) with counting triggers added to its tables, then comparing per
// table the rows inserted, updated and deleted, their bytes, and the indexes.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "bench/limits.hpp"
#include "fieldsync/crypto/database.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/server/apply.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "fieldsync/server/store_file.hpp"
#include "fieldsync/sync/op_chain.hpp"
#include "fieldsync/sync/schema.hpp"

namespace fieldsync::bench {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "fieldsync-limits-test-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A device's ops as a worker makes them: clients, cases (assigned, shared), visits, notes,
// case edits based on the last write, and a deleted visit.
class Worker {
 public:
  Worker(std::string device, std::string user)
      : device_(std::move(device)), user_(std::move(user)) {}

  sync::Op put(const std::string& collection, const std::string& record,
               std::vector<sync::FieldWrite> writes) {
    sync::Op op = next(collection, record);
    op.writes = std::move(writes);
    for (auto& w : op.writes)
      if (w.kind == sync::WriteKind::set) {
        std::vector<std::string>& last = last_[field_key(collection, record, w.field)];
        w.base = std::exchange(last, {op.id});
      }
    return op;
  }
  sync::Op del(const std::string& collection, const std::string& record) {
    sync::Op op = next(collection, record);
    op.kind = sync::OpKind::del;
    const std::string prefix = field_key(collection, record, "");
    for (const auto& [key, ids] : last_)
      if (key.rfind(prefix, 0) == 0) op.del_base.insert(op.del_base.end(), ids.begin(), ids.end());
    return op;
  }
  // The ops for one client: the client, a case, a share, a visit, a note, two case edits.
  std::vector<sync::Op> caseload_ops(int n) {
    const std::string k = user_ + "-k" + std::to_string(n);
    const std::string c = user_ + "-c" + std::to_string(n);
    const std::string v = user_ + "-v" + std::to_string(n);
    std::vector<sync::Op> out;
    out.push_back(
        put("clients", k,
            {set("name", "Client " + std::to_string(n)), set("date_of_birth", "1980-02-03"),
             set("contact", "+41 79 555 01 " + std::to_string(n % 100)),
             set("address", "Rue du Lac " + std::to_string(n) + ", 1200 Genève")}));
    out.push_back(
        put("cases", c,
            {set("client_id", k), set("programme", "housing"), set("status", "assessment"),
             set("assigned_to", user_), set("opened_on", "2024-05-01")}));
    out.push_back(put("cases", c, {{"shared_with", sync::WriteKind::add, "lead", {}}}));
    out.push_back(put("visits", v,
                      {set("case_id", c), set("time", "2024-05-02T10:30:00Z"), set("place", "home"),
                       set("kind", "home"), set("outcome", std::string(120, 'o'))}));
    out.push_back(put("notes", user_ + "-n" + std::to_string(n),
                      {set("case_id", c), set("text", std::string(300, 't'))}));
    out.push_back(put("cases", c, {set("status", "planning")}));
    out.push_back(put("cases", c, {set("status", "implementation"), set("programme", "work")}));
    if (n % 3 == 0) out.push_back(del("visits", v));
    return out;
  }
  const std::string& device() const { return device_; }
  const crypto::SigningKey& key() const { return key_; }

 private:
  static std::string field_key(const std::string& collection, const std::string& record,
                               const std::string& field) {
    std::string key = collection;
    key += '/';
    key += record;
    key += '/';
    key += field;
    return key;
  }
  static sync::FieldWrite set(std::string field, const std::string& value) {
    return {std::move(field), sync::WriteKind::set, boost::json::value(value), {}};
  }
  sync::Op next(const std::string& collection, const std::string& record) {
    sync::Op op;
    op.id = device_ + "." + std::to_string(++counter_);
    op.device = device_;
    op.user = user_;
    // An hour ago: never flagged as ahead of the server's clock.
    const auto now = std::chrono::system_clock::now() - 1h;
    op.hlc = sync::Hlc{
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count(), 0};
    op.collection = collection;
    op.record = record;
    return op;
  }

  std::string device_;
  std::string user_;
  crypto::SigningKey key_ = crypto::SigningKey::generate();
  std::uint64_t counter_ = 0;
  std::map<std::string, std::vector<std::string>> last_;  // collection/record/field -> ops
};

// Two workers' ops, interleaved a client's worth at a time, so that a transaction holds
// several pushes of each device.
struct Workload {
  std::vector<Worker> workers;
  std::vector<sync::Op> ops;
};

Workload make_workload(int clients_each) {
  Workload w;
  w.workers.emplace_back("0123456789abcdef0123456789abcdef", "ana");
  w.workers.emplace_back("fedcba9876543210fedcba9876543210", "ben");
  for (int n = 0; n < clients_each; ++n)
    for (auto& worker : w.workers)
      for (auto& op : worker.caseload_ops(n)) w.ops.push_back(std::move(op));
  return w;
}

// --- the real store, with counting triggers ---------------------------------------------

const std::map<std::string, std::vector<std::string>> kTextColumns{
    {"log", {"op_id", "device", "collection", "record", "op_json"}},
    {"records", {"collection", "id", "state_json", "fields_json", "scope_item", "created_by"}},
    {"case_access", {"case_id", "user", "kind"}},
    {"audit_log", {"kind", "user", "device", "subject", "detail", "hash"}},
    {"device_chains", {"device", "last_op", "head"}},
};

std::string bytes_of_new(const std::vector<std::string>& columns) {
  std::string sum = "0";
  for (const auto& c : columns) {
    sum += " + length(CAST(NEW.";
    sum += c;
    sum += " AS BLOB))";
  }
  return sum;
}

// An AFTER trigger on `table` that adds one row and `bytes` to the count of `what`.
std::string counting_trigger(const std::string& table, const char* event, const char* what,
                             const std::string& bytes) {
  std::string sql = "CREATE TRIGGER bench_";
  sql += table;
  sql += '_';
  sql += what;
  sql += " AFTER ";
  sql += event;
  sql += " ON ";
  sql += table;
  sql += " BEGIN UPDATE bench_count SET n = n + 1, bytes = bytes + ";
  sql += bytes;
  sql += " WHERE tbl = '";
  sql += table;
  sql += "' AND what = '";
  sql += what;
  sql += "'; END;";
  return sql;
}

// Adds a table counting, per table, the rows inserted, updated and deleted and the bytes of
// the rows written, kept up by triggers.
void add_counting_triggers(crypto::Database& db) {
  std::string sql =
      "CREATE TABLE bench_count(tbl TEXT NOT NULL, what TEXT NOT NULL, n INTEGER NOT NULL, "
      "bytes INTEGER NOT NULL, PRIMARY KEY(tbl, what));";
  for (const auto& [table, columns] : kTextColumns) {
    for (const char* what : {"inserted", "updated", "deleted"}) {
      sql += "INSERT INTO bench_count VALUES ('";
      sql += table;
      sql += "', '";
      sql += what;
      sql += "', 0, 0);";
    }
    const std::string written = bytes_of_new(columns);
    sql += counting_trigger(table, "INSERT", "inserted", written);
    sql += counting_trigger(table, "UPDATE", "updated", written);
    sql += counting_trigger(table, "DELETE", "deleted", "0");
  }
  REQUIRE(db.exec(sql));
}

struct Counted {
  std::size_t n = 0;
  std::uint64_t bytes = 0;
};

std::map<std::pair<std::string, std::string>, Counted> read_counts(crypto::Database& db) {
  auto st = db.prepare("SELECT tbl, what, n, bytes FROM bench_count");
  REQUIRE(st);
  std::map<std::pair<std::string, std::string>, Counted> out;
  for (;;) {
    auto row = st->step();
    REQUIRE(row);
    if (!*row) break;
    out[{st->column_text(0), st->column_text(1)}] = Counted{
        static_cast<std::size_t>(st->column_int(2)), static_cast<std::uint64_t>(st->column_int(3))};
  }
  return out;
}

std::size_t index_count(crypto::Database& db, const std::string& table) {
  auto st = db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1");
  REQUIRE(st);
  auto row = st->bind(1, table).step();
  REQUIRE(row);
  REQUIRE(*row);
  return static_cast<std::size_t>(st->column_int(0));
}

// The ops as an authenticated device pushes them: a signed chain over each run of one
// device's ops. `links` carries each device's chain from push to push.
sync::SubmittedPush signed_push(std::vector<sync::Op> ops, const Worker& worker,
                                std::map<std::string, crypto::Digest>& links) {
  sync::SubmittedPush push;
  sync::SignedChain chain;
  chain.device = worker.device();
  chain.user = ops.front().user;
  auto [it, fresh] = links.try_emplace(chain.device, sync::chain_genesis(chain.device));
  chain.prev = it->second;
  crypto::Digest link = chain.prev;
  for (const auto& op : ops) {
    chain.digests.push_back(sync::op_digest(op));
    link = sync::chain_next(link, chain.digests.back());
  }
  const std::string message = sync::push_message(chain.device, ops.back().id, link);
  chain.signature = crypto::to_hex(
      worker.key().sign({reinterpret_cast<const std::uint8_t*>(message.data()), message.size()}));
  chain.verified = true;
  it->second = link;
  push.ops = std::move(ops);
  push.chain = std::move(chain);
  return push;
}

const Worker& worker_of(const Workload& w, const std::string& device) {
  for (const auto& worker : w.workers)
    if (worker.device() == device) return worker;
  throw std::logic_error("no worker for " + device);
}

// Applies the ops through the real store, `batch` per transaction as the writer groups them,
// each run of one device's ops as one signed push; every op must be accepted.
void apply_through_store(server::SqliteStore& store, const Workload& w, std::size_t batch) {
  std::map<std::string, crypto::Digest> links;
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  for (std::size_t first = 0; first < w.ops.size(); first += batch) {
    const std::size_t last = std::min(w.ops.size(), first + batch);
    auto tx = store.begin();
    REQUIRE(tx);
    std::size_t i = first;
    while (i < last) {
      std::size_t end = i;
      while (end < last && w.ops[end].device == w.ops[i].device) ++end;
      std::vector<sync::Op> run(w.ops.begin() + static_cast<std::ptrdiff_t>(i),
                                w.ops.begin() + static_cast<std::ptrdiff_t>(end));
      auto push = signed_push(std::move(run), worker_of(w, w.ops[i].device), links);
      auto results =
          server::apply_push(**tx, push, sync::default_schema(),
                             server::ApplyOptions{now_ms, sync::kDefaultMaxAheadMs, false});
      REQUIRE(results);
      for (const auto& r : *results) REQUIRE(r.status == sync::OpStatus::accepted);
      i = end;
    }
    REQUIRE((*tx)->commit());
  }
}

}  // namespace

TEST_CASE("the SQLite baseline writes what the server's store writes for the same ops",
          "[bench][limits]") {
  const Workload w = make_workload(12);  // 2 workers x 12 clients x 7-8 ops
  constexpr std::size_t kBatch = 25;     // several pushes of each device per transaction
  TempDir dir;

  auto baseline = sqlite_baseline(dir.path().string(), w.ops, kBatch);
  REQUIRE(baseline);
  CHECK(baseline->ops == w.ops.size());
  CHECK(baseline->batch == kBatch);
  CHECK(baseline->transactions == (w.ops.size() + kBatch - 1) / kBatch);
  CHECK(baseline->ops_per_s > 0);
  CHECK(baseline->bytes_per_op > 0);
  CHECK(baseline->durability == "WAL/FULL");
  // The temporary folder is gone.
  CHECK(fs::is_empty(dir.path()));

  // The same ops through the real store, with the triggers counting.
  const std::string path = (dir.path() / "store.db").string();
  auto audit_key = std::make_shared<const crypto::SigningKey>(crypto::SigningKey::generate());
  {
    auto created = server::SqliteStore::open(path, {4, "", audit_key});
    REQUIRE(created);
  }
  {
    auto db = crypto::Database::open(path, {});
    REQUIRE(db);
    add_counting_triggers(**db);
  }
  {
    auto store = server::SqliteStore::open(path, {4, "", audit_key});
    REQUIRE(store);
    apply_through_store(**store, w, kBatch);
  }
  auto db = crypto::Database::open(path, {});
  REQUIRE(db);
  const auto counts = read_counts(**db);

  double server_rows = 0;
  REQUIRE(baseline->tables.size() == kTextColumns.size());
  for (const TableWrites& t : baseline->tables) {
    INFO("table " << t.table);
    const Counted ins = counts.at({t.table, "inserted"});
    const Counted upd = counts.at({t.table, "updated"});
    const Counted del = counts.at({t.table, "deleted"});
    CHECK(t.inserted == ins.n);
    CHECK(t.updated == upd.n);
    CHECK(t.deleted == del.n);
    CHECK(t.bytes == ins.bytes + upd.bytes);
    CHECK(t.indexes == index_count(**db, t.table));
    server_rows += static_cast<double>(ins.n + upd.n);
  }
  CHECK(baseline->rows_per_op == Approx(server_rows / static_cast<double>(w.ops.size())));

  // The store's connections have the durability the baseline reports.
  auto file = server::StoreFile::open(path, "");
  REQUIRE(file);
  auto conn = file->connect(/*writable=*/true);
  REQUIRE(conn);
  auto mode = (*conn)->prepare("PRAGMA journal_mode");
  REQUIRE(mode);
  REQUIRE(*mode->step());
  CHECK(mode->column_text(0) == "wal");
  auto level = (*conn)->prepare("PRAGMA synchronous");
  REQUIRE(level);
  REQUIRE(*level->step());
  CHECK(level->column_int(0) == 2);  // FULL
}

TEST_CASE("the SQLite baseline refuses ops the server would not accept and unusable folders",
          "[bench][limits]") {
  TempDir dir;
  Workload w = make_workload(1);
  SECTION("an op id twice") {
    w.ops.push_back(w.ops.front());
    auto r = sqlite_baseline(dir.path().string(), w.ops, 10);
    REQUIRE_FALSE(r);
    CHECK(r.status().code() == Code::invalid_argument);
  }
  SECTION("an unknown collection") {
    w.ops.front().collection = "pets";
    auto r = sqlite_baseline(dir.path().string(), w.ops, 10);
    REQUIRE_FALSE(r);
    CHECK(r.status().code() == Code::invalid_argument);
  }
  SECTION("a folder that does not exist") {
    auto r = sqlite_baseline((dir.path() / "missing").string(), w.ops, 10);
    REQUIRE_FALSE(r);
  }
  SECTION("a batch of nothing") {
    auto r = sqlite_baseline(dir.path().string(), w.ops, 0);
    REQUIRE_FALSE(r);
    CHECK(r.status().code() == Code::invalid_argument);
  }
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("the crypto rates count what they ran", "[bench][limits]") {
  const Rate verify = ed25519_verify_rate(20ms);
  CHECK(verify.n > 0);
  CHECK(verify.per_s > 0);
  const Rate seal = aead_seal_rate(4096, 20ms);
  CHECK(seal.n > 0);
  CHECK(seal.per_s > 0);
}

TEST_CASE("the bare WebSocket echo round-trips and pipelines", "[bench][limits]") {
  auto echo = websocket_echo(700, 200ms);
  REQUIRE(echo);
  CHECK(echo->message_bytes == 700);
  CHECK(echo->round_trips_per_s > 0);
  CHECK(echo->rtt_p50_us > 0);
  CHECK(echo->rtt_p99_us >= echo->rtt_p50_us);
  CHECK(echo->messages_per_s > 0);
  CHECK_FALSE(websocket_echo(0, 10ms));
}

}  // namespace fieldsync::bench
