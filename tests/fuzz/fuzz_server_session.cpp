// Fuzz target: the server's message handling (sync::ServerSession), driven by a script that
// plays both the device and the transport (the writer, the log, the directory).
//
// Input: lines. A first line starting with '#' sets the session up: 'a' require_auth
// (challenge nonces from a fixed seed), 'b' a TLS channel binding, 'p' max_pull of 3.
// Every other line is one event, by its first character:
//   >FRAME   the device sends FRAME (any bytes)
//   a        the device answers the last challenge with a good signature of the script's key
//   dSR      the directory answers lookup_device: S state 0 active, 1 revoked_may_upload,
//            2 revoked, 3 wiped, 4 unknown device, else a storage error; R role w/l/a
//   sITEMS   the store answers load_scope with these comma-separated items ('s!': an error)
//   pOPS     the device pushes the JSON array OPS, signed over its chain with the script's key
//   c / x    the writer commits (each op accepted once, then duplicate) / fails the oldest push
//   r        the store answers the pending read from the log
//   lOP      another device's op OP is committed and fanned out live
//   i / h    the store answers read_items / read_history ('i!', 'h!': an error)
//   n / e    the audit log records the reads / the directory redeems the code ('!': an error)
// Properties: every frame the server sends decodes; a close comes with a fatal error or an
// enrolment; ops handed to the writer validate and belong to the session's device and user;
// an ack answers every op of its push; reads ask for 1..max_pull entries; nothing from the
// log (changes, snapshots, histories) reaches a device that is not welcomed or is revoked;
// live changes never echo the device's own ops and carry ascending entries within the cursor.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "fieldsync/crypto/random.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/sync/ids.hpp"
#include "fieldsync/sync/op_chain.hpp"
#include "fieldsync/sync/server_session.hpp"
#include "fuzz_util.hpp"

using namespace fieldsync;
using namespace fieldsync::sync;
namespace json = boost::json;

namespace {

const crypto::SigningKey& device_key() {
  static const crypto::SigningKey key = [] {
    crypto::init_sodium();
    return crypto::SigningKey::generate();
  }();
  return key;
}

std::span<const std::uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

struct Harness {
  explicit Harness(const ServerSessionConfig& cfg) : config(cfg), session(default_schema(), cfg) {}

  ServerSessionConfig config;
  ServerSession session;
  std::int64_t now_ms = 1'700'000'000'000;
  std::vector<LogEntry> log;  // the store's log: seq = index + 1
  std::map<std::string, std::uint64_t> seq_of;
  std::string nonce;  // of the last challenge
  std::deque<SubmittedPush> submitted;
  std::map<std::uint64_t, std::size_t> push_sizes;  // batch -> ops in the push
  std::optional<Pull> read;
  std::optional<std::vector<std::string>> read_items;
  std::optional<HistoryRequest> read_history;
  std::optional<Reads> record_reads;
  bool lookup = false, redeem = false, load_scope = false;
  std::uint64_t next_batch = 1;
  crypto::Digest chain_head{};
  bool chain_started = false;
  bool closed = false;

  std::uint64_t head() const { return log.size(); }

  void check_frame(const std::string& frame, const SessionActions& a) {
    auto m = decode(frame);
    FUZZ_CHECK(m.is_ok(), "the server sent a frame that does not decode: " +
                              m.status().to_string() + "\n  " + frame);
    const bool from_log = std::holds_alternative<Changes>(*m) ||
                          std::holds_alternative<Snapshot>(*m) ||
                          std::holds_alternative<HistoryLog>(*m);
    if (from_log) {
      FUZZ_CHECK(session.authenticated(), "log content sent before the welcome: " + frame);
      FUZZ_CHECK(!session.upload_only(), "log content sent to a revoked device: " + frame);
    }
    if (const auto* e = std::get_if<Error>(&*m); e && e->fatal)
      FUZZ_CHECK(a.close, "a fatal error without a close: " + frame);
    if (const auto* c = std::get_if<Changes>(&*m)) {
      std::uint64_t last = 0;
      for (const auto& e : c->entries) {
        FUZZ_CHECK(e.seq > last, "change entries out of order: " + frame);
        last = e.seq;
        if (c->live)
          FUZZ_CHECK(e.op.device != session.device(), "a live change echoed the device's op");
      }
      if (c->live) FUZZ_CHECK(last <= c->cursor, "a live change beyond its cursor: " + frame);
    }
    if (const auto* k = std::get_if<Ack>(&*m)) {
      auto it = push_sizes.find(k->batch);
      FUZZ_CHECK(it != push_sizes.end(), "an ack of a batch never pushed: " + frame);
      FUZZ_CHECK(k->results.size() == it->second, "an ack must answer every op of its push");
      push_sizes.erase(it);
    }
  }

