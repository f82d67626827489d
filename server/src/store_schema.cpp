// The store's tables and their migrations. Format history (kStoreFormat):
//   1  meta, log, records
//   2  + teams, users, devices, enroll_codes, settings (the directory)
//   3  + scopes: records.scope_item and records.created_by, case_access, device_scope, and
//        log_by_record (a record's history); existing rows are filled in from the stored
//        state and the log
//   4  + the audit trail (audit.hpp): audit_log, device_chains, append-only triggers on log
//        and audit_log; every existing log row gets its op entry and every enrolled device
//        a device entry (audit::backfill)
//   5  + passwords (people who log in to the server: the dashboard)
#include "store_schema.hpp"

#include <string>

#include "audit_backfill.hpp"
#include "fieldsync/server/store_file.hpp"

namespace fieldsync::server {
namespace {

constexpr const char* kKind = "fieldsync-server";

// Format 1: the operation log and the merged records.
constexpr const char* kLogSql = R"sql(
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

// Format 2: the directory. Admins belong to no team; everyone else to exactly one.
// Enrolment codes are kept as keyed BLAKE2b hashes, never in plain text.
constexpr const char* kDirectorySql = R"sql(
CREATE TABLE teams(
  name TEXT PRIMARY KEY,
  created_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE users(
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('worker', 'lead', 'admin')),
  team TEXT REFERENCES teams(name),
  created_ms INTEGER NOT NULL,
  CHECK ((role = 'admin') = (team IS NULL))) WITHOUT ROWID;
CREATE TABLE devices(
  id TEXT PRIMARY KEY CHECK (length(id) = 32),
  user TEXT NOT NULL REFERENCES users(name),
  public_key BLOB NOT NULL CHECK (length(public_key) = 32),
  state TEXT NOT NULL CHECK (state IN ('active', 'revoked', 'revoked_no_upload', 'wiped')),
  enrolled_ms INTEGER NOT NULL,
  last_sync_ms INTEGER,
  revoked_ms INTEGER) WITHOUT ROWID;
CREATE INDEX devices_by_user ON devices(user);
CREATE TABLE enroll_codes(
  code_hash BLOB PRIMARY KEY,
  user TEXT NOT NULL REFERENCES users(name),
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  used_ms INTEGER,
  used_by_device TEXT) WITHOUT ROWID;
CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
)sql";

// Format 3: scopes (server/scope.hpp). Every statement also works on the empty tables of a
// new store, so a new store is made by running every format's SQL in turn.
constexpr const char* kScopeSql = R"sql(
ALTER TABLE records ADD COLUMN scope_item TEXT NOT NULL DEFAULT '';
ALTER TABLE records ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
CREATE INDEX log_by_record ON log(collection, record, seq);
UPDATE records SET scope_item = CASE collection
    WHEN 'cases' THEN 'c:' || id
    WHEN 'clients' THEN 'k:' || id
    ELSE COALESCE('c:' || NULLIF(json_extract(fields_json, '$.case_id'), ''), '') END;
UPDATE records SET created_by = COALESCE((SELECT json_extract(l.op_json, '$.user') FROM log l
    WHERE l.collection = records.collection AND l.record = records.id ORDER BY l.seq LIMIT 1), '');
CREATE INDEX records_by_item ON records(scope_item);
CREATE INDEX records_by_creator ON records(created_by, collection);
CREATE INDEX cases_by_client ON records(json_extract(fields_json, '$.client_id'))
  WHERE collection = 'cases';
CREATE TABLE case_access(
  case_id TEXT NOT NULL,
  user TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('owner', 'shared')),
  PRIMARY KEY(case_id, user)) WITHOUT ROWID;
CREATE INDEX case_access_by_user ON case_access(user, kind);
INSERT INTO case_access(case_id, user, kind)
  SELECT id, COALESCE(NULLIF(json_extract(fields_json, '$.assigned_to'), ''), created_by), 'owner'
  FROM records WHERE collection = 'cases'
    AND COALESCE(NULLIF(json_extract(fields_json, '$.assigned_to'), ''), created_by) <> '';
INSERT OR IGNORE INTO case_access(case_id, user, kind)
  SELECT r.id, j.value, 'shared' FROM records r, json_each(r.fields_json, '$.shared_with') j
  WHERE r.collection = 'cases';
