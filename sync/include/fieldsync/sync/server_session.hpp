// The server side of the protocol as a sans-I/O state machine, one per connection. It
// decodes and checks frames and says what the transport must do; it never touches storage.
//
//   hello           -> welcome (version and schema checked), or a fatal error
//   push            -> ops that fail validation are rejected at once; the rest are handed to
//                      the writer (Actions::submit); on_committed() then yields the ack
//   pull            -> Actions::read: the transport reads the log and calls on_read()
//   on_read         -> changes; when the pull caught up, the session becomes live
//   on_live         -> live changes while connected and caught up (or a read to fill a gap)
// Anything else, or a malformed frame, gets an error frame; protocol violations are fatal.
//
// Thread safety: none; the transport calls it from one strand.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fieldsync/sync/schema.hpp"
#include "fieldsync/sync/wire.hpp"

namespace fieldsync::sync {

struct ServerSessionConfig {
  std::uint32_t max_pull = kMaxPullLimit;
  std::size_t max_push_ops = kMaxPushOps;
};

struct SessionActions {
  std::vector<std::string> send;  // frames to send, in order
  std::optional<Push> submit;     // ops to apply durably (then call on_committed)
  std::optional<Pull> read;       // log to read (then call on_read)
  bool close = false;             // close after sending
};

class ServerSession {
 public:
  explicit ServerSession(const Schema& schema, ServerSessionConfig config = {});

  // `head` is the store's newest sequence number, `now_ms` the server's physical clock.
  SessionActions on_frame(std::string_view frame, std::uint64_t head, std::int64_t now_ms);
  // The writer committed the submitted batch: results for the submitted ops, in order.
  SessionActions on_committed(std::uint64_t batch, const std::vector<OpResult>& results);
  // The writer could not store the submitted batch (nothing of it was stored): a non-fatal
  // error frame; the device keeps the ops and sends them again.
  SessionActions on_failed(std::uint64_t batch, const Status& error);
  // The log read for the last `read` action.
  SessionActions on_read(Changes changes);
  // Entries just committed by the writer (contiguous, ascending). Ops of this session's own
  // device are filtered here.
  SessionActions on_live(const std::vector<LogEntry>& entries);

  bool authenticated() const { return hello_.has_value(); }
  const std::string& device() const;
  const std::string& user() const;
  bool live() const { return live_; }

 private:
  SessionActions handle(const Hello& m, std::uint64_t head, std::int64_t now_ms);
  SessionActions handle(const Push& m);
  SessionActions handle(const Pull& m);
  SessionActions protocol_error(Code code, std::string message);

  const Schema& schema_;
  ServerSessionConfig config_;
  std::optional<Hello> hello_;
  // Per submitted batch: the results already decided (validation) and the ops' order.
  struct PendingBatch {
    std::vector<OpResult> results;       // one per op of the push, in order
    std::vector<std::size_t> submitted;  // indexes of results awaiting the writer
  };
  std::map<std::uint64_t, PendingBatch> pending_;
  SessionActions read_more(std::uint64_t after);
  bool read_in_flight_ = false;
  bool read_is_internal_ = false;  // the read fills the live stream, not a client pull
  bool live_ = false;
  bool live_gap_ = false;          // live entries arrived while a read was in flight
  std::uint64_t sent_cursor_ = 0;  // every entry up to here has been sent (or skipped)
};

}  // namespace fieldsync::sync
