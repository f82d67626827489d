// Storage form of RecordState:
//   state := { "r": { FIELD: [ write* ] }, "s": { FIELD: { "a": { ELEMENT: [TAG*] },
//              "x": { ELEMENT: [TAG*] } } }, "d": [ delete* ] }
//   write := [ OP, HLC, DEVICE, USER, VALUE, [BASE*] ]
//   delete := [ OP, HLC, DEVICE, USER, [BASE*] ]
#include <algorithm>

#include <boost/json.hpp>

#include "fieldsync/sync/merge.hpp"

namespace fieldsync::sync {
namespace json = boost::json;
namespace {

template <typename C>
json::array strings(const C& c) {
  json::array a;
  for (const auto& s : c) a.emplace_back(s);
  return a;
}

Status bad() { return {Code::storage, "stored record state is malformed"}; }

bool read_strings(const json::value& v, std::vector<std::string>& out) {
  if (!v.is_array()) return false;
  for (const auto& e : v.get_array()) {
    if (!e.is_string()) return false;
    out.emplace_back(e.get_string());
  }
  return true;
}

bool read_meta(const json::array& a, std::size_t n, std::string& op, Hlc& hlc, std::string& device,
               std::string& user) {
  if (a.size() != n || !a[0].is_string() || !a[1].is_string() || !a[2].is_string() ||
      !a[3].is_string())
    return false;
  auto h = Hlc::parse(a[1].get_string());
  if (!h) return false;
  op = a[0].get_string();
  hlc = *h;
  device = a[2].get_string();
  user = a[3].get_string();
  return true;
}

}  // namespace

json::value to_json(const RecordState& state) {
  json::object regs;
  for (const auto& [name, reg] : state.registers) {
    json::array writes;
    for (const auto& w : reg.writes)
      writes.emplace_back(json::array{json::value(w.op), json::value(w.hlc.to_string()),
                                      json::value(w.device), json::value(w.user), w.value,
                                      strings(w.base)});
    regs[name] = std::move(writes);
  }
  json::object sets;
  for (const auto& [name, set] : state.sets) {
    json::object adds;
    json::object removed;
    for (const auto& [element, tags] : set.adds) adds[element] = strings(tags);
    for (const auto& [element, tags] : set.removed) removed[element] = strings(tags);
    sets[name] = json::object{{"a", std::move(adds)}, {"x", std::move(removed)}};
  }
  json::array dels;
  for (const auto& d : state.deletes)
    dels.emplace_back(json::array{json::value(d.op), json::value(d.hlc.to_string()),
                                  json::value(d.device), json::value(d.user), strings(d.base)});
  json::object o;
  o["r"] = std::move(regs);
  o["s"] = std::move(sets);
  o["d"] = std::move(dels);
  return o;
}

Result<RecordState> record_state_from_json(const json::value& v) {
  RecordState st;
  const json::object* o = v.if_object();
  if (!o) return bad();
  const json::object* regs = o->contains("r") ? o->at("r").if_object() : nullptr;
  const json::object* sets = o->contains("s") ? o->at("s").if_object() : nullptr;
  const json::array* dels = o->contains("d") ? o->at("d").if_array() : nullptr;
  if (!regs || !sets || !dels) return bad();
  for (const auto& [name, writes] : *regs) {
    if (!writes.is_array()) return bad();
    RegisterState& reg = st.registers[std::string(name)];
    for (const auto& wv : writes.get_array()) {
      const json::array* a = wv.if_array();
      WriteMeta w;
      if (!a || !read_meta(*a, 6, w.op, w.hlc, w.device, w.user) || !read_strings((*a)[5], w.base))
        return bad();
      w.value = (*a)[4];
      reg.writes.push_back(std::move(w));
    }
    std::sort(reg.writes.begin(), reg.writes.end(),
              [](const WriteMeta& a, const WriteMeta& b) { return a.op < b.op; });
  }
  for (const auto& [name, sv] : *sets) {
    const json::object* so = sv.if_object();
    if (!so || !so->contains("a") || !so->contains("x") || !so->at("a").is_object() ||
        !so->at("x").is_object())
      return bad();
    SetState& set = st.sets[std::string(name)];
    for (auto [key, dest] : {std::pair{"a", &set.adds}, {"x", &set.removed}}) {
      for (const auto& [element, tags] : so->at(key).get_object()) {
        std::vector<std::string> t;
        if (!read_strings(tags, t)) return bad();
        (*dest)[std::string(element)].insert(t.begin(), t.end());
      }
    }
  }
  for (const auto& dv : *dels) {
    const json::array* a = dv.if_array();
    DeleteMeta d;
    if (!a || !read_meta(*a, 5, d.op, d.hlc, d.device, d.user) || !read_strings((*a)[4], d.base))
      return bad();
    st.deletes.push_back(std::move(d));
  }
  std::sort(st.deletes.begin(), st.deletes.end(),
            [](const DeleteMeta& a, const DeleteMeta& b) { return a.op < b.op; });
  return st;
}

}  // namespace fieldsync::sync
