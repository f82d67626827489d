// The server side of the protocol (state machine described in server_session.hpp).
#include "fieldsync/sync/server_session.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <span>
#include <utility>

#include "fieldsync/sync/ids.hpp"
#include "fieldsync/sync/op_chain.hpp"

namespace fieldsync::sync {
namespace {
const std::string kEmpty;
constexpr std::size_t kMaxPendingBatches = 8;
}  // namespace

ServerSession::ServerSession(const Schema& schema, ServerSessionConfig config)
    : schema_(schema), config_(std::move(config)) {}

const std::string& ServerSession::device() const { return hello_ ? hello_->device : kEmpty; }
const std::string& ServerSession::user() const {
  if (config_.require_auth) return enrolled_user_;
  return hello_ ? hello_->user : kEmpty;
}

SessionActions ServerSession::protocol_error(Code code, std::string message) {
  SessionActions a;
  a.send.push_back(encode(Error{code, std::move(message), true}));
  a.close = true;
  return a;
}

SessionActions ServerSession::on_frame(std::string_view frame, std::uint64_t head,
                                       std::int64_t now_ms) {
  auto m = decode(frame);
  if (!m) {
    Code c = m.status().code();
    // A frame we cannot read is answered and survived; a version or size we cannot speak
    // ends the session.
    if (c == Code::unsupported_version || c == Code::frame_too_large)
      return protocol_error(c, m.status().message());
    SessionActions a;
    a.send.push_back(encode(Error{c, m.status().message(), false}));
    return a;
  }
  if (const auto* h = std::get_if<Hello>(&*m)) return handle(*h, head, now_ms);
  if (const auto* e = std::get_if<Enroll>(&*m)) return handle(*e);
  if (!hello_)
    return protocol_error(Code::unexpected_message, "the first frame must be a hello or an enroll");
  if (const auto* au = std::get_if<Auth>(&*m)) return handle(*au);
  if (std::holds_alternative<Error>(*m)) return {};  // the device reports; nothing to do
  if (phase_ != Phase::ready)
    return protocol_error(Code::unexpected_message, "answer the challenge before anything else");
  if (const auto* p = std::get_if<Push>(&*m)) return handle(*p);
  if (const auto* p = std::get_if<Pull>(&*m)) return handle(*p);
  if (const auto* f = std::get_if<Fetch>(&*m)) return handle(*f);
  if (const auto* r = std::get_if<Reads>(&*m)) return handle(*r);
  if (const auto* h = std::get_if<HistoryRequest>(&*m)) return handle(*h);
  return protocol_error(
      Code::unexpected_message,
      "a device may send hello, enroll, auth, push, pull, fetch, reads and history only");
}

SessionActions ServerSession::handle(const Hello& m, std::uint64_t head, std::int64_t now_ms) {
  if (hello_ || phase_ != Phase::hello)
    return protocol_error(Code::unexpected_message, "hello must be the first frame, once");
  if (m.version != kProtocolVersion)
    return protocol_error(Code::unsupported_version,
                          "device speaks protocol version " + std::to_string(m.version) +
                              "; this server speaks " + std::to_string(kProtocolVersion) +
                              ": update the app");
  if (!is_valid_device_id(m.device))
    return protocol_error(Code::invalid_id, "device id must be 32 lowercase hex digits");
  if (m.user.size() > 64 || (m.user.empty() && !config_.require_auth))
    return protocol_error(Code::invalid_argument, "hello needs a user name of 1-64 characters");
  hello_ = m;
  if (!config_.require_auth) {
    phase_ = Phase::ready;
    return welcome(head, now_ms);
  }
  std::array<std::uint8_t, 32> nonce{};
  crypto::SodiumRandom sodium;
  (config_.random ? *config_.random : sodium).fill(nonce);
  nonce_ = crypto::to_hex(nonce);
  phase_ = Phase::challenged;
  SessionActions a;
  a.send.push_back(encode(Challenge{nonce_, now_ms, !config_.binding.empty()}));
  return a;
}

SessionActions ServerSession::welcome(std::uint64_t head, std::int64_t now_ms) {
  SessionActions a;
  Welcome w{head, now_ms, {}, {}, upload_only_};
  if (config_.require_auth) {
    w.user = enrolled_user_;
    w.role = role_;
    w.lease = lease_;
  }
  w.scoped = scoped_;
  w.epoch = config_.epoch;
  w.epoch_base = config_.epoch_base;
  w.fetch_window = kMaxFetchesInFlight;
  w.server_digests = true;
  a.send.push_back(encode(w));
  return a;
}

SessionActions ServerSession::handle(const Auth& m) {
  if (phase_ != Phase::challenged)
    return protocol_error(Code::unexpected_message, "an auth answers a challenge, once");
  auto bytes = crypto::from_hex(m.signature);
  if (!bytes || bytes->size() != crypto::kSignatureBytes)
    return protocol_error(Code::bad_signature, "the signature must be 128 hex digits");
  std::copy(bytes->begin(), bytes->end(), signature_.begin());
  phase_ = Phase::looking_up;
  SessionActions a;
  a.lookup_device = hello_->device;
  return a;
}

SessionActions ServerSession::on_device(const Result<DeviceRecord>& device, std::uint64_t head,
                                        std::int64_t now_ms) {
  if (phase_ != Phase::looking_up) return {};
  if (!device) {
    if (device.status().code() == Code::unknown_device)
      return protocol_error(
          Code::unknown_device,
          "device " + hello_->device + " is not enrolled here: enrol it with a code from an admin");
    return protocol_error(device.status().code(), device.status().message());
  }
  const std::string signed_text =
      auth_message(kProtocolVersion, hello_->device, nonce_, config_.binding);
  std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(signed_text.data()),
                                      signed_text.size());
  if (!crypto::verify(device->public_key, bytes, signature_))
    return protocol_error(
        Code::bad_signature,
        "the answer to the challenge does not verify with device " + hello_->device + "'s key");
  if (device->state == DeviceState::revoked || device->state == DeviceState::wiped)
    return protocol_error(Code::revoked,
                          "device " + hello_->device + " was revoked: it must wipe its replica");
  upload_only_ = device->state == DeviceState::revoked_may_upload;
  device_key_ = device->public_key;
  enrolled_user_ = device->user;
  role_ = device->role;
  lease_ = device->lease;
  if (role_ != "admin" && !upload_only_) {
    // The welcome waits for the scope: every read of this session is filtered by it.
    scoped_ = true;
    scope_loading_ = true;
    phase_ = Phase::scoping;
    SessionActions a;
    a.load_scope = true;
    return a;
  }
  phase_ = Phase::ready;
  return welcome(head, now_ms);
}

