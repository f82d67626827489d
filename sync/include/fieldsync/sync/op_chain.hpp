// The device's chain of operations (docs/AUDIT.md). Every operation a device makes extends its
// chain: link(n) = BLAKE2b(link(n-1), digest(op n)), starting from a genesis value bound to the
// device id. A push carries the link before its first operation, each operation's digest, and
// one Ed25519 signature over the link after its last: the server recomputes the links, checks
// the one signature, and so holds proof that every operation of the batch came from the
// device, in that order, with nothing left out since the previous batch.
//
// The canonical encoding of an operation is its JSON form (op.hpp) as serialised by
// canonical(): members in a fixed order, no whitespace. Both ends compute digests from the
// parsed operation, never from the bytes that travelled.
//
// Pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "fieldsync/crypto/hash.hpp"
#include "fieldsync/sync/op.hpp"

namespace fieldsync::sync {

std::string canonical(const Op& op);
// The digest of an operation's canonical encoding (as canonical() or the server log stores it).
crypto::Digest op_digest(std::string_view canonical_op);
crypto::Digest op_digest(const Op& op);
// The link before a device's first operation.
crypto::Digest chain_genesis(std::string_view device);
crypto::Digest chain_next(const crypto::Digest& prev, const crypto::Digest& op_digest);

// The bytes a device signs for a pushed batch: a fixed context, the device id, the last
// operation's id and the link after it, each on its own line.
std::string push_message(std::string_view device, std::string_view last_op,
                         const crypto::Digest& head);

// Hex text of a digest and back (Code::malformed_frame when not 64 hex digits).
std::string digest_hex(const crypto::Digest& d);
Result<crypto::Digest> digest_from_hex(std::string_view hex);

}  // namespace fieldsync::sync
