// The local replica on SQLite: tables, local writes (record + outbox in one transaction),
// queries, and the ClientStore side used by the sync client.
//
// Tables (replica format 4; formats 1 to 3 are migrated on open):
//   meta(key PRIMARY KEY, value)        format, device, user, counter, hlc, cursor, schema,
//                                       chain_head (hex: the link after the newest op of the
//                                       device's chain of operations, sync/op_chain.hpp)
//   records(collection, id, state_json, fields_json, deleted, open_conflicts, conflicts)
//                                       a rowid table keyed by UNIQUE(collection, id): rows
//                                       are over 1 KB, which WITHOUT ROWID would spill into
//                                       overflow pages (twice the file, see PERFORMANCE.md)
//                                       state_json: sync::to_json(RecordState) (the merge
//                                       state); fields_json: sync::materialize (what is shown)
//                                       item: the record's scope item (sync/scope.hpp)
//   outbox(seq AUTOINCREMENT, op_id UNIQUE, op_json, status 'pending'|'rejected', code,
//          reason, chain_prev)          operations not yet acknowledged by the server;
//                                       chain_prev: the chain's link before the op
//   reads(seq, collection, id, at_ms)   records opened on the device, not yet reported to the
//                                       server's audit log
//   sent(seq, op_id, op_json, chain_prev, acked_seq, acked_ms)
//                                       operations the server acknowledged (kSentKeepMs), with
//                                       their outbox seq and the server's sequence number: a
//                                       server restored from a backup gets back those it lost
//                                       (on_server_epoch)
//   scope(item PRIMARY KEY, fetched)    the items the server last said this device may hold;
//                                       fetched: its records arrived whole
#include "fieldsync/client/replica.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <system_error>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/sync/hlc.hpp"
#include "fieldsync/sync/ids.hpp"
#include "fieldsync/sync/op.hpp"
#include "fieldsync/sync/op_chain.hpp"
#include "file_lock.hpp"
#include "replica_rows.hpp"

namespace fieldsync::client {
namespace json = boost::json;
using crypto::Database;
using crypto::Statement;

namespace {

constexpr std::string_view kCreateTables = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE records(
  collection TEXT NOT NULL,
  id TEXT NOT NULL,
  state_json TEXT NOT NULL,
  fields_json TEXT NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  open_conflicts INTEGER NOT NULL DEFAULT 0,
  conflicts INTEGER NOT NULL DEFAULT 0,
  UNIQUE(collection, id));
CREATE INDEX records_with_conflicts ON records(collection, id) WHERE conflicts > 0;
CREATE TABLE outbox(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  op_id TEXT NOT NULL UNIQUE,
  op_json TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK(status IN ('pending', 'rejected')),
  code TEXT,
  reason TEXT);
)sql";

// Format 2: scopes. Each record's scope item (sync/scope.hpp) and the items the server last
// said this device may hold. Runs on format-1 tables, also on the empty ones of init.
constexpr std::string_view kScopeTables = R"sql(
ALTER TABLE records ADD COLUMN item TEXT NOT NULL DEFAULT '';
UPDATE records SET item = CASE collection
    WHEN 'cases' THEN 'c:' || id
    WHEN 'clients' THEN 'k:' || id
    ELSE COALESCE('c:' || NULLIF(json_extract(fields_json, '$.case_id'), ''), '') END;
CREATE INDEX records_by_item ON records(item, collection, id);
CREATE TABLE scope(item TEXT PRIMARY KEY, fetched INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
)sql";

// Format 3: the device's chain of operations. Pending ops of an older replica are chained
// from the genesis on migration (rechain_pending).
constexpr std::string_view kChainTables = R"sql(
ALTER TABLE outbox ADD COLUMN chain_prev BLOB;
CREATE TABLE reads(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  collection TEXT NOT NULL,
  id TEXT NOT NULL,
  at_ms INTEGER NOT NULL);
)sql";

// Format 4: acknowledged operations, kept for a server restored from a backup.
constexpr std::string_view kSentTables = R"sql(
CREATE TABLE sent(
  seq INTEGER PRIMARY KEY,
  op_id TEXT NOT NULL UNIQUE,
  op_json TEXT NOT NULL,
  chain_prev BLOB,
  acked_seq INTEGER NOT NULL,
  acked_ms INTEGER NOT NULL);
CREATE INDEX sent_by_acked_seq ON sent(acked_seq);
)sql";

// How long acknowledged operations are kept: a restore from a backup older than this loses
// what they were (the lease's default wipe_after, 30 days).
constexpr std::int64_t kSentKeepMs = 30LL * 24 * 3600 * 1000;

