// Fuzz target: the wire codec's decoder (sync::decode) on arbitrary bytes.
// Properties: a frame that does not decode gets a Status with a frame code and a message; a
// frame that decodes re-encodes to a frame that decodes to the same message type and encodes
// to the same bytes again (decode -> encode is a fixed point after one round); the ops of a
// push survive the round trip unchanged, as does their canonical form (what devices sign).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fieldsync/sync/op_chain.hpp"
#include "fieldsync/sync/wire.hpp"
#include "fuzz_util.hpp"

using namespace fieldsync;
using namespace fieldsync::sync;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  auto first = decode(frame);
  if (!first) {
    const Code c = first.status().code();
    FUZZ_CHECK(
        c == Code::malformed_frame || c == Code::frame_too_large || c == Code::unsupported_version,
        "a frame that does not decode gives a frame error, not: " + first.status().to_string());
    FUZZ_CHECK(!first.status().message().empty(), "a decode error says what is wrong");
    return 0;
  }
  const std::string once = encode(*first);
  auto second = decode(once);
  FUZZ_CHECK(second.is_ok(),
             "an encoded frame must decode: " + second.status().to_string() + "\n  frame: " + once);
  FUZZ_CHECK(second->index() == first->index(), "the round trip changed the message type");
  const std::string twice = encode(*second);
  FUZZ_CHECK(twice == once, "decode(encode(m)) encodes differently:\n  " + once + "\n  " + twice);

  if (const auto* p = std::get_if<Push>(&*first)) {
    const auto& q = std::get<Push>(*second);
    FUZZ_CHECK(p->ops.size() == q.ops.size(), "a push lost or gained operations");
    FUZZ_CHECK(p->ops.size() <= kMaxPushOps, "a push over the op limit decoded");
    for (std::size_t i = 0; i < p->ops.size(); ++i) {
      FUZZ_CHECK(p->ops[i] == q.ops[i], "an operation changed in the round trip: " + p->ops[i].id);
      FUZZ_CHECK(canonical(p->ops[i]) == canonical(q.ops[i]),
                 "an operation's canonical form changed in the round trip: " + p->ops[i].id);
    }
    // A chain holds one digest per op, or none (the server computes them: server_digests).
    if (p->chain) {
      FUZZ_CHECK(p->chain->digests.empty() || p->chain->digests.size() == p->ops.size(),
                 "one digest per op, or none");
      FUZZ_CHECK(q.chain && q.chain->digests.size() == p->chain->digests.size(),
                 "a push's digests changed in the round trip");
    }
  }
  if (const auto* c = std::get_if<Changes>(&*first)) {
    const auto& d = std::get<Changes>(*second);
    FUZZ_CHECK(c->entries.size() == d.entries.size(), "changes lost or gained entries");
    for (std::size_t i = 0; i < c->entries.size(); ++i)
      FUZZ_CHECK(c->entries[i].op == d.entries[i].op && c->entries[i].seq == d.entries[i].seq,
                 "a change entry changed in the round trip");
  }
  if (const auto* s = std::get_if<Snapshot>(&*first)) {
    const auto& t = std::get<Snapshot>(*second);
    FUZZ_CHECK(s->records.size() == t.records.size(), "a snapshot lost or gained records");
    for (std::size_t i = 0; i < s->records.size(); ++i)
      FUZZ_CHECK(s->records[i].state == t.records[i].state,
                 "a snapshot record's state changed in the round trip");
  }
  if (const auto* pl = std::get_if<Pull>(&*first))
    FUZZ_CHECK(pl->limit <= kMaxPullLimit, "a pull limit over the maximum decoded");
  return 0;
}
