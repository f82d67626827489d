// Properties of the merge over random histories: any order, with duplicates, gives the same
// state, value and conflicts; two concurrent edits give exactly one conflict with both values.
#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <map>

#include "fieldsync/sync/merge.hpp"
#include "test_device.hpp"

using namespace fieldsync;
using namespace fieldsync::sync;

namespace {

const std::vector<std::string> kRecords = {"k1", "k2", "k3"};
const std::vector<std::string> kStatus = {"assessment", "planning", "implementation", "evaluation",
                                          "closed"};
const std::vector<std::string> kRisk = {"low", "medium", "high", "critical"};
const std::vector<std::string> kNeeds = {"housing", "food", "medical", "id"};

struct History {
  std::vector<Op> ops;
};

// Several devices edit a few cases, sometimes passing operations to each other in the order
// they were made (as sync does), with clocks that disagree.
History random_history(std::uint64_t seed) {
  crypto::SeededRandom rng(seed);
  const int devices = 2 + static_cast<int>(rng.below(3));
  std::vector<test::TestDevice> ds;
  for (int i = 0; i < devices; ++i) {
    std::int64_t skew = rng.below(4) == 0 ? 86'400'000 : static_cast<std::int64_t>(rng.below(5000));
    ds.emplace_back(test::device_id(i + 1), "user" + std::to_string(i), skew);
  }
  std::vector<std::vector<Op>> made(devices);
  std::vector<std::vector<std::size_t>> delivered(devices, std::vector<std::size_t>(devices, 0));
  History h;
  std::int64_t now = 1'700'000'000'000;
  const int steps = 20 + static_cast<int>(rng.below(40));
  for (int step = 0; step < steps; ++step) {
    now += static_cast<std::int64_t>(rng.below(2000));
    int d = static_cast<int>(rng.below(devices));
    auto& dev = ds[d];
    const std::string& rec = kRecords[rng.below(kRecords.size())];
    Op op;
    switch (rng.below(8)) {
      case 0:
      case 1:
        op = dev.set("cases", rec, "status", kStatus[rng.below(kStatus.size())], now);
        break;
      case 2:
        op = dev.set("cases", rec, "risk", kRisk[rng.below(kRisk.size())], now, rng.below(3) == 0);
        break;
      case 3:
        op = dev.set("cases", rec, "programme", "p" + std::to_string(rng.below(3)), now);
        break;
      case 4:
        op = dev.add("cases", rec, "needs", kNeeds[rng.below(kNeeds.size())], now);
        break;
      case 5:
        op = dev.remove("cases", rec, "needs", kNeeds[rng.below(kNeeds.size())], now);
        break;
      case 6:
        if (rng.below(4) == 0) {
          op = dev.del("cases", rec, now);
          break;
        }
        [[fallthrough]];
      default: {
        // Gossip: device d receives the next few ops of another device, in order.
        int from = static_cast<int>(rng.below(devices));
        if (from == d) continue;
        std::size_t& next = delivered[d][from];
        std::size_t n = rng.below(4);
        for (; n > 0 && next < made[from].size(); --n, ++next) dev.receive(made[from][next], now);
        continue;
      }
    }
    made[d].push_back(op);
    h.ops.push_back(op);
  }
  return h;
}

struct Snapshot {
  std::map<std::string, std::string> state, fields, conflicts;
  bool operator==(const Snapshot&) const = default;
};

Snapshot replay(std::vector<Op> ops, crypto::SeededRandom& rng) {
  // Shuffle and duplicate some operations.
  std::size_t dups = rng.below(ops.size() + 1);
  for (std::size_t i = 0; i < dups; ++i) ops.push_back(ops[rng.below(ops.size())]);
  for (std::size_t i = ops.size(); i > 1; --i) std::swap(ops[i - 1], ops[rng.below(i)]);
  std::map<std::string, RecordState> states;
  const auto& spec = *default_schema().collection("cases");
  for (const auto& op : ops) apply(states[op.record], op, spec);
  Snapshot s;
  for (const auto& [id, st] : states) {
    s.state[id] = boost::json::serialize(to_json(st));
    s.fields[id] = boost::json::serialize(materialize(st, spec));
    boost::json::array cs;
    for (const auto& c : conflicts(st, spec, "cases", id)) cs.push_back(to_json(c));
    s.conflicts[id] = boost::json::serialize(cs);
  }
  return s;
}

}  // namespace

TEST_CASE("merge property: any order with duplicates converges to one state") {
  for (std::uint64_t seed = 1; seed <= 300; ++seed) {
    INFO("seed " << seed);
    History h = random_history(seed);
    if (h.ops.empty()) continue;
    crypto::SeededRandom rng(seed * 7919);
    Snapshot first = replay(h.ops, rng);
    for (int replica = 0; replica < 4; ++replica) REQUIRE(replay(h.ops, rng) == first);
  }
}

TEST_CASE("merge property: two concurrent edits make exactly one conflict holding both values") {
  crypto::SeededRandom rng(99);
  for (int round = 0; round < 200; ++round) {
    test::TestDevice a(test::device_id(1), "ana", static_cast<std::int64_t>(rng.below(100000)));
    test::TestDevice b(test::device_id(2), "ben", static_cast<std::int64_t>(rng.below(100000)));
    std::vector<Op> ops;
    if (rng.below(2)) {
      ops.push_back(a.set("cases", "k", "programme", "start", 1000));
      b.receive(ops.back(), 1000);
    }
    Op ea = a.set("cases", "k", "programme", "from-a", 2000);
    Op eb = b.set("cases", "k", "programme", "from-b", 2000);
    ops.push_back(ea);
    ops.push_back(eb);
    crypto::SeededRandom order(static_cast<std::uint64_t>(round));
    for (std::size_t i = ops.size(); i > 1; --i) std::swap(ops[i - 1], ops[order.below(i)]);
    RecordState st;
    for (const auto& op : ops) apply(st, op, *default_schema().collection("cases"));
    auto cs = conflicts(st, *default_schema().collection("cases"), "cases", "k");
    REQUIRE(cs.size() == 1);
    REQUIRE(cs[0].competitors.size() == 2);
    std::set<std::string> values;
    for (const auto& c : cs[0].competitors) values.insert(std::string(c.value.as_string()));
    CHECK(values == std::set<std::string>{"from-a", "from-b"});
  }
}
