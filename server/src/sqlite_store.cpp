// SqliteStore: the embedded server store (tables described in sqlite_store.hpp).
#include "fieldsync/server/sqlite_store.hpp"

#include <algorithm>
#include <cassert>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/sync/wire.hpp"

namespace fieldsync::server {
namespace json = boost::json;
using crypto::Database;
using crypto::Statement;

namespace {

constexpr const char* kKind = "fieldsync-server";
// A pulled page stops growing past this many bytes of operations so that its changes frame
// stays well under the protocol's frame limit.
constexpr std::size_t kPageBudgetBytes = sync::kMaxFrameBytes / 2;

constexpr const char* kCreateSql = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE log(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  op_id TEXT NOT NULL UNIQUE,
  device TEXT NOT NULL,
  collection TEXT NOT NULL,
  record TEXT NOT NULL,
  op_json TEXT NOT NULL,
  skewed INTEGER NOT NULL,
  received_ms INTEGER NOT NULL);
CREATE TABLE records(
  collection TEXT NOT NULL,
  id TEXT NOT NULL,
  state_json TEXT NOT NULL,
  fields_json TEXT NOT NULL,
  deleted INTEGER NOT NULL,
  PRIMARY KEY(collection, id)) WITHOUT ROWID;
)sql";

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

Result<json::value> parse_json(const std::string& text, const char* what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Status(Code::storage, std::string("store holds unreadable ") + what);
  return v;
}

// An error from opening the store at `path`, keeping its code and naming the store once.
Status with_path(const Status& s, const std::string& path) {
  if (s.code() == Code::tampered)  // the message names the file and page
    return Status(Code::tampered,
                  "store '" + path + "' was tampered with or damaged: " + s.message());
  if (s.message().find(path) != std::string::npos) return s;
  return Status(s.code(), "store '" + path + "': " + s.message());
}

// True when `path` begins with the header of a plain (unencrypted) SQLite database.
bool is_plain_sqlite(const std::string& path) {
  constexpr std::string_view kHeader{"SQLite format 3\0", 16};
  std::string head(kHeader.size(), '\0');
  std::ifstream in(path, std::ios::binary);
  return in.read(head.data(), static_cast<std::streamsize>(head.size())) && head == kHeader;
}

Result<crypto::Credential> read_key_file(const std::string& key_file) {
  auto credential = crypto::Credential::from_key_file(key_file);
  if (credential || credential.status().code() != Code::not_found) return credential;
  return Status(Code::not_found, "key file '" + key_file + "' does not exist");
}

// Why an existing store without a key envelope cannot be opened with a key.
Status no_envelope(const std::string& path) {
  if (is_plain_sqlite(path))
    return Status(Code::invalid_argument,
                  "'" + path +
                      "' is not encrypted; start without a key file (a plain store is not "
                      "encrypted in place)");
  return Status(Code::invalid_argument, "'" + path + "' is not a plain store and has no key " +
                                            "envelope '" + crypto::envelope_path(path) +
                                            "' (restore it from the store's backup)");
}

using StoreKey = std::optional<crypto::DatabaseKey>;

// The result of create_key/open_key on the store at `path`, unlocked with `key_file`.
Result<StoreKey> as_store_key(Result<crypto::DatabaseKey> key, const std::string& path,
                              const std::string& key_file) {
  if (key) return StoreKey(std::move(*key));
  if (key.status().code() == Code::wrong_passphrase)
    return Status(Code::wrong_passphrase,
                  with_path(key.status(), path).message() + " (tried '" + key_file + "')");
  return with_path(key.status(), path);
}

// The key of the store at `path`: none for a plain store; unwrapped from the envelope of an
// encrypted one; made (with its envelope) for a new store when a key file is given. Errors
// name the store or the key file.
Result<StoreKey> store_key(const std::string& path, const std::string& key_file) {
  const std::string envelope = crypto::envelope_path(path);
  std::error_code ec;
  const bool encrypted = std::filesystem::exists(envelope, ec);
  if (key_file.empty()) {
    if (!encrypted) return StoreKey();
    return Status(Code::invalid_argument, "'" + path + "' is encrypted (its key envelope '" +
                                              envelope + "' exists) but no key file was given");
  }
  auto credential = read_key_file(key_file);
  if (!credential) return credential.status();
  if (encrypted) return as_store_key(crypto::open_key(path, *credential), path, key_file);
  if (std::filesystem::exists(path, ec)) return no_envelope(path);
  return as_store_key(crypto::create_key(path, *credential), path, key_file);
}

struct WriteStatements {
  Statement find_op;
  Statement load;
  Statement save;
  Statement append;
};

struct Reader {
  std::unique_ptr<Database> db;
  Statement entries;
  Statement head;
  Statement record;
};

Result<Statement> prep(Database& db, std::string_view sql) { return db.prepare(sql); }

// `key`: the store's key, or null for a plain store.
Result<std::unique_ptr<Reader>> open_reader(const std::string& path,
                                            const crypto::DatabaseKey* key) {
  crypto::OpenOptions o;
  o.create = false;
  o.read_only = true;
  o.key = key;
  auto db = Database::open(path, o);
  if (!db) return db.status();
  auto entries = prep(**db,
                      "SELECT seq, op_json, skewed FROM log WHERE seq > ?1 AND device <> ?2 "
                      "ORDER BY seq LIMIT ?3");
  if (!entries) return entries.status();
  auto head = prep(**db, "SELECT COALESCE(MAX(seq), 0) FROM log");
  if (!head) return head.status();
  auto record = prep(
      **db, "SELECT state_json, fields_json, deleted FROM records WHERE collection=?1 AND id=?2");
  if (!record) return record.status();
  return std::unique_ptr<Reader>(
      new Reader{std::move(*db), std::move(*entries), std::move(*head), std::move(*record)});
}

Result<std::uint64_t> query_head(Reader& r) {
  ResetOnExit reset(r.head);
  auto row = r.head.step();
  if (!row) return row.status();
  return static_cast<std::uint64_t>(*row ? r.head.column_int(0) : 0);
}

// Checks that an existing file is a fieldsync server store of our format, or creates the
// tables in an empty one.
Status init_schema(Database& db) {
  auto tables = db.prepare("SELECT name FROM sqlite_master WHERE type='table'");
  if (!tables) return tables.status();
  bool any = false;
  bool has_meta = false;
  for (;;) {
    auto row = tables->step();
    if (!row) return row.status();
    if (!*row) break;
    any = true;
    if (tables->column_text(0) == "meta") has_meta = true;
  }
  if (!any) {
    return crypto::in_transaction(db, [&]() -> Status {
      if (Status s = db.exec(kCreateSql); !s) return s;
      auto ins = db.prepare("INSERT INTO meta(key, value) VALUES (?1, ?2)");
      if (!ins) return ins.status();
      if (Status s = ins->bind(1, "format").bind(2, std::to_string(kStoreFormat)).run(); !s)
        return s;
      return ins->bind(1, "kind").bind(2, kKind).run();
    });
  }
  if (!has_meta) return Status(Code::storage, "the file is not a fieldsync server store");
  auto meta = db.prepare("SELECT key, value FROM meta WHERE key IN ('format', 'kind')");
  if (!meta) return meta.status();
  std::string format;
  std::string kind;
  for (;;) {
    auto row = meta->step();
    if (!row) return row.status();
    if (!*row) break;
    (meta->column_text(0) == "format" ? format : kind) = meta->column_text(1);
  }
  if (kind != kKind) return Status(Code::storage, "the file is not a fieldsync server store");
  if (format != std::to_string(kStoreFormat))
    return Status(Code::storage, "store format " + format + " is not supported (expected " +
                                     std::to_string(kStoreFormat) + ")");
  return Status::ok();
}

}  // namespace