  void take(SessionActions a, std::size_t pushed_ops = 0) {
    bool fatal_or_enrolled = false;
    for (const auto& f : a.send) {
      check_frame(f, a);
      auto m = decode(f);
      if (const auto* e = std::get_if<Error>(&*m); e && e->fatal) fatal_or_enrolled = true;
      if (std::holds_alternative<Enrolled>(*m)) fatal_or_enrolled = true;
      if (const auto* c = std::get_if<Challenge>(&*m)) nonce = c->nonce;
    }
    if (a.close) {
      FUZZ_CHECK(fatal_or_enrolled, "a close without a fatal error or an enrolment");
      closed = true;
      return;
    }
    if (a.submit) {
      const SubmittedPush& s = *a.submit;
      FUZZ_CHECK(s.ops.size() + s.refused.size() == pushed_ops,
                 "the writer must see every op of the push, submitted or refused");
      FUZZ_CHECK(s.ops.size() <= config.max_push_ops, "too many ops submitted");
      for (const auto& op : s.ops) {
        Status v = validate(op, default_schema());
        FUZZ_CHECK(v.is_ok(), "an op that does not validate was submitted: " + v.to_string());
        FUZZ_CHECK(op.device == session.device(), "another device's op was submitted");
        FUZZ_CHECK(op.user == session.user(), "another user's op was submitted");
      }
      if (s.chain) FUZZ_CHECK(s.chain->digests.size() == pushed_ops, "one digest per op");
      submitted.push_back(s);
    }
    if (a.read) {
      FUZZ_CHECK(a.read->limit >= 1 && a.read->limit <= config.max_pull,
                 "a read outside 1..max_pull");
      read = a.read;
    }
    if (a.read_items) read_items = a.read_items;
    if (a.read_history) read_history = a.read_history;
    if (a.record_reads) record_reads = a.record_reads;
    if (a.lookup_device) lookup = true;
    if (a.redeem) redeem = true;
    if (a.load_scope) load_scope = true;
  }

  // The frame is a push the session will answer with an ack: remember how many ops it had.
  std::size_t note_push(std::string_view frame) {
    auto m = decode(frame);
    if (!m) return 0;
    const auto* p = std::get_if<Push>(&*m);
    if (!p) return 0;
    if (!push_sizes.contains(p->batch)) push_sizes[p->batch] = p->ops.size();
    return p->ops.size();
  }

  void frame(std::string_view f) {
    // A repeated batch is refused with a fatal error; keep the size of the pending one.
    const std::size_t n = note_push(f);
    take(session.on_frame(f, head(), now_ms), n);
  }

  void signed_push(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    Push push;
    push.batch = next_batch++;
    if (!ec && v.is_array())
      for (const auto& o : v.get_array())
        if (auto op = op_from_json(o); op && push.ops.size() < kMaxPushOps)
          push.ops.push_back(std::move(*op));
    const std::string& device = session.device();
    if (!chain_started) chain_head = chain_genesis(device);
    PushChain chain;
    chain.prev = digest_hex(chain_head);
    crypto::Digest link = chain_head;
    for (const auto& op : push.ops) {
      crypto::Digest d = op_digest(op);
      chain.digests.push_back(digest_hex(d));
      link = chain_next(link, d);
    }
    if (!push.ops.empty()) {
      const std::string message = push_message(device, push.ops.back().id, link);
      chain.signature = crypto::to_hex(device_key().sign(bytes_of(message)));
    } else {
      chain.signature = std::string(128, '0');
    }
    push.chain = std::move(chain);
    frame(encode(push));
  }

