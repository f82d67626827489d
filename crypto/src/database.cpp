// SQLite handles: opening with the project's pragmas, statements, errors as Status.
#include "fieldsync/crypto/database.hpp"

#include <sqlite3.h>

#include <utility>

namespace fieldsync::crypto {

namespace {

int open_flags(const OpenOptions& opts) {
  int flags = SQLITE_OPEN_NOMUTEX;
  flags |= opts.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (opts.create && !opts.read_only) flags |= SQLITE_OPEN_CREATE;
  if (opts.key) flags |= SQLITE_OPEN_URI;
  return flags;
}

// Encrypted connections: temp files stay in memory (the VFS refuses them on disk), freed
// pages are zeroed, and a new database gets the key's page size and reserve before any write.
Status prepare_encrypted(Database& db, const DatabaseKey& key, bool read_only) {
  if (Status s = db.exec("PRAGMA temp_store=MEMORY; PRAGMA secure_delete=ON;"); !s) return s;
  std::int64_t pages = 0;
  {
    // Finished before the page size is set: an open read keeps SQLite at its default size.
    auto count = db.prepare("PRAGMA page_count");
    if (!count) return count.status();
    auto row = count->step();
    if (!row) return row.status();
    if (*row) pages = count->column_int(0);
  }
  if (pages != 0) return Status::ok();
  if (read_only) return Status(Code::storage, "cannot create an encrypted database read-only");
  std::string size = "PRAGMA page_size=" + std::to_string(key.page_size());
  if (Status s = db.exec(size); !s) return s;
  int reserve = kReservedBytes;
  if (sqlite3_file_control(db.handle(), "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve) != SQLITE_OK)
    return db.error("set reserved bytes");
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<Database>> Database::open(const std::string& path, const OpenOptions& opts) {
  std::shared_ptr<KeyBinding> binding;
  std::string name = path;
  const char* vfs = opts.vfs.empty() ? nullptr : opts.vfs.c_str();
  if (opts.key) {
    if (vfs) return Status(Code::invalid_argument, "a key and a VFS name cannot be combined");
    if (Status s = register_encrypted_vfs(); !s) return s;
    binding = std::make_shared<KeyBinding>(*opts.key);
    name = binding->uri(path);
  }
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(name.c_str(), &raw, open_flags(opts), vfs);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close(raw);
    if (auto t = binding ? binding->tamper_report() : std::nullopt)
      return Status(Code::tampered, t->message());
    return Status((rc & 0xff) == SQLITE_FULL ? Code::disk_full : Code::storage,
                  "cannot open database '" + path + "': " + msg);
  }
  std::unique_ptr<Database> db(new Database(raw, std::move(binding)));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, opts.busy_timeout_ms);
  if (opts.key)
    if (Status s = prepare_encrypted(*db, *opts.key, opts.read_only); !s) return s;
  // Memory-mapped I/O would bypass any VFS-level page transformation: keep it off.
  std::string pragmas =
      "PRAGMA mmap_size=0; PRAGMA foreign_keys=ON; PRAGMA synchronous=" + opts.synchronous + ";";
  if (opts.cache_kib > 0) pragmas += "PRAGMA cache_size=-" + std::to_string(opts.cache_kib) + ";";
  if (opts.wal && !opts.read_only) pragmas += "PRAGMA journal_mode=WAL;";
  if (Status s = db->exec(pragmas); !s) return s;
  return db;
}

Database::~Database() { sqlite3_close_v2(db_); }

Status Database::exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return failure(msg);
  }
  return Status::ok();
}

Result<Statement> Database::prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return error("prepare");
  return Statement(this, stmt);
}

std::int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
int Database::changes() const { return sqlite3_changes(db_); }

Status Database::error(std::string_view what) const {
  return failure(std::string(what) + ": " + sqlite3_errmsg(db_));
}

std::optional<TamperReport> Database::tamper_report() const {
  return binding_ ? binding_->tamper_report() : std::nullopt;
}

Status Database::failure(std::string message) const {
  // SQLite reports a failed page as a plain I/O error: the report says what happened instead.
  if (auto t = tamper_report()) return Status(Code::tampered, t->message());
  // SQLITE_FULL: the file could not grow (no space left on its disk, or max_page_count).
  if ((sqlite3_extended_errcode(db_) & 0xff) == SQLITE_FULL)
    return Status(Code::disk_full, std::move(message));
  return Status(Code::storage, std::move(message));
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int i, std::int64_t v) {
  sqlite3_bind_int64(stmt_, i, v);
  return *this;
}
Statement& Statement::bind(int i, std::string_view v) {
  sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::bind_blob(int i, std::span<const std::uint8_t> v) {
  sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::bind_null(int i) {
  sqlite3_bind_null(stmt_, i);
  return *this;
}

Result<bool> Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->error("step");
}

Status Statement::run() {
  for (;;) {
    Result<bool> r = step();
    if (!r) return r.status();
    if (!*r) break;
  }
  return reset();
}

Status Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  return Status::ok();
}

std::int64_t Statement::column_int(int i) const { return sqlite3_column_int64(stmt_, i); }
std::string Statement::column_text(int i) const {
  const auto* p = sqlite3_column_text(stmt_, i);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)))
           : std::string();
}
std::vector<std::uint8_t> Statement::column_blob(int i) const {
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, i));
  return p ? std::vector<std::uint8_t>(p, p + sqlite3_column_bytes(stmt_, i))
           : std::vector<std::uint8_t>();
}
bool Statement::column_is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

}  // namespace fieldsync::crypto
