// Operations: JSON form (grammar in op.hpp) and schema validation.
#include "fieldsync/sync/op.hpp"

#include <boost/json.hpp>

#include "fieldsync/sync/ids.hpp"

namespace fieldsync::sync {
namespace json = boost::json;
namespace {

std::string_view kind_name(WriteKind k) {
  switch (k) {
    case WriteKind::set:
      return "set";
    case WriteKind::add:
      return "add";
    case WriteKind::remove:
      return "rem";
  }
  return "set";
}

json::array string_array(const std::vector<std::string>& v) {
  json::array a;
  a.reserve(v.size());
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

Status bad(const std::string& what) { return {Code::malformed_frame, "operation: " + what}; }

// Reads a required string member.
Result<std::string> get_string(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string())
    return bad("'" + std::string(key) + "' must be a string");
  return std::string(it->value().get_string());
}

Result<std::vector<std::string>> get_strings(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  auto it = o.find(key);
  if (it == o.end()) return out;
  if (!it->value().is_array()) return bad("'" + std::string(key) + "' must be an array");
  for (const auto& e : it->value().get_array()) {
    if (!e.is_string()) return bad("'" + std::string(key) + "' must hold strings");
    out.emplace_back(e.get_string());
  }
  return out;
}

Result<FieldWrite> write_from_json(const json::value& v) {
  if (!v.is_object()) return bad("a write must be an object");
  const auto& o = v.get_object();
  FieldWrite w;
  auto field = get_string(o, "f");
  if (!field) return field.status();
  w.field = std::move(*field);
  auto kind = get_string(o, "x");
  if (!kind) return kind.status();
  if (*kind == "set")
    w.kind = WriteKind::set;
  else if (*kind == "add")
    w.kind = WriteKind::add;
  else if (*kind == "rem")
    w.kind = WriteKind::remove;
  else
    return bad("unknown write kind '" + *kind + "'");
  auto it = o.find("v");
  if (it == o.end()) return bad("a write needs a value 'v'");
  w.value = it->value();
  auto base = get_strings(o, "b");
  if (!base) return base.status();
  w.base = std::move(*base);
  return w;
}

}  // namespace

json::value to_json(const Op& op) {
  json::object o;
  o["id"] = op.id;
  o["device"] = op.device;
  o["user"] = op.user;
  o["hlc"] = op.hlc.to_string();
  o["c"] = op.collection;
  o["r"] = op.record;
  o["k"] = op.kind == OpKind::put ? "put" : "del";
  if (op.kind == OpKind::put) {
    json::array writes;
    writes.reserve(op.writes.size());
    for (const auto& w : op.writes) {
      json::object wo;
      wo["f"] = w.field;
      wo["x"] = kind_name(w.kind);
      wo["v"] = w.value;
      if (!w.base.empty()) wo["b"] = string_array(w.base);
      writes.emplace_back(std::move(wo));
    }
    o["w"] = std::move(writes);
  } else {
    o["del_base"] = string_array(op.del_base);
  }
  return o;
}

Result<Op> op_from_json(const json::value& v) {
  if (!v.is_object()) return bad("must be an object");
  const auto& o = v.get_object();
  Op op;
  for (auto [key, dest] : {std::pair{"id", &op.id},
                           {"device", &op.device},
                           {"user", &op.user},
                           {"c", &op.collection},
                           {"r", &op.record}}) {
    auto s = get_string(o, key);
    if (!s) return s.status();
    *dest = std::move(*s);
  }
  auto hlc_text = get_string(o, "hlc");
  if (!hlc_text) return hlc_text.status();
  auto hlc = Hlc::parse(*hlc_text);
  if (!hlc) return bad("'hlc' is not a clock value");
  op.hlc = *hlc;
  auto kind = get_string(o, "k");
  if (!kind) return kind.status();
  if (*kind == "put") {
    op.kind = OpKind::put;
    auto it = o.find("w");
    if (it == o.end() || !it->value().is_array()) return bad("'w' must be an array");
    for (const auto& wv : it->value().get_array()) {
      auto w = write_from_json(wv);
      if (!w) return w.status();
      op.writes.push_back(std::move(*w));
    }
  } else if (*kind == "del") {
    op.kind = OpKind::del;
    auto base = get_strings(o, "del_base");
    if (!base) return base.status();
    op.del_base = std::move(*base);
  } else {
    return bad("unknown kind '" + *kind + "'");
  }
  return op;
}

Status validate(const Op& op, const Schema& schema) {
  auto parsed = parse_op_id(op.id);
  if (!parsed || parsed->first != op.device)
    return {Code::invalid_id, "operation id '" + op.id + "' is not <device>.<counter>"};
  if (op.user.empty() || op.user.size() > 64)
    return {Code::invalid_argument, "operation " + op.id + " has no valid user"};
  const CollectionSpec* c = schema.collection(op.collection);
  if (!c) return {Code::unknown_collection, "unknown collection '" + op.collection + "'"};
  if (!is_valid_record_id(op.record))
    return {Code::invalid_id,
            "record id '" + op.record + "' must be 1-64 characters of A-Za-z0-9._-"};
  if (op.kind == OpKind::del) {
    if (c->append_only)
      return {Code::append_only, op.collection + " records are append-only and cannot be deleted"};
    return Status::ok();
  }
  if (op.writes.empty()) return {Code::invalid_argument, "operation " + op.id + " changes nothing"};
  for (std::size_t i = 0; i < op.writes.size(); ++i) {
    const FieldWrite& w = op.writes[i];
    for (std::size_t j = 0; j < i; ++j)
      if (op.writes[j].field == w.field && w.kind == WriteKind::set)
        return {Code::invalid_argument, "field '" + w.field + "' is set twice in one operation"};
    const FieldSpec* f = c->field(w.field);
    if (!f) return {Code::unknown_field, op.collection + " has no field '" + w.field + "'"};
    bool is_set = f->type == FieldType::set;
    if (is_set && w.kind == WriteKind::set)
      return {Code::wrong_type, op.collection + "." + w.field +
                                    " is a set: add (field+=value) or remove (field-=value)"};
    if (!is_set && w.kind != WriteKind::set)
      return {Code::wrong_type, op.collection + "." + w.field + " is not a set"};
    if (Status s = schema.check_value(*c, *f, w.value); !s) return s;
    if (w.base.size() > 64)
      return {Code::invalid_argument, "write base of '" + w.field + "' is too long"};
  }
  return Status::ok();
}

}  // namespace fieldsync::sync