  void answer_auth() {
    const std::string text =
        auth_message(kProtocolVersion, session.device(), nonce, config.binding);
    frame(encode(Auth{crypto::to_hex(device_key().sign(bytes_of(text)))}));
  }

  void commit() {
    if (submitted.empty()) return;
    SubmittedPush s = std::move(submitted.front());
    submitted.pop_front();
    std::vector<OpResult> results;
    std::vector<LogEntry> fresh;
    for (const auto& op : s.ops) {
      OpResult r{op.id, OpStatus::accepted, 0, false, Code::ok, {}};
      if (auto it = seq_of.find(op.id); it != seq_of.end()) {
        r.status = OpStatus::duplicate;
        r.seq = it->second;
      } else {
        log.push_back(LogEntry{log.size() + 1, op, false, {}});
        r.seq = seq_of[op.id] = log.size();
        fresh.push_back(log.back());
      }
      results.push_back(std::move(r));
    }
    if (s.chain && s.chain->verified && !s.chain->digests.empty()) {
      chain_started = true;
      for (const auto& d : s.chain->digests) chain_head = chain_next(chain_head, d);
    }
    take(session.on_committed(s.batch, results));
    if (!closed && !fresh.empty()) take(session.on_live(fresh));
  }

  void fail() {
    if (submitted.empty()) return;
    const std::uint64_t batch = submitted.front().batch;
    submitted.pop_front();
    push_sizes.erase(batch);
    take(session.on_failed(batch, Status(Code::storage, "disk full")));
  }

  void answer_read() {
    if (!read) return;
    Pull p = *read;
    read.reset();
    Changes c;
    c.cursor = p.cursor;
    for (std::uint64_t s = p.cursor + 1; s <= log.size(); ++s) {
      if (c.entries.size() >= p.limit) {
        c.more = true;
        break;
      }
      c.cursor = s;
      const LogEntry& e = log[s - 1];
      if (e.op.device != session.device()) c.entries.push_back(e);
    }
    take(session.on_read(std::move(c)));
  }

  void live(std::string_view text) {
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) return;
    auto op = op_from_json(v);
    if (!op || seq_of.contains(op->id)) return;
    EntryScope scope;
    if (op->collection == "cases") scope.item = case_item(op->record);
    scope.creator = op->user;
    scope.created = true;
    log.push_back(LogEntry{log.size() + 1, *op, false, scope});
    seq_of[op->id] = log.size();
    take(session.on_live({log.back()}));
  }

  void device(std::string_view args) {
    if (!lookup) return;
    lookup = false;
    const char s = args.empty() ? '0' : args[0];
    const char r = args.size() < 2 ? 'w' : args[1];
    const std::string role = r == 'a' ? "admin" : r == 'l' ? "lead" : "worker";
    if (s == '4')
      return take(session.on_device(Status(Code::unknown_device, "no"), head(), now_ms));
    if (s > '4') return take(session.on_device(Status(Code::storage, "io"), head(), now_ms));
    const DeviceState state = s == '1'   ? DeviceState::revoked_may_upload
                              : s == '2' ? DeviceState::revoked
                              : s == '3' ? DeviceState::wiped
                                         : DeviceState::active;
    take(session.on_device(
        DeviceRecord{"ana", role, device_key().public_key(), state, {86'400'000, 172'800'000}},
        head(), now_ms));
  }

