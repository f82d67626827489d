// Row helpers of the replica's tables (replica_rows.hpp).
#include "replica_rows.hpp"

#include <system_error>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/op.hpp"
#include "fieldsync/sync/scope.hpp"

namespace fieldsync::client {
namespace json = boost::json;
using crypto::Database;

Result<json::value> parse_json(const std::string& text, std::string_view what) {
  std::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return Status(Code::storage, "corrupt " + std::string(what) + ": " + ec.message());
  return v;
}

Result<std::optional<std::string>> get_meta(Database& db, std::string_view key) {
  auto st = db.prepare("SELECT value FROM meta WHERE key = ?1");
  if (!st) return st.status();
  st->bind(1, key);
  auto row = st->step();
  if (!row) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(st->column_text(0));
}

Status set_meta(Database& db, std::string_view key, std::string_view value) {
  auto st = db.prepare(
      "INSERT INTO meta(key, value) VALUES(?1, ?2) "
      "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  if (!st) return st.status();
  st->bind(1, key).bind(2, value);
  return st->run();
}

Result<std::uint64_t> get_meta_uint(Database& db, std::string_view key) {
  auto v = get_meta(db, key);
  if (!v) return v.status();
  if (!*v) return std::uint64_t{0};
  try {
    return static_cast<std::uint64_t>(std::stoull(**v));
  } catch (const std::exception&) {
    return Status(Code::storage, "corrupt replica: meta '" + std::string(key) + "'");
  }
}

Result<sync::Hlc> get_meta_hlc(Database& db) {
  auto v = get_meta(db, "hlc");
  if (!v) return v.status();
  if (!*v) return sync::Hlc{};
  auto hlc = sync::Hlc::parse(**v);
  if (!hlc) return Status(Code::storage, "corrupt replica: meta 'hlc'");
  return *hlc;
}

namespace {

constexpr std::string_view kLoadState =
    "SELECT state_json FROM records WHERE collection = ?1 AND id = ?2";
constexpr std::string_view kSaveState =
    "INSERT INTO records(collection, id, state_json, fields_json, deleted, open_conflicts, "
    "conflicts, item) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
    "ON CONFLICT(collection, id) DO UPDATE SET state_json = excluded.state_json, "
    "fields_json = excluded.fields_json, deleted = excluded.deleted, "
    "open_conflicts = excluded.open_conflicts, conflicts = excluded.conflicts, "
    "item = excluded.item";

Result<std::optional<sync::RecordState>> load_with(crypto::Statement& st,
                                                   const std::string& collection,
                                                   const std::string& id) {
  st.bind(1, collection).bind(2, id);
  auto row = st.step();
  if (!row || !*row) {
    (void)st.reset();
    if (!row) return row.status();
    return std::optional<sync::RecordState>();
  }
  const std::string text = st.column_text(0);
  (void)st.reset();
  auto v = parse_json(text, "record state");
  if (!v) return v.status();
  auto state = sync::record_state_from_json(*v);
  if (!state) return Status(Code::storage, "corrupt record state: " + state.status().message());
  return std::optional<sync::RecordState>(std::move(*state));
}

Status save_with(crypto::Statement& st, const sync::CollectionSpec& spec, const std::string& id,
                 const sync::RecordState& state) {
  auto all = sync::conflicts(state, spec, spec.name, id);
  std::int64_t open = 0;
  for (const auto& c : all) open += c.open ? 1 : 0;
  const json::object fields = sync::materialize(state, spec);
  st.bind(1, spec.name)
      .bind(2, id)
      .bind(3, json::serialize(sync::to_json(state)))
      .bind(4, json::serialize(fields))
      .bind(5, std::int64_t{state.deleted() ? 1 : 0})
      .bind(6, open)
      .bind(7, static_cast<std::int64_t>(all.size()))
      .bind(8, sync::scope_item(spec.name, id, fields));
  Status s = st.run();
  if (!s) (void)st.reset();
  return s;
}

}  // namespace

Result<StateRows> StateRows::prepare(Database& db) {
  auto load = db.prepare(kLoadState);
  if (!load) return load.status();
  auto save = db.prepare(kSaveState);
  if (!save) return save.status();
  return StateRows(std::move(*load), std::move(*save));
}

Result<std::optional<sync::RecordState>> StateRows::load(const std::string& collection,
                                                         const std::string& id) {
  return load_with(load_, collection, id);
}

Status StateRows::save(const sync::CollectionSpec& spec, const std::string& id,
                       const sync::RecordState& state) {
  return save_with(save_, spec, id, state);
}

Result<std::optional<sync::RecordState>> load_state(Database& db, const std::string& collection,
                                                    const std::string& id) {
  auto st = db.prepare(kLoadState);
  if (!st) return st.status();
  return load_with(*st, collection, id);
}

Status save_state(Database& db, const sync::CollectionSpec& spec, const std::string& id,
                  const sync::RecordState& state) {
  auto st = db.prepare(kSaveState);
  if (!st) return st.status();
  return save_with(*st, spec, id, state);
}

Result<sync::Op> parse_op(const std::string& text) {
  auto v = parse_json(text, "outbox entry");
  if (!v) return v.status();
  auto op = sync::op_from_json(*v);
  if (!op) return Status(Code::storage, "corrupt outbox entry: " + op.status().message());
  return op;
}

}  // namespace fieldsync::client