SessionActions ServerSession::on_scope(const Result<Visibility>& scope,
                                       const Result<std::vector<std::string>>& saved,
                                       std::uint64_t head, std::int64_t now_ms) {
  if (!scope_loading_) return {};
  scope_loading_ = false;
  if (!scope || !saved) {
    const Status& why = !scope ? scope.status() : saved.status();
    return protocol_error(why.code(), "the server could not read this device's scope: " +
                                          why.message() + "; try again later");
  }
  visibility_ = *scope;
  bootstrap_filter_ = Visibility{false, {}, visibility_.creators, true};
  if (phase_ == Phase::scoping) {
    saved_items_ = *saved;
    // The device holds the saved items if its digest says so; else it gets the whole set.
    device_items_known_ = scope_digest(saved_items_) == hello_->scope;
    if (device_items_known_) device_items_ = saved_items_;
    phase_ = Phase::ready;
    return welcome(head, now_ms);
  }
  // Re-read from the cursor under the new scope, then tell the device (so that it fetches
  // only what the re-read did not bring). Before the first catch-up, the first scope frame
  // carries the change.
  announce_pending_ = scope_announced_;
  SessionActions a;
  if (live_ && !read_in_flight_) {
    a.read = read_more(sent_cursor_).read;
  } else {
    live_gap_ = true;
  }
  return a;
}

void ServerSession::append(SessionActions& a, SessionActions more) {
  for (auto& f : more.send) a.send.push_back(std::move(f));
  if (more.save_scope) a.save_scope = std::move(more.save_scope);
}

