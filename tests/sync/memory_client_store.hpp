// A ClientStore in memory (an outbox and the applied log) for the protocol tests.
#pragma once

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fieldsync/sync/client_session.hpp"
#include "fieldsync/sync/op_chain.hpp"
#include "fieldsync/sync/scope.hpp"

namespace fieldsync::test {

// An outbox and a log in memory.
struct MemoryClientStore : sync::ClientStore {
  std::vector<sync::Op> outbox;
  std::vector<sync::OpResult> rejected;
  std::vector<sync::LogEntry> applied;
  std::uint64_t cursor_ = 0;

  std::uint64_t cursor() override { return cursor_; }
  Result<std::vector<sync::Op>> pending_ops(std::size_t limit,
                                            const std::set<std::string>& exclude) override {
    std::vector<sync::Op> out;
    for (const auto& op : outbox) {
      bool is_rejected = std::any_of(rejected.begin(), rejected.end(),
                                     [&](const sync::OpResult& r) { return r.op == op.id; });
      if (!is_rejected && !exclude.contains(op.id) && out.size() < limit) out.push_back(op);
    }
    return out;
  }
  // The device's chain over every op ever put in the outbox, in outbox order (op_chain.hpp).
  std::vector<std::pair<std::string, crypto::Digest>> chain;  // op id, link before it
  Result<std::optional<crypto::Digest>> chain_link_before(const std::string& op_id) override {
    for (const auto& op : outbox) {
      if (std::any_of(chain.begin(), chain.end(), [&](const auto& c) { return c.first == op.id; }))
        continue;
      const crypto::Digest before =
          chain.empty() ? sync::chain_genesis(op.device) : chain_head_after_last;
      chain.emplace_back(op.id, before);
      chain_head_after_last = sync::chain_next(before, sync::op_digest(op));
    }
    for (const auto& [id, before] : chain)
      if (id == op_id) return std::optional<crypto::Digest>(before);
    return Status(Code::not_found, "no op " + op_id + " in the outbox");
  }
  crypto::Digest chain_head_after_last{};
  Status on_ack(const std::vector<sync::OpResult>& results) override {
    for (const auto& r : results) {
      if (r.status == sync::OpStatus::rejected)
        rejected.push_back(r);
      else
        std::erase_if(outbox, [&](const sync::Op& op) { return op.id == r.op; });
    }
    return Status::ok();
  }
  Status apply_remote(const std::vector<sync::LogEntry>& entries, std::uint64_t cursor) override {
    applied.insert(applied.end(), entries.begin(), entries.end());
    cursor_ = cursor;
    return Status::ok();
  }
  // Scopes: the set of items, and the snapshots received (nothing is purged here).
  std::vector<std::string> scope;
  std::vector<sync::SnapshotRecord> snapshots;
  std::string scope_digest() override { return sync::scope_digest(scope); }
  Result<sync::ScopeApplied> apply_scope(const sync::Scope& m) override {
    std::set<std::string> items(scope.begin(), scope.end());
    if (m.full) items.clear();
    for (const auto& i : m.remove) items.erase(i);
    sync::ScopeApplied out;
    for (const auto& i : m.add)
      if (items.insert(i).second || m.full) out.fetch.push_back({i, ""});
    scope.assign(items.begin(), items.end());
    return out;
  }
  Status apply_snapshot(const std::vector<sync::SnapshotRecord>& records) override {
    snapshots.insert(snapshots.end(), records.begin(), records.end());
    return Status::ok();
  }
  std::vector<std::string> fetched;  // items whose fetch was answered whole
  Status mark_fetched(const std::vector<std::string>& items) override {
    fetched.insert(fetched.end(), items.begin(), items.end());
    return Status::ok();
  }
  // Keeps no acknowledged ops: only remembers the epoch.
  Status on_server_epoch(const std::string& e, std::uint64_t /*base*/) override {
    epoch = e;
    return Status::ok();
  }
  std::string epoch;
};

}  // namespace fieldsync::test