struct SqliteStore::Impl {
  std::string path;
  SqliteStoreOptions options;
  StoreKey key;  // encrypted stores: every connection opens under it; set once in open()
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
    return open_reader(path, key_ptr());
  }

  const crypto::DatabaseKey* key_ptr() const { return key ? &*key : nullptr; }
};

namespace {

class SqliteTx final : public StoreTx {
 public:
  explicit SqliteTx(SqliteStore::Impl& s) : s_(s), w_(*s.w) {}
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
                     const sync::RecordState& state, const json::object& fields) override {
    ResetOnExit reset(w_.save);
    return w_.save.bind(1, collection)
        .bind(2, id)
        .bind(3, json::serialize(sync::to_json(state)))
        .bind(4, json::serialize(fields))
        .bind(5, std::int64_t{state.deleted() ? 1 : 0})
        .run();
  }

  Result<std::uint64_t> append_log(const sync::Op& op, bool skewed,
                                   std::int64_t received_ms) override {
    ResetOnExit reset(w_.append);
    Status s = w_.append.bind(1, op.id)
                   .bind(2, op.device)
                   .bind(3, op.collection)
                   .bind(4, op.record)
                   .bind(5, json::serialize(sync::to_json(op)))
                   .bind(6, std::int64_t{skewed ? 1 : 0})
                   .bind(7, received_ms)
                   .run();
    if (!s) return s;
    return static_cast<std::uint64_t>(s_.wdb->last_insert_rowid());
  }

