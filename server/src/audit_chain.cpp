// The audit log's hash chain, appends and checkpoints (contract in audit.hpp).
#include <string_view>

#include <boost/json.hpp>

#include "audit_writer.hpp"
#include "fieldsync/server/store_file.hpp"
#include "fieldsync/sync/op_chain.hpp"

namespace fieldsync::server::audit {

crypto::Digest entry_hash(const crypto::Digest& prev, std::uint64_t seq, const Event& e) {
  return crypto::Hasher()
      .str("fieldsync audit v1")
      .digest(prev)
      .u64(seq)
      .i64(e.at_ms)
      .str(e.kind)
      .str(e.user)
      .str(e.device)
      .str(e.subject)
      .str(e.detail)
      .finish();
}

std::string checkpoint_message(std::uint64_t through, const crypto::Digest& head) {
  return "fieldsync audit checkpoint v1\n" + std::to_string(through) + "\n" +
         sync::digest_hex(head);
}

crypto::Digest log_row_digest(std::string_view op_json) { return sync::op_digest(op_json); }

Event op_event(std::uint64_t log_seq, std::string_view op_id, std::string_view device,
               std::string_view user, std::string_view op_json, bool skewed,
               std::int64_t received_ms, bool chained) {
  boost::json::object detail;
  detail["log"] = log_seq;
  detail["digest"] = sync::digest_hex(log_row_digest(op_json));
  detail["skewed"] = skewed;
  detail["chained"] = chained;
  return Event{"op",
               received_ms,
               std::string(user),
               std::string(device),
               std::string(op_id),
               boost::json::serialize(detail)};
}

Result<AuditWriter> AuditWriter::prepare(crypto::Database& db,
                                         std::shared_ptr<const crypto::SigningKey> key) {
  auto head = db.prepare("SELECT seq, hash, kind, detail FROM audit_log ORDER BY seq DESC LIMIT 1");
  if (!head) return head.status();
  auto insert = db.prepare(
      "INSERT INTO audit_log(seq, at_ms, kind, user, device, subject, detail, hash) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!insert) return insert.status();
  auto hash_at = db.prepare("SELECT hash FROM audit_log WHERE seq = ?1");
  if (!hash_at) return hash_at.status();
  return AuditWriter(db, std::move(key), std::move(*head), std::move(*insert), std::move(*hash_at));
}

Result<AuditWriter::Head> AuditWriter::load_head() {
  if (head_) return *head_;
  Head h;
  auto row = head_stmt_.step();
  if (!row) return row.status();
  if (*row) {
    h.seq = static_cast<std::uint64_t>(head_stmt_.column_int(0));
    auto blob = head_stmt_.column_blob(1);
    if (blob.size() != h.hash.size()) {
      (void)head_stmt_.reset();
      return Status(Code::storage, "the audit log's newest entry has no valid hash");
    }
    std::copy(blob.begin(), blob.end(), h.hash.begin());
    h.kind = head_stmt_.column_text(2);
    h.detail = head_stmt_.column_text(3);
  }
  if (Status s = head_stmt_.reset(); !s) return s;
  head_ = h;
  return h;
}

// Whether `head` ends the log sealed: a checkpoint by this key over the entry before it.
Result<bool> AuditWriter::sealed(const Head& head) {
  if (head.seq == 0) return true;
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(head.detail, ec);
  if (ec || !v.is_object()) return false;
  const boost::json::object& d = v.get_object();
  if (head.kind == "admin") {
    // A migrated store's trail starts unsealed, by design: its backfill ends in audit_started
    // and has no checkpoint before it. Anywhere else, audit_started is a forgery.
    const auto* event = d.if_contains("event");
    if (!event || !event->is_string() || event->get_string() != "audit_started") return false;
    auto any = db_->prepare("SELECT count(*) FROM audit_log WHERE kind = 'checkpoint'");
    if (!any) return any.status();
    auto row = any->step();
    if (!row) return row.status();
    return *row && any->column_int(0) == 0;
  }
  if (head.kind != "checkpoint") return false;
  const auto* through = d.if_contains("through");
  const auto* head_hex = d.if_contains("head");
  const auto* sig_hex = d.if_contains("sig");
  if (!through || !head_hex || !sig_hex || !head_hex->is_string() || !sig_hex->is_string())
    return false;
  auto n = through->to_number<std::uint64_t>(ec);
  auto signed_head = sync::digest_from_hex(head_hex->get_string());
  auto sig = crypto::from_hex(sig_hex->get_string());
  if (ec || n + 1 != head.seq || !signed_head || !sig || sig->size() != crypto::kSignatureBytes)
    return false;
  auto row = hash_at_.bind(1, static_cast<std::int64_t>(n)).step();
  const auto hash = row && *row ? hash_at_.column_blob(0) : std::vector<std::uint8_t>();
  (void)hash_at_.reset();
  if (!row) return row.status();
  if (!std::equal(hash.begin(), hash.end(), signed_head->begin(), signed_head->end())) return false;
  crypto::Signature signature{};
  std::copy(sig->begin(), sig->end(), signature.begin());
  const std::string m = checkpoint_message(n, *signed_head);
  return crypto::verify(key_->public_key(),
                        {reinterpret_cast<const std::uint8_t*>(m.data()), m.size()}, signature);
}

Status AuditWriter::check_seal(std::int64_t at_ms) {
  seal_checked_ = true;
  if (!key_) return Status::ok();
  auto head = load_head();
  if (!head) return head.status();
  auto ok = sealed(*head);
  if (!ok) return ok.status();
  if (*ok) return Status::ok();
  auto last = db_->prepare("SELECT COALESCE(MAX(seq), 0) FROM audit_log WHERE kind = 'checkpoint'");
  if (!last) return last.status();
  auto row = last->step();
  if (!row) return row.status();
  boost::json::object detail;
  detail["event"] = "unsealed";
  detail["from"] = static_cast<std::uint64_t>(*row ? last->column_int(0) : 0) + 1;
  detail["through"] = head->seq;
  auto seq = append(Event{"alarm", at_ms, "", "", "", boost::json::serialize(detail)});
  return seq ? Status::ok() : seq.status();
}

Result<std::uint64_t> AuditWriter::append(const Event& e) {
  if (!seal_checked_)
    if (Status s = check_seal(e.at_ms); !s) return s;
  auto head = load_head();
  if (!head) return head.status();
  const std::uint64_t seq = head->seq + 1;
  const crypto::Digest hash = entry_hash(head->hash, seq, e);
  Status s = insert_.bind(1, static_cast<std::int64_t>(seq))
                 .bind(2, e.at_ms)
                 .bind(3, e.kind)
                 .bind(4, e.user)
                 .bind(5, e.device)
                 .bind(6, e.subject)
                 .bind(7, e.detail)
                 .bind_blob(8, hash)
                 .run();
  (void)insert_.reset();
  if (!s) {
    head_.reset();
    return s;
  }
  head_ = Head{seq, hash, e.kind, e.detail};
  appended_ = true;
  return seq;
}

Result<bool> AuditWriter::checkpoint(std::int64_t now_ms) {
  if (!key_) return false;
  // The seal check first: an alarm it raises is what this checkpoint must sign, never the
  // entries the alarm names.
  if (!seal_checked_)
    if (Status s = check_seal(now_ms); !s) return s;
  auto head = load_head();
  if (!head) return head.status();
  if (head->seq == 0 || head->kind == "checkpoint") return false;
  const std::string message = checkpoint_message(head->seq, head->hash);
  const crypto::Signature sig =
      key_->sign({reinterpret_cast<const std::uint8_t*>(message.data()), message.size()});
  boost::json::object detail;
  detail["through"] = head->seq;
  detail["head"] = sync::digest_hex(head->hash);
  detail["sig"] = crypto::to_hex(sig);
  auto seq = append(Event{"checkpoint", now_ms, "", "", "", boost::json::serialize(detail)});
  if (!seq) return seq.status();
  return true;
}

Status AuditWriter::seal(std::int64_t now_ms) {
  if (!appended_ || !key_) return Status::ok();
  auto wrote = checkpoint(now_ms);
  return wrote ? Status::ok() : wrote.status();
}

Result<std::uint64_t> append(crypto::Database& db, const Event& e,
                             const std::shared_ptr<const crypto::SigningKey>& key) {
  auto w = AuditWriter::prepare(db, key);
  if (!w) return w.status();
  auto seq = w->append(e);
  if (!seq) return seq;
  if (Status s = w->seal(e.at_ms); !s) return s;
  return seq;
}

Result<std::optional<crypto::PublicKey>> pinned_key(crypto::Database& db) {
  auto st = db.prepare("SELECT value FROM meta WHERE key = 'audit_public_key'");
  if (!st) return st.status();
  auto row = st->step();
  if (!row) return row.status();
  if (!*row) return std::optional<crypto::PublicKey>();
  auto bytes = crypto::from_hex(st->column_text(0));
  if (!bytes || bytes->size() != crypto::kPublicKeyBytes)
    return Status(Code::storage, "the store's pinned audit key is unreadable");
  crypto::PublicKey k{};
  std::copy(bytes->begin(), bytes->end(), k.begin());
  return std::optional<crypto::PublicKey>(k);
}

Status pin_key(crypto::Database& db, const crypto::PublicKey& key) {
  return crypto::in_transaction(db, [&]() -> Status {
    auto pinned = pinned_key(db);
    if (!pinned) return pinned.status();
    if (!*pinned) {
      auto st = db.prepare("INSERT INTO meta(key, value) VALUES ('audit_public_key', ?1)");
      if (!st) return st.status();
      return st->bind(1, crypto::to_hex(key)).run();
    }
    if (**pinned == key) return Status::ok();
    return Status(Code::invalid_argument,
                  "the audit key in use (public " + crypto::to_hex(key).substr(0, 16) +
                      "...) is not this store's (public " + crypto::to_hex(**pinned).substr(0, 16) +
                      "...): name the store's key file with --audit-key");
  });
}

Result<std::shared_ptr<const crypto::SigningKey>> open_key(const StoreFile& file,
                                                           const std::string& key_path) {
  auto db = file.connect(/*writable=*/true);
  if (!db) return db.status();
  auto pinned = pinned_key(**db);
  if (!pinned) return pinned.status();
  // A missing key file is made only for a store that has no key yet: a store whose key lives
  // elsewhere must not get a second one by accident.
  auto key = *pinned ? crypto::load_signing_key_file(key_path)
                     : crypto::load_or_create_signing_key_file(key_path);
  if (!key) {
    if (key.status().code() == Code::not_found)
      return Status(Code::not_found, "no audit key at " + key_path +
                                         ": this store's key file is elsewhere (--audit-key FILE)");
    return key.status();
  }
  if (Status s = pin_key(**db, key->public_key()); !s) return s;
  return std::make_shared<const crypto::SigningKey>(std::move(*key));
}

}  // namespace fieldsync::server::audit