CREATE TABLE device_scope(
  device TEXT NOT NULL,
  item TEXT NOT NULL,
  PRIMARY KEY(device, item)) WITHOUT ROWID;
)sql";

// Format 4: the audit trail. device_chains is derived from audit_log (each device's newest
// chain link, for checking the next push quickly); audit verify recomputes it.
constexpr const char* kAuditSql = R"sql(
CREATE TABLE audit_log(
  seq INTEGER PRIMARY KEY,
  at_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,
  user TEXT NOT NULL,
  device TEXT NOT NULL,
  subject TEXT NOT NULL,
  detail TEXT NOT NULL,
  hash BLOB NOT NULL);
CREATE INDEX audit_refused ON audit_log(subject) WHERE kind = 'refused';
CREATE TABLE device_chains(
  device TEXT PRIMARY KEY,
  last_op TEXT NOT NULL,
  head BLOB NOT NULL) WITHOUT ROWID;
CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER log_append_only_update BEFORE UPDATE ON log
  BEGIN SELECT RAISE(ABORT, 'the operation log is append-only'); END;
CREATE TRIGGER log_append_only_delete BEFORE DELETE ON log
  BEGIN SELECT RAISE(ABORT, 'the operation log is append-only'); END;
)sql";

// Format 5: login passwords, as Argon2id hash strings (crypto/password.hpp), never in clear.
constexpr const char* kPasswordSql = R"sql(
CREATE TABLE passwords(
  user TEXT PRIMARY KEY REFERENCES users(name),
  hash TEXT NOT NULL,
  set_ms INTEGER NOT NULL) WITHOUT ROWID;
)sql";

Status set_meta(crypto::Database& db, const std::string& key, const std::string& value) {
  auto st = db.prepare(
      "INSERT INTO meta(key, value) VALUES (?1, ?2) "
      "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  if (!st) return st.status();
  return st->bind(1, key).bind(2, value).run();
}

Result<bool> has_table(crypto::Database& db, const char* name, bool& any) {
  auto tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'");
  if (!tables) return tables.status();
  bool found = false;
  any = false;
  for (;;) {
    auto row = tables->step();
    if (!row) return row.status();
    if (!*row) break;
    any = true;
    if (tables->column_text(0) == name) found = true;
  }
  return found;
}

// The stored format, or an error when the file is not a fieldsync server store.
Result<int> stored_format(crypto::Database& db) {
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
  if (format == "1") return 1;
  if (format == "2") return 2;
  if (format == "3") return 3;
  if (format == "4") return 4;
  if (format == "5") return 5;
  return Status(Code::storage, "store format " + format + " is not supported (expected " +
                                   std::to_string(kStoreFormat) + ")");
}

Status create_all(crypto::Database& db) {
  if (Status s = db.exec(kLogSql); !s) return s;
  if (Status s = db.exec(kDirectorySql); !s) return s;
  if (Status s = db.exec(kScopeSql); !s) return s;
  if (Status s = db.exec(kAuditSql); !s) return s;
  if (Status s = db.exec(kPasswordSql); !s) return s;
  if (Status s = set_meta(db, "format", std::to_string(kStoreFormat)); !s) return s;
  return set_meta(db, "kind", kKind);
}

// Brings a store of format `from` up to kStoreFormat.
Status migrate(crypto::Database& db, int from) {
  if (from < 2) {
    if (Status s = db.exec(kDirectorySql); !s) return s;
  }
  if (from < 3) {
    if (Status s = db.exec(kScopeSql); !s) return s;
  }
  if (from < 4) {
    if (Status s = db.exec(kAuditSql); !s) return s;
    if (Status s = audit::backfill(db); !s) return s;
  }
  if (from < 5) {
    if (Status s = db.exec(kPasswordSql); !s) return s;
  }
  return set_meta(db, "format", std::to_string(kStoreFormat));
}

}  // namespace

Status init_schema(crypto::Database& db) {
  return crypto::in_transaction(db, [&]() -> Status {
    bool any = false;
    auto has_meta = has_table(db, "meta", any);
    if (!has_meta) return has_meta.status();
    if (!any) return create_all(db);
    if (!*has_meta) return Status(Code::storage, "the file is not a fieldsync server store");
    auto format = stored_format(db);
    if (!format) return format.status();
    if (*format == kStoreFormat) return Status::ok();
    return migrate(db, *format);
  });
}

}  // namespace fieldsync::server
