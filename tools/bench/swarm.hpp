// Many light devices on one event loop, for the fieldsync-bench phases that need hundreds or
// thousands of connections: each is a real sync::ClientSession (hello, challenge, signed auth,
// welcome, pull, push) over a real Beast WebSocket to a running fieldsync-server, with an
// in-memory store instead of an encrypted replica (documented in docs/PERFORMANCE.md).
//
// Threading: each function runs its own io_context on the calling thread and returns when
// done; nothing outlives a call.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fieldsync/crypto/random.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/status.hpp"

namespace fieldsync::server {
class Directory;
}

namespace fieldsync::bench {

// An enrolled device the swarm can connect as.
struct Identity {
  std::string device;  // the enrolled device id
  std::string user;
  crypto::SigningKey key;
};

// Enrols `n` new devices for `user` straight in the store's directory (a one-time code each,
// redeemed with a fresh key pair), as fieldsync-admin and an enrol would, without a
// connection per device. Each key's secret takes a locked page (SecureBuffer): the soft
// RLIMIT_MEMLOCK is raised towards the hard limit for them; past it libsodium keeps the key
// unlocked, which still works.
Result<std::vector<Identity>> enrol_identities(server::Directory& directory,
                                               const std::string& user, std::size_t n,
                                               crypto::Random& random, std::int64_t now_ms);

struct IdleFigures {
  std::size_t connections = 0;          // authenticated and caught up, held open together
  double bytes_per_connection = 0;      // the server's resident memory growth / connections
  std::uint64_t server_rss_before = 0;  // bytes, with none of these connections open
  std::uint64_t server_rss_with = 0;    // bytes, with all of them open and idle
  double connect_seconds = 0;           // to open and authenticate all of them
};

// Opens one connection per identity to ws://HOST:PORT/sync, waits until every one is welcomed
// and caught up (live), lets them sit idle for `settle`, and reads the server's resident
// memory (/proc/PID/status VmRSS) before and with them. Closes them all before returning.
// At most 64 devices are between connecting and live at once. Every connection uses a file
// descriptor here and one in the server: raise RLIMIT_NOFILE first. A device that fails to
// connect, or drops while idle, fails the call (naming how many and the first reason).
// Resident memory only shows growth: run this on a server that has not held as many
// connections before (memory freed by closed sessions stays resident and is reused), e.g.
// first after start-up. An in-process server's figure includes the devices' own memory.
Result<IdleFigures> idle_connections(const std::string& host, std::uint16_t port, int server_pid,
                                     const std::vector<Identity>& identities,
                                     std::chrono::milliseconds settle);

struct LiveFigures {
  std::size_t writers = 0;
  std::size_t edits = 0;  // edits written during the measured window
  std::size_t seen = 0;   // of which an observer saw (all, when nothing was lost)
  std::size_t lost = 0;   // edits no observer had received at the end of the grace time
  double p50_ms = 0;      // from a writer's write to an observer receiving it live
  double p99_ms = 0;
  double max_ms = 0;
  // On the writers' connections, both directions, per edit: WebSocket payloads plus an
  // estimated frame header each (2 bytes, +2/+8 for lengths from 126/65536, +4 for the
  // client's mask; one frame per message; no TCP/IP headers, pings or close frames), from the
  // window's start to the end of the grace time (so the last edits' acks count).
  double bytes_per_edit = 0;
  // The mean size of an edit's op as encoded in a push (its JSON, op.hpp / wire.hpp).
  double encoded_edit_bytes = 0;
};

// Connects every writer and observer, then for `duration` each writer makes one field edit of
// its own record every `interval` (start times spread evenly), pushing each at once; the
// observers (devices in whose scope the writers' records are, e.g. the team lead's) receive
// them live. Latency is measured in this process (steady clock) from the write (the op made
// and handed to the session, which pushes it at once unless a push is in flight) to the first
// observer's receipt (its store applying the entry). After `duration` the swarm waits up to a
// grace time (10 s) for the last acks and deliveries. `progress` (optional) is called with
// the fraction of the window done, from the event loop.
// Each writer first creates its own case ("cases"/"live-<device>", assigned to its user) and
// then edits its status. Writers need identities that never wrote (a device's op counter and
// chain start afresh here), and should belong to distinct workers: a worker's other devices
// see the worker's cases and would receive every edit too. Errors: any device failing to
// connect or dropping, a writer's op refused, an observer not holding every writer's case.
Result<LiveFigures> live_latency(const std::string& host, std::uint16_t port,
                                 const std::vector<Identity>& writers,
                                 const std::vector<Identity>& observers,
                                 std::chrono::milliseconds interval,
                                 std::chrono::milliseconds duration,
                                 const std::function<void(double)>& progress);

}  // namespace fieldsync::bench
