// The merge rules of merge.hpp: applying operations to record state and reading the value.
#include "fieldsync/sync/merge.hpp"

#include <algorithm>
#include <set>
#include <tuple>

#include <boost/json/array.hpp>

namespace fieldsync::sync {
namespace json = boost::json;
namespace {

// The total order that picks a winner among concurrent writes.
bool ranks_below(const WriteMeta& a, const WriteMeta& b) {
  return std::tie(a.hlc, a.device, a.op) < std::tie(b.hlc, b.device, b.op);
}

template <typename T>
bool insert_sorted_by_op(std::vector<T>& v, T item) {
  auto it = std::lower_bound(v.begin(), v.end(), item.op,
                             [](const T& e, const std::string& op) { return e.op < op; });
  if (it != v.end() && it->op == item.op) return false;
  v.insert(it, std::move(item));
  return true;
}

bool apply_write(RecordState& state, const Op& op, const FieldWrite& w, const FieldSpec& f) {
  if (f.type == FieldType::set) {
    SetState& set = state.sets[w.field];
    const std::string element(w.value.is_string() ? w.value.get_string() : "");
    if (w.kind == WriteKind::add) return set.adds[element].insert(op.id).second;
    bool changed = false;
    if (w.base.empty()) return false;
    auto& removed = set.removed[element];
    for (const auto& tag : w.base) changed |= removed.insert(tag).second;
    return changed;
  }
  WriteMeta meta{op.id, op.hlc, op.device, op.user, w.value, w.base};
  std::sort(meta.base.begin(), meta.base.end());
  return insert_sorted_by_op(state.registers[w.field].writes, std::move(meta));
}

}  // namespace

bool apply(RecordState& state, const Op& op, const CollectionSpec& spec) {
  if (op.kind == OpKind::del) {
    DeleteMeta d{op.id, op.hlc, op.device, op.user, op.del_base};
    std::sort(d.base.begin(), d.base.end());
    return insert_sorted_by_op(state.deletes, std::move(d));
  }
  bool changed = false;
  for (const auto& w : op.writes) {
    const FieldSpec* f = spec.field(w.field);
    if (!f) continue;  // validated before; a field unknown here is ignored, never fatal
    changed |= apply_write(state, op, w, *f);
  }
  return changed;
}

bool merge_state(RecordState& state, const RecordState& from) {
  bool changed = false;
  for (const auto& [name, reg] : from.registers) {
    auto& into = state.registers[name].writes;
    for (const auto& w : reg.writes) changed |= insert_sorted_by_op(into, w);
  }
  for (const auto& [name, set] : from.sets) {
    SetState& into = state.sets[name];
    for (const auto& [element, tags] : set.adds)
      for (const auto& t : tags) changed |= into.adds[element].insert(t).second;
    for (const auto& [element, tags] : set.removed)
      for (const auto& t : tags) changed |= into.removed[element].insert(t).second;
  }
  for (const auto& d : from.deletes) changed |= insert_sorted_by_op(state.deletes, d);
  return changed;
}

std::vector<const WriteMeta*> heads(const RegisterState& reg) {
  std::set<std::string_view> superseded;
  for (const auto& w : reg.writes)
    for (const auto& b : w.base) superseded.insert(b);
  std::vector<const WriteMeta*> out;
  for (const auto& w : reg.writes)
    if (!superseded.contains(w.op)) out.push_back(&w);
  return out;
}

const WriteMeta* winner(const RegisterState& reg, MergePolicy policy) {
  if (reg.writes.empty()) return nullptr;
  if (policy == MergePolicy::write_once) {
    return &*std::min_element(reg.writes.begin(), reg.writes.end(), ranks_below);
  }
  auto h = heads(reg);
  if (h.empty()) return nullptr;  // only possible with a cycle of bases: forged input
  return *std::max_element(h.begin(), h.end(), [](const WriteMeta* a, const WriteMeta* b) {
    return ranks_below(*a, *b);
  });
}

std::vector<std::string> edit_base(const RegisterState& reg, MergePolicy policy) {
  std::vector<std::string> base;
  if (policy == MergePolicy::register_review) {
    if (const WriteMeta* win = winner(reg, policy)) base.push_back(win->op);
  } else {
    for (const WriteMeta* h : heads(reg)) base.push_back(h->op);
  }
  return base;
}

std::vector<std::string> live_tags(const SetState& set, const std::string& element) {
  std::vector<std::string> out;
  auto it = set.adds.find(element);
  if (it == set.adds.end()) return out;
  auto rm = set.removed.find(element);
  for (const auto& tag : it->second)
    if (rm == set.removed.end() || !rm->second.contains(tag)) out.push_back(tag);
  return out;
}

std::vector<std::string> all_write_ids(const RecordState& state) {
  std::set<std::string> ids;
  for (const auto& [name, reg] : state.registers)
    for (const auto& w : reg.writes) ids.insert(w.op);
  for (const auto& [name, set] : state.sets)
    for (const auto& [element, tags] : set.adds) ids.insert(tags.begin(), tags.end());
  return {ids.begin(), ids.end()};
}

json::object materialize(const RecordState& state, const CollectionSpec& spec) {
  // std::map iteration gives field names in sorted order.
  std::map<std::string, json::value> fields;
  for (const auto& [name, reg] : state.registers) {
    const FieldSpec* f = spec.field(name);
    if (!f) continue;
    if (const WriteMeta* w = winner(reg, f->policy)) fields[name] = w->value;
  }
  for (const auto& [name, set] : state.sets) {
    json::array values;
    for (const auto& [element, tags] : set.adds)  // sorted by element
      if (!live_tags(set, element).empty()) values.emplace_back(element);
    fields[name] = std::move(values);
  }
  json::object out;
  out.reserve(fields.size());
  for (auto& [name, value] : fields) out[name] = std::move(value);
  return out;
}

}  // namespace fieldsync::sync
