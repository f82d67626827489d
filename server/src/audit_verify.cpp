// Re-checking the audit trail end to end (contract in audit.hpp). One pass over audit_log in
// sequence order, with a second cursor over the sync log in step with the op entries.
#include <map>
#include <optional>
#include <string>

#include <boost/json.hpp>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/server/audit.hpp"
#include "fieldsync/sync/op_chain.hpp"

namespace fieldsync::server::audit {
namespace json = boost::json;
namespace {

struct DeviceChain {
  std::optional<crypto::PublicKey> key;
  std::optional<crypto::Digest> link;  // unset: no chained op yet (the genesis comes first)
  std::uint64_t unsigned_from = 0;     // the first chained entry no batch signature covers yet
};

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
      prev = hash;
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
    return check_chain_cache();
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
    if (e.kind == "op") return check_op(seq, e, d);
    if (e.kind == "refused" || e.kind == "repeat") {
      if (flag(d, "chained")) extend(seq, e.device, text(d, "digest"));
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
    } else if (e.kind == "checkpoint") {
      check_checkpoint(seq, d, prev);
    }
    return Status::ok();
  }

  Status check_op(std::uint64_t seq, const Event& e, const json::object& d) {
    const std::string where = "entry #" + std::to_string(seq) + " (op " + e.subject + ")";
    const auto* log_seq = d.if_contains("log");
    if (!log_seq || !log_seq->is_number()) {
      fail(seq, where + " names no log row");
      return Status::ok();
    }
    const auto want = log_seq->to_number<std::uint64_t>();
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
    if (flag(d, "chained")) extend(seq, e.device, digest);
    return next_log_row();
  }

  void extend(std::uint64_t seq, const std::string& device, const std::string& digest_text) {
    auto digest = sync::digest_from_hex(digest_text);
    if (!digest) {
      fail(seq, "entry #" + std::to_string(seq) + " holds an unreadable digest");
      return;
    }
    auto& chain = devices_[device];
    chain.link = sync::chain_next(chain.link.value_or(sync::chain_genesis(device)), *digest);
    if (chain.unsigned_from == 0) chain.unsigned_from = seq;
  }

  void check_batch(std::uint64_t seq, const Event& e, const json::object& d) {
    const std::string where = "entry #" + std::to_string(seq) + " (batch of " + e.device + ")";
    auto& chain = devices_[e.device];
    auto head = sync::digest_from_hex(text(d, "head"));
    auto sig = signature_from_hex(text(d, "sig"));
    if (!head || !sig) return (void)fail(seq, where + " is unreadable");
    if (!chain.link || *chain.link != *head)
      return (void)fail(seq, where +
                                 ": the device's operations before it do not chain to the "
                                 "head it signed (one was changed, removed or reordered)");
    if (!chain.key) return (void)fail(seq, where + ": no key is recorded for the device");
    if (!verify_text(*chain.key, sync::push_message(e.device, text(d, "last"), *head), *sig))
      return (void)fail(seq, where + ": the device's signature does not verify");
    chain.unsigned_from = 0;
    ++report_.batches;
  }

  void check_checkpoint(std::uint64_t seq, const json::object& d, const crypto::Digest& prev) {
    const std::string where = "entry #" + std::to_string(seq) + " (checkpoint)";
    const auto* through = d.if_contains("through");
    auto head = sync::digest_from_hex(text(d, "head"));
    auto sig = signature_from_hex(text(d, "sig"));
    if (!through || !through->is_number() || !head || !sig)
      return (void)fail(seq, where + " is unreadable");
    const auto n = through->to_number<std::uint64_t>();
    if (n + 1 != seq || *head != prev)
      return (void)fail(seq, where + " does not sign the entry before it");
    if (!verify_text(server_key_, checkpoint_message(n, *head), *sig))
      return (void)fail(seq, where +
                                 ": the server's signature does not verify (forged, or "
                                 "made with another key)");
    ++report_.checkpoints;
    report_.last_checkpoint = seq;
  }

  // device_chains is derived from the log; a row that disagrees would refuse good pushes.
  Result<VerifyReport> check_chain_cache() {
    auto rows = db_.prepare("SELECT device, head FROM device_chains ORDER BY device");
    if (!rows) return rows.status();
    for (;;) {
      auto row = rows->step();
      if (!row) return row.status();
      if (!*row) break;
      const std::string device = rows->column_text(0);
      const auto head = rows->column_blob(1);
      auto it = devices_.find(device);
      if (it == devices_.end() || !it->second.link ||
          !std::equal(head.begin(), head.end(), it->second.link->begin(), it->second.link->end()))
        return fail(
            0, "device_chains holds a link for " + device + " that the audit log does not give");
    }
    return report_;
  }

  crypto::Database& db_;
  const crypto::PublicKey& server_key_;
  VerifyReport report_;
  std::map<std::string, DeviceChain> devices_;
  std::optional<crypto::Statement> log_;
  std::optional<LogRow> log_row_;
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