SessionActions ServerSession::announce_scope(bool always) {
  SessionActions a;
  // Records already gathered for a fetch answer go out before the scope frame, which may
  // remove their items: the device then purges them.
  if (!page_.empty()) {
    a.send.push_back(encode_snapshot_frame(page_, true));
    page_.clear();
    page_bytes_ = 0;
  }
  const std::vector<std::string>& now = visibility_.items;
  Scope m;
  m.digest = scope_digest(now);
  if (device_items_known_) {
    std::set_difference(now.begin(), now.end(), device_items_.begin(), device_items_.end(),
                        std::back_inserter(m.add));
    std::set_difference(device_items_.begin(), device_items_.end(), now.begin(), now.end(),
                        std::back_inserter(m.remove));
  } else {
    m.full = true;
    m.add = now;
  }
  if (always || m.full || !m.add.empty() || !m.remove.empty()) a.send.push_back(encode(m));
  device_items_ = now;
  device_items_known_ = true;
  scope_announced_ = true;
  announce_pending_ = false;
  if (saved_items_ != now) {
    saved_items_ = now;
    a.save_scope = now;
  }
  return a;
}

bool ServerSession::may_rescope(const LogEntry& e) const {
  return may_change_scope(visibility_, user(), e.op, e.scope);
}

SessionActions ServerSession::handle(const Fetch& m) {
  if (upload_only_) {
    SessionActions a;
    a.send.push_back(
        encode(Error{Code::revoked, "this device was revoked: nothing is sent to it", false}));
    return a;
  }
  if (fetches_.size() >= kMaxFetchesInFlight)
    return protocol_error(
        Code::unexpected_message,
        "at most " + std::to_string(kMaxFetchesInFlight) + " fetches may be in flight");
  Fetch kept;
  for (const auto& i : m.items)
    if (!scoped_ || visibility_.contains(i.item)) kept.items.push_back(i);
  // Answers go out in the order of the fetches: this one waits behind one being read.
  fetches_.push_back(std::move(kept));
  if (fetches_.size() > 1) return {};
  return next_fetch_read();
}

SessionActions ServerSession::next_fetch_read() {
  SessionActions a;
  // A fetch of nothing visible is answered at once, with an empty snapshot.
  while (!fetches_.empty() && fetches_.front().items.empty()) {
    a.send.push_back(encode(Snapshot{}));
    fetches_.pop_front();
  }
  if (fetches_.empty()) return a;
  // The items are read kItemsPerRead (one) at a time: the transport reads the next when its
  // queue is short again, so a large answer is paced like log pages instead of queued whole.
  const auto& items = fetches_.front().items;
  const std::size_t end = std::min(items.size(), fetch_pos_ + kItemsPerRead);
  std::vector<std::string> group;
  group.reserve(end - fetch_pos_);
  for (std::size_t i = fetch_pos_; i < end; ++i) group.push_back(items[i].item);
  a.read_items = std::move(group);
  return a;
}

SessionActions ServerSession::on_items(
    const Result<std::vector<std::vector<SnapshotRecord>>>& records) {
  if (fetches_.empty()) return {};
  if (!records)
    return protocol_error(records.status().code(),
                          "the server could not read the fetched "
                          "records: " +
                              records.status().message());
  const Fetch& fetch = fetches_.front();
  const std::size_t first = fetch_pos_;
  const std::size_t end = std::min(fetch.items.size(), first + kItemsPerRead);
  SessionActions a;
  // Pages fill up across groups and go out when full, so frames stay large while the
  // records held here stay within a page and a group.
  constexpr std::size_t kBudget = kMaxFrameBytes / 2;
  for (std::size_t i = first; i < end && i - first < records->size(); ++i) {
    // The scope may have lost the item since the fetch came (the answer is paced): then it
    // is not sent, whatever was read.
    if (scoped_ && !visibility_.contains(fetch.items[i].item)) continue;
    const auto& held = (*records)[i - first];
    const std::string& device_has = fetch.items[i].have;
    if (held.empty() && device_has.empty()) continue;
    if (!device_has.empty()) {
      HoldingDigest d;
      for (const auto& r : held) d.add(r.collection, r.id, r.state);
      if ((d.empty() ? std::string() : d.finish()) == device_has) continue;  // holds it all
    }
    for (const auto& r : held) {
      std::string record = encode_snapshot_record(r);
      if (!page_.empty() && page_bytes_ + record.size() > kBudget) {
        a.send.push_back(encode_snapshot_frame(page_, true));
        page_.clear();
        page_bytes_ = 0;
      }
      page_bytes_ += record.size() + 1;
      page_.push_back(std::move(record));
    }
  }
  if (end < fetch.items.size()) {
    fetch_pos_ = end;
    a.read_items = next_fetch_read().read_items;
    return a;
  }
  // The fetch is answered: its last page says so.
  a.send.push_back(encode_snapshot_frame(page_, false));
  page_.clear();
  page_bytes_ = 0;
  fetches_.pop_front();
  fetch_pos_ = 0;
  // The next fetch waiting behind this one.
  SessionActions next = next_fetch_read();
  for (auto& f : next.send) a.send.push_back(std::move(f));
  a.read_items = std::move(next.read_items);
  return a;
}

