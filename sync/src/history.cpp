// A record's field-by-field history (history.hpp): the merge replayed op by op, comparing the
// visible value, the heads of each register and the edit_vs_delete conflicts before and after.
#include "fieldsync/sync/history.hpp"

#include <map>
#include <set>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace fieldsync::sync {
namespace json = boost::json;
namespace {

// What a step compares before and after applying its op.
struct Snapshot {
  json::object visible;
  std::map<std::string, std::size_t> heads;               // register field -> number of heads
  std::set<std::pair<std::string, std::string>> deletes;  // edit_vs_delete: (field, edit op)
};

Snapshot snapshot(const RecordState& state, const CollectionSpec& spec,
                  const std::string& collection, const std::string& id) {
  Snapshot s{materialize(state, spec), {}, {}};
  for (const auto& [name, reg] : state.registers) {
    const FieldSpec* f = spec.field(name);
    if (f && f->policy != MergePolicy::write_once) s.heads[name] = heads(reg).size();
  }
  if (state.deleted()) {
    for (const auto& c : conflicts(state, spec, collection, id)) {
      if (c.kind != ConflictKind::edit_vs_delete) continue;
      for (const auto& v : c.competitors)
        if (v.op != c.winner) s.deletes.emplace(c.field, v.op);
    }
  }
  return s;
}

json::value field_or_null(const json::object& o, const std::string& field) {
  const json::value* v = o.if_contains(field);
  return v ? *v : json::value(nullptr);
}

std::vector<FieldChange> visible_changes(const json::object& before, const json::object& after) {
  std::set<std::string> fields;
  for (const auto& kv : before) fields.emplace(kv.key());
  for (const auto& kv : after) fields.emplace(kv.key());
  std::vector<FieldChange> out;
  for (const auto& f : fields) {
    json::value old_value = field_or_null(before, f);
    json::value new_value = field_or_null(after, f);
    if (old_value != new_value) out.push_back({f, std::move(old_value), std::move(new_value)});
  }
  return out;
}

std::vector<FieldChange> written_by(const Op& op) {
  std::vector<FieldChange> out;
  if (op.kind == OpKind::del) return out;
  for (const auto& w : op.writes) {
    if (w.kind == WriteKind::remove) {
      out.push_back({w.field, w.value, nullptr});
    } else {
      out.push_back({w.field, nullptr, w.value});
    }
  }
  return out;
}

std::vector<std::string> new_conflicts(const Snapshot& before, const Snapshot& after) {
  std::set<std::string> fields;
  for (const auto& [name, n] : after.heads) {
    auto it = before.heads.find(name);
    const std::size_t was = it == before.heads.end() ? 0 : it->second;
    if (n >= 2 && n > was) fields.insert(name);
  }
  for (const auto& key : after.deletes)
    if (!before.deletes.contains(key)) fields.insert(key.first);
  return {fields.begin(), fields.end()};
}

json::value to_json(const FieldChange& c) {
  return json::object{{"field", c.field}, {"old", c.old_value}, {"new", c.new_value}};
}

json::array to_json(const std::vector<FieldChange>& v) {
  json::array a;
  a.reserve(v.size());
  for (const auto& c : v) a.push_back(to_json(c));
  return a;
}

json::value to_json(const HistoryStep& s) {
  json::array conflicts;
  for (const auto& f : s.conflicts) conflicts.emplace_back(f);
  return json::object{
      {"seq", s.seq},
      {"op", s.op},
      {"user", s.user},
      {"device", s.device},
      {"hlc", json::object{{"wall_ms", s.hlc.wall_ms}, {"logical", s.hlc.logical}}},
      {"received_ms", s.received_ms},
      {"deleted", s.deleted},
      {"changes", to_json(s.changes)},
      {"written", to_json(s.written)},
      {"conflicts", std::move(conflicts)},
  };
}

}  // namespace

RecordHistory record_history(const std::string& collection, const std::string& id,
                             const std::vector<HistoryEntry>& entries, const CollectionSpec& spec) {
  RecordHistory out{collection, id, {}, {}};
  out.steps.reserve(entries.size());
  RecordState state;
  Snapshot before = snapshot(state, spec, collection, id);
  for (const auto& e : entries) {
    apply(state, e.op, spec);
    Snapshot after = snapshot(state, spec, collection, id);
    HistoryStep step;
    step.seq = e.seq;
    step.op = e.op.id;
    step.user = e.op.user;
    step.device = e.op.device;
    step.hlc = e.op.hlc;
    step.received_ms = e.received_ms;
    step.deleted = e.op.kind == OpKind::del;
    step.changes = visible_changes(before.visible, after.visible);
    step.written = written_by(e.op);
    step.conflicts = new_conflicts(before, after);
    out.steps.push_back(std::move(step));
    before = std::move(after);
  }
  out.conflicts = conflicts(state, spec, collection, id);
  return out;
}

json::value to_json(const RecordHistory& history) {
  json::array steps;
  steps.reserve(history.steps.size());
  for (const auto& s : history.steps) steps.push_back(to_json(s));
  json::array conflicts;
  conflicts.reserve(history.conflicts.size());
  for (const auto& c : history.conflicts) conflicts.push_back(to_json(c));
  return json::object{{"collection", history.collection},
                      {"id", history.id},
                      {"steps", std::move(steps)},
                      {"conflicts", std::move(conflicts)}};
}

}  // namespace fieldsync::sync
