// The machine's limits for fieldsync-bench (contract in limits.hpp): a raw SQLite baseline
// writing the server's rows per operation, Ed25519 verification and XChaCha20-Poly1305
// sealing rates from libsodium, and a bare Beast WebSocket echo over loopback.
#include "bench/limits.hpp"

#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <thread>
#include <utility>
#include <variant>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

#include "fieldsync/server/audit.hpp"
#include "fieldsync/server/store_file.hpp"
#include "fieldsync/sync/hlc.hpp"
#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/op_chain.hpp"
#include "fieldsync/sync/schema.hpp"
#include "fieldsync/sync/scope.hpp"

namespace fieldsync::bench {
namespace {

using Clock = std::chrono::steady_clock;
namespace audit = server::audit;
namespace json = boost::json;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// ---------------------------------------------------------------------------------------
// SQLite baseline: the server's own store file (tables, indexes, triggers) is made by
// server::StoreFile before anything is timed; the timed writes are plain prepared statements.

// The server's statements (server/src/sqlite_store.cpp, audit_chain.cpp), word for word.
constexpr const char* kSaveRecordSql =
    "INSERT INTO records(collection, id, state_json, fields_json, deleted, scope_item, "
    "created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(collection, id) DO UPDATE SET "
    "state_json=excluded.state_json, fields_json=excluded.fields_json, "
    "deleted=excluded.deleted, scope_item=excluded.scope_item";
constexpr const char* kClearAccessSql = "DELETE FROM case_access WHERE case_id = ?1";
constexpr const char* kAddAccessSql =
    "INSERT OR IGNORE INTO case_access(case_id, user, kind) VALUES (?1, ?2, ?3)";
constexpr const char* kAppendLogSql =
    "INSERT INTO log(op_id, device, collection, record, op_json, skewed, received_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char* kAppendAuditSql =
    "INSERT INTO audit_log(seq, at_ms, kind, user, device, subject, detail, hash) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
constexpr const char* kSaveChainSql =
    "INSERT INTO device_chains(device, last_op, head) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(device) DO UPDATE SET last_op = excluded.last_op, head = excluded.head";

enum Table : std::size_t { kLog, kRecords, kCaseAccess, kAuditLog, kDeviceChains, kTableCount };
constexpr std::array<const char*, kTableCount> kTableNames{"log", "records", "case_access",
                                                           "audit_log", "device_chains"};

// The rows of one transaction, in the order the server writes them.
struct RecordRow {
  std::string collection, id, state_json, fields_json, scope_item, created_by;
  bool deleted = false;
  bool exists = false;  // an update of the row, not an insert
};
struct AccessRows {  // a case's access list, rewritten whole
  std::string case_id;
  std::vector<std::pair<std::string, std::string>> users;  // user, kind
};
struct LogRow {
  std::string op_id, device, collection, record, op_json;
  bool skewed = false;
  std::int64_t received_ms = 0;
};
struct AuditRow {
  std::uint64_t seq = 0;
  audit::Event event;
  crypto::Digest hash{};
};
struct ChainRow {
  std::string device, last_op;
  crypto::Digest head{};
  bool exists = false;
};
using Step = std::variant<RecordRow, AccessRows, LogRow, AuditRow, ChainRow>;

// One SQLite connection, closed when destroyed.
class Connection {
 public:
  static Result<Connection> open(const std::string& path) {
    sqlite3* raw = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &raw,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    Connection c(raw);
    if (rc != SQLITE_OK)
      return Status(Code::storage, "cannot open '" + path +
                                       "': " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    return c;
  }
  Connection(Connection&& o) noexcept : db_(std::exchange(o.db_, nullptr)) {}
  Connection& operator=(Connection&&) = delete;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { sqlite3_close_v2(db_); }

  sqlite3* get() const { return db_; }
  Status error(const std::string& what) const {
    return Status(Code::storage, what + ": " + sqlite3_errmsg(db_));
  }
  Status exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) == SQLITE_OK) return Status::ok();
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return Status(Code::storage, msg);
  }
  // The first column of the first row of `sql`, as text.
  Result<std::string> query_text(const std::string& sql);

