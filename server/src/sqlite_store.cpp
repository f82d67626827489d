// SqliteStore: the embedded server store (tables described in sqlite_store.hpp).
#include "fieldsync/server/sqlite_store.hpp"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "audit_writer.hpp"
#include "directory_impl.hpp"
#include "fieldsync/crypto/database.hpp"
#include "fieldsync/server/history.hpp"
#include "fieldsync/sync/wire.hpp"
#include "store_scope.hpp"

namespace fieldsync::server {
namespace json = boost::json;
using crypto::Database;
using crypto::Statement;

namespace {

// A pulled page stops growing past this many bytes of operations so that its changes frame
// stays well under the protocol's frame limit.
constexpr std::size_t kPageBudgetBytes = sync::kMaxFrameBytes / 2;

// Resets a statement however the scope is left, so a cached statement is always reusable.
class ResetOnExit {
 public:
  explicit ResetOnExit(Statement& s) : s_(s) {}
  ~ResetOnExit() { (void)s_.reset(); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  Statement& s_;
};

// A JSON array of strings, for json_each() in SQL.
std::string json_list(const std::vector<std::string>& v) {
  json::array a;
  a.reserve(v.size());
  for (const auto& s : v) a.emplace_back(s);
  return json::serialize(a);
}

Result<json::value> parse_json(const std::string& text, const char* what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Status(Code::storage, std::string("store holds unreadable ") + what);
  return v;
}

struct WriteStatements {
  Statement find_op;
  Statement load;
  Statement save;
  Statement append;
  Statement load_scope;
  Statement load_access;
  Statement clear_access;
  Statement add_access;
  Statement cases_of_client;
  Statement load_chain;
  Statement save_chain;
  Statement find_refusal;
  Statement device_state;
  Statement has_ops_of;
  audit::AuditWriter audit;
};

struct Reader {
  std::unique_ptr<Database> db;
  Statement entries;
  Statement itemless;
  Statement head;
  Statement record;
};

Result<Statement> prep(Database& db, std::string_view sql) { return db.prepare(sql); }

std::int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

Result<std::unique_ptr<Reader>> open_reader(const StoreFile& file) {
  auto db = file.connect(/*writable=*/false);
  if (!db) return db.status();
  // ?4 NULL: every entry; else only those the scope sees (ScopeSet::sees, in SQL).
  auto entries = prep(**db,
                      "SELECT l.seq, l.op_json, l.skewed, r.scope_item, r.created_by FROM log l "
                      "LEFT JOIN records r ON r.collection = l.collection AND r.id = l.record "
                      "WHERE l.seq > ?1 AND l.device <> ?2 AND (?4 IS NULL "
                      "OR r.scope_item IN (SELECT value FROM json_each(?4)) "
                      "OR (r.scope_item NOT LIKE 'c:%' "
                      "AND r.created_by IN (SELECT value FROM json_each(?5)))) "
                      "ORDER BY l.seq LIMIT ?3");
  if (!entries) return entries.status();
  // ScopeSet::itemless_only (a new device's bootstrap): from the records with no item of the
  // creators ?5, through log_by_record, so the cost follows those records, not the log.
  auto itemless =
      prep(**db,
           "SELECT l.seq, l.op_json, l.skewed, r.scope_item, r.created_by FROM records r "
           "JOIN log l ON l.collection = r.collection AND l.record = r.id "
           "WHERE r.scope_item = '' AND r.created_by IN (SELECT value FROM "
           "json_each(?5)) AND l.seq > ?1 AND l.device <> ?2 "
           "ORDER BY l.seq LIMIT ?3");
  if (!itemless) return itemless.status();
  auto head = prep(**db, "SELECT COALESCE(MAX(seq), 0) FROM log");
  if (!head) return head.status();
  auto record = prep(
      **db, "SELECT state_json, fields_json, deleted FROM records WHERE collection=?1 AND id=?2");
  if (!record) return record.status();
  return std::unique_ptr<Reader>(new Reader{std::move(*db), std::move(*entries),
                                            std::move(*itemless), std::move(*head),
                                            std::move(*record)});
}

Result<std::uint64_t> query_head(Reader& r) {
  ResetOnExit reset(r.head);
  auto row = r.head.step();
  if (!row) return row.status();
  return static_cast<std::uint64_t>(*row ? r.head.column_int(0) : 0);
}

}  // namespace

struct SqliteStore::Impl {
  explicit Impl(StoreFile f) : file(std::move(f)) {}
  StoreFile file;  // every connection opens through it (key, pragmas)
  SqliteStoreOptions options;
  std::unique_ptr<Database> wdb;  // the writer thread's connection
  std::optional<WriteStatements> w;
  bool tx_open = false;  // used by the writer thread only

