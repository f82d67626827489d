// fieldsync-bench's wire count (see wire_counter.hpp).
#include "bench/wire_counter.hpp"

#include <string>
#include <utility>

namespace fieldsync::bench {
namespace {

// Beast's default write buffer, the largest frame of an auto-fragmented message.
constexpr std::size_t kFragmentBytes = 4096;
// Every frame begins {"v":N,"t":"TYPE" (wire.cpp writes "v" and "t" first); the type is
// looked for in this many leading bytes.
constexpr std::size_t kTypeWindow = 40;

std::uint64_t header_bytes(std::size_t payload, bool masked) {
  const std::uint64_t length = payload <= 125 ? 2 : payload <= 65535 ? 4 : 10;
  return length + (masked ? 4 : 0);
}

class CountingTransport final : public client::Transport {
 public:
  CountingTransport(std::unique_ptr<client::Transport> inner, WireTally& tally)
      : inner_(std::move(inner)), tally_(tally) {}

  Status connect(const client::Endpoint& endpoint, Clock::time_point deadline) override {
    return inner_->connect(endpoint, deadline);
  }
  void send(std::string frame) override {
    tally_.sent(frame);
    inner_->send(std::move(frame));
  }
  Result<std::optional<std::string>> receive(Clock::time_point deadline) override {
    auto frame = inner_->receive(deadline);
    if (frame && *frame) tally_.received(**frame);
    return frame;
  }
  void close(Clock::time_point deadline) override { inner_->close(deadline); }
  std::string binding() const override { return inner_->binding(); }

 private:
  std::unique_ptr<client::Transport> inner_;
  WireTally& tally_;
};

}  // namespace

FrameKind frame_kind(std::string_view frame) {
  constexpr std::string_view kKey = "\"t\":\"";
  const auto at = frame.substr(0, kTypeWindow).find(kKey);
  if (at == std::string_view::npos) return FrameKind::other;
  std::string_view type = frame.substr(at + kKey.size());
  type = type.substr(0, type.find('"'));
  if (type == "push") return FrameKind::push;
  if (type == "ack") return FrameKind::ack;
  if (type == "changes") return FrameKind::changes;
  if (type == "snapshot") return FrameKind::snapshot;
  return FrameKind::other;
}

std::uint64_t wire_bytes(std::size_t payload, bool masked) {
  const std::size_t frames = payload == 0 ? 1 : (payload + kFragmentBytes - 1) / kFragmentBytes;
  const std::size_t last = payload - (frames - 1) * kFragmentBytes;
  return payload + (frames - 1) * header_bytes(kFragmentBytes, masked) + header_bytes(last, masked);
}

WireCounts& WireCounts::operator+=(const WireCounts& o) {
  frames_up += o.frames_up;
  frames_down += o.frames_down;
  bytes_up += o.bytes_up;
  bytes_down += o.bytes_down;
  payload_up += o.payload_up;
  payload_down += o.payload_down;
  for (std::size_t i = 0; i < kFrameKinds; ++i) {
    bytes_by_kind[i] += o.bytes_by_kind[i];
    frames_by_kind[i] += o.frames_by_kind[i];
  }
  return *this;
}

WireCounts WireCounts::operator-(const WireCounts& o) const {
  WireCounts d = *this;
  d.frames_up -= o.frames_up;
  d.frames_down -= o.frames_down;
  d.bytes_up -= o.bytes_up;
  d.bytes_down -= o.bytes_down;
  d.payload_up -= o.payload_up;
  d.payload_down -= o.payload_down;
  for (std::size_t i = 0; i < kFrameKinds; ++i) {
    d.bytes_by_kind[i] -= o.bytes_by_kind[i];
    d.frames_by_kind[i] -= o.frames_by_kind[i];
  }
  return d;
}

void WireTally::sent(std::string_view frame) {
  const std::uint64_t bytes = wire_bytes(frame.size(), true);
  frames_up_.fetch_add(1, std::memory_order_relaxed);
  payload_up_.fetch_add(frame.size(), std::memory_order_relaxed);
  bytes_up_.fetch_add(bytes, std::memory_order_relaxed);
  const auto kind = static_cast<std::size_t>(frame_kind(frame));
  by_kind_[kind].fetch_add(bytes, std::memory_order_relaxed);
  frames_by_kind_[kind].fetch_add(1, std::memory_order_relaxed);
}

void WireTally::received(std::string_view frame) {
  const std::uint64_t bytes = wire_bytes(frame.size(), false);
  const FrameKind kind = frame_kind(frame);
  if (kind == FrameKind::ack)
    last_ack_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
  frames_down_.fetch_add(1, std::memory_order_relaxed);
  payload_down_.fetch_add(frame.size(), std::memory_order_relaxed);
  bytes_down_.fetch_add(bytes, std::memory_order_relaxed);
  by_kind_[static_cast<std::size_t>(kind)].fetch_add(bytes, std::memory_order_relaxed);
  frames_by_kind_[static_cast<std::size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
}

WireCounts WireTally::counts() const {
  WireCounts c;
  c.frames_up = frames_up_.load(std::memory_order_relaxed);
  c.frames_down = frames_down_.load(std::memory_order_relaxed);
  c.bytes_up = bytes_up_.load(std::memory_order_relaxed);
  c.bytes_down = bytes_down_.load(std::memory_order_relaxed);
  c.payload_up = payload_up_.load(std::memory_order_relaxed);
  c.payload_down = payload_down_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < kFrameKinds; ++i) {
    c.bytes_by_kind[i] = by_kind_[i].load(std::memory_order_relaxed);
    c.frames_by_kind[i] = frames_by_kind_[i].load(std::memory_order_relaxed);
  }
  return c;
}

WireTally::Clock::time_point WireTally::last_ack() const {
  return Clock::time_point(Clock::duration(last_ack_.load(std::memory_order_relaxed)));
}

std::unique_ptr<client::Transport> counting_transport(std::unique_ptr<client::Transport> inner,
                                                      WireTally& tally) {
  return std::make_unique<CountingTransport>(std::move(inner), tally);
}

}  // namespace fieldsync::bench
