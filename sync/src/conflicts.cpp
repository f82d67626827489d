// Conflict records derived from a record's state (rules in merge.hpp). Derived, not stored:
// every replica holding the same writes lists the same conflicts.
#include <algorithm>
#include <set>

#include <boost/json/array.hpp>

#include "fieldsync/sync/merge.hpp"

namespace fieldsync::sync {
namespace json = boost::json;
namespace {

Competitor competitor(const WriteMeta& w) { return {w.op, w.value, w.user, w.device, w.hlc}; }

const WriteMeta* best(const std::vector<const WriteMeta*>& ws) {
  return *std::max_element(ws.begin(), ws.end(), [](const WriteMeta* a, const WriteMeta* b) {
    return std::tie(a->hlc, a->device, a->op) < std::tie(b->hlc, b->device, b->op);
  });
}

Conflict make(const std::string& collection, const std::string& record, const std::string& field,
              const std::vector<const WriteMeta*>& ws) {
  Conflict c{collection, record, field, ConflictKind::concurrent_edit, {}, best(ws)->op, false, {}};
  for (const WriteMeta* w : ws) c.competitors.push_back(competitor(*w));
  return c;
}

void register_conflicts(const RegisterState& reg, const FieldSpec& f, const std::string& collection,
                        const std::string& record, std::vector<Conflict>& out) {
  if (f.policy == MergePolicy::write_once) return;
  auto find = [&](const std::string& op) -> const WriteMeta* {
    auto it = std::lower_bound(reg.writes.begin(), reg.writes.end(), op,
                               [](const WriteMeta& w, const std::string& id) { return w.op < id; });
    return it != reg.writes.end() && it->op == op ? &*it : nullptr;
  };
  // Conflicts closed by a write that named several versions as its base.
  for (const auto& w : reg.writes) {
    if (w.base.size() < 2) continue;
    std::vector<const WriteMeta*> closed;
    for (const auto& b : w.base)
      if (const WriteMeta* m = find(b)) closed.push_back(m);
    if (closed.size() < 2) continue;
    Conflict c = make(collection, record, f.name, closed);
    c.resolved_by = w.op;
    out.push_back(std::move(c));
  }
  // The conflict standing now.
  auto h = heads(reg);
  if (h.size() >= 2) {
    Conflict c = make(collection, record, f.name, h);
    c.open = f.policy == MergePolicy::register_review;
    out.push_back(std::move(c));
  }
}

// Edits the delete did not see: kept as edit_vs_delete records, the delete winning.
void delete_conflicts(const RecordState& state, const CollectionSpec& spec,
                      const std::string& collection, const std::string& record,
                      std::vector<Conflict>& out) {
  std::set<std::string_view> seen;
  for (const auto& d : state.deletes) seen.insert(d.base.begin(), d.base.end());
  const DeleteMeta& del = state.deletes.front();
  for (const auto& [name, reg] : state.registers) {
    const FieldSpec* f = spec.field(name);
    if (!f) continue;
    for (const WriteMeta* w : heads(reg)) {
      if (seen.contains(w->op)) continue;
      Conflict c{collection, record, name, ConflictKind::edit_vs_delete, {}, del.op, false, {}};
      c.competitors.push_back(competitor(*w));
      c.competitors.push_back({del.op, nullptr, del.user, del.device, del.hlc});
      std::sort(c.competitors.begin(), c.competitors.end(),
                [](const Competitor& a, const Competitor& b) { return a.op < b.op; });
      out.push_back(std::move(c));
    }
  }
}

std::string_view kind_name(ConflictKind k) {
  return k == ConflictKind::concurrent_edit ? "concurrent_edit" : "edit_vs_delete";
}

}  // namespace

std::vector<Conflict> conflicts(const RecordState& state, const CollectionSpec& spec,
                                const std::string& collection, const std::string& record) {
  std::vector<Conflict> out;
  for (const auto& [name, reg] : state.registers) {
    if (const FieldSpec* f = spec.field(name)) register_conflicts(reg, *f, collection, record, out);
  }
  if (state.deleted()) delete_conflicts(state, spec, collection, record, out);
  return out;
}

json::value to_json(const Conflict& c) {
  json::object o;
  o["collection"] = c.collection;
  o["id"] = c.record;
  o["field"] = c.field;
  o["kind"] = kind_name(c.kind);
  json::array values;
  json::value winner_value;
  for (const auto& v : c.competitors) {
    json::object e;
    e["op"] = v.op;
    e["value"] = v.value;
    e["user"] = v.user;
    e["device"] = v.device;
    e["hlc"] = v.hlc.to_string();
    values.emplace_back(std::move(e));
    if (v.op == c.winner) winner_value = v.value;
  }
  o["values"] = std::move(values);
  o["winner"] = c.winner;
  o["winner_value"] = winner_value;
  o["status"] = c.open ? "open" : "resolved";
  if (!c.resolved_by.empty()) o["resolved_by"] = c.resolved_by;
  return o;
}

}  // namespace fieldsync::sync