 private:
  explicit Connection(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// A prepared statement; run() steps it to the end and resets it.
class Statement {
 public:
  static Result<Statement> prepare(Connection& c, const char* sql) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(c.get(), sql, -1, &raw, nullptr) != SQLITE_OK) return c.error("prepare");
    return Statement(c, raw);
  }
  Statement(Statement&& o) noexcept : c_(o.c_), s_(std::exchange(o.s_, nullptr)) {}
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(s_); }

  // Binds text or a blob and adds its size to `bytes`.
  Statement& text(int i, std::string_view v, std::uint64_t& bytes) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    bytes += v.size();
    return *this;
  }
  Statement& blob(int i, std::span<const std::uint8_t> v, std::uint64_t& bytes) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    bytes += v.size();
    return *this;
  }
  Statement& integer(int i, std::int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  // Rows changed, or the error.
  Result<int> run() {
    const int rc = sqlite3_step(s_);
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return c_->error("step");
    return sqlite3_changes(c_->get());
  }
  Result<std::optional<std::string>> first_text() {
    const int rc = sqlite3_step(s_);
    std::optional<std::string> out;
    if (rc == SQLITE_ROW) {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, 0));
      out = p ? std::string(p) : std::string();
    }
    sqlite3_reset(s_);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return c_->error("step");
    return out;
  }

 private:
  Statement(Connection& c, sqlite3_stmt* s) : c_(&c), s_(s) {}
  Connection* c_;
  sqlite3_stmt* s_;
};

Result<std::string> Connection::query_text(const std::string& sql) {
  auto st = Statement::prepare(*this, sql.c_str());
  if (!st) return st.status();
  auto v = st->first_text();
  if (!v) return v.status();
  return v->value_or(std::string());
}

// Writes the steps through the server's statements and counts what they changed per table.
class RowWriter {
 public:
  static Result<RowWriter> prepare(Connection& c) {
    std::vector<Statement> st;
    for (const char* sql : {kSaveRecordSql, kClearAccessSql, kAddAccessSql, kAppendLogSql,
                            kAppendAuditSql, kSaveChainSql}) {
      auto s = Statement::prepare(c, sql);
      if (!s) return s.status();
      st.push_back(std::move(*s));
    }
    return RowWriter(std::move(st));
  }

  Status write(const Step& step) {
    return std::visit([this](const auto& row) { return put(row); }, step);
  }
  const std::array<TableWrites, kTableCount>& tables() const { return tables_; }

 private:
  enum { kSave, kClear, kAdd, kLogStmt, kAudit, kChain };
  explicit RowWriter(std::vector<Statement> st) : st_(std::move(st)) {
    for (std::size_t t = 0; t < kTableCount; ++t) tables_[t].table = kTableNames[t];
  }

  // Runs st_[which] with its bindings (worth `bytes`) and counts the rows it changed.
  Status count(int which, Table t, bool update, std::uint64_t bytes) {
    auto changed = st_[static_cast<std::size_t>(which)].run();
    if (!changed) return changed.status();
    if (*changed == 0) return Status::ok();
    (update ? tables_[t].updated : tables_[t].inserted) += static_cast<std::size_t>(*changed);
    tables_[t].bytes += bytes;
    return Status::ok();
  }

  Status put(const RecordRow& r) {
    std::uint64_t b = 0;
    st_[kSave]
        .text(1, r.collection, b)
        .text(2, r.id, b)
        .text(3, r.state_json, b)
        .text(4, r.fields_json, b)
        .integer(5, r.deleted ? 1 : 0)
        .text(6, r.scope_item, b)
        .text(7, r.created_by, b);
    return count(kSave, kRecords, r.exists, b);
  }
  Status put(const AccessRows& a) {
    std::uint64_t unused = 0;
    auto cleared = st_[kClear].text(1, a.case_id, unused).run();
    if (!cleared) return cleared.status();
    tables_[kCaseAccess].deleted += static_cast<std::size_t>(*cleared);
    for (const auto& [user, kind] : a.users) {
      std::uint64_t b = 0;
      st_[kAdd].text(1, a.case_id, b).text(2, user, b).text(3, kind, b);
      if (Status s = count(kAdd, kCaseAccess, false, b); !s) return s;
    }
    return Status::ok();
  }
  Status put(const LogRow& l) {
    std::uint64_t b = 0;
    st_[kLogStmt]
        .text(1, l.op_id, b)
        .text(2, l.device, b)
        .text(3, l.collection, b)
        .text(4, l.record, b)
        .text(5, l.op_json, b)
        .integer(6, l.skewed ? 1 : 0)
        .integer(7, l.received_ms);
    return count(kLogStmt, kLog, false, b);
  }
  Status put(const AuditRow& a) {
    std::uint64_t b = 0;
    st_[kAudit]
        .integer(1, static_cast<std::int64_t>(a.seq))
        .integer(2, a.event.at_ms)
        .text(3, a.event.kind, b)
        .text(4, a.event.user, b)
        .text(5, a.event.device, b)
        .text(6, a.event.subject, b)
        .text(7, a.event.detail, b)
        .blob(8, a.hash, b);
    return count(kAudit, kAuditLog, false, b);
  }
  Status put(const ChainRow& c) {
    std::uint64_t b = 0;
    st_[kChain].text(1, c.device, b).text(2, c.last_op, b).blob(3, c.head, b);
    return count(kChain, kDeviceChains, c.exists, b);
  }

