// The replica's side of scopes (replica.hpp): the scope table, purges and snapshots.
#include <set>
#include <string>
#include <vector>

#include "fieldsync/client/replica.hpp"
#include "fieldsync/crypto/database.hpp"
#include "fieldsync/sync/hlc.hpp"
#include "fieldsync/sync/ids.hpp"
#include "fieldsync/sync/scope.hpp"
#include "replica_rows.hpp"

namespace fieldsync::client {
using crypto::Database;

namespace {

Result<std::vector<std::string>> column_strings(Database& db, std::string_view sql) {
  auto st = db.prepare(sql);
  if (!st) return st.status();
  std::vector<std::string> out;
  for (;;) {
    auto row = st->step();
    if (!row) return row.status();
    if (!*row) return out;
    out.push_back(st->column_text(0));
  }
}

// Removes the records of `item`, except those with an operation still waiting to be pushed
// (the server decides on those; a refusal keeps them visible as rejected).
Result<std::size_t> purge(Database& db, const std::string& item) {
  auto st = db.prepare(
      "DELETE FROM records WHERE item = ?1 AND NOT EXISTS (SELECT 1 FROM outbox o WHERE "
      "o.status = 'pending' AND json_extract(o.op_json, '$.c') = records.collection AND "
      "json_extract(o.op_json, '$.r') = records.id)");
  if (!st) return st.status();
  if (Status s = st->bind(1, item).run(); !s) return s;
  return static_cast<std::size_t>(db.changes());
}

// The HoldingDigest of what the replica holds of `item` ("" when nothing).
Result<std::string> holding(Database& db, const std::string& item) {
  auto st = db.prepare(
      "SELECT collection, id, state_json FROM records WHERE item = ?1 ORDER BY collection, id");
  if (!st) return st.status();
  st->bind(1, item);
  sync::HoldingDigest d;
  for (;;) {
    auto row = st->step();
    if (!row) return row.status();
    if (!*row) break;
    auto v = parse_json(st->column_text(2), "record state");
    if (!v) return v.status();
    auto state = sync::record_state_from_json(*v);
    if (!state) return Status(Code::storage, "corrupt record state: " + state.status().message());
    d.add(st->column_text(0), st->column_text(1), *state);
  }
  return d.empty() ? std::string() : d.finish();
}

}  // namespace

std::string Replica::scope_digest() {
  // Empty matches nothing, so the server sends the whole scope: before the first scope frame
  // (a replica that synced before scopes holds records it must be told to drop), and when
  // the table cannot be read.
  if (!db_) return {};
  auto known = get_meta(*db_, "scope_known");
  if (!known || !*known) return {};
  // Only items fetched whole count: a gained item whose fetch was cut off makes the digest
  // differ, and the next session sends the whole scope again (and the fetch is redone).
  auto items = column_strings(*db_, "SELECT item FROM scope WHERE fetched = 1 ORDER BY item");
  return items ? sync::scope_digest(*items) : std::string();
}

Status Replica::mark_fetched(const std::vector<std::string>& items) {
  if (Status u = require_unlocked(); !u) return u;
  return crypto::in_transaction(*db_, [&]() -> Status {
    auto st = db_->prepare("UPDATE scope SET fetched = 1 WHERE item = ?1");
    if (!st) return st.status();
    for (const auto& item : items)
      if (Status s = st->bind(1, item).run(); !s) return s;
    return Status::ok();
  });
}

Result<sync::ScopeApplied> Replica::apply_scope(const sync::Scope& scope) {
  if (Status u = require_unlocked(); !u) return u;
  sync::ScopeApplied out;
  Status done = crypto::in_transaction(*db_, [&]() -> Status {
    auto add_item = db_->prepare(
        "INSERT INTO scope(item, fetched) VALUES (?1, 0) ON CONFLICT(item) DO UPDATE "
        "SET fetched = 0");
    auto drop_item = db_->prepare("DELETE FROM scope WHERE item = ?1");
    if (!add_item) return add_item.status();
    if (!drop_item) return drop_item.status();
    std::vector<std::string> removed = scope.remove;
    if (scope.full) {
      // Everything held outside the new set goes.
      std::set<std::string> keep(scope.add.begin(), scope.add.end());
      auto held = column_strings(
          *db_, "SELECT item FROM scope UNION SELECT DISTINCT item FROM records WHERE item <> ''");
      if (!held) return held.status();
      for (auto& i : *held)
        if (!keep.contains(i)) removed.push_back(std::move(i));
      if (Status s = db_->exec("DELETE FROM scope"); !s) return s;
    }
    for (const auto& item : removed) {
      if (Status s = drop_item->bind(1, item).run(); !s) return s;
      auto n = purge(*db_, item);
      if (!n) return n.status();
      out.purged += *n;
    }
    for (const auto& item : scope.add) {
      if (Status s = add_item->bind(1, item).run(); !s) return s;
      auto have = holding(*db_, item);
      if (!have) return have.status();
      out.fetch.push_back({item, std::move(*have)});
    }
    return set_meta(*db_, "scope_known", "1");
  });
  if (!done) return done;
  return out;
}

Status Replica::apply_snapshot(const std::vector<sync::SnapshotRecord>& records) {
  if (Status u = require_unlocked(); !u) return u;
  return crypto::in_transaction(*db_, [&]() -> Status {
    auto last = get_meta_hlc(*db_);
    if (!last) return last.status();
    sync::HlcClock clock(*last, options_.max_clock_ahead_ms);
    const std::int64_t physical = now();
    auto rows = StateRows::prepare(*db_);
    if (!rows) return rows.status();
    for (const auto& r : records) {
      const sync::CollectionSpec* spec = schema_->collection(r.collection);
      if (!spec)
        return Status(Code::unknown_collection, "cannot apply a snapshot of collection '" +
                                                    r.collection +
                                                    "'; this program's schema may be out of date");
      if (!sync::is_valid_record_id(r.id))
        return Status(Code::invalid_id, "a snapshot record has an invalid id");
      auto loaded = rows->load(r.collection, r.id);
      if (!loaded) return loaded.status();
      sync::RecordState state = loaded->value_or(sync::RecordState{});
      if (!sync::merge_state(state, r.state)) continue;
      for (const auto& [_, reg] : r.state.registers)
        for (const auto& w : reg.writes) (void)clock.observe(w.hlc, physical);
      if (Status s = rows->save(*spec, r.id, state); !s) return s;
    }
    return set_meta(*db_, "hlc", clock.last().to_string());
  });
}

}  // namespace fieldsync::client