SessionActions ServerSession::handle(const Enroll& m) {
  if (hello_ || phase_ != Phase::hello)
    return protocol_error(Code::unexpected_message, "enroll must be the first frame");
  if (m.version != kProtocolVersion)
    return protocol_error(Code::unsupported_version,
                          "device speaks protocol version " + std::to_string(m.version) +
                              "; this server speaks " + std::to_string(kProtocolVersion) +
                              ": update the app");
  if (!config_.require_auth)
    return protocol_error(Code::unexpected_message, "this server does not enrol devices");
  if (!is_valid_device_id(m.device))
    return protocol_error(Code::invalid_id, "device id must be 32 lowercase hex digits");
  auto key = crypto::from_hex(m.public_key);
  if (!key || key->size() != crypto::kPublicKeyBytes)
    return protocol_error(Code::invalid_argument, "public_key must be 64 hex digits");
  if (m.code.empty() || m.code.size() > 64)
    return protocol_error(Code::code_invalid, "the enrolment code is empty or too long");
  phase_ = Phase::enrolling;
  SessionActions a;
  a.redeem = m;
  return a;
}

SessionActions ServerSession::on_redeemed(const Result<Enrolled>& enrolled) {
  if (phase_ != Phase::enrolling) return {};
  if (!enrolled) return protocol_error(enrolled.status().code(), enrolled.status().message());
  SessionActions a;
  a.send.push_back(encode(*enrolled));
  a.close = true;
  return a;
}

SignedChain ServerSession::check_chain(const Push& m) const {
  SignedChain c;
  c.device = hello_->device;
  c.user = user();
  c.signature = m.chain->signature;
  // decode() checked the hex lengths and that there is one digest per op, or none.
  auto prev = digest_from_hex(m.chain->prev);
  if (prev) c.prev = *prev;
  c.digests.reserve(m.ops.size());
  crypto::Digest link = c.prev;
  if (m.chain->digests.empty()) {
    // Left out by the device: the chain is the ops' own, which the signature must cover.
    for (const auto& op : m.ops) {
      c.digests.push_back(op_digest(op));
      link = chain_next(link, c.digests.back());
    }
  } else {
    for (const auto& text : m.chain->digests) {
      auto d = digest_from_hex(text);
      c.digests.push_back(d ? *d : crypto::Digest{});
      link = chain_next(link, c.digests.back());
    }
  }
  auto sig = crypto::from_hex(c.signature);
  if (!prev || !sig || sig->size() != crypto::kSignatureBytes || !device_key_ || m.ops.empty())
    return c;
  crypto::Signature signature{};
  std::copy(sig->begin(), sig->end(), signature.begin());
  const std::string message = push_message(c.device, m.ops.back().id, link);
  c.verified = crypto::verify(
      *device_key_, {reinterpret_cast<const std::uint8_t*>(message.data()), message.size()},
      signature);
  return c;
}