  std::mutex mu;
  std::vector<std::unique_ptr<Reader>> idle;  // guarded by mu

  // A read connection from the pool, returned to it when the lease ends.
  class Lease {
   public:
    Lease(Impl& impl, std::unique_ptr<Reader> r) : impl_(impl), r_(std::move(r)) {}
    ~Lease() {
      std::lock_guard lock(impl_.mu);
      if (impl_.idle.size() < impl_.options.max_idle_readers) impl_.idle.push_back(std::move(r_));
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Reader& operator*() { return *r_; }

   private:
    Impl& impl_;
    std::unique_ptr<Reader> r_;
  };

  Result<std::unique_ptr<Reader>> acquire() {
    {
      std::lock_guard lock(mu);
      if (!idle.empty()) {
        auto r = std::move(idle.back());
        idle.pop_back();
        return r;
      }
    }
    return open_reader(file);
  }
};

namespace {

class SqliteTx final : public StoreTx {
 public:
  explicit SqliteTx(SqliteStore::Impl& s) : s_(s), w_(*s.w) { w_.audit.begin(); }
  ~SqliteTx() override {
    if (!done_) (void)s_.wdb->exec("ROLLBACK");
    s_.tx_open = false;
  }
  SqliteTx(const SqliteTx&) = delete;
  SqliteTx& operator=(const SqliteTx&) = delete;

  Result<std::optional<std::uint64_t>> find_op(const std::string& op_id) override {
    ResetOnExit reset(w_.find_op);
    auto row = w_.find_op.bind(1, op_id).step();
    if (!row) return row.status();
    if (!*row) return std::optional<std::uint64_t>();
    return std::optional<std::uint64_t>(static_cast<std::uint64_t>(w_.find_op.column_int(0)));
  }

  Result<std::optional<sync::RecordState>> load_record(const std::string& collection,
                                                       const std::string& id) override {
    ResetOnExit reset(w_.load);
    auto row = w_.load.bind(1, collection).bind(2, id).step();
    if (!row) return row.status();
    if (!*row) return std::optional<sync::RecordState>();
    auto v = parse_json(w_.load.column_text(0), "record state");
    if (!v) return v.status();
    auto state = sync::record_state_from_json(*v);
    if (!state) return Status(Code::storage, "store holds an unreadable record state");
    return std::optional<sync::RecordState>(std::move(*state));
  }

  Status save_record(const std::string& collection, const std::string& id,
                     const sync::RecordState& state, const json::object& fields,
                     const RecordScope& scope) override {
    ResetOnExit reset(w_.save);
    return w_.save.bind(1, collection)
        .bind(2, id)
        .bind(3, json::serialize(sync::to_json(state)))
        .bind(4, json::serialize(fields))
        .bind(5, std::int64_t{state.deleted() ? 1 : 0})
        .bind(6, scope.item)
        .bind(7, scope.creator)
        .run();
  }

  Result<std::optional<RecordScope>> load_scope(const std::string& collection,
                                                const std::string& id) override {
    ResetOnExit reset(w_.load_scope);
    auto row = w_.load_scope.bind(1, collection).bind(2, id).step();
    if (!row) return row.status();
    if (!*row) return std::optional<RecordScope>();
    return std::optional<RecordScope>(
        RecordScope{w_.load_scope.column_text(0), w_.load_scope.column_text(1)});
  }