// Chains the pending ops in outbox order starting from `start` (their content may have
// changed, or they were never chained) and moves chain_head after the last.
Status rechain_pending(Database& db, const crypto::Digest& start) {
  auto rows = db.prepare("SELECT op_id, op_json FROM outbox WHERE status = 'pending' ORDER BY seq");
  if (!rows) return rows.status();
  std::vector<std::pair<std::string, std::string>> pending;
  for (;;) {
    auto row = rows->step();
    if (!row) return row.status();
    if (!*row) break;
    pending.emplace_back(rows->column_text(0), rows->column_text(1));
  }
  auto up = db.prepare("UPDATE outbox SET chain_prev = ?2 WHERE op_id = ?1");
  if (!up) return up.status();
  crypto::Digest link = start;
  for (const auto& [id, text] : pending) {
    if (Status s = up->bind(1, id).bind_blob(2, link).run(); !s) return s;
    if (Status s = up->reset(); !s) return s;
    link = sync::chain_next(link, sync::op_digest(text));
  }
  return set_meta(db, "chain_head", sync::digest_hex(link));
}

Result<crypto::Digest> chain_head(Database& db) {
  auto text = get_meta(db, "chain_head");
  if (!text) return text.status();
  if (!*text) return Status(Code::storage, "corrupt replica: no chain head");
  auto d = sync::digest_from_hex(**text);
  if (!d) return Status(Code::storage, "corrupt replica: unreadable chain head");
  return *d;
}

Result<RecordView> make_view(std::string collection, std::string id, const std::string& fields,
                             bool deleted) {
  auto v = parse_json(fields, "record fields");
  if (!v) return v.status();
  if (!v->is_object()) return Status(Code::storage, "corrupt record fields");
  return RecordView{std::move(collection), std::move(id), std::move(v->as_object()), deleted};
}

Status unknown_collection(const sync::Schema& schema, const std::string& name) {
  std::string known;
  for (const auto& c : schema.collections()) known += (known.empty() ? "" : ", ") + c.name;
  return {Code::unknown_collection, "unknown collection '" + name + "' (known: " + known + ")"};
}

Status unknown_field(const sync::CollectionSpec& spec, const std::string& name) {
  std::string known;
  for (const auto& f : spec.fields) known += (known.empty() ? "" : ", ") + f.name;
  return {Code::unknown_field, spec.name + " has no field '" + name + "' (fields: " + known + ")"};
}

std::string default_user() {
  const char* u = std::getenv("USER");
  if (u && *u) return u;
  return "worker";
}

}  // namespace

json::object to_json(const RecordView& record) {
  json::object o;
  o["collection"] = record.collection;
  o["id"] = record.id;
  o["fields"] = record.fields;
  return o;
}

Replica::Replica(std::string path, ReplicaOptions options)
    : path_(std::move(path)),
      options_(std::move(options)),
      schema_(options_.schema ? options_.schema : &sync::default_schema()) {}

Replica::~Replica() = default;

Result<std::unique_ptr<Replica>> Replica::init(const std::string& path,
                                               const crypto::Credential& credential,
                                               ReplicaOptions options) {
  std::string user = options.user.empty() ? default_user() : options.user;
  if (user.size() > 64)
    return Status(Code::invalid_argument, "user name longer than 64 characters");
  crypto::SodiumRandom sodium;
  crypto::Random& random = options.random ? *options.random : sodium;
  const sync::Schema& schema = options.schema ? *options.schema : sync::default_schema();

  std::unique_ptr<Replica> r(new Replica(path, std::move(options)));
  if (Status s = r->create(credential); !s) return s;
  Status created = crypto::in_transaction(*r->db_, [&]() -> Status {
    Database& db = *r->db_;
    if (Status t = db.exec(kCreateTables); !t) return t;
    if (Status t = db.exec(kScopeTables); !t) return t;
    if (Status t = db.exec(kChainTables); !t) return t;
    if (Status t = db.exec(kSentTables); !t) return t;
    std::string signing_secret = crypto::to_hex(crypto::SigningKey::generate().secret());
    const std::pair<std::string_view, std::string> rows[] = {
        {"format", std::to_string(kReplicaFormat)},
        {"device", sync::new_device_id(random)},
        {"user", user},
        {"counter", "0"},
        {"hlc", sync::Hlc{}.to_string()},
        {"cursor", "0"},
        {"schema", std::to_string(schema.version())},
    };
    Status stored = Status::ok();
    for (const auto& [key, value] : rows)
      if (stored) stored = set_meta(db, key, value);
    if (stored) stored = set_meta(db, "signing_key", signing_secret);
    if (stored) {
      auto device = get_meta(db, "device");
      stored = !device ? device.status() : rechain_pending(db, sync::chain_genesis(**device));
    }
    std::fill(signing_secret.begin(), signing_secret.end(), '\0');
    return stored;
  });
  if (created) created = r->load_meta();
  if (!created) {
    r->discard_files();
    return created;
  }
  return r;
}

