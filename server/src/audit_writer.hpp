// Appending to the audit log through prepared statements (contract in audit.hpp). One
// AuditWriter per write connection; begin() at the start of every write transaction, since
// another process may have appended since.
//
// Sealing: with the server's audit key, the first append of a transaction checks that the
// log ends in a checkpoint this key signed over the entry before it (or is empty, or ends in
// the migration's audit_started entry). If not, someone appended without the key since the
// last seal (an insertion into the file, or a process without the key): an `alarm` entry
// naming those entries goes in first, and audit verify fails there. Every transaction that
// appended then ends in a checkpoint (seal()), so the log of a healthy store always ends
// sealed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/server/audit.hpp"

namespace fieldsync::server::audit {

class AuditWriter {
 public:
  // `key`: the server's audit key; null: no sealing (tests of other parts, tools without it).
  static Result<AuditWriter> prepare(crypto::Database& db,
                                     std::shared_ptr<const crypto::SigningKey> key = nullptr);

  void begin() {
    head_.reset();
    seal_checked_ = false;
    appended_ = false;
  }
  Result<std::uint64_t> append(const Event& e);
  // Ends the transaction's appends with a checkpoint (nothing without a key or appends).
  Status seal(std::int64_t now_ms);
  // A checkpoint over the newest entry unless it is one; returns whether it wrote one.
  Result<bool> checkpoint(std::int64_t now_ms);

 private:
  struct Head {
    std::uint64_t seq = 0;
    crypto::Digest hash{};
    std::string kind;
    std::string detail;
  };
  AuditWriter(crypto::Database& db, std::shared_ptr<const crypto::SigningKey> key,
              crypto::Statement head, crypto::Statement insert, crypto::Statement hash_at)
      : db_(&db),
        key_(std::move(key)),
        head_stmt_(std::move(head)),
        insert_(std::move(insert)),
        hash_at_(std::move(hash_at)) {}
  Result<Head> load_head();
  Result<bool> sealed(const Head& head);
  Status check_seal(std::int64_t at_ms);

  crypto::Database* db_;
  std::shared_ptr<const crypto::SigningKey> key_;
  crypto::Statement head_stmt_;
  crypto::Statement insert_;
  crypto::Statement hash_at_;  // an entry's hash: the seal check, once per transaction
  std::optional<Head> head_;   // cached within one transaction
  bool seal_checked_ = false;
  bool appended_ = false;
};

}  // namespace fieldsync::server::audit