  Result<CaseAccess> load_case_access(const std::string& case_id) override {
    ResetOnExit reset(w_.load_access);
    w_.load_access.bind(1, case_id);
    CaseAccess out;
    for (;;) {
      auto row = w_.load_access.step();
      if (!row) return row.status();
      if (!*row) break;
      if (w_.load_access.column_text(1) == "owner")
        out.owner = w_.load_access.column_text(0);
      else
        out.shared.push_back(w_.load_access.column_text(0));
    }
    return out;
  }

  Status save_case_access(const std::string& case_id, const CaseAccess& access) override {
    {
      ResetOnExit reset(w_.clear_access);
      if (Status s = w_.clear_access.bind(1, case_id).run(); !s) return s;
    }
    auto add = [&](const std::string& user, const char* kind) -> Status {
      ResetOnExit reset(w_.add_access);
      return w_.add_access.bind(1, case_id).bind(2, user).bind(3, std::string(kind)).run();
    };
    if (!access.owner.empty())
      if (Status s = add(access.owner, "owner"); !s) return s;
    for (const auto& u : access.shared)
      if (Status s = add(u, "shared"); !s) return s;
    return Status::ok();
  }

  Result<std::vector<std::string>> cases_of_client(const std::string& client_id) override {
    ResetOnExit reset(w_.cases_of_client);
    w_.cases_of_client.bind(1, client_id);
    std::vector<std::string> out;
    for (;;) {
      auto row = w_.cases_of_client.step();
      if (!row) return row.status();
      if (!*row) return out;
      out.push_back(w_.cases_of_client.column_text(0));
    }
  }

  Result<User> load_user(const std::string& name) override {
    return directory_sql::load_user(*s_.wdb, name);
  }

  Result<std::uint64_t> append_log(const sync::Op& op, bool skewed, std::int64_t received_ms,
                                   bool chained) override {
    ResetOnExit reset(w_.append);
    const std::string op_json = json::serialize(sync::to_json(op));
    Status s = w_.append.bind(1, op.id)
                   .bind(2, op.device)
                   .bind(3, op.collection)
                   .bind(4, op.record)
                   .bind(5, op_json)
                   .bind(6, std::int64_t{skewed ? 1 : 0})
                   .bind(7, received_ms)
                   .run();
    if (!s) return s;
    const auto seq = static_cast<std::uint64_t>(s_.wdb->last_insert_rowid());
    auto entry = w_.audit.append(
        audit::op_event(seq, op.id, op.device, op.user, op_json, skewed, received_ms, chained));
    if (!entry) return entry.status();
    return seq;
  }

  Result<std::optional<std::string>> device_state(const std::string& device) override {
    ResetOnExit reset(w_.device_state);
    auto row = w_.device_state.bind(1, device).step();
    if (!row) return row.status();
    if (!*row) return std::optional<std::string>();
    return std::optional<std::string>(w_.device_state.column_text(0));
  }

  Result<bool> has_ops_of(const std::string& device) override {
    ResetOnExit reset(w_.has_ops_of);
    // Op ids are "<device>.<counter>": the range [device".", device"/") on the unique index.
    auto row = w_.has_ops_of.bind(1, device + ".").bind(2, device + "/").step();
    if (!row) return row.status();
    return *row;
  }

  Result<std::optional<sync::OpResult>> find_refusal(const std::string& op_id,
                                                     const std::string& device) override {
    ResetOnExit reset(w_.find_refusal);
    auto row = w_.find_refusal.bind(1, op_id).bind(2, device).step();
    if (!row) return row.status();
    if (!*row) return std::optional<sync::OpResult>();
    sync::OpResult r;
    r.op = op_id;
    r.status = sync::OpStatus::rejected;
    r.code = code_from_name(w_.find_refusal.column_text(0));
    r.reason = w_.find_refusal.column_text(1);
    return std::optional<sync::OpResult>(std::move(r));
  }

  Result<std::uint64_t> append_audit(const audit::Event& event) override {
    return w_.audit.append(event);
  }

  Result<std::optional<ChainHead>> load_chain(const std::string& device) override {
    ResetOnExit reset(w_.load_chain);
    auto row = w_.load_chain.bind(1, device).step();
    if (!row) return row.status();
    if (!*row) return std::optional<ChainHead>();
    ChainHead head;
    head.last_op = w_.load_chain.column_text(0);
    auto blob = w_.load_chain.column_blob(1);
    if (blob.size() != head.link.size())
      return Status(Code::storage, "the store holds an unreadable chain link for " + device);
    std::copy(blob.begin(), blob.end(), head.link.begin());
    return std::optional<ChainHead>(std::move(head));
  }