  std::vector<Statement> st_;
  std::array<TableWrites, kTableCount> tables_;
};

// Computes, before any timing, the rows the server writes for each transaction's ops: the
// merged record states, scopes, access lists, log rows, audit entries with their hash chain,
// and the devices' chain heads, as apply_push with a signed chain makes them.
class Planner {
 public:
  explicit Planner(std::int64_t now_ms) : now_ms_(now_ms) {}

  Result<std::vector<Step>> transaction(std::span<const sync::Op> ops) {
    std::vector<Step> out;
    out.reserve(ops.size() * 4 + 3);
    for (const sync::Op& op : ops) {
      if (push_ && push_->device != op.device) end_push(out);
      if (!push_) begin_push(op);
      if (Status s = add_op(op, out); !s) return s;
    }
    if (push_) end_push(out);
    checkpoint(out);
    return out;
  }

 private:
  struct Record {
    sync::RecordState state;
    std::string creator;
  };
  struct Push {
    std::string device, user, last_op;
    crypto::Digest from{};
  };

  void begin_push(const sync::Op& op) {
    auto it = links_.find(op.device);
    const crypto::Digest from = it != links_.end() ? it->second : sync::chain_genesis(op.device);
    push_ = Push{op.device, op.user, op.id, from};
  }

  Status add_op(const sync::Op& op, std::vector<Step>& out) {
    if (Status s = sync::validate(op, schema_); !s)
      return Status(Code::invalid_argument, "op " + op.id + " is not valid: " + s.message());
    if (!op_ids_.insert(op.id).second)
      return Status(Code::invalid_argument, "op id " + op.id + " appears twice");
    const sync::CollectionSpec& spec = *schema_.collection(op.collection);
    auto [it, created] = records_.try_emplace({op.collection, op.record});
    Record& rec = it->second;
    if (spec.append_only && !created)
      return Status(Code::invalid_argument,
                    "op " + op.id + " edits append-only record " + op.record);
    if (created) rec.creator = op.user;
    sync::apply(rec.state, op, spec);
    const json::object fields = sync::materialize(rec.state, spec);
    out.emplace_back(RecordRow{op.collection, op.record, json::serialize(sync::to_json(rec.state)),
                               json::serialize(fields),
                               sync::scope_item(op.collection, op.record, fields), rec.creator,
                               rec.state.deleted(), !created});
    if (op.collection == "cases") out.emplace_back(access_of(op.record, fields, rec.creator));
    LogRow log{op.id, op.device, op.collection, op.record, json::serialize(sync::to_json(op))};
    log.skewed = op.hlc.wall_ms > now_ms_ + sync::kDefaultMaxAheadMs;
    log.received_ms = now_ms_;
    audit::Event entry = audit::op_event(++log_seq_, op.id, op.device, op.user, log.op_json,
                                         log.skewed, now_ms_, /*chained=*/true);
    out.emplace_back(std::move(log));
    append_audit(std::move(entry), out);
    push_->last_op = op.id;
    crypto::Digest& link =
        links_.try_emplace(op.device, sync::chain_genesis(op.device)).first->second;
    link = sync::chain_next(link, sync::op_digest(op));
    return Status::ok();
  }

