// The wire codec (frame grammar in wire.hpp).
#include "fieldsync/sync/wire.hpp"

#include <algorithm>

#include <boost/json.hpp>

#include "fieldsync/sync/scope.hpp"

#include <limits>

namespace fieldsync::sync {
namespace json = boost::json;
namespace {

Status malformed(std::string what) { return {Code::malformed_frame, std::move(what)}; }

json::object envelope(std::string_view type) {
  json::object o;
  o["v"] = kProtocolVersion;
  o["t"] = type;
  return o;
}

json::value encode_result(const OpResult& r) {
  json::object o;
  o["op"] = r.op;
  o["s"] = op_status_name(r.status);
  if (r.status != OpStatus::rejected) o["seq"] = r.seq;
  if (r.skewed) o["skewed"] = true;
  if (r.status == OpStatus::rejected) {
    o["code"] = code_name(r.code);
    o["reason"] = r.reason;
  }
  return o;
}

json::value encode_entry(const LogEntry& e) {
  json::object o;
  o["seq"] = e.seq;
  o["op"] = to_json(e.op);
  if (e.skewed) o["skewed"] = true;
  return o;
}

json::array strings(const std::vector<std::string>& v) {
  json::array a;
  a.reserve(v.size());
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

struct Encoder {
  json::object operator()(const Hello& m) const {
    json::object o = envelope("hello");
    o["v"] = m.version;
    o["device"] = m.device;
    o["user"] = m.user;
    o["cursor"] = m.cursor;
    o["schema"] = m.schema;
    if (!m.scope.empty()) o["scope"] = m.scope;
    return o;
  }
  json::object operator()(const Welcome& m) const {
    json::object o = envelope("welcome");
    o["head"] = m.head;
    o["server_ms"] = m.server_ms;
    if (!m.user.empty()) o["user"] = m.user;
    if (!m.role.empty()) o["role"] = m.role;
    if (m.wipe) o["wipe"] = true;
    if (m.scoped) o["scoped"] = true;
    if (!m.epoch.empty()) o["epoch"] = m.epoch;
    if (m.epoch_base != 0) o["epoch_base"] = m.epoch_base;
    if (m.fetch_window > 1) o["fetch_window"] = m.fetch_window;
    if (m.server_digests) o["server_digests"] = true;
    if (m.lease.sync_within_ms > 0 || m.lease.wipe_after_ms > 0)
      o["lease"] = {{"sync_within_ms", m.lease.sync_within_ms},
                    {"wipe_after_ms", m.lease.wipe_after_ms}};
    return o;
  }
  json::object operator()(const Challenge& m) const {
    json::object o = envelope("challenge");
    o["nonce"] = m.nonce;
    o["server_ms"] = m.server_ms;
    if (m.bound) o["bound"] = true;
    return o;
  }
  json::object operator()(const Auth& m) const {
    json::object o = envelope("auth");
    o["signature"] = m.signature;
    return o;
  }
  json::object operator()(const Enroll& m) const {
    json::object o = envelope("enroll");
    o["v"] = m.version;
    o["device"] = m.device;
    o["public_key"] = m.public_key;
    o["code"] = m.code;
    return o;
  }
  json::object operator()(const Enrolled& m) const {
    json::object o = envelope("enrolled");
    o["user"] = m.user;
    o["role"] = m.role;
    return o;
  }
  json::object operator()(const Push& m) const {
    json::object o = envelope("push");
    o["batch"] = m.batch;
    json::array ops;
    ops.reserve(m.ops.size());
    for (const auto& op : m.ops) ops.push_back(to_json(op));
    o["ops"] = std::move(ops);
    if (m.chain) {
      json::object chain{{"prev", m.chain->prev}, {"sig", m.chain->signature}};
      if (!m.chain->digests.empty()) chain["d"] = strings(m.chain->digests);
      o["chain"] = std::move(chain);
    }
    return o;
  }
  json::object operator()(const Ack& m) const {
    json::object o = envelope("ack");
    o["batch"] = m.batch;
    json::array rs;
    rs.reserve(m.results.size());
    for (const auto& r : m.results) rs.push_back(encode_result(r));
    o["results"] = std::move(rs);
    return o;
  }
  json::object operator()(const Pull& m) const {
    json::object o = envelope("pull");
    o["cursor"] = m.cursor;
    o["limit"] = m.limit;
    return o;
  }
  json::object operator()(const Changes& m) const {
    json::object o = envelope("changes");
    json::array es;
    es.reserve(m.entries.size());
    for (const auto& e : m.entries) es.push_back(encode_entry(e));
    o["entries"] = std::move(es);
    o["cursor"] = m.cursor;
    o["more"] = m.more;
    o["live"] = m.live;
    return o;
  }
  json::object operator()(const Scope& m) const {
    json::object o = envelope("scope");
    o["full"] = m.full;
    o["add"] = strings(m.add);
    o["remove"] = strings(m.remove);
    o["digest"] = m.digest;
    return o;
  }
  json::object operator()(const Fetch& m) const {
    json::object o = envelope("fetch");
    json::array items;
    items.reserve(m.items.size());
    for (const auto& i : m.items) items.push_back(json::object{{"item", i.item}, {"have", i.have}});
    o["items"] = std::move(items);
    return o;
  }
  json::object operator()(const Snapshot& m) const {
    json::object o = envelope("snapshot");
    json::array rs;
    rs.reserve(m.records.size());
    for (const auto& r : m.records)
      rs.push_back(
          json::object{{"collection", r.collection}, {"id", r.id}, {"state", to_json(r.state)}});
    o["records"] = std::move(rs);
    o["more"] = m.more;
    return o;
  }
  json::object operator()(const Reads& m) const {
    json::object o = envelope("reads");
    o["batch"] = m.batch;
    json::array es;
    es.reserve(m.events.size());
    for (const auto& e : m.events)
      es.push_back(json::object{{"c", e.collection}, {"r", e.id}, {"at", e.at_ms}});
    o["events"] = std::move(es);
    return o;
  }
  json::object operator()(const Noted& m) const {
    json::object o = envelope("noted");
    o["batch"] = m.batch;
    return o;
  }
  json::object operator()(const HistoryRequest& m) const {
    json::object o = envelope("history");
    o["c"] = m.collection;
    o["r"] = m.id;
    return o;
  }
  json::object operator()(const HistoryLog& m) const {
    json::object o = envelope("history_log");
    o["c"] = m.collection;
    o["r"] = m.id;
    json::array es;
    es.reserve(m.entries.size());
    for (const auto& e : m.entries)
      es.push_back(json::object{{"seq", e.seq}, {"op", to_json(e.op)}, {"at", e.received_ms}});
    o["entries"] = std::move(es);
    o["more"] = m.more;
    return o;
  }
  json::object operator()(const Error& m) const {
    json::object o = envelope("error");
    o["code"] = code_name(m.code);
    o["message"] = m.message;
    o["fatal"] = m.fatal;
    return o;
  }
};

// Typed member access that records the first problem.
class Reader {
 public:
  explicit Reader(const json::object& o) : o_(o) {}
  std::uint64_t u64(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    if (v && v->is_uint64()) return v->get_uint64();
    if (v && v->is_int64() && v->get_int64() >= 0)
      return static_cast<std::uint64_t>(v->get_int64());
    fail(key, "a non-negative integer");
    return 0;
  }
  std::int64_t i64(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    if (v && v->is_int64()) return v->get_int64();
    if (v && v->is_uint64() && v->get_uint64() <= std::numeric_limits<std::int64_t>::max())
      return static_cast<std::int64_t>(v->get_uint64());
    fail(key, "an integer");
    return 0;
  }
  std::string str_or(std::string_view key, std::string fallback) {
    if (!o_.if_contains(key)) return fallback;
    return str(key);
  }
  std::string str(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    if (v && v->is_string()) return std::string(v->get_string());
    fail(key, "a string");
    return {};
  }
  bool boolean(std::string_view key, bool fallback) {
    const json::value* v = o_.if_contains(key);
    if (!v) return fallback;
    if (v->is_bool()) return v->get_bool();
    fail(key, "true or false");
    return fallback;
  }
  // An optional member (nullptr when absent).
  const json::value* object_member(std::string_view key) { return o_.if_contains(key); }
  const json::array* array(std::string_view key) {
    const json::value* v = o_.if_contains(key);
    if (v && v->is_array()) return &v->get_array();
    fail(key, "an array");
    return nullptr;
  }
  void fail(std::string_view key, std::string_view want) {
    if (error_.is_ok())
      error_ = malformed("'" + std::string(key) + "' must be " + std::string(want));
  }
  void fail(Status s) {
    if (error_.is_ok()) error_ = std::move(s);
  }
  const Status& error() const { return error_; }

 private:
  const json::object& o_;
  Status error_;
};

bool is_hex(std::string_view s, std::size_t digits) {
  return s.size() == digits && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Result<Message> finish(Reader& r, Message m) {
  if (!r.error().is_ok()) return r.error();
  return m;
}

Result<Message> decode_push(Reader& r) {
  Push m;
  m.batch = r.u64("batch");
  if (const json::array* ops = r.array("ops")) {
    if (ops->size() > kMaxPushOps)
      return Status(Code::frame_too_large,
                    "a push holds at most " + std::to_string(kMaxPushOps) + " operations");
    for (const auto& v : *ops) {
      auto op = op_from_json(v);
      if (!op) return op.status();
      m.ops.push_back(std::move(*op));
    }
  }
  if (const json::value* c = r.object_member("chain")) {
    if (!c->is_object()) return malformed("'chain' must be an object");
    Reader cr(c->get_object());
    PushChain chain;
    chain.prev = cr.str("prev");
    chain.signature = cr.str("sig");
    // "d" may be left out: the server computes the digests from the ops (Welcome's
    // server_digests).
    const bool has_digests = cr.object_member("d") != nullptr;
    if (const json::array* ds = has_digests ? cr.array("d") : nullptr)
      for (const auto& d : *ds) {
        if (!d.is_string() || !is_hex(d.get_string(), 64))
          return malformed("'chain.d' must hold 64 hex digits per operation");
        chain.digests.emplace_back(d.get_string());
      }
    if (!cr.error().is_ok()) return cr.error();
    if (!is_hex(chain.prev, 64)) return malformed("'chain.prev' must be 64 hex digits");
    if (!is_hex(chain.signature, 128)) return malformed("'chain.sig' must be 128 hex digits");
    if (has_digests && chain.digests.size() != m.ops.size())
      return malformed("'chain.d' must hold one digest per operation");
    m.chain = std::move(chain);
  }
  return finish(r, std::move(m));
}

Result<Message> decode_ack(Reader& r) {
  Ack m;
  m.batch = r.u64("batch");
  if (const json::array* rs = r.array("results")) {
    for (const auto& v : *rs) {
      if (!v.is_object()) return malformed("an ack result must be an object");
      Reader rr(v.get_object());
      OpResult res;
      res.op = rr.str("op");
      std::string s = rr.str("s");
      if (s == "accepted")
        res.status = OpStatus::accepted;
      else if (s == "duplicate")
        res.status = OpStatus::duplicate;
      else if (s == "rejected")
        res.status = OpStatus::rejected;
      else
        rr.fail("s", "accepted, duplicate or rejected");
      if (res.status == OpStatus::rejected) {
        res.code = code_from_name(rr.str("code"));
        res.reason = rr.str("reason");
      } else {
        res.seq = rr.u64("seq");
      }
      res.skewed = rr.boolean("skewed", false);
      if (!rr.error().is_ok()) return rr.error();
      m.results.push_back(std::move(res));
    }
  }
  return finish(r, std::move(m));
}

Result<Message> decode_changes(Reader& r) {
  Changes m;
  if (const json::array* es = r.array("entries")) {
    for (const auto& v : *es) {
      if (!v.is_object()) return malformed("a change entry must be an object");
      Reader er(v.get_object());
      LogEntry e;
      e.seq = er.u64("seq");
      e.skewed = er.boolean("skewed", false);
      const json::value* opv = v.get_object().if_contains("op");
      if (!opv) er.fail("op", "an operation");
      if (!er.error().is_ok()) return er.error();
      auto op = op_from_json(*opv);
      if (!op) return op.status();
      e.op = std::move(*op);
      m.entries.push_back(std::move(e));
    }
  }
  m.cursor = r.u64("cursor");
  m.more = r.boolean("more", false);
  m.live = r.boolean("live", false);
  return finish(r, std::move(m));
}

Result<std::vector<std::string>> decode_items(Reader& r, std::string_view key) {
  std::vector<std::string> out;
  const json::array* a = r.array(key);
  if (!a) return r.error();
  out.reserve(a->size());
  for (const auto& v : *a) {
    if (!v.is_string() || !is_valid_item(v.get_string()))
      return malformed("'" + std::string(key) + "' must hold scope items (c:ID or k:ID)");
    out.emplace_back(v.get_string());
  }
  return out;
}

Result<Message> decode_scope(Reader& r) {
  Scope m;
  m.full = r.boolean("full", false);
  auto add = decode_items(r, "add");
  if (!add) return add.status();
  auto remove = decode_items(r, "remove");
  if (!remove) return remove.status();
  m.add = std::move(*add);
  m.remove = std::move(*remove);
  m.digest = r.str("digest");
  return finish(r, std::move(m));
}

Result<Message> decode_fetch(Reader& r) {
  Fetch m;
  if (const json::array* items = r.array("items")) {
    if (items->size() > kMaxFetchItems)
      return Status(Code::frame_too_large,
                    "a fetch names at most " + std::to_string(kMaxFetchItems) + " items");
    for (const auto& v : *items) {
      if (!v.is_object()) return malformed("a fetch item must be an object");
      Reader ir(v.get_object());
      FetchItem i{ir.str("item"), ir.str_or("have", "")};
      if (!ir.error().is_ok()) return ir.error();
      if (!is_valid_item(i.item)) return malformed("'item' must be a scope item (c:ID or k:ID)");
      m.items.push_back(std::move(i));
    }
  }
  return finish(r, std::move(m));
}

Result<Message> decode_reads(Reader& r) {
  Reads m;
  m.batch = r.u64("batch");
  if (const json::array* es = r.array("events")) {
    if (es->size() > kMaxReadEvents)
      return Status(Code::frame_too_large,
                    "a reads frame holds at most " + std::to_string(kMaxReadEvents) + " events");
    for (const auto& v : *es) {
      if (!v.is_object()) return malformed("a read event must be an object");
      Reader er(v.get_object());
      ReadEvent e;
      e.collection = er.str("c");
      e.id = er.str("r");
      e.at_ms = er.i64("at");
      if (!er.error().is_ok()) return er.error();
      m.events.push_back(std::move(e));
    }
  }
  return finish(r, std::move(m));
}

Result<Message> decode_history_log(Reader& r) {
  HistoryLog m;
  m.collection = r.str("c");
  m.id = r.str("r");
  m.more = r.boolean("more", false);
  if (const json::array* es = r.array("entries")) {
    for (const auto& v : *es) {
      if (!v.is_object()) return malformed("a history entry must be an object");
      Reader er(v.get_object());
      HistoryEntry e;
      e.seq = er.u64("seq");
      e.received_ms = er.i64("at");
      const json::value* opv = v.get_object().if_contains("op");
      if (!opv) er.fail("op", "an operation");
      if (!er.error().is_ok()) return er.error();
      auto op = op_from_json(*opv);
      if (!op) return op.status();
      e.op = std::move(*op);
      m.entries.push_back(std::move(e));
    }
  }
  return finish(r, std::move(m));
}

Result<Message> decode_snapshot(Reader& r) {
  Snapshot m;
  if (const json::array* rs = r.array("records")) {
    for (const auto& v : *rs) {
      if (!v.is_object()) return malformed("a snapshot record must be an object");
      Reader rr(v.get_object());
      SnapshotRecord rec;
      rec.collection = rr.str("collection");
      rec.id = rr.str("id");
      const json::value* st = v.get_object().if_contains("state");
      if (!st) rr.fail("state", "a record state");
      if (!rr.error().is_ok()) return rr.error();
      auto state = record_state_from_json(*st);
      if (!state) return malformed("a snapshot record has an unreadable state");
      rec.state = std::move(*state);
      m.records.push_back(std::move(rec));
    }
  }
  m.more = r.boolean("more", false);
  return finish(r, std::move(m));
}

}  // namespace

std::string_view op_status_name(OpStatus s) {
  switch (s) {
    case OpStatus::accepted:
      return "accepted";
    case OpStatus::duplicate:
      return "duplicate";
    case OpStatus::rejected:
      return "rejected";
  }
  return "rejected";
}

std::string encode(const Message& m) { return json::serialize(std::visit(Encoder{}, m)); }

std::string encode_snapshot_record(const SnapshotRecord& r) {
  return json::serialize(
      json::object{{"collection", r.collection}, {"id", r.id}, {"state", to_json(r.state)}});
}

std::string encode_snapshot_frame(const std::vector<std::string>& encoded_records, bool more) {
  json::object head = envelope("snapshot");
  std::string text = json::serialize(head);
  text.pop_back();  // the closing brace: the records and `more` follow
  std::size_t size = text.size() + 32;
  for (const auto& r : encoded_records) size += r.size() + 1;
  text.reserve(size);
  text += ",\"records\":[";
  for (std::size_t i = 0; i < encoded_records.size(); ++i) {
    if (i) text += ',';
    text += encoded_records[i];
  }
  text += more ? "],\"more\":true}" : "],\"more\":false}";
  return text;
}

std::string auth_message(int version, std::string_view device, std::string_view nonce,
                         std::string_view binding) {
  std::string m = "fieldsync device authentication\n";
  m += std::to_string(version);
  m += '\n';
  m += device;
  m += '\n';
  m += nonce;
  m += '\n';
  m += binding;
  return m;
}

Result<Message> decode(std::string_view frame) {
  if (frame.size() > kMaxFrameBytes)
    return Status(Code::frame_too_large, "frame of " + std::to_string(frame.size()) +
                                             " bytes is over the limit of " +
                                             std::to_string(kMaxFrameBytes));
  boost::system::error_code ec;
  json::value v = json::parse(frame, ec);
  if (ec) return malformed("frame is not valid JSON: " + ec.message());
  if (!v.is_object()) return malformed("frame must be a JSON object");
  const json::object& o = v.get_object();
  Reader r(o);
  std::int64_t version = r.i64("v");
  std::string type = r.str("t");
  if (!r.error().is_ok()) return r.error();
  if (type == "hello") {
    // The version check of a hello is the server's to make, with a reply naming both.
    Hello m;
    m.version = static_cast<int>(version);
    m.device = r.str("device");
    m.user = r.str("user");
    m.cursor = r.u64("cursor");
    m.schema = static_cast<int>(r.i64("schema"));
    m.scope = r.str_or("scope", "");
    return finish(r, std::move(m));
  }
  if (type == "enroll") {  // a first frame too: the server checks the version
    Enroll m;
    m.version = static_cast<int>(version);
    m.device = r.str("device");
    m.public_key = r.str("public_key");
    m.code = r.str("code");
    return finish(r, std::move(m));
  }
  if (version != kProtocolVersion)
    return Status(Code::unsupported_version, "frame has protocol version " +
                                                 std::to_string(version) + "; this peer speaks " +
                                                 std::to_string(kProtocolVersion));
  if (type == "welcome") {
    Welcome m;
    m.head = r.u64("head");
    m.server_ms = r.i64("server_ms");
    m.user = r.str_or("user", "");
    m.role = r.str_or("role", "");
    m.wipe = r.boolean("wipe", false);
    m.scoped = r.boolean("scoped", false);
    m.epoch = r.str_or("epoch", "");
    if (o.contains("epoch_base")) m.epoch_base = r.u64("epoch_base");
    m.server_digests = r.boolean("server_digests", false);
    if (o.contains("fetch_window")) {
      const std::uint64_t window = r.u64("fetch_window");
      m.fetch_window =
          static_cast<std::uint32_t>(std::clamp<std::uint64_t>(window, 1, kMaxFetchesInFlight));
    }
    if (const json::value* lease = o.if_contains("lease")) {
      if (!lease->is_object()) return malformed("'lease' must be an object");
      Reader lr(lease->get_object());
      m.lease.sync_within_ms = lr.i64("sync_within_ms");
      m.lease.wipe_after_ms = lr.i64("wipe_after_ms");
      if (!lr.error().is_ok()) return lr.error();
    }
    return finish(r, std::move(m));
  }
  if (type == "challenge") {
    Challenge m;
    m.nonce = r.str("nonce");
    m.server_ms = r.i64("server_ms");
    m.bound = r.boolean("bound", false);
    return finish(r, std::move(m));
  }
  if (type == "auth") {
    Auth m;
    m.signature = r.str("signature");
    return finish(r, std::move(m));
  }
  if (type == "enrolled") {
    Enrolled m;
    m.user = r.str("user");
    m.role = r.str("role");
    return finish(r, std::move(m));
  }
  if (type == "push") return decode_push(r);
  if (type == "ack") return decode_ack(r);
  if (type == "pull") {
    Pull m;
    m.cursor = r.u64("cursor");
    std::uint64_t limit = r.u64("limit");
    m.limit = static_cast<std::uint32_t>(std::min<std::uint64_t>(limit, kMaxPullLimit));
    return finish(r, m);
  }
  if (type == "changes") return decode_changes(r);
  if (type == "scope") return decode_scope(r);
  if (type == "fetch") return decode_fetch(r);
  if (type == "snapshot") return decode_snapshot(r);
  if (type == "reads") return decode_reads(r);
  if (type == "noted") {
    Noted m;
    m.batch = r.u64("batch");
    return finish(r, m);
  }
  if (type == "history") {
    HistoryRequest m;
    m.collection = r.str("c");
    m.id = r.str("r");
    return finish(r, std::move(m));
  }
  if (type == "history_log") return decode_history_log(r);
  if (type == "error") {
    Error m;
    m.code = code_from_name(r.str("code"));
    m.message = r.str("message");
    m.fatal = r.boolean("fatal", false);
    return finish(r, std::move(m));
  }
  return malformed("unknown message type '" + type + "'");
}

}  // namespace fieldsync::sync