Result<std::unique_ptr<Replica>> Replica::open(const std::string& path,
                                               const crypto::Credential& credential,
                                               ReplicaOptions options) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return Status(Code::not_found, "no replica at " + path + "; run init first");
  std::unique_ptr<Replica> r(new Replica(path, std::move(options)));
  if (Status s = r->attach(credential); !s) return s;
  return r;
}

Status Replica::require_unlocked() const {
  if (db_) return Status::ok();
  return {Code::locked, "the replica " + path_ + " is locked; unlock it with its passphrase"};
}

Status Replica::load_meta() {
  auto format = get_meta(*db_, "format");
  if (!format || !*format) return {Code::invalid_argument, path_ + " is not a fieldsync replica"};
  if (**format == "3") {
    Status migrated = crypto::in_transaction(*db_, [&]() -> Status {
      if (Status s = db_->exec(kSentTables); !s) return s;
      return set_meta(*db_, "format", std::to_string(kReplicaFormat));
    });
    if (!migrated) return migrated;
    format = std::optional<std::string>(std::to_string(kReplicaFormat));
  }
  if (**format == "1" || **format == "2") {
    const bool from_1 = **format == "1";
    Status migrated = crypto::in_transaction(*db_, [&]() -> Status {
      if (from_1)
        if (Status s = db_->exec(kScopeTables); !s) return s;
      if (Status s = db_->exec(kChainTables); !s) return s;
      if (Status s = db_->exec(kSentTables); !s) return s;
      auto device = get_meta(*db_, "device");
      if (!device) return device.status();
      if (!*device) return Status(Code::storage, "corrupt replica " + path_ + ": no device id");
      if (Status s = rechain_pending(*db_, sync::chain_genesis(**device)); !s) return s;
      return set_meta(*db_, "format", std::to_string(kReplicaFormat));
    });
    if (!migrated) return migrated;
    format = std::optional<std::string>(std::to_string(kReplicaFormat));
  }
  if (**format != std::to_string(kReplicaFormat))
    return {Code::invalid_argument, path_ + " has replica format " + **format +
                                        "; this program reads format " +
                                        std::to_string(kReplicaFormat)};
  auto device = get_meta(*db_, "device");
  auto user = get_meta(*db_, "user");
  auto schema = get_meta_uint(*db_, "schema");
  if (!device || !*device || !sync::is_valid_device_id(**device) || !user || !*user || !schema)
    return {Code::storage, "corrupt replica " + path_ + ": missing identity"};
  if (*schema > static_cast<std::uint64_t>(schema_->version()))
    return {Code::invalid_argument, path_ + " uses schema version " + std::to_string(*schema) +
                                        ", newer than this program's " +
                                        std::to_string(schema_->version())};
  device_ = **device;
  user_ = **user;
  auto secret = get_meta(*db_, "signing_key");
  if (secret && !*secret) {  // made before device keys existed: make one now
    std::string made = crypto::to_hex(crypto::SigningKey::generate().secret());
    Status s = crypto::in_transaction(*db_, [&] { return set_meta(*db_, "signing_key", made); });
    std::fill(made.begin(), made.end(), '\0');
    if (!s) return s;
    secret = get_meta(*db_, "signing_key");
  }
  if (!secret || !*secret) return {Code::storage, "corrupt replica " + path_ + ": no device key"};
  auto bytes = crypto::from_hex(**secret);
  if (!bytes) return {Code::storage, "corrupt replica " + path_ + ": device key"};
  auto key = crypto::SigningKey::from_secret(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(bytes->data()), bytes->size()));
  std::fill(bytes->begin(), bytes->end(), '\0');
  std::fill(secret->value().begin(), secret->value().end(), '\0');
  if (!key) return {Code::storage, "corrupt replica " + path_ + ": " + key.status().message()};
  key_.emplace(std::move(*key));
  auto server = get_meta(*db_, "enrolled_server");
  enrolled_server_ = server && *server ? **server : std::string();
  return Status::ok();
}

Status Replica::set_enrolled(const std::string& user, const std::string& role,
                             const std::string& server) {
  if (Status u = require_unlocked(); !u) return u;
  Status s = crypto::in_transaction(*db_, [&]() -> Status {
    auto pending =
        db_->prepare("SELECT op_id, op_json FROM outbox WHERE status = 'pending' ORDER BY seq");
    if (!pending) return pending.status();
    std::vector<std::pair<std::string, std::string>> rewritten;
    while (true) {
      auto row = pending->step();
      if (!row) return row.status();
      if (!*row) break;
      auto op = parse_op(pending->column_text(1));
      if (!op) return op.status();
      op->user = user;
      rewritten.emplace_back(pending->column_text(0), json::serialize(sync::to_json(*op)));
    }
    // The ops changed: the chain is made again from the link before the first of them.
    std::optional<crypto::Digest> start;
    if (!rewritten.empty()) {
      auto before = chain_link_before(rewritten.front().first);
      if (!before) return before.status();
      start = *before;
    }
    for (const auto& [id, text] : rewritten) {
      auto up = db_->prepare("UPDATE outbox SET op_json = ?2 WHERE op_id = ?1");
      if (!up) return up.status();
      up->bind(1, id).bind(2, text);
      if (Status t = up->run(); !t) return t;
    }
    if (start)
      if (Status t = rechain_pending(*db_, *start); !t) return t;
    for (const auto& [key, value] : {std::pair<std::string_view, std::string_view>{"user", user},
                                     {"role", role},
                                     {"enrolled_server", server}})
      if (Status t = set_meta(*db_, key, value); !t) return t;
    return Status::ok();
  });
  if (!s) return s;
  user_ = user;
  enrolled_server_ = server;
  return Status::ok();
}

