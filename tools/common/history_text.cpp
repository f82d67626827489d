// A record's history as text (contract in history_text.hpp).
#include "common/history_text.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "admin/output.hpp"

namespace fieldsync::tools {
namespace json = boost::json;
using admin::iso_utc_ms;
namespace {

// A value as compact JSON; "(none)" when absent.
std::string show(const json::value& v) { return v.is_null() ? "(none)" : json::serialize(v); }

// A device clock: the wall time, with the logical counter when it is not zero.
std::string device_time(const sync::Hlc& t) {
  std::string s = iso_utc_ms(t.wall_ms);
  if (t.logical != 0) s += "+" + std::to_string(t.logical);
  return s;
}

// The record's visible values after a step, rebuilt from the steps' changes.
void apply_changes(json::object& visible, const std::vector<sync::FieldChange>& changes) {
  for (const auto& c : changes) {
    if (c.new_value.is_null()) {
      visible.erase(c.field);
    } else {
      visible[c.field] = c.new_value;
    }
  }
}

bool set_has(const json::value* set, const json::value& element) {
  if (set == nullptr || !set->is_array()) return false;
  const json::array& a = set->get_array();
  return std::find(a.begin(), a.end(), element) != a.end();
}

// The line for a write the record does not show after its step, or "" when it is shown.
// `w` is encoded as in HistoryStep::written.
std::string unshown_write(const sync::FieldChange& w, const json::object& visible,
                          const sync::CollectionSpec& spec) {
  const json::value* now = visible.if_contains(w.field);
  const sync::FieldSpec* f = spec.field(w.field);
  if (f != nullptr && f->type == sync::FieldType::set) {
    if (!w.new_value.is_null()) {
      if (set_has(now, w.new_value)) return "";
      return "wrote " + w.field + " add " + show(w.new_value) + " (not shown)";
    }
    if (!set_has(now, w.old_value)) return "";
    return "wrote " + w.field + " remove " + show(w.old_value) +
           " (not shown: a concurrent add wins)";
  }
  if (now != nullptr && *now == w.new_value) return "";
  return "wrote " + w.field + " = " + show(w.new_value) + " (not shown: concurrent write lost)";
}

void print_step(std::ostream& out, const sync::HistoryStep& s, json::object& visible,
                const sync::CollectionSpec& spec) {
  out << "#" << s.seq << "  server " << iso_utc_ms(s.received_ms) << "  device "
      << device_time(s.hlc) << "  user " << s.user << "  device " << s.device << "  op " << s.op
      << "\n";
  apply_changes(visible, s.changes);
  for (const auto& c : s.changes)
    out << "  " << c.field << ": " << show(c.old_value) << " -> " << show(c.new_value) << "\n";
  for (const auto& w : s.written) {
    std::string line = unshown_write(w, visible, spec);
    if (!line.empty()) out << "  " << line << "\n";
  }
  if (s.deleted) out << "  deleted\n";
  for (const auto& f : s.conflicts) out << "  conflict on " << f << "\n";
}

std::string kind_name(sync::ConflictKind k) {
  return k == sync::ConflictKind::concurrent_edit ? "concurrent_edit" : "edit_vs_delete";
}

std::string resolution(const sync::Conflict& c, const sync::RecordHistory& h) {
  if (c.open) return "open for review";
  if (!c.resolved_by.empty()) {
    std::string text = "resolved by op " + c.resolved_by;
    for (const auto& s : h.steps)
      if (s.op == c.resolved_by)
        return text + " (user " + s.user + ", #" + std::to_string(s.seq) + ")";
    return text;
  }
  if (c.kind == sync::ConflictKind::edit_vs_delete)
    return "resolved automatically (the delete wins)";
  return "resolved automatically (last writer wins)";
}

void print_conflicts(std::ostream& out, const sync::RecordHistory& h) {
  if (h.conflicts.empty()) {
    out << "conflicts: none\n";
    return;
  }
  out << "conflicts:\n";
  for (const auto& c : h.conflicts) {
    out << "  " << c.field << " (" << kind_name(c.kind) << "): " << resolution(c, h) << "\n";
    for (const auto& v : c.competitors) {
      const bool is_delete = c.kind == sync::ConflictKind::edit_vs_delete && v.op == c.winner;
      out << "    user " << v.user << "  device " << v.device << "  "
          << (is_delete ? std::string("delete") : "value " + show(v.value)) << "  at "
          << device_time(v.hlc) << "  op " << v.op << (v.op == c.winner ? "  (shown)" : "") << "\n";
    }
  }
}

}  // namespace

void print_history(std::ostream& out, const sync::RecordHistory& history,
                   const sync::CollectionSpec& spec) {
  out << history.collection << "/" << history.id << "\n";
  json::object visible;
  for (const auto& s : history.steps) print_step(out, s, visible, spec);
  print_conflicts(out, history);
}

}  // namespace fieldsync::tools
