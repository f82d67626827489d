// The shared state of a running Server: connection registry and live fan-out.
#include "shared_state.hpp"

#include <boost/json/serialize.hpp>

#include "fieldsync/sync/op.hpp"

namespace fieldsync::server {
namespace {

// Live frames stay well under the frame limit however large a group commit was.
constexpr std::size_t kLiveChunkBytes = sync::kMaxFrameBytes / 4;
constexpr std::size_t kLiveChunkEntries = 500;

}  // namespace

void SharedState::join(const std::shared_ptr<Connection>& c) {
  std::lock_guard lock(mu_);
  conns_.emplace(c.get(), c);
}

void SharedState::leave(const Connection* c) {
  std::function<void()> notify;
  {
    std::lock_guard lock(mu_);
    conns_.erase(c);
    if (conns_.empty() && stopping.load()) notify = on_empty_;
  }
  if (notify) notify();
}

std::vector<std::shared_ptr<Connection>> SharedState::connections() {
  std::vector<std::shared_ptr<Connection>> out;
  std::lock_guard lock(mu_);
  out.reserve(conns_.size());
  for (auto& [_, weak] : conns_)
    if (auto c = weak.lock()) out.push_back(std::move(c));
  return out;
}

std::size_t SharedState::count() {
  std::lock_guard lock(mu_);
  return conns_.size();
}

void SharedState::set_on_empty(std::function<void()> f) {
  std::lock_guard lock(mu_);
  on_empty_ = std::move(f);
}

void SharedState::fan_out(const std::vector<sync::LogEntry>& entries) {
  if (entries.empty()) return;
  head.store(entries.back().seq);
  std::vector<LiveEntries> chunks;
  auto chunk = std::make_shared<std::vector<sync::LogEntry>>();
  std::size_t bytes = 0;
  for (const auto& e : entries) {
    const std::size_t size = boost::json::serialize(sync::to_json(e.op)).size();
    if (!chunk->empty() && (bytes + size > kLiveChunkBytes || chunk->size() >= kLiveChunkEntries)) {
      chunks.push_back(std::move(chunk));
      chunk = std::make_shared<std::vector<sync::LogEntry>>();
      bytes = 0;
    }
    bytes += size;
    chunk->push_back(e);
  }
  chunks.push_back(std::move(chunk));
  for (const auto& c : connections())
    for (const auto& ch : chunks) c->deliver(ch);
}

}  // namespace fieldsync::server