Status Replica::record_checkin(const sync::Lease& lease) {
  const std::int64_t now_ms = now();
  if (Status u = require_unlocked(); !u) return u;
  return crypto::in_transaction(*db_, [&]() -> Status {
    if (Status t = set_meta(*db_, "checkin_ms", std::to_string(now_ms)); !t) return t;
    if (Status t = set_meta(*db_, "lease_sync_ms", std::to_string(lease.sync_within_ms)); !t)
      return t;
    return set_meta(*db_, "lease_wipe_ms", std::to_string(lease.wipe_after_ms));
  });
}

Status Replica::check_lease() {
  auto checkin = get_meta_uint(*db_, "checkin_ms");
  auto sync_within = get_meta_uint(*db_, "lease_sync_ms");
  auto wipe_after = get_meta_uint(*db_, "lease_wipe_ms");
  if (!checkin || !sync_within || !wipe_after) {
    lock();
    return {Code::storage, "corrupt replica " + path_ + ": lease"};
  }
  if (*checkin == 0) return Status::ok();  // never checked in: no lease yet
  const auto away = now() - static_cast<std::int64_t>(*checkin);
  const auto days = std::to_string(away / 86'400'000);
  if (*wipe_after > 0 && away > static_cast<std::int64_t>(*wipe_after)) {
    lock();
    if (Status d = destroy(path_); !d)  // busy: another process has it open; not yet
      return {Code::lease_expired, "the replica " + path_ + " had not synced for " + days +
                                       " days and is due to be wiped: " + d.message()};
    return {Code::lease_expired, "the replica " + path_ + " had not synced for " + days +
                                     " days, past the programme's limit: it has been wiped"};
  }
  if (*sync_within > 0 && away > static_cast<std::int64_t>(*sync_within) && !options_.for_sync) {
    lock();
    return {Code::lease_expired, "the replica " + path_ + " has not synced for " + days +
                                     " days: sync it before using it"};
  }
  return Status::ok();
}

