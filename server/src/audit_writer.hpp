// Appending to the audit log through prepared statements (contract in audit.hpp). One
// AuditWriter per write connection; begin() at the start of every write transaction, since
// another process may have appended since.
#pragma once

#include <cstdint>
#include <optional>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/server/audit.hpp"

namespace fieldsync::server::audit {

class AuditWriter {
 public:
  static Result<AuditWriter> prepare(crypto::Database& db);

  void begin() { head_.reset(); }
  Result<std::uint64_t> append(const Event& e);
  Result<bool> checkpoint(const crypto::SigningKey& key, std::int64_t now_ms);
  // The newest entry's sequence number (0: none).
  Result<std::uint64_t> head_seq() {
    auto h = load_head();
    if (!h) return h.status();
    return h->seq;
  }

 private:
  struct Head {
    std::uint64_t seq = 0;
    crypto::Digest hash{};
    bool checkpoint = false;  // the newest entry is a checkpoint
  };
  AuditWriter(crypto::Statement head, crypto::Statement insert)
      : head_stmt_(std::move(head)), insert_(std::move(insert)) {}
  Result<Head> load_head();

  crypto::Statement head_stmt_;
  crypto::Statement insert_;
  std::optional<Head> head_;  // cached within one transaction
};

}  // namespace fieldsync::server::audit
