// fieldsync-bench's count of bytes on the wire: a Transport decorator around the real
// WebSocket transport that counts every frame sent and received, by protocol message type.
//
// What a byte on the wire is here: a WebSocket message's payload (the protocol's JSON text),
// plus an estimate of its WebSocket frame headers: Beast splits a message into frames of at
// most 4096 bytes (its default write buffer, auto-fragment on), each with a 2-byte header
// (4 bytes past 125 payload bytes, 10 past 65,535), plus the 4-byte mask of every
// device-to-server frame. Not counted: TCP/IP headers, the HTTP upgrade request and answer
// (once per connection), WebSocket close and ping frames, TLS (the bench uses plain ws://).
//
// Ownership: the decorator owns the inner transport and borrows the tally, which must outlive
// it. Threading: a tally's counters are atomics: any thread may read them while the device's
// sync thread counts.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "fieldsync/client/transport.hpp"

namespace fieldsync::bench {

// Frame kinds counted apart: the device's pushes and the server's acks (a push's round trip),
// the log entries of pulls and live changes, snapshots, and all the rest (hello, challenge,
// auth, welcome, pull, scope, fetch, reads, noted, errors).
enum class FrameKind { push, ack, changes, snapshot, other };
inline constexpr std::size_t kFrameKinds = 5;
FrameKind frame_kind(std::string_view frame);

// The estimated wire size of one WebSocket message (payload + frame headers, see above).
std::uint64_t wire_bytes(std::size_t payload, bool masked);

struct WireCounts {
  std::uint64_t frames_up = 0, frames_down = 0;  // messages device -> server, server -> device
  std::uint64_t bytes_up = 0, bytes_down = 0;    // wire bytes (payload + headers)
  std::uint64_t payload_up = 0, payload_down = 0;
  std::array<std::uint64_t, kFrameKinds> bytes_by_kind{};   // wire bytes, both directions
  std::array<std::uint64_t, kFrameKinds> frames_by_kind{};  // messages, both directions

  std::uint64_t bytes() const { return bytes_up + bytes_down; }
  std::uint64_t kind(FrameKind k) const { return bytes_by_kind[static_cast<std::size_t>(k)]; }
  std::uint64_t frames(FrameKind k) const { return frames_by_kind[static_cast<std::size_t>(k)]; }
  WireCounts& operator+=(const WireCounts& o);
  WireCounts operator-(const WireCounts& o) const;
};

class WireTally {
 public:
  using Clock = std::chrono::steady_clock;

  void sent(std::string_view frame);
  void received(std::string_view frame);
  WireCounts counts() const;
  // When the last ack frame arrived (the server had committed the push durably); the
  // epoch of the steady clock when none has.
  Clock::time_point last_ack() const;

 private:
  std::atomic<std::uint64_t> frames_up_{0}, frames_down_{0}, bytes_up_{0}, bytes_down_{0},
      payload_up_{0}, payload_down_{0};
  std::array<std::atomic<std::uint64_t>, kFrameKinds> by_kind_{}, frames_by_kind_{};
  std::atomic<Clock::rep> last_ack_{0};
};

// Wraps `inner` (the real transport) so that every frame is counted in `tally`.
std::unique_ptr<client::Transport> counting_transport(std::unique_ptr<client::Transport> inner,
                                                      WireTally& tally);

}  // namespace fieldsync::bench