  Status commit() override {
    assert(!done_);
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

// The writer connection (creating the file and its tables when new) and its statements.
Status open_writer(SqliteStore::Impl& impl) {
  crypto::OpenOptions o;
  o.create = true;
  o.wal = true;
  o.synchronous = "FULL";  // a commit is on disk before its ops are acknowledged
  o.key = impl.key_ptr();
  auto db = Database::open(impl.path, o);
  if (!db) return db.status();
  impl.wdb = std::move(*db);
  if (Status s = init_schema(*impl.wdb); !s) return s;

  auto find_op = impl.wdb->prepare("SELECT seq FROM log WHERE op_id = ?1");
  auto load = impl.wdb->prepare("SELECT state_json FROM records WHERE collection=?1 AND id=?2");
  auto save = impl.wdb->prepare(
      "INSERT INTO records(collection, id, state_json, fields_json, deleted) "
      "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(collection, id) DO UPDATE SET "
      "state_json=excluded.state_json, fields_json=excluded.fields_json, "
      "deleted=excluded.deleted");
  auto append = impl.wdb->prepare(
      "INSERT INTO log(op_id, device, collection, record, op_json, skewed, received_ms) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  for (const Status& s : {find_op.status(), load.status(), save.status(), append.status()})
    if (!s) return s;
  impl.w.emplace(
      WriteStatements{std::move(*find_op), std::move(*load), std::move(*save), std::move(*append)});
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       SqliteStoreOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = std::move(options);
  auto key = store_key(path, impl->options.key_file);
  if (!key) return key.status();
  impl->key = std::move(*key);
  if (Status s = open_writer(*impl); !s) return with_path(s, path);

  // Open one reader now so that a store we cannot read fails at start-up, not later.
  auto reader = open_reader(path, impl->key_ptr());
  if (!reader) return with_path(reader.status(), path);
  if (auto h = query_head(**reader); !h) return with_path(h.status(), path);
  impl->idle.push_back(std::move(*reader));
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

Result<std::unique_ptr<StoreTx>> SqliteStore::begin() {
  assert(!impl_->tx_open && "one StoreTx at a time");
  if (Status s = impl_->wdb->exec("BEGIN IMMEDIATE"); !s) return s;
  impl_->tx_open = true;
  return std::unique_ptr<StoreTx>(new SqliteTx(*impl_));
}

Result<sync::Changes> SqliteStore::read_log(std::uint64_t after, std::uint32_t limit,
                                            const std::string& exclude_device) {
  auto acquired = impl_->acquire();
  if (!acquired) return acquired.status();
  Impl::Lease lease(*impl_, std::move(*acquired));
  Reader& r = *lease;
  // One snapshot for the page and the head, so the cursor never skips an entry.
  if (Status s = r.db->exec("BEGIN"); !s) return s;
  auto result = [&]() -> Result<sync::Changes> {
    sync::Changes out;
    limit = std::max<std::uint32_t>(limit, 1);
    ResetOnExit reset(r.entries);
    r.entries.bind(1, static_cast<std::int64_t>(after))
        .bind(2, exclude_device)
        .bind(3, static_cast<std::int64_t>(limit) + 1);
    std::size_t bytes = 0;
    for (;;) {
      auto row = r.entries.step();
      if (!row) return row.status();
      if (!*row) break;
      if (out.entries.size() == limit) {
        out.more = true;
        break;
      }
      std::string text = r.entries.column_text(1);
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
      e.seq = static_cast<std::uint64_t>(r.entries.column_int(0));
      e.op = std::move(*op);
      e.skewed = r.entries.column_int(2) != 0;
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
