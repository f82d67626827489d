// The audit log's hash chain, appends and checkpoints (contract in audit.hpp).
#include <string_view>

#include <boost/json.hpp>

#include "audit_writer.hpp"
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

Result<AuditWriter> AuditWriter::prepare(crypto::Database& db) {
  auto head = db.prepare("SELECT seq, hash, kind FROM audit_log ORDER BY seq DESC LIMIT 1");
  if (!head) return head.status();
  auto insert = db.prepare(
      "INSERT INTO audit_log(seq, at_ms, kind, user, device, subject, detail, hash) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (!insert) return insert.status();
  return AuditWriter(std::move(*head), std::move(*insert));
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
    h.checkpoint = head_stmt_.column_text(2) == "checkpoint";
  }
  if (Status s = head_stmt_.reset(); !s) return s;
  head_ = h;
  return h;
}

Result<std::uint64_t> AuditWriter::append(const Event& e) {
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
  head_ = Head{seq, hash, e.kind == "checkpoint"};
  return seq;
}

Result<bool> AuditWriter::checkpoint(const crypto::SigningKey& key, std::int64_t now_ms) {
  auto head = load_head();
  if (!head) return head.status();
  if (head->seq == 0 || head->checkpoint) return false;
  const std::string message = checkpoint_message(head->seq, head->hash);
  const crypto::Signature sig =
      key.sign({reinterpret_cast<const std::uint8_t*>(message.data()), message.size()});
  boost::json::object detail;
  detail["through"] = head->seq;
  detail["head"] = sync::digest_hex(head->hash);
  detail["sig"] = crypto::to_hex(sig);
  Event e{"checkpoint", now_ms, "", "", "", boost::json::serialize(detail)};
  auto seq = append(e);
  if (!seq) return seq.status();
  return true;
}

Result<std::uint64_t> append(crypto::Database& db, const Event& e) {
  auto w = AuditWriter::prepare(db);
  if (!w) return w.status();
  return w->append(e);
}

Result<bool> checkpoint(crypto::Database& db, const crypto::SigningKey& key, std::int64_t now_ms) {
  auto w = AuditWriter::prepare(db);
  if (!w) return w.status();
  return w->checkpoint(key, now_ms);
}

}  // namespace fieldsync::server::audit
