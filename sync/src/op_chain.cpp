// The device's chain of operations (contract in op_chain.hpp).
#include "fieldsync/sync/op_chain.hpp"

#include <algorithm>

#include <boost/json/serialize.hpp>

#include "fieldsync/crypto/sign.hpp"

namespace fieldsync::sync {

std::string canonical(const Op& op) { return boost::json::serialize(to_json(op)); }

crypto::Digest op_digest(std::string_view canonical_op) {
  return crypto::Hasher().str("fieldsync op v1").str(canonical_op).finish();
}

crypto::Digest op_digest(const Op& op) { return op_digest(canonical(op)); }

crypto::Digest chain_genesis(std::string_view device) {
  return crypto::Hasher().str("fieldsync chain genesis v1").str(device).finish();
}

crypto::Digest chain_next(const crypto::Digest& prev, const crypto::Digest& op_digest) {
  return crypto::Hasher().str("fieldsync chain v1").digest(prev).digest(op_digest).finish();
}

std::string push_message(std::string_view device, std::string_view last_op,
                         const crypto::Digest& head) {
  std::string out = "fieldsync push v1\n";
  out.append(device).append("\n").append(last_op).append("\n").append(digest_hex(head));
  return out;
}

std::string digest_hex(const crypto::Digest& d) { return crypto::to_hex(d); }

Result<crypto::Digest> digest_from_hex(std::string_view hex) {
  auto bytes = crypto::from_hex(hex);
  if (!bytes || bytes->size() != crypto::kDigestBytes)
    return Status(Code::malformed_frame, "a digest must be 64 hex digits");
  crypto::Digest d{};
  std::copy(bytes->begin(), bytes->end(), d.begin());
  return d;
}

}  // namespace fieldsync::sync
