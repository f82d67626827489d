// Scope queries over the store's tables (store_scope.hpp; rules in scope.hpp).
#include "store_scope.hpp"

#include <algorithm>
#include <set>

#include <boost/json.hpp>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/scope.hpp"

namespace fieldsync::server::store_scope {
namespace json = boost::json;
namespace {

// Runs `sql` with `bind` applied and adds column 0 of every row to `out`.
template <typename Bind>
Status collect(crypto::Database& db, const char* sql, Bind&& bind, std::set<std::string>& out,
               std::string_view prefix = {}) {
  auto st = db.prepare(sql);
  if (!st) return st.status();
  bind(*st);
  for (;;) {
    auto row = st->step();
    if (!row) return row.status();
    if (!*row) return Status::ok();
    std::string v = st->column_text(0);
    if (!v.empty()) out.insert(std::string(prefix) + v);
  }
}

std::string json_list(const std::set<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return json::serialize(a);
}

}  // namespace

Result<ScopeSet> scope_of(crypto::Database& db, const Viewer& viewer) {
  ScopeSet out;
  if (viewer.role == Role::admin) {
    out.all = true;
    return out;
  }
  // One snapshot for every query below.
  if (Status s = db.exec("BEGIN"); !s) return s;
  auto result = [&]() -> Result<ScopeSet> {
    std::set<std::string> creators{viewer.user};
    std::set<std::string> cases;
    auto by_user = [&](crypto::Statement& st) { st.bind(1, viewer.user); };
    if (Status s = collect(db, "SELECT case_id FROM case_access WHERE user = ?1", by_user, cases);
        !s)
      return s;
    if (viewer.role == Role::lead) {
      auto by_team = [&](crypto::Statement& st) { st.bind(1, viewer.team); };
      if (Status s = collect(db,
                             "SELECT ca.case_id FROM case_access ca JOIN users u ON u.name = "
                             "ca.user WHERE ca.kind = 'owner' AND u.team = ?1",
                             by_team, cases);
          !s)
        return s;
      if (Status s = collect(db, "SELECT name FROM users WHERE team = ?1", by_team, creators); !s)
        return s;
    }
    std::set<std::string> items;
    for (const auto& c : cases) items.insert(sync::case_item(c));
    // Clients: those a visible case refers to, and those the creators made.
    const std::string case_list = json_list(cases);
    const std::string creator_list = json_list(creators);
    if (Status s = collect(
            db,
            "SELECT k.id FROM records c JOIN records k ON k.collection = 'clients' AND k.id = "
            "json_extract(c.fields_json, '$.client_id') WHERE c.collection = 'cases' AND c.id IN "
            "(SELECT value FROM json_each(?1))",
            [&](crypto::Statement& st) { st.bind(1, case_list); }, items, sync::kClientItemPrefix);
        !s)
      return s;
    if (Status s = collect(
            db,
            "SELECT id FROM records WHERE collection = 'clients' AND created_by IN "
            "(SELECT value FROM json_each(?1))",
            [&](crypto::Statement& st) { st.bind(1, creator_list); }, items,
            sync::kClientItemPrefix);
        !s)
      return s;
    out.items.assign(items.begin(), items.end());
    out.creators.assign(creators.begin(), creators.end());
    return out;
  }();
  (void)db.exec(result ? "COMMIT" : "ROLLBACK");
  return result;
}

Result<std::vector<std::vector<sync::SnapshotRecord>>> read_items(
    crypto::Database& db, const std::vector<std::string>& items) {
  auto st = db.prepare(
      "SELECT collection, id, state_json FROM records WHERE scope_item = ?1 ORDER BY collection, "
      "id");
  if (!st) return st.status();
  if (Status s = db.exec("BEGIN"); !s) return s;
  auto result = [&]() -> Result<std::vector<std::vector<sync::SnapshotRecord>>> {
    std::vector<std::vector<sync::SnapshotRecord>> out;
    out.reserve(items.size());
    for (const auto& item : items) {
      auto& records = out.emplace_back();
      (void)st->reset();
      st->bind(1, item);
      for (;;) {
        auto row = st->step();
        if (!row) return row.status();
        if (!*row) break;
        boost::system::error_code ec;
        json::value v = json::parse(st->column_text(2), ec);
        auto state = ec ? Result<sync::RecordState>(Status(Code::storage, "bad state"))
                        : sync::record_state_from_json(v);
        if (!state) return Status(Code::storage, "store holds an unreadable record state");
        records.push_back({st->column_text(0), st->column_text(1), std::move(*state)});
      }
    }
    return out;
  }();
  (void)st->reset();
  (void)db.exec(result ? "COMMIT" : "ROLLBACK");
  return result;
}

Result<std::vector<RecordRow>> list_records(crypto::Database& db, const std::string& collection,
                                            const ScopeSet* scope, bool with_state) {
  auto st = db.prepare(
      with_state ? "SELECT id, fields_json, scope_item, created_by, state_json FROM records "
                   "WHERE collection = ?1 AND deleted = 0 ORDER BY id"
                 : "SELECT id, fields_json, scope_item, created_by FROM records "
                   "WHERE collection = ?1 AND deleted = 0 ORDER BY id");
  if (!st) return st.status();
  st->bind(1, collection);
  std::vector<RecordRow> out;
  for (;;) {
    auto row = st->step();
    if (!row) return row.status();
    if (!*row) break;
    if (scope && !scope->all &&
        !scope->sees(sync::EntryScope{st->column_text(2), st->column_text(3), false}))
      continue;
    RecordRow r;
    r.collection = collection;
    r.id = st->column_text(0);
    boost::system::error_code ec;
    json::value fields = json::parse(st->column_text(1), ec);
    if (ec || !fields.is_object()) return Status(Code::storage, "store holds unreadable fields");
    r.fields = std::move(fields.get_object());
    if (with_state) {
      json::value v = json::parse(st->column_text(4), ec);
      auto state = ec ? Result<sync::RecordState>(Status(Code::storage, "bad state"))
                      : sync::record_state_from_json(v);
      if (!state) return Status(Code::storage, "store holds an unreadable record state");
      r.state = std::move(*state);
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace fieldsync::server::store_scope
