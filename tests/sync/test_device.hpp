// A device for merge tests: keeps its own view of records and makes operations the way the
// replica does (bases from what it has seen), without storage.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "fieldsync/sync/hlc.hpp"
#include "fieldsync/sync/ids.hpp"
#include "fieldsync/sync/merge.hpp"

namespace fieldsync::test {

class TestDevice {
 public:
  TestDevice(std::string device, std::string user, std::int64_t clock_offset_ms = 0)
      : device_(std::move(device)), user_(std::move(user)), offset_(clock_offset_ms) {}

  const sync::Schema& schema() const { return sync::default_schema(); }
  const sync::CollectionSpec& spec(const std::string& c) const { return *schema().collection(c); }

  sync::Op new_op(const std::string& collection, const std::string& record, std::int64_t now) {
    sync::Op op;
    op.id = sync::make_op_id(device_, ++counter_);
    op.device = device_;
    op.user = user_;
    op.hlc = clock_.now(now + offset_);
    op.collection = collection;
    op.record = record;
    return op;
  }

  // Sets a register field, based on the heads this device sees (all of them for plain
  // registers; only the winner for review fields, as a worker's edit does).
  sync::Op set(const std::string& c, const std::string& r, const std::string& field,
               const std::string& value, std::int64_t now, bool decide = false) {
    sync::Op op = new_op(c, r, now);
    sync::FieldWrite w{field, sync::WriteKind::set, boost::json::value(value), {}};
    auto& st = state_[{c, r}];
    auto it = st.registers.find(field);
    if (it != st.registers.end()) {
      const sync::FieldSpec* f = spec(c).field(field);
      if (f->policy == sync::MergePolicy::register_review && !decide) {
        if (auto* win = sync::winner(it->second, f->policy)) w.base.push_back(win->op);
      } else {
        for (auto* h : sync::heads(it->second)) w.base.push_back(h->op);
      }
    }
    op.writes.push_back(std::move(w));
    apply_local(op);
    return op;
  }

  sync::Op add(const std::string& c, const std::string& r, const std::string& field,
               const std::string& element, std::int64_t now) {
    sync::Op op = new_op(c, r, now);
    op.writes.push_back({field, sync::WriteKind::add, boost::json::value(element), {}});
    apply_local(op);
    return op;
  }

  sync::Op remove(const std::string& c, const std::string& r, const std::string& field,
                  const std::string& element, std::int64_t now) {
    sync::Op op = new_op(c, r, now);
    auto& st = state_[{c, r}];
    op.writes.push_back({field, sync::WriteKind::remove, boost::json::value(element),
                         sync::live_tags(st.sets[field], element)});
    apply_local(op);
    return op;
  }

  sync::Op del(const std::string& c, const std::string& r, std::int64_t now) {
    sync::Op op = new_op(c, r, now);
    op.kind = sync::OpKind::del;
    op.del_base = sync::all_write_ids(state_[{c, r}]);
    apply_local(op);
    return op;
  }

  // Takes in another device's operation (as a pull would).
  void receive(const sync::Op& op, std::int64_t now) {
    clock_.observe(op.hlc, now + offset_);
    sync::apply(state_[{op.collection, op.record}], op, spec(op.collection));
  }

  sync::RecordState& state(const std::string& c, const std::string& r) { return state_[{c, r}]; }
  const std::string& id() const { return device_; }

 private:
  void apply_local(const sync::Op& op) {
    sync::apply(state_[{op.collection, op.record}], op, spec(op.collection));
  }

  std::string device_;
  std::string user_;
  std::int64_t offset_;
  std::uint64_t counter_ = 0;
  sync::HlcClock clock_;
  std::map<std::pair<std::string, std::string>, sync::RecordState> state_;
};

inline std::string device_id(int n) {
  std::string id(32, '0');
  std::string tail = std::to_string(n);
  id.replace(32 - tail.size(), tail.size(), tail);
  return id;
}

}  // namespace fieldsync::test