std::int64_t Replica::now() {
  if (options_.now_ms) return options_.now_ms();
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// The shared path of every local write: inside one BEGIN IMMEDIATE transaction, load the
// record, let `build` fill in the op's kind and writes from the current state, give it an id
// and a clock, validate, merge, and store record, outbox entry, counter and clock together.
Result<std::string> Replica::write_op(
    const std::string& collection, const std::string& id,
    const std::function<Status(const sync::CollectionSpec&, const sync::RecordState&, sync::Op&)>&
        build) {
  if (Status u = require_unlocked(); !u) return u;
  const sync::CollectionSpec* spec = schema_->collection(collection);
  if (!spec) return unknown_collection(*schema_, collection);
  if (!sync::is_valid_record_id(id))
    return Status(Code::invalid_id,
                  "record id '" + id + "' must be 1-64 characters of A-Za-z0-9._-");
  std::string op_id;
  Status done = crypto::in_transaction(*db_, [&]() -> Status {
    auto loaded = load_state(*db_, collection, id);
    if (!loaded) return loaded.status();
    sync::RecordState state = loaded->value_or(sync::RecordState{});

    sync::Op op;
    op.device = device_;
    op.user = user_;
    op.collection = collection;
    op.record = id;
    if (Status b = build(*spec, state, op); !b) return b;

    auto counter = get_meta_uint(*db_, "counter");
    if (!counter) return counter.status();
    auto last = get_meta_hlc(*db_);
    if (!last) return last.status();
    sync::HlcClock clock(*last, options_.max_clock_ahead_ms);
    const std::int64_t physical = now();
    auto link = chain_head(*db_);
    if (!link) return link.status();
    auto ins = db_->prepare("INSERT INTO outbox(op_id, op_json, chain_prev) VALUES(?1, ?2, ?3)");
    if (!ins) return ins.status();
    op.id = sync::make_op_id(device_, ++*counter);
    op.hlc = clock.now(physical);
    if (Status v = sync::validate(op, *schema_); !v) return v;
    sync::apply(state, op, *spec);
    const std::string op_json = sync::canonical(op);
    ins->bind(1, op.id).bind(2, op_json).bind_blob(3, *link);
    if (Status t = ins->run(); !t) return t;
    const crypto::Digest next = sync::chain_next(*link, sync::op_digest(op_json));
    if (Status t = set_meta(*db_, "chain_head", sync::digest_hex(next)); !t) return t;
    op_id = op.id;
    if (Status t = save_state(*db_, *spec, id, state); !t) return t;
    if (Status t = set_meta(*db_, "counter", std::to_string(*counter)); !t) return t;
    return set_meta(*db_, "hlc", clock.last().to_string());
  });
  if (!done) return done;
  return op_id;
}

Result<std::string> Replica::put(const std::string& collection, const std::string& id,
                                 const std::vector<FieldEdit>& edits) {
  if (edits.empty()) return Status(Code::invalid_argument, "no fields to change");
  return write_op(
      collection, id,
      [&](const sync::CollectionSpec& spec, const sync::RecordState& state,
          sync::Op& op) -> Status {
        const std::string where = collection + "/" + id;
        if (state.deleted()) return {Code::deleted, where + " is deleted"};
        if (spec.append_only && !state.empty())
          return {Code::append_only,
                  where + " exists and " + collection + " records are append-only"};
        op.kind = sync::OpKind::put;
        std::set<std::pair<std::string, std::string>> seen;  // (field, element)
        for (const auto& e : edits) {
          const sync::FieldSpec* f = spec.field(e.field);
          if (!f) return unknown_field(spec, e.field);
          const bool is_set = f->type == sync::FieldType::set;
          if (is_set && e.kind == FieldEdit::Kind::set)
            return {Code::wrong_type, collection + "." + e.field + " is a set: use " + e.field +
                                          "+=VALUE to add or " + e.field + "-=VALUE to remove"};
          if (!is_set && e.kind != FieldEdit::Kind::set)
            return {Code::wrong_type,
                    collection + "." + e.field + " is not a set: use " + e.field + "=VALUE"};
          json::value value(e.value);
          if (Status c = schema_->check_value(spec, *f, value); !c) return c;
          if (!seen.emplace(e.field, is_set ? e.value : std::string()).second)
            return {Code::invalid_argument, is_set
                                                ? "'" + e.value + "' is changed twice in " + e.field
                                                : "field '" + e.field + "' is given twice"};
          sync::FieldWrite w;
          w.field = e.field;
          w.value = std::move(value);
          if (is_set) {
            w.kind =
                e.kind == FieldEdit::Kind::add ? sync::WriteKind::add : sync::WriteKind::remove;
            if (w.kind == sync::WriteKind::remove) {
              auto it = state.sets.find(e.field);
              if (it != state.sets.end()) w.base = sync::live_tags(it->second, e.value);
              if (w.base.empty())
                return {Code::not_found,
                        where + " " + e.field + " does not contain '" + e.value + "'"};
            }
          } else {
            w.kind = sync::WriteKind::set;
            // A worker's edit of a review field supersedes the value shown, not the competing
            // heads: an open review conflict stays open until a decision bases on every head.
            if (auto it = state.registers.find(e.field); it != state.registers.end())
              w.base = sync::edit_base(it->second, f->policy);
          }
          op.writes.push_back(std::move(w));
        }
        return Status::ok();
      });
}

Result<std::string> Replica::resolve(const std::string& collection, const std::string& id,
                                     const std::string& field, const std::string& value) {
  if (Status u = require_unlocked(); !u) return u;
  // The role the server gave at enrolment; none before enrolment (the server then decides).
  auto role = get_meta(*db_, "role");
  if (!role) return role.status();
  if (*role && **role == "worker")
    return Status(Code::forbidden,
                  "only leads and admins decide conflicts; '" + user_ + "' is a worker");
  return write_op(
      collection, id,
      [&](const sync::CollectionSpec& spec, const sync::RecordState& state,
          sync::Op& op) -> Status {
        const std::string where = collection + "/" + id;
        if (state.empty()) return {Code::not_found, "no record " + where};
        if (state.deleted()) return {Code::deleted, where + " is deleted"};
        if (spec.append_only)
          return {Code::append_only, collection + " records are append-only and never conflict"};
        const sync::FieldSpec* f = spec.field(field);
        if (!f) return unknown_field(spec, field);
        if (f->type == sync::FieldType::set)
          return {Code::wrong_type,
                  collection + "." + field + " is a set field: sets do not conflict"};
        std::vector<std::string> base;
        if (auto it = state.registers.find(field); it != state.registers.end())
          for (const sync::WriteMeta* h : sync::heads(it->second)) base.push_back(h->op);
        if (base.size() < 2)
          return {Code::not_found, where + " " + field + " has no conflict to decide"};
        json::value v(value);
        if (Status c = schema_->check_value(spec, *f, v); !c) return c;
        op.kind = sync::OpKind::put;
        op.writes.push_back({field, sync::WriteKind::set, std::move(v), std::move(base)});
        return Status::ok();
      });
}

Result<std::string> Replica::remove(const std::string& collection, const std::string& id) {
  return write_op(
      collection, id,
      [&](const sync::CollectionSpec& spec, const sync::RecordState& state,
          sync::Op& op) -> Status {
        const std::string where = collection + "/" + id;
        if (state.empty()) return {Code::not_found, "no record " + where};
        if (state.deleted()) return {Code::deleted, where + " is already deleted"};
        if (spec.append_only)
          return {Code::append_only, collection + " records are append-only and cannot be deleted"};
        op.kind = sync::OpKind::del;
        op.del_base = sync::all_write_ids(state);
        return Status::ok();
      });
}

Result<std::string> Replica::add_note(const std::string& case_id, const std::string& text) {
  if (text.empty()) return Status(Code::invalid_argument, "a note needs some text");
  crypto::SodiumRandom sodium;
  crypto::Random& random = options_.random ? *options_.random : sodium;
  std::string id = sync::new_record_id(random);
  auto op = put("notes", id,
                {{"case_id", FieldEdit::Kind::set, case_id}, {"text", FieldEdit::Kind::set, text}});
  if (!op) return op.status();
  return id;
}

Result<std::optional<RecordView>> Replica::get(const std::string& collection,
                                               const std::string& id) {
  if (Status u = require_unlocked(); !u) return u;
  if (!schema_->collection(collection)) return unknown_collection(*schema_, collection);
  auto st =
      db_->prepare("SELECT fields_json, deleted FROM records WHERE collection = ?1 AND id = ?2");
  if (!st) return st.status();
  st->bind(1, collection).bind(2, id);
  auto row = st->step();
  if (!row) return row.status();
  if (!*row) return std::optional<RecordView>();
  auto view = make_view(collection, id, st->column_text(0), st->column_int(1) != 0);
  if (!view) return view.status();
  return std::optional<RecordView>(std::move(*view));
}

Result<std::vector<RecordView>> Replica::list(const std::string& collection) {
  if (Status u = require_unlocked(); !u) return u;
  if (!schema_->collection(collection)) return unknown_collection(*schema_, collection);
  auto st = db_->prepare(
      "SELECT id, fields_json FROM records WHERE collection = ?1 AND deleted = 0 ORDER BY id");
  if (!st) return st.status();
  st->bind(1, collection);
  std::vector<RecordView> out;
  for (;;) {
    auto row = st->step();
    if (!row) return row.status();
    if (!*row) break;
    auto view = make_view(collection, st->column_text(0), st->column_text(1), false);
    if (!view) return view.status();
    out.push_back(std::move(*view));
  }
  return out;
}

Result<std::vector<sync::Conflict>> Replica::conflicts(bool include_resolved) {
  if (Status u = require_unlocked(); !u) return u;
  auto st = db_->prepare(include_resolved ? "SELECT collection, id, state_json FROM records "
                                            "WHERE conflicts > 0 ORDER BY collection, id"
                                          : "SELECT collection, id, state_json FROM records "
                                            "WHERE open_conflicts > 0 ORDER BY collection, id");
  if (!st) return st.status();
  std::vector<sync::Conflict> out;
  for (;;) {
    auto row = st->step();
    if (!row) return row.status();
    if (!*row) break;
    std::string collection = st->column_text(0);
    std::string id = st->column_text(1);
    const sync::CollectionSpec* spec = schema_->collection(collection);
    if (!spec) continue;
    auto v = parse_json(st->column_text(2), "record state");
    if (!v) return v.status();
    auto state = sync::record_state_from_json(*v);
    if (!state) return Status(Code::storage, "corrupt record state: " + state.status().message());
    for (auto& c : sync::conflicts(*state, *spec, collection, id))
      if (include_resolved || c.open) out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<OutboxEntry>> Replica::outbox() {
  if (Status u = require_unlocked(); !u) return u;
  auto st = db_->prepare("SELECT seq, op_json, status, code, reason FROM outbox ORDER BY seq");
  if (!st) return st.status();
  std::vector<OutboxEntry> out;
  for (;;) {
    auto row = st->step();
    if (!row) return row.status();
    if (!*row) break;
    auto op = parse_op(st->column_text(1));
    if (!op) return op.status();
    OutboxEntry e;
    e.seq = st->column_int(0);
    e.op = std::move(*op);
    e.rejected = st->column_text(2) == "rejected";
    if (e.rejected) {
      e.code = code_from_name(st->column_text(3));
      e.reason = st->column_text(4);
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::uint64_t Replica::cursor() {
  // The interface has no error channel here: on a read error the last value read stands, and
  // the pull simply starts earlier (applying is idempotent).
  if (!db_) return cursor_cache_;
  if (auto c = get_meta_uint(*db_, "cursor")) cursor_cache_ = *c;
  return cursor_cache_;
}

Result<std::vector<sync::Op>> Replica::pending_ops(std::size_t limit,
                                                   const std::set<std::string>& exclude) {
  if (Status u = require_unlocked(); !u) return u;
  auto st = db_->prepare("SELECT op_id, op_json FROM outbox WHERE status = 'pending' ORDER BY seq");
  if (!st) return st.status();
  std::vector<sync::Op> out;
  while (out.size() < limit) {
    auto row = st->step();
    if (!row) return row.status();
    if (!*row) break;
    if (exclude.contains(st->column_text(0))) continue;
    auto op = parse_op(st->column_text(1));
    if (!op) return op.status();
    out.push_back(std::move(*op));
  }
  return out;
}

Result<std::optional<crypto::Digest>> Replica::chain_link_before(const std::string& op_id) {
  if (Status u = require_unlocked(); !u) return u;
  // Also among the acknowledged ops: another process syncing this replica at the same time
  // may have had it acknowledged since this one read its pending ops (the server then answers
  // it again).
  auto st = db_->prepare(
      "SELECT chain_prev FROM outbox WHERE op_id = ?1 "
      "UNION ALL SELECT chain_prev FROM sent WHERE op_id = ?1 LIMIT 1");
  if (!st) return st.status();
  auto row = st->bind(1, op_id).step();
  if (!row) return row.status();
  if (!*row) return Status(Code::not_found, "no operation " + op_id + " in the outbox");
  const auto blob = st->column_blob(0);
  crypto::Digest d{};
  if (blob.size() != d.size())
    return Status(Code::storage,
                  "corrupt replica " + path_ + ": operation " + op_id + " has no chain link");
  std::copy(blob.begin(), blob.end(), d.begin());
  return std::optional<crypto::Digest>(d);
}

Status Replica::note_read(const std::string& collection, const std::string& id) {
  if (Status u = require_unlocked(); !u) return u;
  auto st = db_->prepare("INSERT INTO reads(collection, id, at_ms) VALUES (?1, ?2, ?3)");
  if (!st) return st.status();
  return st->bind(1, collection).bind(2, id).bind(3, now()).run();
}

Result<std::vector<sync::ReadEvent>> Replica::pending_reads(std::size_t limit) {
  if (Status u = require_unlocked(); !u) return u;
  auto st = db_->prepare("SELECT collection, id, at_ms, seq FROM reads ORDER BY seq LIMIT ?1");
  if (!st) return st.status();
  st->bind(1, static_cast<std::int64_t>(limit));
  std::vector<sync::ReadEvent> out;
  for (;;) {
    auto row = st->step();
    if (!row) return row.status();
    if (!*row) return out;
    sync::ReadEvent e{st->column_text(0), st->column_text(1), st->column_int(2)};
    e.local = static_cast<std::uint64_t>(st->column_int(3));
    out.push_back(std::move(e));
  }
}

Status Replica::on_reads_noted(std::uint64_t through) {
  if (Status u = require_unlocked(); !u) return u;
  // By number, not by count: another sync of this replica may have sent (and had noted) some
  // of them meanwhile; a read is then reported twice, never dropped unreported.
  auto st = db_->prepare("DELETE FROM reads WHERE seq <= ?1");
  if (!st) return st.status();
  return st->bind(1, static_cast<std::int64_t>(through)).run();
}

std::size_t Replica::push_batch_hint() {
  if (!db_) return 0;
  auto v = get_meta_uint(*db_, "push_batch");
  return v ? static_cast<std::size_t>(*v) : 0;
}

Status Replica::set_push_batch_hint(std::size_t ops) {
  if (Status u = require_unlocked(); !u) return u;
  return set_meta(*db_, "push_batch", std::to_string(ops));
}

Status Replica::on_server_epoch(const std::string& epoch, std::uint64_t base) {
  if (Status u = require_unlocked(); !u) return u;
  auto known = get_meta(*db_, "server_epoch");
  if (!known) return known.status();
  if (*known && **known == epoch) return Status::ok();
  const bool restored = known->has_value();
  const auto after = static_cast<std::int64_t>(base);
  Status done = crypto::in_transaction(*db_, [&]() -> Status {
    if (restored) {
      // Their old outbox numbers put them before every newer pending op: the chain's order.
      auto back = db_->prepare(
          "INSERT INTO outbox(seq, op_id, op_json, status, chain_prev) "
          "SELECT seq, op_id, op_json, 'pending', chain_prev FROM sent WHERE acked_seq > ?1");
      if (!back) return back.status();
      if (Status s = back->bind(1, after).run(); !s) return s;
      auto drop = db_->prepare("DELETE FROM sent WHERE acked_seq > ?1");
      if (!drop) return drop.status();
      if (Status s = drop->bind(1, after).run(); !s) return s;
      // A refusal recorded after the backup is lost with it, and the device's chain runs
      // through the refused op: send it again (a refusal the server kept is answered again).
      if (Status s = db_->exec("UPDATE outbox SET status = 'pending', code = NULL, reason = NULL "
                               "WHERE status = 'rejected'");
          !s)
        return s;
      auto cursor = get_meta_uint(*db_, "cursor");
      if (!cursor) return cursor.status();
      if (*cursor > base)
        if (Status s = set_meta(*db_, "cursor", std::to_string(base)); !s) return s;
    }
    return set_meta(*db_, "server_epoch", epoch);
  });
  if (done && restored) cursor_cache_ = std::min<std::uint64_t>(cursor_cache_, base);
  return done;
}

Status Replica::on_ack(const std::vector<sync::OpResult>& results) {
  if (Status u = require_unlocked(); !u) return u;
  const std::int64_t now_ms = now();
  return crypto::in_transaction(*db_, [&]() -> Status {
    // An acknowledged op moves to `sent` with the server's sequence number.
    auto keep = db_->prepare(
        "INSERT OR REPLACE INTO sent(seq, op_id, op_json, chain_prev, acked_seq, acked_ms) "
        "SELECT seq, op_id, op_json, chain_prev, ?2, ?3 FROM outbox WHERE op_id = ?1");
    if (!keep) return keep.status();
    auto del = db_->prepare("DELETE FROM outbox WHERE op_id = ?1");
    if (!del) return del.status();
    auto rej = db_->prepare(
        "UPDATE outbox SET status = 'rejected', code = ?2, reason = ?3 WHERE op_id = ?1");
    if (!rej) return rej.status();
    for (const auto& r : results) {
      if (r.status == sync::OpStatus::rejected) {
        rej->bind(1, r.op).bind(2, code_name(r.code)).bind(3, r.reason);
        if (Status s = rej->run(); !s) return s;
        if (Status s = rej->reset(); !s) return s;
        continue;
      }
      keep->bind(1, r.op).bind(2, static_cast<std::int64_t>(r.seq)).bind(3, now_ms);
      if (Status s = keep->run(); !s) return s;
      if (Status s = keep->reset(); !s) return s;
      del->bind(1, r.op);
      if (Status s = del->run(); !s) return s;
      if (Status s = del->reset(); !s) return s;
    }
    auto prune = db_->prepare("DELETE FROM sent WHERE acked_ms < ?1");
    if (!prune) return prune.status();
    prune->bind(1, now_ms - kSentKeepMs);
    return prune->run();
  });
}

Status Replica::apply_remote(const std::vector<sync::LogEntry>& entries, std::uint64_t cursor) {
  if (Status u = require_unlocked(); !u) return u;
  Status done = crypto::in_transaction(*db_, [&]() -> Status {
    auto last = get_meta_hlc(*db_);
    if (!last) return last.status();
    sync::HlcClock clock(*last, options_.max_clock_ahead_ms);
    const std::int64_t physical = now();
    // Records touched by this batch, merged in memory and written once each.
    struct Touched {
      sync::RecordState state;
      bool changed = false;
    };
    std::map<std::pair<std::string, std::string>, Touched> touched;
    auto rows = StateRows::prepare(*db_);
    if (!rows) return rows.status();
    for (const auto& e : entries) {
      const sync::Op& op = e.op;
      // A clock beyond the bound is not adopted (observe reports it and ticks locally).
      (void)clock.observe(op.hlc, physical);
      // The server validated it against its schema; a failure here means this program's
      // schema is older. Stop rather than skip: the cursor must not move past an op unapplied.
      if (Status v = sync::validate(op, *schema_); !v)
        return {v.code(), "cannot apply pulled operation " + op.id + " (" + v.message() +
                              "); this program's schema may be out of date"};
      const sync::CollectionSpec* spec = schema_->collection(op.collection);
      auto key = std::make_pair(op.collection, op.record);
      auto it = touched.find(key);
      if (it == touched.end()) {
        auto loaded = rows->load(op.collection, op.record);
        if (!loaded) return loaded.status();
        it = touched.emplace(key, Touched{loaded->value_or(sync::RecordState{})}).first;
      }
      // apply() is idempotent: an op seen before (our own, or a duplicate) changes nothing.
      it->second.changed |= sync::apply(it->second.state, op, *spec);
    }
    for (const auto& [key, t] : touched) {
      if (!t.changed) continue;
      if (Status s = rows->save(*schema_->collection(key.first), key.second, t.state); !s) return s;
    }
    if (Status s = set_meta(*db_, "hlc", clock.last().to_string()); !s) return s;
    return set_meta(*db_, "cursor", std::to_string(cursor));
  });
  if (done) cursor_cache_ = cursor;
  return done;
}

}  // namespace fieldsync::client