  static AccessRows access_of(const std::string& case_id, const json::object& fields,
                              const std::string& creator) {
    AccessRows a{case_id, {}};
    const auto* assigned = fields.if_contains("assigned_to");
    const bool has_owner = assigned && assigned->is_string() && !assigned->get_string().empty();
    const std::string owner = has_owner ? std::string(assigned->get_string()) : creator;
    if (!owner.empty()) a.users.emplace_back(owner, "owner");
    if (const auto* shared = fields.if_contains("shared_with"); shared && shared->is_array())
      for (const auto& u : shared->get_array())
        if (u.is_string()) a.users.emplace_back(std::string(u.get_string()), "shared");
    return a;
  }

  // The push's batch entry (the device's signature over its chain) and its chain head.
  void end_push(std::vector<Step>& out) {
    const crypto::Digest head = links_.at(push_->device);
    json::object detail;
    detail["last"] = push_->last_op;
    detail["from"] = sync::digest_hex(push_->from);
    detail["head"] = sync::digest_hex(head);
    detail["sig"] = signature_sized(head, push_->from);
    append_audit(audit::Event{"batch", now_ms_, push_->user, push_->device, push_->last_op,
                              json::serialize(detail)},
                 out);
    const bool exists = !chains_.insert(push_->device).second;
    out.emplace_back(ChainRow{push_->device, push_->last_op, head, exists});
    push_.reset();
  }

  // The checkpoint that seals every transaction (the server's signature over the head).
  void checkpoint(std::vector<Step>& out) {
    json::object detail;
    detail["through"] = audit_seq_;
    detail["head"] = sync::digest_hex(audit_head_);
    detail["sig"] = signature_sized(audit_head_, audit_head_);
    append_audit(audit::Event{"checkpoint", now_ms_, "", "", "", json::serialize(detail)}, out);
  }

  // 128 hex digits, the size of an Ed25519 signature in hex: its bytes do not matter here.
  static std::string signature_sized(const crypto::Digest& a, const crypto::Digest& b) {
    return sync::digest_hex(a) + sync::digest_hex(b);
  }

  void append_audit(audit::Event e, std::vector<Step>& out) {
    const std::uint64_t seq = ++audit_seq_;
    audit_head_ = audit::entry_hash(audit_head_, seq, e);
    out.emplace_back(AuditRow{seq, std::move(e), audit_head_});
  }

  const sync::Schema& schema_ = sync::default_schema();
  std::int64_t now_ms_;
  std::map<std::pair<std::string, std::string>, Record> records_;
  std::set<std::string> op_ids_;
  std::map<std::string, crypto::Digest> links_;  // each device's chain, after its last op
  std::set<std::string> chains_;                 // devices with a chain head row
  std::optional<Push> push_;
  std::uint64_t log_seq_ = 0;
  std::uint64_t audit_seq_ = 0;
  crypto::Digest audit_head_{};
};

