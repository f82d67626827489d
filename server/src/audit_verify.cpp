// Re-checking the audit trail end to end (contract in audit.hpp). One pass over audit_log in
// sequence order, with a second cursor over the sync log in step with the op entries.
#include <cctype>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/server/audit.hpp"
#include "fieldsync/sync/op_chain.hpp"

namespace fieldsync::server::audit {
namespace json = boost::json;
namespace {

struct DeviceChain {
  std::optional<crypto::PublicKey> key;
  std::string state;                    // from the newest device entry: active, revoked, ...
  std::optional<crypto::Digest> head;   // the link the last batch signed
  std::vector<crypto::Digest> pending;  // digests of chained entries since that batch
  std::uint64_t unsigned_from = 0;      // the first of them
  std::uint64_t unchained_ops = 0;      // op entries of the device without a chain
};

// A number member as an unsigned integer (nullopt when absent, negative or not exact).
std::optional<std::uint64_t> number(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_number()) return std::nullopt;
  boost::system::error_code ec;
  const auto n = v->to_number<std::uint64_t>(ec);
  if (ec) return std::nullopt;
  return n;
}

struct LogRow {
  std::uint64_t seq = 0;
  std::string op_id, device, collection, record, op_json;
  bool skewed = false;
  std::int64_t received_ms = 0;
};

std::string text(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

bool flag(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_bool() && v->get_bool();
}

std::optional<crypto::Signature> signature_from_hex(const std::string& hex) {
  auto bytes = crypto::from_hex(hex);
  if (!bytes || bytes->size() != crypto::kSignatureBytes) return std::nullopt;
  crypto::Signature sig{};
  std::copy(bytes->begin(), bytes->end(), sig.begin());
  return sig;
}

bool verify_text(const crypto::PublicKey& key, const std::string& message,
                 const crypto::Signature& sig) {
  return crypto::verify(
      key, {reinterpret_cast<const std::uint8_t*>(message.data()), message.size()}, sig);
}

class Verifier {
 public:
  Verifier(crypto::Database& db, const crypto::PublicKey& server_key)
      : db_(db), server_key_(server_key) {}

  Result<VerifyReport> run() {
    auto server_device = db_.prepare("SELECT value FROM meta WHERE key = 'server_device'");
    if (!server_device) return server_device.status();
    auto row = server_device->step();
    if (!row) return row.status();
    if (*row) devices_[server_device->column_text(0)].key = server_key_;

    auto log = db_.prepare(
        "SELECT seq, op_id, device, collection, record, op_json, skewed, received_ms FROM log "
        "ORDER BY seq");
    if (!log) return log.status();
    log_.emplace(std::move(*log));
    if (Status s = next_log_row(); !s) return s;

    auto entries = db_.prepare(
        "SELECT seq, at_ms, kind, user, device, subject, detail, hash FROM audit_log "
        "ORDER BY seq");
    if (!entries) return entries.status();
    crypto::Digest prev{};
    std::uint64_t expect = 1;
    for (;;) {
      auto more = entries->step();
      if (!more) return more.status();
      if (!*more) break;
      const auto seq = static_cast<std::uint64_t>(entries->column_int(0));
      Event e{entries->column_text(2), entries->column_int(1),  entries->column_text(3),
              entries->column_text(4), entries->column_text(5), entries->column_text(6)};
      const auto stored = entries->column_blob(7);
      if (seq != expect)
        return fail(expect, seq > expect ? "entries #" + std::to_string(expect) + " to #" +
                                               std::to_string(seq - 1) + " are missing"
                                         : "entry #" + std::to_string(seq) + " is out of order");
      const crypto::Digest hash = entry_hash(prev, seq, e);
      if (stored.size() != hash.size() || !std::equal(hash.begin(), hash.end(), stored.begin()))
        return fail(seq, "entry #" + std::to_string(seq) + " (" + e.kind + " " + e.subject +
                             ") does not match its hash: it, or the entry before it, was "
                             "changed, removed or moved");
      if (Status s = check(seq, e, prev); !s) return s;
      if (report_.problem) return report_;
      last_kind_ = e.kind;
      prev = hash;
      report_.head_hash = sync::digest_hex(hash);
      ++expect;
      ++report_.entries;
    }
    if (log_row_) {
      return fail(expect, "log row #" + std::to_string(log_row_->seq) + " (op " + log_row_->op_id +
                              ") has no audit entry");
    }
    for (const auto& [device, chain] : devices_)
      if (chain.unsigned_from != 0)
        return fail(chain.unsigned_from, "entry #" + std::to_string(chain.unsigned_from) +
                                             ": operations of device " + device +
                                             " from here on are covered by no signature");
    // Every transaction that appends ends in a checkpoint: a tail after the last one was
    // added without the key (the migration's audit_started entry aside).
    if (report_.entries > 0 && last_kind_ != "checkpoint" && !last_is_start_) {
      const std::uint64_t from = report_.last_checkpoint + 1;
      return fail(from, "entries #" + std::to_string(from) + " to #" +
                            std::to_string(report_.entries) +
                            " follow the newest checkpoint: they were added without the "
                            "server's audit key (inserted into the file?)");
    }
    if (auto r = check_chain_cache(); !r || r->problem) return r;
    if (auto r = check_devices(); !r || r->problem) return r;
    return check_passwords();
  }

 private:
  VerifyReport fail(std::uint64_t seq, std::string what) {
    report_.problem = Problem{seq, std::move(what)};
    return report_;
  }

  Status next_log_row() {
    auto row = log_->step();
    if (!row) return row.status();
    if (!*row) {
      log_row_.reset();
      return Status::ok();
    }
    log_row_ = LogRow{static_cast<std::uint64_t>(log_->column_int(0)),
                      log_->column_text(1),
                      log_->column_text(2),
                      log_->column_text(3),
                      log_->column_text(4),
                      log_->column_text(5),
                      log_->column_int(6) != 0,
                      log_->column_int(7)};
    return Status::ok();
  }

  // Per-kind checks of entry `seq`; sets report_.problem on the first failure.
  Status check(std::uint64_t seq, const Event& e, const crypto::Digest& prev) {
    boost::system::error_code ec;
    json::value parsed = json::parse(e.detail, ec);
    if (ec || !parsed.is_object()) {
      fail(seq, "entry #" + std::to_string(seq) + " has unreadable details");
      return Status::ok();
    }
    const json::object& d = parsed.get_object();
    last_is_start_ = e.kind == "admin" && text(d, "event") == "audit_started";
    if (e.kind == "admin" && text(d, "event") == "password_set")
      passwords_[text(d, "user")] = text(d, "hash_digest");
    if (e.kind == "op") return check_op(seq, e, d);
    if (e.kind == "refused" || e.kind == "repeat") {
      if (flag(d, "chained")) extend(seq, e.device, text(d, "digest"));
    } else if (e.kind == "admin" && text(d, "event") == "audit_started" &&
               report_.checkpoints > 0) {
      fail(seq, "entry #" + std::to_string(seq) +
                    " says the trail starts here, after checkpoints: it was inserted");
    } else if (e.kind == "alarm") {
      const auto from = number(d, "from").value_or(seq);
      fail(from, "entries #" + std::to_string(from) + " to #" +
                     std::to_string(number(d, "through").value_or(seq)) +
                     " were added without a checkpoint after them (inserted into the file, or "
                     "written without the audit key); the server found them at entry #" +
                     std::to_string(seq));
    } else if (e.kind == "batch") {
      check_batch(seq, e, d);
    } else if (e.kind == "device") {
      const std::string key = text(d, "key");
      if (!key.empty()) {
        auto bytes = crypto::from_hex(key);
        if (!bytes || bytes->size() != crypto::kPublicKeyBytes) {
          fail(seq, "entry #" + std::to_string(seq) + " holds an unreadable device key");
          return Status::ok();
        }
        crypto::PublicKey k{};
        std::copy(bytes->begin(), bytes->end(), k.begin());
        auto& chain = devices_[e.device];
        if (chain.key && *chain.key != k)
          fail(seq,
               "entry #" + std::to_string(seq) + " gives device " + e.device + " a second key");
        chain.key = k;
      }
      // The device's state as the directory must show it (devices table, check_devices).
      const std::string event = text(d, "event");
      const std::string state = text(d, "state");
      auto& chain = devices_[e.device];
      if (!state.empty())
        chain.state = state;
      else if (event == "enrolled")
        chain.state = "active";
      else if (event == "revoked" || event == "revoked_no_upload" || event == "wiped")
        chain.state = event;
    } else if (e.kind == "checkpoint") {
      check_checkpoint(seq, d, prev);
    }
    return Status::ok();
  }

  Status check_op(std::uint64_t seq, const Event& e, const json::object& d) {
    const std::string where = "entry #" + std::to_string(seq) + " (op " + e.subject + ")";
    const auto log_seq = number(d, "log");
    if (!log_seq) {
      fail(seq, where + " names no log row");
      return Status::ok();
    }
    const auto want = *log_seq;
    if (!log_row_ || log_row_->seq > want) {
      fail(seq, where + ": its log row #" + std::to_string(want) + " is missing");
      return Status::ok();
    }
    if (log_row_->seq < want) {
      fail(seq, "log row #" + std::to_string(log_row_->seq) + " (op " + log_row_->op_id +
                    ") has no audit entry");
      return Status::ok();
    }
    const LogRow& row = *log_row_;
    const std::string digest = sync::digest_hex(log_row_digest(row.op_json));
    bool same = digest == text(d, "digest") && row.op_id == e.subject && row.device == e.device &&
                row.skewed == flag(d, "skewed") && row.received_ms == e.at_ms;
    if (same) {
      boost::system::error_code ec;
      auto v = json::parse(row.op_json, ec);
      auto op = ec ? Result<sync::Op>(Status(Code::storage, "")) : sync::op_from_json(v);
      same = op && op->id == row.op_id && op->device == row.device && op->user == e.user &&
             op->collection == row.collection && op->record == row.record;
    }
    if (!same) {
      fail(seq, where + ": log row #" + std::to_string(row.seq) +
                    " does not match what was recorded (the operation or its columns were "
                    "changed)");
      return Status::ok();
    }
    ++report_.ops;
    if (flag(d, "chained")) {
      extend(seq, e.device, digest);
    } else {
      ++report_.unsigned_ops;
      ++devices_[e.device].unchained_ops;
    }
    return next_log_row();
  }

  void extend(std::uint64_t seq, const std::string& device, const std::string& digest_text) {
    auto digest = sync::digest_from_hex(digest_text);
    if (!digest) {
      fail(seq, "entry #" + std::to_string(seq) + " holds an unreadable digest");
      return;
    }
    auto& chain = devices_[device];
    chain.pending.push_back(*digest);
    if (chain.unsigned_from == 0) chain.unsigned_from = seq;
  }

  void check_batch(std::uint64_t seq, const Event& e, const json::object& d) {
    const std::string where = "entry #" + std::to_string(seq) + " (batch of " + e.device + ")";
    auto& chain = devices_[e.device];
    auto from = sync::digest_from_hex(text(d, "from"));
    auto head = sync::digest_from_hex(text(d, "head"));
    auto sig = signature_from_hex(text(d, "sig"));
    if (!from || !head || !sig) return (void)fail(seq, where + " is unreadable");
    if (chain.head && *chain.head != *from)
      return (void)fail(seq, where + ": it does not continue the device's previous batch");
    if (!chain.head && *from != sync::chain_genesis(e.device) && chain.unchained_ops == 0)
      return (void)fail(seq, where +
                                 ": the device's first batch does not start its chain, and "
                                 "no earlier operation of the device is in the log");
    crypto::Digest link = *from;
    for (const auto& digest : chain.pending) link = sync::chain_next(link, digest);
    if (chain.pending.empty() || link != *head)
      return (void)fail(seq, where +
                                 ": the device's operations before it do not chain to the "
                                 "head it signed (one was changed, removed or reordered)");
    if (!chain.key) return (void)fail(seq, where + ": no key is recorded for the device");
    if (chain.state == "revoked_no_upload" || chain.state == "wiped")
      return (void)fail(seq, where + ": the device was revoked without uploads before it");
    if (!verify_text(*chain.key, sync::push_message(e.device, text(d, "last"), *head), *sig))
      return (void)fail(seq, where + ": the device's signature does not verify");
    chain.head = *head;
    chain.pending.clear();
    chain.unsigned_from = 0;
    ++report_.batches;
  }

  void check_checkpoint(std::uint64_t seq, const json::object& d, const crypto::Digest& prev) {
    const std::string where = "entry #" + std::to_string(seq) + " (checkpoint)";
    const auto through = number(d, "through");
    auto head = sync::digest_from_hex(text(d, "head"));
    auto sig = signature_from_hex(text(d, "sig"));
    if (!through || !head || !sig) return (void)fail(seq, where + " is unreadable");
    const auto n = *through;
    if (n + 1 != seq || *head != prev)
      return (void)fail(seq, where + " does not sign the entry before it");
    if (!verify_text(server_key_, checkpoint_message(n, *head), *sig))
      return (void)fail(seq, where +
                                 ": the server's signature does not verify (forged, or "
                                 "made with another key)");
    ++report_.checkpoints;
    report_.last_checkpoint = seq;
  }

  // device_chains is derived from the log: each device with a signed batch has its row, and
  // the row holds the head its last batch signed (a row that disagrees refuses good pushes,
  // a missing one lets the device's chain start over).
  Result<VerifyReport> check_chain_cache() {
    auto rows = db_.prepare("SELECT device, head FROM device_chains ORDER BY device");
    if (!rows) return rows.status();
    std::size_t matched = 0;
    for (;;) {
      auto row = rows->step();
      if (!row) return row.status();
      if (!*row) break;
      const std::string device = rows->column_text(0);
      const auto head = rows->column_blob(1);
      auto it = devices_.find(device);
      if (it == devices_.end() || !it->second.head ||
          !std::equal(head.begin(), head.end(), it->second.head->begin(), it->second.head->end()))
        return fail(
            0, "device_chains holds a link for " + device + " that the audit log does not give");
      ++matched;
    }
    for (const auto& [device, chain] : devices_)
      if (chain.head && matched-- == 0)
        return fail(0, "device_chains lacks device " + device + ", whose batches the log holds");
    return report_;
  }

  // The directory's devices table is mutable; the log says what each device's key and state
  // must be.
  Result<VerifyReport> check_devices() {
    auto rows = db_.prepare("SELECT id, hex(public_key), state FROM devices ORDER BY id");
    if (!rows) return rows.status();
    for (;;) {
      auto row = rows->step();
      if (!row) return row.status();
      if (!*row) break;
      const std::string id = rows->column_text(0);
      auto it = devices_.find(id);
      if (it == devices_.end() || !it->second.key)
        return fail(0, "device " + id + " is in the directory but its key is not in the log");
      std::string key = rows->column_text(1);
      for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (key != crypto::to_hex(*it->second.key))
        return fail(0, "device " + id + "'s key in the directory is not the one in the log");
      const std::string state = rows->column_text(2);
      const bool wiped_after_revoke =
          state == "wiped" && it->second.state.starts_with("revoked");  // not logged (yet)
      if (!it->second.state.empty() && state != it->second.state && !wiped_after_revoke) {
        std::string what = "device ";
        what.append(id).append(" is '").append(state).append("' in the directory but '");
        what.append(it->second.state).append("' in the log");
        return fail(0, std::move(what));
      }
    }
    return report_;
  }

  // Each stored password hash is the one the trail's last password_set for its user names.
  Result<VerifyReport> check_passwords() {
    auto rows = db_.prepare("SELECT user, hash FROM passwords ORDER BY user");
    if (!rows) return rows.status();
    for (;;) {
      auto row = rows->step();
      if (!row) return row.status();
      if (!*row) break;
      const std::string user = rows->column_text(0);
      auto it = passwords_.find(user);
      if (it == passwords_.end() ||
          it->second != crypto::to_hex(crypto::digest(rows->column_text(1))))
        return fail(0, "the password of " + user + " is not the one the trail says was set");
    }
    return report_;
  }

  crypto::Database& db_;
  const crypto::PublicKey& server_key_;
  std::map<std::string, std::string> passwords_;  // user -> digest of the hash last set
  VerifyReport report_;
  std::map<std::string, DeviceChain> devices_;
  std::optional<crypto::Statement> log_;
  std::optional<LogRow> log_row_;
  std::string last_kind_;
  bool last_is_start_ = false;
};

}  // namespace

Result<VerifyReport> verify(crypto::Database& db, const crypto::PublicKey& server_key) {
  // One read snapshot for both cursors.
  if (Status s = db.exec("BEGIN"); !s) return s;
  auto report = Verifier(db, server_key).run();
  (void)db.exec("COMMIT");
  return report;
}

}  // namespace fieldsync::server::audit