SessionActions ServerSession::handle(const Push& m) {
  if (pending_.contains(m.batch) || pending_.size() >= kMaxPendingBatches)
    return protocol_error(Code::unexpected_message,
                          "push batch " + std::to_string(m.batch) + " is a repeat or one too many");
  if (config_.require_auth && !m.chain && !m.ops.empty())
    return protocol_error(Code::bad_signature,
                          "this server takes signed pushes only: each batch carries the device's "
                          "signature over its chain of operations");
  PendingBatch batch;
  SubmittedPush submit{m.batch, {}};
  // A chain is checked only against an enrolled key; without one the push counts as unsigned.
  if (m.chain && device_key_) submit.chain = check_chain(m);
  for (std::size_t i = 0; i < m.ops.size(); ++i) {
    const Op& op = m.ops[i];
    OpResult r{op.id, OpStatus::accepted, 0, false, Code::ok, {}};
    Status s = Status::ok();
    if (submit.chain && !submit.chain->verified)
      s = Status(Code::bad_signature, "the push's signature does not verify with device " +
                                          hello_->device + "'s key: operation " + op.id +
                                          " was not taken");
    if (s && submit.chain && op_digest(op) != submit.chain->digests[i])
      s = Status(Code::bad_signature,
                 "operation " + op.id + " is not the operation the device signed");
    if (s) s = validate(op, schema_);
    if (s && op.device != hello_->device)
      s = Status(Code::refused, "operation " + op.id + " belongs to another device");
    if (s && op.user != user())
      s = Status(Code::refused, "operation " + op.id + " names another user");
    if (!s) {
      r.status = OpStatus::rejected;
      r.code = s.code();
      r.reason = s.message();
      submit.refused.push_back(RefusedOp{i, op, r});
    } else {
      batch.submitted.push_back(i);
      submit.ops.push_back(op);
    }
    batch.results.push_back(std::move(r));
  }
  SessionActions a;
  if (m.ops.empty()) {
    a.send.push_back(encode(Ack{m.batch, {}}));
    return a;
  }
  // Refusals go to the writer too: the audit log records every op of the push.
  pending_.emplace(m.batch, std::move(batch));
  a.submit = std::move(submit);
  return a;
}

SessionActions ServerSession::handle(const Reads& m) {
  if (m.batch == 0)
    return protocol_error(Code::invalid_argument, "a reads batch number starts at 1");
  if (reads_in_flight_)
    return protocol_error(Code::unexpected_message, "a reads batch is already in flight");
  // A read of something that cannot be a record is left out (the device's report is all the
  // server has of it); the rest is recorded.
  Reads valid{m.batch, {}};
  for (const auto& e : m.events) {
    if (!schema_.collection(e.collection) || !(is_valid_record_id(e.id) || e.id == "*")) continue;
    valid.events.push_back(e);
    if (e.id == "*") valid.events.back().what = "listed";
  }
  reads_in_flight_ = true;
  SessionActions a;
  a.record_reads = std::move(valid);
  return a;
}

SessionActions ServerSession::on_reads_recorded(std::uint64_t batch, const Status& status) {
  SessionActions a;
  if (batch == 0) {  // the read of a history answer: the answer goes out once it is recorded
    if (!history_answer_) return a;
    if (status)
      a.send.push_back(encode(*history_answer_));
    else
      a.send.push_back(encode(Error{status.code(),
                                    "the history could not be recorded as read, so it was not "
                                    "sent: " +
                                        status.message(),
                                    false}));
    history_answer_.reset();
    return a;
  }
  reads_in_flight_ = false;
  if (status)
    a.send.push_back(encode(Noted{batch}));
  else
    a.send.push_back(encode(Error{status.code(),
                                  "reads batch " + std::to_string(batch) +
                                      " was not recorded: " + status.message() + "; send it again",
                                  false}));
  return a;
}

SessionActions ServerSession::handle(const HistoryRequest& m) {
  SessionActions a;
  if (upload_only_) {
    a.send.push_back(
        encode(Error{Code::revoked, "this device was revoked: nothing is sent to it", false}));
    return a;
  }
  if (history_ || history_answer_)
    return protocol_error(Code::unexpected_message, "a history is already in flight");
  if (!schema_.collection(m.collection) || !is_valid_record_id(m.id)) {
    a.send.push_back(encode(Error{Code::invalid_argument,
                                  "no such record '" + m.collection + "/" + m.id + "'", false}));
    return a;
  }
  history_ = m;
  a.read_history = m;
  return a;
}