// A new folder under `dir`, removed with everything in it when destroyed.
class TempFolder {
 public:
  static Result<TempFolder> make(const std::string& dir) {
    std::string pattern = (std::filesystem::path(dir) / "fieldsync-limits-XXXXXX").string();
    if (!mkdtemp(pattern.data()))
      return Status(Code::invalid_argument,
                    "cannot make a temporary folder under '" + dir + "': " + std::strerror(errno));
    return TempFolder(pattern);
  }
  TempFolder(TempFolder&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  TempFolder& operator=(TempFolder&&) = delete;
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  ~TempFolder() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  std::string file(const char* name) const { return (path_ / name).string(); }

 private:
  explicit TempFolder(std::filesystem::path p) : path_(std::move(p)) {}
  std::filesystem::path path_;
};

// The pragmas the server's store opens with (crypto::Database::open for StoreFile::connect:
// WAL, synchronous=FULL, no mmap; a plain store keeps SQLite's default page and cache size).
Status configure(Connection& c) {
  sqlite3_extended_result_codes(c.get(), 1);
  sqlite3_busy_timeout(c.get(), 60'000);
  return c.exec(
      "PRAGMA mmap_size=0; PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL; "
      "PRAGMA journal_mode=WAL;");
}

// "WAL/FULL": the journal mode and synchronous setting the connection really has.
Result<std::string> durability(Connection& c) {
  auto mode = c.query_text("PRAGMA journal_mode");
  if (!mode) return mode.status();
  auto sync_level = c.query_text("PRAGMA synchronous");
  if (!sync_level) return sync_level.status();
  static const std::map<std::string, std::string> kLevels{
      {"0", "OFF"}, {"1", "NORMAL"}, {"2", "FULL"}, {"3", "EXTRA"}};
  std::string m = *mode;
  std::transform(m.begin(), m.end(), m.begin(), [](unsigned char ch) { return std::toupper(ch); });
  auto it = kLevels.find(*sync_level);
  return m + "/" + (it != kLevels.end() ? it->second : *sync_level);
}

Status count_indexes(Connection& c, std::array<TableWrites, kTableCount>& tables) {
  for (auto& t : tables) {
    auto n = c.query_text(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = '" + t.table + "'");
    if (!n) return n.status();
    t.indexes = static_cast<std::size_t>(std::stoul(*n));
  }
  return Status::ok();
}

// One transaction as the server's writer makes it: BEGIN IMMEDIATE, the rows, COMMIT.
Result<double> timed_transaction(Connection& c, RowWriter& w, const std::vector<Step>& steps) {
  const auto t0 = Clock::now();
  if (Status s = c.exec("BEGIN IMMEDIATE"); !s) return s;
  for (const Step& step : steps) {
    if (Status s = w.write(step); !s) {
      (void)c.exec("ROLLBACK");
      return s;
    }
  }
  if (Status s = c.exec("COMMIT"); !s) {
    (void)c.exec("ROLLBACK");
    return s;
  }
  return seconds(Clock::now() - t0);
}

SqliteBaseline summarize(const std::array<TableWrites, kTableCount>& tables, std::size_t ops,
                         double elapsed) {
  SqliteBaseline b;
  b.ops = ops;
  b.tables.assign(tables.begin(), tables.end());
  double rows = 0;
  double bytes = 0;
  for (const auto& t : tables) {
    rows += static_cast<double>(t.inserted + t.updated);
    bytes += static_cast<double>(t.bytes);
  }
  const double n = static_cast<double>(std::max<std::size_t>(ops, 1));
  b.rows_per_op = rows / n;
  b.bytes_per_op = bytes / n;
  b.ops_per_s = elapsed > 0 ? static_cast<double>(ops) / elapsed : 0;
  return b;
}

// ---------------------------------------------------------------------------------------
// libsodium rates.

constexpr std::size_t kCheckEvery = 64;  // iterations between two looks at the clock

// Runs `one` in rounds of kCheckEvery until `budget` has passed; returns iterations, seconds.
template <typename F>
std::pair<std::size_t, double> repeat_for(std::chrono::milliseconds budget, F&& one) {
  const auto t0 = Clock::now();
  const auto deadline = t0 + budget;
  std::size_t n = 0;
  do {
    for (std::size_t i = 0; i < kCheckEvery; ++i) one();
    n += kCheckEvery;
  } while (Clock::now() < deadline);
  return {n, seconds(Clock::now() - t0)};
}

// ---------------------------------------------------------------------------------------
// WebSocket echo.

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using Socket = websocket::stream<tcp::socket>;

Status net_error(const std::string& what, const beast::error_code& ec) {
  return Status(Code::internal, "websocket echo: " + what + ": " + ec.message());
}

// The echo server: answers every message with itself until the client closes. Runs on its
// own thread; `failure` is set when it ends on anything but the client's close.
void serve_echo(tcp::socket socket, beast::error_code& failure) {
  Socket ws(std::move(socket));
  beast::error_code ec;
  ws.accept(ec);
  beast::flat_buffer buffer;
  while (!ec) {
    ws.read(buffer, ec);
    if (ec) break;
    ws.text(ws.got_text());
    ws.write(buffer.data(), ec);
    buffer.consume(buffer.size());
  }
  if (ec != websocket::error::closed) failure = ec;
}

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// One message in flight: write, wait for the echo, until `deadline`.
Status ping_pong(Socket& ws, const std::string& message, Clock::time_point deadline,
                 EchoFigures& out) {
  std::vector<double> rtt_us;
  beast::flat_buffer buffer;
  beast::error_code ec;
  const auto t0 = Clock::now();
  auto now = t0;
  while (now < deadline) {
    const auto sent = now;
    ws.write(net::buffer(message), ec);
    if (ec) return net_error("write", ec);
    const std::size_t n = ws.read(buffer, ec);
    if (ec) return net_error("read", ec);
    if (n != message.size()) return Status(Code::internal, "websocket echo: short echo");
    buffer.consume(buffer.size());
    now = Clock::now();
    rtt_us.push_back(std::chrono::duration<double, std::micro>(now - sent).count());
  }
  std::sort(rtt_us.begin(), rtt_us.end());
  out.round_trips_per_s = static_cast<double>(rtt_us.size()) / seconds(now - t0);
  out.rtt_p50_us = percentile(rtt_us, 0.50);
  out.rtt_p99_us = percentile(rtt_us, 0.99);
  return Status::ok();
}

// Many messages in flight: a write loop keeps up to `window` unanswered, a read loop counts
// the echoes. Both are async on the client's io_context, run by this thread.
class Pipeline {
 public:
  Pipeline(Socket& ws, const std::string& message, Clock::time_point deadline, std::size_t window)
      : ws_(ws), message_(message), deadline_(deadline), window_(window) {}

  // Messages echoed per second.
  Result<double> run(net::io_context& io) {
    const auto t0 = Clock::now();
    write_next();
    read_next();
    io.restart();
    io.run();
    const double secs = seconds(Clock::now() - t0);
    if (failure_) return net_error("pipelined echo", failure_);
    return static_cast<double>(echoed_) / secs;
  }

 private:
  void write_next() {
    if (writing_ || failure_ || sent_ - echoed_ >= window_ || Clock::now() >= deadline_) return;
    writing_ = true;
    ws_.async_write(net::buffer(message_), [this](beast::error_code ec, std::size_t) {
      writing_ = false;
      if (ec) return fail(ec);
      ++sent_;
      write_next();
    });
  }

  void read_next() {
    ws_.async_read(buffer_, [this](beast::error_code ec, std::size_t n) {
      if (ec) return fail(ec);
      buffer_.consume(buffer_.size());
      if (n != message_.size()) return fail(beast::errc::make_error_code(beast::errc::bad_message));
      ++echoed_;
      write_next();
      if (writing_ || echoed_ < sent_) read_next();  // else past the deadline and drained
    });
  }

  void fail(beast::error_code ec) {
    if (!failure_) failure_ = ec;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);  // ends the other loop's pending operation
  }

  Socket& ws_;
  const std::string& message_;
  Clock::time_point deadline_;
  std::size_t window_;
  beast::flat_buffer buffer_;
  std::size_t sent_ = 0;
  std::size_t echoed_ = 0;
  bool writing_ = false;
  beast::error_code failure_;
};

constexpr std::size_t kPipelineWindow = 64;

// The client's part, over a connected TCP socket: handshake, both phases, close.
Result<EchoFigures> echo_client(net::io_context& io, Socket& ws, std::size_t message_bytes,
                                std::chrono::milliseconds budget) {
  beast::error_code ec;
  ws.text(true);
  ws.handshake("127.0.0.1", "/", ec);
  if (ec) return net_error("handshake", ec);
  const std::string message(message_bytes, 'x');
  EchoFigures out;
  out.message_bytes = message_bytes;
  const auto t0 = Clock::now();
  if (Status s = ping_pong(ws, message, t0 + budget / 2, out); !s) return s;
  auto rate = Pipeline(ws, message, t0 + budget, kPipelineWindow).run(io);
  if (!rate) return rate.status();
  out.messages_per_s = *rate;
  ws.close(websocket::close_code::normal, ec);
  if (ec) return net_error("close", ec);
  return out;
}

}  // namespace

Result<SqliteBaseline> sqlite_baseline(const std::string& dir, const std::vector<sync::Op>& ops,
                                       std::size_t batch) {
  if (batch == 0) return Status(Code::invalid_argument, "the batch must hold at least one op");
  auto folder = TempFolder::make(dir);
  if (!folder) return folder.status();
  const std::string path = folder->file("baseline.db");
  {
    // The schema exactly as a new server store has it; closed before the timed part.
    auto store = server::StoreFile::open(path, "");
    if (!store) return store.status();
  }
  auto db = Connection::open(path);
  if (!db) return db.status();
  if (Status s = configure(*db); !s) return s;
  auto writer = RowWriter::prepare(*db);
  if (!writer) return writer.status();

  Planner planner(system_now_ms());
  double elapsed = 0;
  std::size_t transactions = 0;
  for (std::size_t first = 0; first < ops.size(); first += batch) {
    const std::size_t n = std::min(batch, ops.size() - first);
    auto steps = planner.transaction(std::span<const sync::Op>(ops).subspan(first, n));
    if (!steps) return steps.status();
    auto secs = timed_transaction(*db, *writer, *steps);
    if (!secs) return secs.status();
    elapsed += *secs;
    ++transactions;
  }
  std::array<TableWrites, kTableCount> tables = writer->tables();
  if (Status s = count_indexes(*db, tables); !s) return s;
  SqliteBaseline out = summarize(tables, ops.size(), elapsed);
  out.batch = batch;
  out.transactions = transactions;
  auto d = durability(*db);
  if (!d) return d.status();
  out.durability = *d;
  return out;
}

Rate ed25519_verify_rate(std::chrono::milliseconds budget) {
  if (sodium_init() < 0) return {};
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> sk{};
  crypto_sign_keypair(pk.data(), sk.data());
  std::string message(300, '\0');  // about a push's signed message plus framing
  for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<char>('a' + i % 26);
  const auto* m = reinterpret_cast<const unsigned char*>(message.data());
  std::array<unsigned char, crypto_sign_BYTES> sig{};
  crypto_sign_detached(sig.data(), nullptr, m, message.size(), sk.data());
  std::size_t bad = 0;
  auto [n, secs] = repeat_for(budget, [&] {
    bad += crypto_sign_verify_detached(sig.data(), m, message.size(), pk.data()) != 0 ? 1 : 0;
  });
  if (bad != 0) return {};  // cannot happen: a rate of nothing rather than a wrong one
  return Rate{static_cast<double>(n) / secs, n};
}

Rate aead_seal_rate(std::size_t message_bytes, std::chrono::milliseconds budget) {
  if (sodium_init() < 0) return {};
  std::array<unsigned char, crypto_aead_xchacha20poly1305_ietf_KEYBYTES> key{};
  std::array<unsigned char, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES> nonce{};
  crypto_aead_xchacha20poly1305_ietf_keygen(key.data());
  randombytes_buf(nonce.data(), nonce.size());
  std::vector<unsigned char> plain(message_bytes, 0x5a);
  std::vector<unsigned char> sealed(message_bytes + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  auto [n, secs] = repeat_for(budget, [&] {
    unsigned long long len = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(sealed.data(), &len, plain.data(), plain.size(),
                                               nullptr, 0, nullptr, nonce.data(), key.data());
  });
  return Rate{static_cast<double>(n * message_bytes) / secs, n};
}

Result<EchoFigures> websocket_echo(std::size_t message_bytes, std::chrono::milliseconds budget) {
  if (message_bytes == 0) return Status(Code::invalid_argument, "messages must not be empty");
  net::io_context io;
  net::io_context server_io;
  beast::error_code ec;
  tcp::acceptor acceptor(io);
  const tcp::endpoint any_port(net::ip::address_v4::loopback(), 0);
  if (acceptor.open(any_port.protocol(), ec); ec) return net_error("open", ec);
  if (acceptor.bind(any_port, ec); ec) return net_error("bind", ec);
  if (acceptor.listen(net::socket_base::max_listen_connections, ec); ec)
    return net_error("listen", ec);
  const tcp::endpoint server_at = acceptor.local_endpoint(ec);
  if (ec) return net_error("local endpoint", ec);

  Socket client(io);
  if (client.next_layer().connect(server_at, ec); ec) return net_error("connect", ec);
  tcp::socket accepted = acceptor.accept(server_io, ec);
  if (ec) return net_error("accept", ec);
  beast::error_code server_failure;
  std::thread server([&] { serve_echo(std::move(accepted), server_failure); });

  auto figures = echo_client(io, client, message_bytes, budget);
  if (!figures) {
    beast::error_code ignored;
    client.next_layer().close(ignored);  // the server's read ends: it can be joined
  }
  server.join();
  if (!figures) return figures;
  if (server_failure) return net_error("server", server_failure);
  return figures;
}

}  // namespace fieldsync::bench