  Status save_chain(const std::string& device, const ChainHead& head) override {
    ResetOnExit reset(w_.save_chain);
    return w_.save_chain.bind(1, device).bind(2, head.last_op).bind_blob(3, head.link).run();
  }

  Status commit() override {
    assert(!done_);
    if (Status s = w_.audit.seal(system_now_ms()); !s) return s;
    if (Status s = s_.wdb->exec("COMMIT"); !s) return s;
    done_ = true;
    return Status::ok();
  }

 private:
  SqliteStore::Impl& s_;
  WriteStatements& w_;
  bool done_ = false;
};

}  // namespace

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() = default;

namespace {

// The writer connection (synchronous=FULL: a commit is on disk before its ops are
// acknowledged) and its statements.
Status open_writer(SqliteStore::Impl& impl) {
  auto db = impl.file.connect(/*writable=*/true);
  if (!db) return db.status();
  impl.wdb = std::move(*db);

  auto find_op = impl.wdb->prepare("SELECT seq FROM log WHERE op_id = ?1");
  auto load = impl.wdb->prepare("SELECT state_json FROM records WHERE collection=?1 AND id=?2");
  auto save = impl.wdb->prepare(
      "INSERT INTO records(collection, id, state_json, fields_json, deleted, scope_item, "
      "created_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(collection, id) DO UPDATE SET "
      "state_json=excluded.state_json, fields_json=excluded.fields_json, "
      "deleted=excluded.deleted, scope_item=excluded.scope_item");
  auto append = impl.wdb->prepare(
      "INSERT INTO log(op_id, device, collection, record, op_json, skewed, received_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  auto load_scope =
      impl.wdb->prepare("SELECT scope_item, created_by FROM records WHERE collection=?1 AND id=?2");
  auto load_access = impl.wdb->prepare("SELECT user, kind FROM case_access WHERE case_id = ?1");
  auto clear_access = impl.wdb->prepare("DELETE FROM case_access WHERE case_id = ?1");
  auto add_access = impl.wdb->prepare(
      "INSERT OR IGNORE INTO case_access(case_id, user, kind) VALUES (?1, ?2, ?3)");
  auto cases_of_client = impl.wdb->prepare(
      "SELECT id FROM records WHERE collection = 'cases' AND "
      "json_extract(fields_json, '$.client_id') = ?1");
  auto load_chain = impl.wdb->prepare("SELECT last_op, head FROM device_chains WHERE device = ?1");
  auto save_chain = impl.wdb->prepare(
      "INSERT INTO device_chains(device, last_op, head) VALUES (?1, ?2, ?3) "
      "ON CONFLICT(device) DO UPDATE SET last_op = excluded.last_op, head = excluded.head");
  auto find_refusal = impl.wdb->prepare(
      "SELECT json_extract(detail, '$.code'), json_extract(detail, '$.reason') FROM audit_log "
      "WHERE kind = 'refused' AND subject = ?1 AND device = ?2 ORDER BY seq DESC LIMIT 1");
  auto device_state = impl.wdb->prepare("SELECT state FROM devices WHERE id = ?1");
  auto has_ops_of = impl.wdb->prepare("SELECT 1 FROM log WHERE op_id >= ?1 AND op_id < ?2 LIMIT 1");
  auto audit = audit::AuditWriter::prepare(*impl.wdb, impl.options.audit_key);
  for (const Status& s :
       {find_op.status(), load.status(), save.status(), append.status(), load_scope.status(),
        load_access.status(), clear_access.status(), add_access.status(), cases_of_client.status(),
        load_chain.status(), save_chain.status(), find_refusal.status(), device_state.status(),
        has_ops_of.status(), audit.status()})
    if (!s) return s;
  impl.w.emplace(
      WriteStatements{std::move(*find_op), std::move(*load), std::move(*save), std::move(*append),
                      std::move(*load_scope), std::move(*load_access), std::move(*clear_access),
                      std::move(*add_access), std::move(*cases_of_client), std::move(*load_chain),
                      std::move(*save_chain), std::move(*find_refusal), std::move(*device_state),
                      std::move(*has_ops_of), std::move(*audit)});
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       SqliteStoreOptions options) {
  auto file = StoreFile::open(path, options.key_file);
  if (!file) return file.status();
  auto impl = std::make_unique<Impl>(std::move(*file));
  impl->options = std::move(options);
  if (impl->options.audit_key) {
    auto db = impl->file.connect(/*writable=*/true);
    if (!db) return impl->file.annotate(db.status());
    if (Status s = audit::pin_key(**db, impl->options.audit_key->public_key()); !s) return s;
  }
  if (Status s = open_writer(*impl); !s) return impl->file.annotate(s);

  // Open one reader now so that a store we cannot read fails at start-up, not later.
  auto reader = open_reader(impl->file);
  if (!reader) return impl->file.annotate(reader.status());
  if (auto h = query_head(**reader); !h) return impl->file.annotate(h.status());
  impl->idle.push_back(std::move(*reader));
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

const StoreFile& SqliteStore::file() const { return impl_->file; }

Result<std::unique_ptr<StoreTx>> SqliteStore::begin() {
  assert(!impl_->tx_open && "one StoreTx at a time");
  if (Status s = impl_->wdb->exec("BEGIN IMMEDIATE"); !s) return s;
  impl_->tx_open = true;
  return std::unique_ptr<StoreTx>(new SqliteTx(*impl_));
}

Result<sync::Changes> SqliteStore::read_log(std::uint64_t after, std::uint32_t limit,
                                            const std::string& exclude_device,
                                            const ScopeSet* scope) {
  auto acquired = impl_->acquire();
  if (!acquired) return acquired.status();
  Impl::Lease lease(*impl_, std::move(*acquired));
  Reader& r = *lease;
  // One snapshot for the page and the head, so the cursor never skips an entry.
  if (Status s = r.db->exec("BEGIN"); !s) return s;
  auto result = [&]() -> Result<sync::Changes> {
    sync::Changes out;
    limit = std::max<std::uint32_t>(limit, 1);
    const bool itemless = scope && !scope->all && scope->itemless_only;
    Statement& st = itemless ? r.itemless : r.entries;
    ResetOnExit reset(st);
    st.bind(1, static_cast<std::int64_t>(after))
        .bind(2, exclude_device)
        .bind(3, static_cast<std::int64_t>(limit) + 1);
    if (itemless) {
      st.bind(5, json_list(scope->creators));
    } else if (scope && !scope->all) {
      st.bind(4, json_list(scope->items)).bind(5, json_list(scope->creators));
    } else {
      st.bind_null(4).bind_null(5);
    }
    std::size_t bytes = 0;
    for (;;) {
      auto row = st.step();
      if (!row) return row.status();
      if (!*row) break;
      if (out.entries.size() == limit) {
        out.more = true;
        break;
      }
      std::string text = st.column_text(1);
      if (!out.entries.empty() && bytes + text.size() > kPageBudgetBytes) {
        out.more = true;
        break;
      }
      bytes += text.size();
      auto v = parse_json(text, "log entry");
      if (!v) return v.status();
      auto op = sync::op_from_json(*v);
      if (!op) return Status(Code::storage, "store holds an unreadable log entry");
      sync::LogEntry e;
      e.seq = static_cast<std::uint64_t>(st.column_int(0));
      e.op = std::move(*op);
      e.skewed = st.column_int(2) != 0;
      e.scope.item = st.column_text(3);
      e.scope.creator = st.column_text(4);
      out.entries.push_back(std::move(e));
    }
    if (out.more) {
      out.cursor = out.entries.back().seq;
    } else {
      auto head = query_head(r);
      if (!head) return head.status();
      out.cursor = std::max(after, *head);
    }
    return out;
  }();
  (void)r.db->exec(result ? "COMMIT" : "ROLLBACK");
  return result;
}

Result<std::uint64_t> SqliteStore::head() {
  auto acquired = impl_->acquire();
  if (!acquired) return acquired.status();
  Impl::Lease lease(*impl_, std::move(*acquired));
  return query_head(*lease);
}

Result<std::optional<RecordRow>> SqliteStore::get_record(const std::string& collection,
                                                         const std::string& id) {
  auto acquired = impl_->acquire();
  if (!acquired) return acquired.status();
  Impl::Lease lease(*impl_, std::move(*acquired));
  Reader& r = *lease;
  ResetOnExit reset(r.record);
  auto row = r.record.bind(1, collection).bind(2, id).step();
  if (!row) return row.status();
  if (!*row) return std::optional<RecordRow>();
  auto state_v = parse_json(r.record.column_text(0), "record state");
  if (!state_v) return state_v.status();
  auto state = sync::record_state_from_json(*state_v);
  if (!state) return Status(Code::storage, "store holds an unreadable record state");
  auto fields_v = parse_json(r.record.column_text(1), "record fields");
  if (!fields_v) return fields_v.status();
  if (!fields_v->is_object()) return Status(Code::storage, "store holds unreadable fields");
  RecordRow out;
  out.collection = collection;
  out.id = id;
  out.fields = std::move(fields_v->get_object());
  out.deleted = r.record.column_int(2) != 0;
  out.state = std::move(*state);
  return std::optional<RecordRow>(std::move(out));
}

}  // namespace fieldsync::server

namespace fieldsync::server {

Result<ScopeSet> SqliteStore::scope_of(const Viewer& viewer) {
  auto acquired = impl_->acquire();
  if (!acquired) return acquired.status();
  Impl::Lease lease(*impl_, std::move(*acquired));
  return store_scope::scope_of(*(*lease).db, viewer);
}

Result<sync::RecordLog> SqliteStore::record_log(const std::string& collection,
                                                const std::string& id) {
  auto acquired = impl_->acquire();
  if (!acquired) return acquired.status();
  Impl::Lease lease(*impl_, std::move(*acquired));
  crypto::Database& db = *(*lease).db;
  if (Status s = db.exec("BEGIN"); !s) return s;  // one snapshot for the scope and the log
  auto result = [&]() -> Result<sync::RecordLog> {
    sync::RecordLog out;
    auto scope = db.prepare(
        "SELECT scope_item, created_by FROM records WHERE collection = ?1 "
        "AND id = ?2");
    if (!scope) return scope.status();
    auto row = scope->bind(1, collection).bind(2, id).step();
    if (!row) return row.status();
    if (!*row) return out;
    out.exists = true;
    out.scope.item = scope->column_text(0);
    out.scope.creator = scope->column_text(1);
    auto entries = read_history(db, collection, id, sync::kMaxHistoryEntries + 1);
    if (!entries) return entries.status();
    out.more = entries->size() > sync::kMaxHistoryEntries;
    if (out.more) entries->pop_back();
    out.entries = std::move(*entries);
    return out;
  }();
  (void)db.exec(result ? "COMMIT" : "ROLLBACK");
  return result;
}

Result<std::vector<RecordRow>> SqliteStore::list_records(const std::string& collection,
                                                         const ScopeSet* scope, bool with_state) {
  auto acquired = impl_->acquire();
  if (!acquired) return acquired.status();
  Impl::Lease lease(*impl_, std::move(*acquired));
  return store_scope::list_records(*(*lease).db, collection, scope, with_state);
}

Status SqliteStore::set_full_for_test(bool full) {
  Database& db = *impl_->wdb;
  std::int64_t pages = 1'073'741'823;  // SQLite's default limit
  if (full) {
    auto count = db.prepare("PRAGMA page_count");
    if (!count) return count.status();
    auto row = count->step();
    if (!row) return row.status();
    pages = *row ? count->column_int(0) : 1;
  }
  return db.exec("PRAGMA max_page_count=" + std::to_string(pages));
}

Result<std::vector<std::vector<sync::SnapshotRecord>>> SqliteStore::read_items(
    const std::vector<std::string>& items) {
  auto acquired = impl_->acquire();
  if (!acquired) return acquired.status();
  Impl::Lease lease(*impl_, std::move(*acquired));
  return store_scope::read_items(*(*lease).db, items);
}

}  // namespace fieldsync::server