  void scope(std::string_view args) {
    if (!load_scope) return;
    load_scope = false;
    if (args == "!") {
      take(session.on_scope(Status(Code::storage, "io"), std::vector<std::string>{}, head(),
                            now_ms));
      return;
    }
    Visibility v;
    std::size_t start = 0;
    while (start <= args.size()) {
      std::size_t end = args.find(',', start);
      if (end == std::string_view::npos) end = args.size();
      std::string item(args.substr(start, end - start));
      if (is_valid_item(item)) v.items.push_back(item);
      start = end + 1;
    }
    std::sort(v.items.begin(), v.items.end());
    v.items.erase(std::unique(v.items.begin(), v.items.end()), v.items.end());
    v.creators = {"ana"};
    take(session.on_scope(v, v.items, head(), now_ms));
  }

  void items(bool error) {
    if (!read_items) return;
    std::vector<std::string> wanted = std::move(*read_items);
    read_items.reset();
    if (error) return take(session.on_items(Status(Code::storage, "io")));
    std::vector<std::vector<SnapshotRecord>> records;
    const auto& spec = *default_schema().collection("cases");
    for (const auto& item : wanted) {
      std::vector<SnapshotRecord> held;
      RecordState st;
      for (const auto& e : log)
        if (e.op.collection == "cases" && case_item(e.op.record) == item) apply(st, e.op, spec);
      if (!st.empty()) held.push_back({"cases", item.substr(2), std::move(st)});
      records.push_back(std::move(held));
    }
    take(session.on_items(records));
  }

  void history(bool error) {
    if (!read_history) return;
    HistoryRequest h = std::move(*read_history);
    read_history.reset();
    if (error) return take(session.on_history(Status(Code::storage, "io")));
    RecordLog rl;
    for (const auto& e : log) {
      if (e.op.collection != h.collection || e.op.record != h.id) continue;
      rl.exists = true;
      rl.scope = e.scope;
      rl.entries.push_back({e.seq, e.op, now_ms});
    }
    take(session.on_history(rl));
  }

  void reads(bool error) {
    if (!record_reads) return;
    const std::uint64_t batch = record_reads->batch;
    record_reads.reset();
    take(session.on_reads_recorded(batch, error ? Status(Code::storage, "io") : Status::ok()));
  }

  void redeemed(bool error) {
    if (!redeem) return;
    redeem = false;
    if (error) return take(session.on_redeemed(Status(Code::code_invalid, "no such code")));
    take(session.on_redeemed(Enrolled{"ana", "worker"}));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view script(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> lines;
  while (!script.empty()) {
    std::size_t end = script.find('\n');
    lines.push_back(script.substr(0, end));
    script = end == std::string_view::npos ? std::string_view() : script.substr(end + 1);
  }
  ServerSessionConfig config;
  crypto::SeededRandom nonces(7);
  std::size_t first = 0;
  if (!lines.empty() && lines[0].starts_with('#')) {
    const std::string_view flags = lines[0];
    config.require_auth = flags.find('a') != std::string_view::npos;
    if (flags.find('b') != std::string_view::npos) config.binding = "0123abcd";
    if (flags.find('p') != std::string_view::npos) config.max_pull = 3;
    first = 1;
  }
  config.random = &nonces;
  Harness h(config);
  for (std::size_t i = first; i < lines.size() && i < first + 200 && !h.closed; ++i) {
    const std::string_view line = lines[i];
    if (line.empty()) continue;
    const std::string_view args = line.substr(1);
    const bool error = args == "!";
    h.now_ms += 1000;
    switch (line[0]) {
      case '>':
        h.frame(args);
        break;
      case 'a':
        h.answer_auth();
        break;
      case 'd':
        h.device(args);
        break;
      case 's':
        h.scope(args);
        break;
      case 'p':
        h.signed_push(args);
        break;
      case 'c':
        h.commit();
        break;
      case 'x':
        h.fail();
        break;
      case 'r':
        h.answer_read();
        break;
      case 'l':
        h.live(args);
        break;
      case 'i':
        h.items(error);
        break;
      case 'h':
        h.history(error);
        break;
      case 'n':
        h.reads(error);
        break;
      case 'e':
        h.redeemed(error);
        break;
      default:
        break;
    }
  }
  return 0;
}