SessionActions ServerSession::on_history(const Result<RecordLog>& log) {
  if (!history_) return {};
  const HistoryRequest request = std::move(*history_);
  history_.reset();
  SessionActions a;
  const std::string what = request.collection + "/" + request.id;
  if (!log) {
    a.send.push_back(encode(
        Error{log.status().code(),
              "the history of " + what + " could not be read: " + log.status().message(), false}));
    return a;
  }
  // A record outside the scope is answered like one that does not exist: nothing about it.
  if (!log->exists || log->entries.empty() || (scoped_ && !visibility_.sees(log->scope))) {
    a.send.push_back(encode(Error{Code::not_found, "no record " + what + " in this scope", false}));
    return a;
  }
  // At most half a frame of entries (long notes add up); `more` says the log holds more.
  HistoryLog answer{request.collection, request.id, {}, log->more};
  std::size_t bytes = 0;
  for (const auto& e : log->entries) {
    const std::size_t size = canonical(e.op).size() + 64;
    if (!answer.entries.empty() && bytes + size > kMaxFrameBytes / 2) {
      answer.more = true;
      break;
    }
    bytes += size;
    answer.entries.push_back(e);
  }
  history_answer_ = std::move(answer);
  ReadEvent read{request.collection, request.id, 0, "history"};
  a.record_reads = Reads{0, {read}};
  return a;
}

SessionActions ServerSession::on_committed(std::uint64_t batch,
                                           const std::vector<OpResult>& results) {
  auto it = pending_.find(batch);
  if (it == pending_.end()) return {};
  PendingBatch& b = it->second;
  for (std::size_t k = 0; k < b.submitted.size() && k < results.size(); ++k)
    b.results[b.submitted[k]] = results[k];
  SessionActions a;
  a.send.push_back(encode(Ack{batch, std::move(b.results)}));
  pending_.erase(it);
  return a;
}

SessionActions ServerSession::on_failed(std::uint64_t batch, const Status& error) {
  pending_.erase(batch);
  SessionActions a;
  a.send.push_back(encode(Error{
      error.code(),
      "batch " + std::to_string(batch) + " was not stored: " + error.message() + "; send it again",
      false}));
  return a;
}

SessionActions ServerSession::handle(const Pull& m) {
  if (upload_only_) {
    SessionActions a;
    a.send.push_back(
        encode(Error{Code::revoked, "this device was revoked: nothing is sent to it", false}));
    return a;
  }
  if (read_in_flight_ && !read_is_internal_)
    return protocol_error(Code::unexpected_message, "a pull is already in flight");
  if (read_in_flight_) {
    // A live fill is running; the client's pull replaces it (same data, from its cursor).
    read_is_internal_ = false;
  }
  if (scoped_ && !bootstrap_checked_) {
    bootstrap_checked_ = true;
    // A device that has pulled nothing and holds no item (a replica's digest is empty before
    // its first scope frame) gets its items whole by fetch after this read: the read can
    // skip their history. Any later pull of the session reads normally.
    const bool holds_nothing =
        hello_->scope.empty() || hello_->scope == scope_digest(std::vector<std::string>{});
    bootstrapping_ = m.cursor == 0 && hello_->cursor == 0 && holds_nothing;
  }
  SessionActions a;
  a.read = Pull{m.cursor, std::clamp<std::uint32_t>(m.limit, 1, config_.max_pull)};
  read_in_flight_ = true;
  read_is_internal_ = false;
  live_ = false;
  return a;
}

SessionActions ServerSession::read_more(std::uint64_t after) {
  SessionActions a;
  a.read = Pull{after, config_.max_pull};
  read_in_flight_ = true;
  read_is_internal_ = true;
  live_gap_ = false;
  return a;
}

