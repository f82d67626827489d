// Fuzz target: the merge (sync::apply, merge_state, materialize, conflicts) and the storage
// form of a record's state (record_state_from_json).
//
// Input: the first byte picks the mode.
//   even: a history of operations on one record of the default schema, built from the bytes
//         (devices, clocks, fields, values, bases, deletes, duplicates). Properties: the ops
//         that validate, applied in generation order and in a fuzz-chosen order with
//         duplicates, give the same state, fields and conflicts; two halves applied
//         separately and joined with merge_state give that state too; the state survives its
//         storage form (to_json -> record_state_from_json) unchanged.
//   odd:  the rest is JSON text read as a stored state. Properties: a state that reads back
//         stores and reads back to an equal state; materialize and conflicts never fail on it.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "fieldsync/sync/ids.hpp"
#include "fieldsync/sync/merge.hpp"
#include "fuzz_util.hpp"

using namespace fieldsync;
using namespace fieldsync::sync;
namespace json = boost::json;

namespace {

const std::vector<std::string> kDevices = {"0000000000000000000000000000000a",
                                           "0000000000000000000000000000000b",
                                           "00000000000000000000000000000c00"};
const std::vector<std::string> kUsers = {"ana", "ben", "chi"};
const std::vector<std::string> kTexts = {"", "a", "b", "outreach", "z\xc3\xa9"};
const std::vector<std::string> kDates = {"2024-01-01", "2024-02-29", "1999-12-31", "2024-13-01"};
const std::vector<std::string> kTimes = {"2024-01-01T10:00", "2024-01-01T10:00:30Z", "noon"};
const std::vector<std::string> kIds = {"k1", "k2", "c-1", "bad id"};
const std::vector<std::string> kElements = {"housing", "food", "medical", ""};

json::value pick_value(fuzz::ByteReader& in, const FieldSpec& f) {
  switch (in.below(8)) {
    case 0:
      return json::value(in.text(12));  // anything: validation decides
    case 1:
      return json::value(static_cast<std::int64_t>(in.byte()) - 128);
    case 2:
      return json::value(nullptr);
    default:
      break;
  }
  switch (f.type) {
    case FieldType::choice:
      if (!f.choices.empty()) return json::value(f.choices[in.below(f.choices.size())]);
      break;
    case FieldType::date:
      return json::value(kDates[in.below(kDates.size())]);
    case FieldType::datetime:
      return json::value(kTimes[in.below(kTimes.size())]);
    case FieldType::ref:
      return json::value(kIds[in.below(kIds.size())]);
    case FieldType::set:
      return json::value(kElements[in.below(kElements.size())]);
    case FieldType::text:
      break;
  }
  return json::value(kTexts[in.below(kTexts.size())]);
}

// Some of the op ids made so far (and now and then one never made).
std::vector<std::string> pick_base(fuzz::ByteReader& in, const std::vector<std::string>& made) {
  std::vector<std::string> base;
  const std::size_t n = in.below(4);
  for (std::size_t i = 0; i < n; ++i) {
    if (made.empty() || in.below(8) == 0)
      base.push_back(make_op_id(kDevices[in.below(kDevices.size())], 1000 + in.byte()));
    else
      base.push_back(made[in.below(made.size())]);
  }
  return base;
}

struct View {
  std::string state, fields, conflicts;
  bool operator==(const View&) const = default;
};

View view(const RecordState& st, const CollectionSpec& spec) {
  View v;
  v.state = json::serialize(to_json(st));
  v.fields = json::serialize(materialize(st, spec));
  json::array cs;
  for (const auto& c : conflicts(st, spec, spec.name, "r1")) cs.push_back(to_json(c));
  v.conflicts = json::serialize(cs);
  return v;
}

void check_storage_round_trip(const RecordState& st) {
  auto back = record_state_from_json(to_json(st));
  FUZZ_CHECK(back.is_ok(), "a state's storage form must read back: " + back.status().to_string());
  FUZZ_CHECK(*back == st, "the storage form changed the state:\n  " + json::serialize(to_json(st)) +
                              "\n  " + json::serialize(to_json(*back)));
}

void fuzz_history(fuzz::ByteReader& in) {
  const Schema& schema = default_schema();
  const CollectionSpec& spec = schema.collections()[in.below(schema.collections().size())];
  std::vector<std::uint64_t> counters(kDevices.size(), 0);
  std::vector<std::string> made;
  std::vector<Op> ops;
  const std::size_t count = 1 + in.below(24);
  for (std::size_t i = 0; i < count && !in.empty(); ++i) {
    const std::size_t d = in.below(kDevices.size());
    Op op;
    op.device = kDevices[d];
    op.id = make_op_id(op.device, ++counters[d]);
    op.user = kUsers[in.below(kUsers.size())];
    // Few distinct clocks, so that ties between devices are common.
    op.hlc = Hlc{1'700'000'000'000 + static_cast<std::int64_t>(in.below(4)) * 1000,
                 static_cast<std::uint32_t>(in.below(3))};
    op.collection = spec.name;
    op.record = in.below(16) == 0 ? "bad id!" : "r1";
    if (in.below(8) == 0) {
      op.kind = OpKind::del;
      op.del_base = pick_base(in, made);
    } else {
      const std::size_t writes = in.below(4);  // 0 writes: refused by validation
      for (std::size_t w = 0; w < writes; ++w) {
        const FieldSpec& f = spec.fields[in.below(spec.fields.size())];
        FieldWrite fw;
        fw.field = in.below(16) == 0 ? "colour" : f.name;
        const std::size_t kind = in.below(f.type == FieldType::set ? 4 : 8);
        fw.kind = kind == 0 ? WriteKind::set : kind == 1 ? WriteKind::add : WriteKind::remove;
        if (f.type != FieldType::set && kind != 1) fw.kind = WriteKind::set;
        fw.value = pick_value(in, f);
        fw.base = pick_base(in, made);
        op.writes.push_back(std::move(fw));
      }
    }
    made.push_back(op.id);
    if (validate(op, schema)) ops.push_back(std::move(op));
  }

  // Order A: as made. Order B: a fuzz-chosen shuffle with duplicates.
  RecordState a;
  for (const auto& op : ops) apply(a, op, spec);
  std::vector<Op> shuffled = ops;
  const std::size_t dups = ops.empty() ? 0 : in.below(4);
  for (std::size_t i = 0; i < dups; ++i) shuffled.push_back(ops[in.below(ops.size())]);
  for (std::size_t i = shuffled.size(); i > 1; --i)
    std::swap(shuffled[i - 1], shuffled[in.below(i)]);
  RecordState b;
  for (const auto& op : shuffled) apply(b, op, spec);
  FUZZ_CHECK(a == b, "applying the same ops in another order gave another state:\n  " +
                         json::serialize(to_json(a)) + "\n  " + json::serialize(to_json(b)));
  const View va = view(a, spec);
  FUZZ_CHECK(va == view(b, spec), "the same state gave other fields or conflicts");
  for (const auto& op : ops) FUZZ_CHECK(!apply(b, op, spec), "re-applying an op changed the state");

  // Two halves joined.
  RecordState left, right;
  const std::size_t cut = ops.empty() ? 0 : in.below(ops.size() + 1);
  for (std::size_t i = 0; i < ops.size(); ++i) apply(i < cut ? left : right, ops[i], spec);
  merge_state(left, right);
  FUZZ_CHECK(left == a, "merge_state of two halves differs from applying every op");

  check_storage_round_trip(a);
  // Every field's winner is one of its heads; a set's live tags are add tags.
  for (const auto& [name, reg] : a.registers) {
    const FieldSpec* f = spec.field(name);
    FUZZ_CHECK(f != nullptr, "a register of an unknown field: " + name);
    const WriteMeta* w = winner(reg, f->policy);
    if (w && f->policy != MergePolicy::write_once) {
      auto h = heads(reg);
      FUZZ_CHECK(std::find(h.begin(), h.end(), w) != h.end(), "the winner is not a head");
    }
  }
}

void fuzz_stored_state(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return;
  auto st = record_state_from_json(v);
  if (!st) {
    FUZZ_CHECK(st.status().code() == Code::storage, "a bad stored state is a storage error");
    return;
  }
  check_storage_round_trip(*st);
  for (const auto& spec : default_schema().collections()) {
    (void)materialize(*st, spec);
    for (const auto& c : conflicts(*st, spec, spec.name, "r1"))
      FUZZ_CHECK(!c.competitors.empty(), "a conflict without competitors");
    RecordState copy = *st;
    merge_state(copy, *st);
    FUZZ_CHECK(copy == *st, "merging a state into itself changed it");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::ByteReader in(data, size);
  if (in.byte() % 2 == 0)
    fuzz_history(in);
  else
    fuzz_stored_state(in.rest());
  return 0;
}