SessionActions ServerSession::on_read(Changes changes) {
  read_in_flight_ = false;
  // An entry read under the current scope that may change it (a reassignment of a case this
  // device sees): stop the page before it, reload the scope, then read on under the new one.
  bool rescope = false;
  if (scoped_) {
    auto cut = std::find_if(
        changes.entries.begin(), changes.entries.end(),
        [this](const LogEntry& e) { return e.seq > rescoped_through_ && may_rescope(e); });
    if (cut != changes.entries.end()) {
      rescoped_through_ = cut->seq;
      changes.cursor = cut->seq - 1;
      changes.more = true;
      changes.entries.erase(cut, changes.entries.end());
      rescope = true;
    }
  }
  sent_cursor_ = std::max(sent_cursor_, changes.cursor);
  if (rescope) {
    SessionActions a;
    const bool internal = read_is_internal_;
    changes.live = internal;
    if (internal) changes.more = false;
    if (!changes.entries.empty() || !internal) send_changes(a, changes);
    live_gap_ = true;  // whatever follows is read again under the new scope
    if (!internal) live_ = false;
    if (!scope_loading_) {
      scope_loading_ = true;
      a.load_scope = true;
    }
    return a;
  }
  SessionActions a;
  if (read_is_internal_) {
    changes.live = true;
    bool more = changes.more;
    changes.more = false;
    if (!changes.entries.empty()) send_changes(a, changes);
    if (more || live_gap_) {
      auto next = read_more(sent_cursor_);
      a.read = next.read;
    } else if (scoped_ && (!scope_announced_ || announce_pending_)) {
      append(a, announce_scope(!scope_announced_));
    }
    return a;
  }
  bool more = changes.more;
  send_changes(a, changes);
  if (!more) {
    live_ = true;
    if (bootstrapping_) {
      // Caught up at the head. The scope read at auth may predate records committed up to
      // that head (a client a teammate just registered, say): read it again; on_scope then
      // re-reads the log from the head under it and sends the scope frame, whose items the
      // device fetches whole.
      bootstrapping_ = false;
      if (!scope_loading_) {
        scope_loading_ = true;
        a.load_scope = true;
      }
      return a;
    }
    if (live_gap_) {
      a.read = read_more(sent_cursor_).read;
    } else if (scoped_ && (!scope_announced_ || announce_pending_)) {
      append(a, announce_scope(!scope_announced_));
    }
  }
  return a;
}

void ServerSession::send_changes(SessionActions& a, const Changes& c) {
  a.send.push_back(encode(c));
  told_cursor_ = std::max(told_cursor_, c.cursor);
}

SessionActions ServerSession::on_live(const std::vector<LogEntry>& entries) {
  if (entries.empty() || upload_only_ || phase_ != Phase::ready) return {};
  if (scoped_ &&
      (scope_loading_ || std::any_of(entries.begin(), entries.end(), [this](const LogEntry& e) {
         return e.seq > rescoped_through_ && may_rescope(e);
       }))) {
    // The scope may change: load it again; the entries are re-read under the new one.
    rescoped_through_ = std::max(rescoped_through_, entries.back().seq);
    live_gap_ = true;
    if (scope_loading_) return {};
    scope_loading_ = true;
    SessionActions a;
    a.load_scope = true;
    return a;
  }
  if (!live_ || read_in_flight_) {
    live_gap_ = true;
    return {};
  }
  if (entries.front().seq > sent_cursor_ + 1) return read_more(sent_cursor_);
  Changes c;
  c.live = true;
  bool own = false;
  for (const auto& e : entries) {
    if (e.seq <= sent_cursor_) continue;
    if (e.op.device == hello_->device) {
      own = true;
      continue;
    }
    if (scoped_ && !visibility_.sees(e.scope)) continue;
    c.entries.push_back(e);
  }
  sent_cursor_ = std::max(sent_cursor_, entries.back().seq);
  c.cursor = sent_cursor_;
  SessionActions a;
  // Nothing to send but the cursor: the device is told anyway after its own ops were logged
  // and after many skipped entries, so that its next pull does not scan them again.
  if (!c.entries.empty() || own || sent_cursor_ - told_cursor_ >= kCursorNoticeEntries)
    send_changes(a, c);
  return a;
}

}  // namespace fieldsync::sync
