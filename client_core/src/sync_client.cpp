// The sync client's loop: connect with backoff, run one sync::ClientSession per connection
// over the Transport, classify how it ended. No networking code here (see the transport).
#include "fieldsync/client/sync_client.hpp"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <variant>

#include "fieldsync/sync/client_session.hpp"
#include "fieldsync/sync/enroll_session.hpp"

namespace fieldsync::client {
namespace {

using Clock = Transport::Clock;
using std::chrono::milliseconds;

constexpr milliseconds kCloseTime{2000};
// Operations per push: at most the protocol's usual batch, at least a few.
constexpr std::size_t kMaxPushBatch = 500;
constexpr std::size_t kMinPushBatch = 5;
constexpr milliseconds kLiveTick{100};

// Forwards to the replica and remembers the first local failure, so that a failed session
// can be told apart from one the server ended.
class RecordingStore final : public sync::ClientStore {
 public:
  explicit RecordingStore(sync::ClientStore& inner) : inner_(inner) {}

  std::uint64_t cursor() override { return inner_.cursor(); }
  Result<std::vector<sync::Op>> pending_ops(std::size_t limit,
                                            const std::set<std::string>& exclude) override {
    auto r = inner_.pending_ops(limit, exclude);
    if (!r) (void)note(r.status());
    return r;
  }
  Result<std::vector<sync::ReadEvent>> pending_reads(std::size_t limit) override {
    auto r = inner_.pending_reads(limit);
    if (!r) (void)note(r.status());
    return r;
  }
  Status on_reads_noted(std::uint64_t through) override {
    return note(inner_.on_reads_noted(through));
  }
  Result<std::optional<crypto::Digest>> chain_link_before(const std::string& op_id) override {
    auto r = inner_.chain_link_before(op_id);
    if (!r) (void)note(r.status());
    return r;
  }
  Status on_ack(const std::vector<sync::OpResult>& results) override {
    return note(inner_.on_ack(results));
  }
  Status apply_remote(const std::vector<sync::LogEntry>& entries, std::uint64_t cursor) override {
    return note(inner_.apply_remote(entries, cursor));
  }
  std::string scope_digest() override { return inner_.scope_digest(); }
  Result<sync::ScopeApplied> apply_scope(const sync::Scope& scope) override {
    auto r = inner_.apply_scope(scope);
    if (!r) (void)note(r.status());
    return r;
  }
  Status apply_snapshot(const std::vector<sync::SnapshotRecord>& records) override {
    return note(inner_.apply_snapshot(records));
  }
  Status mark_fetched(const std::vector<std::string>& items) override {
    return note(inner_.mark_fetched(items));
  }
  Status on_server_epoch(const std::string& epoch, std::uint64_t base) override {
    return note(inner_.on_server_epoch(epoch, base));
  }

  const std::optional<Status>& error() const { return error_; }

 private:
  Status note(Status s) {
    if (!s && !error_) error_ = s;
    return s;
  }
  sync::ClientStore& inner_;
  std::optional<Status> error_;
};

// What the sessions of a sync got through so far.
std::size_t progress_of(const SyncOutcome& o) {
  return o.pushed + o.pulled + o.rejected.size() + o.snapshot_records;
}

// Connection failures that a retry cannot change: an untrusted server certificate, a bad CA
// file.
bool is_final(const Status& connect_failure) {
  return connect_failure.code() == Code::untrusted_server ||
         connect_failure.code() == Code::invalid_argument;
}

std::string seconds_text(milliseconds d) {
  auto tenths = d.count() / 100;
  return std::to_string(tenths / 10) + (tenths % 10 ? "." + std::to_string(tenths % 10) : "") +
         " s";
}

}  // namespace

std::string_view outcome_name(SyncOutcome::Kind kind) {
  switch (kind) {
    case SyncOutcome::Kind::up_to_date:
      return "up_to_date";
    case SyncOutcome::Kind::unreachable:
      return "unreachable";
    case SyncOutcome::Kind::refused:
      return "refused";
    case SyncOutcome::Kind::failed:
      return "failed";
  }
  return "?";
}

SyncClient::SyncClient(Replica& replica, SyncClientOptions options)
    : replica_(replica), options_(std::move(options)) {
  if (!options_.make_transport)
    options_.make_transport = [options = TransportOptions{options_.ca_file}] {
      return make_websocket_transport(options);
    };
  if (!options_.random) {
    own_random_ = std::make_unique<crypto::SodiumRandom>();
    options_.random = own_random_.get();
  }
}

SyncClient::~SyncClient() = default;

void SyncClient::log(std::string_view message) const {
  if (options_.log) options_.log(message);
}

milliseconds full_jitter_backoff(milliseconds initial, milliseconds max, int attempt,
                                 crypto::Random& random) {
  const auto cap_ms = max.count();
  std::int64_t ceiling = initial.count();
  for (int i = 0; i < attempt && ceiling < cap_ms; ++i) ceiling *= 2;
  ceiling = std::max<std::int64_t>(0, std::min<std::int64_t>(ceiling, cap_ms));
  std::array<std::uint8_t, 8> bytes{};
  random.fill(bytes);
  std::uint64_t r = 0;
  for (auto b : bytes) r = (r << 8) | b;
  return milliseconds(static_cast<std::int64_t>(r % static_cast<std::uint64_t>(ceiling + 1)));
}

milliseconds SyncClient::backoff_delay(int attempt) {
  return full_jitter_backoff(options_.backoff_initial, options_.backoff_max, attempt,
                             *options_.random);
}

// The session of one connection: this replica's identity and key, the connection's binding.
sync::ClientSessionConfig SyncClient::session_config(Transport& transport) const {
  return sync::ClientSessionConfig{.device = replica_.device(),
                                   .user = replica_.user(),
                                   .schema_version = replica_.schema().version(),
                                   .push_batch = push_batch_,
                                   .key = replica_.signing_key(),
                                   .binding = transport.binding()};
}

void SyncClient::adapt_push_batch(bool dropped_mid_push, bool pushed) {
  std::size_t next = push_batch_;
  if (dropped_mid_push)
    next = std::max(kMinPushBatch, push_batch_ / 2);
  else if (pushed)
    next = std::min(kMaxPushBatch, push_batch_ * 2);
  if (next == push_batch_) return;
  push_batch_ = next;
  log("push batch now " + std::to_string(next) + " operations");
  (void)replica_.set_push_batch_hint(next);  // only a hint: a failure costs a slower start
}

SyncClient::End SyncClient::run_session(Transport& transport, SyncOutcome& outcome,
                                        Clock::time_point& deadline, milliseconds timeout,
                                        const std::stop_token* stop, bool& welcomed) {
  RecordingStore store(replica_);
  if (push_batch_ == 0) {
    const std::size_t hint = replica_.push_batch_hint();
    push_batch_ = hint == 0 ? kMaxPushBatch : std::clamp(hint, kMinPushBatch, kMaxPushBatch);
  }
  sync::ClientSession session(store, session_config(transport));
  const bool live = stop != nullptr;
  auto send_all = [&](std::vector<std::string> frames) {
    for (auto& f : frames) transport.send(std::move(f));
  };
  auto finish = [&](End end) {
    adapt_push_batch(end == End::dropped && session.push_in_flight(),
                     end != End::dropped && end != End::server_error && end != End::failed &&
                         session.acked() > 0);
    outcome.pushed += session.acked();
    outcome.pulled += session.received();
    outcome.purged += session.purged();
    outcome.snapshot_records += session.snapshot_records();
    for (const auto& r : session.rejected()) outcome.rejected.push_back(r);
    return end;
  };
  // A failed session: a local store failure, a refusal (fatal error frame), a transient
  // server error (non-fatal error frame: reconnect and send again), or a protocol violation.
  auto classify = [&](const std::string* frame) {
    if (store.error()) {
      outcome.detail = *store.error();
      return finish(End::failed);
    }
    if (frame) {
      auto m = sync::decode(*frame);
      if (m && std::holds_alternative<sync::Error>(*m)) {
        const auto& e = std::get<sync::Error>(*m);
        outcome.detail = Status(e.code, e.message);
        outcome.wipe = e.fatal && e.code == Code::revoked;
        return finish(e.fatal ? End::refused : End::server_error);
      }
    }
    outcome.detail = session.failure().value_or(Status(Code::internal, "session failed"));
    return finish(End::failed);
  };

  auto progress = [&] {
    return session.acked() + session.received() + session.rejected().size() +
           session.snapshot_records();
  };

  // An authenticated session that got everything through: the lease clock restarts; a
  // revoked device's uploads are in, so it must wipe.
  auto done = [&]() {
    if (session.wipe_requested()) {
      outcome.wipe = true;
      outcome.detail = Status(Code::revoked, "this device was revoked: its replica must be wiped");
      return finish(End::refused);
    }
    if (!session.server_user().empty()) {
      if (Status s = replica_.record_checkin(session.lease()); !s) {
        outcome.detail = s;
        return finish(End::failed);
      }
    }
    return finish(End::up_to_date);
  };

  send_all(session.start());
  auto next_poll = Clock::now() + options_.live_poll;
  for (;;) {
    if (!live && session.up_to_date()) return done();
    if (live) {
      if (stop->stop_requested()) return finish(End::stopped);
      const bool notified = local_change_.exchange(false);
      if (session.welcomed() && (notified || Clock::now() >= next_poll)) {
        next_poll = Clock::now() + options_.live_poll;
        send_all(session.on_local_change());
        if (session.failed()) return classify(nullptr);
      } else if (notified) {
        local_change_.store(true);  // not welcomed yet: the first push takes it anyway
      }
    }
    auto frame = transport.receive(live ? Clock::now() + kLiveTick : deadline);
    if (!frame) {
      outcome.detail = frame.status();
      return finish(End::dropped);
    }
    if (!*frame) {
      if (!live && Clock::now() >= deadline) {
        outcome.detail =
            Status(Code::unreachable, "no answer from the server for " + seconds_text(timeout));
        return finish(End::dropped);
      }
      continue;
    }
    const std::size_t received = session.received() + session.snapshot_records() + session.purged();
    const std::size_t progress_before = progress();
    auto out = session.on_frame(**frame);
    if (session.failed()) return classify(&**frame);
    // Progress (ops acknowledged or refused, entries pulled) buys another `timeout`; a
    // welcome alone does not, so a server that keeps failing cannot hold the sync forever.
    if (!live && progress() != progress_before)
      deadline = std::max(deadline, Clock::now() + timeout);
    if (!welcomed && session.welcomed()) {
      welcomed = true;
      log("connected");
    }
    send_all(std::move(out));
    const std::size_t changed = session.received() + session.snapshot_records() + session.purged();
    if (live && changed != received && options_.on_remote_change) options_.on_remote_change();
  }
}

Result<sync::Enrolled> SyncClient::enroll(std::string_view url, const std::string& code,
                                          milliseconds timeout) {
  auto endpoint = parse_ws_url(url);
  if (!endpoint) return endpoint.status();
  const crypto::SigningKey* key = replica_.signing_key();
  if (!key) return Status(Code::locked, "the replica is locked");
  const auto deadline = Clock::now() + timeout;
  auto transport = options_.make_transport();
  if (Status c = transport->connect(*endpoint, deadline); !c) return c;
  sync::EnrollSession session(replica_.device(), key->public_key(), code);
  transport->send(session.start());
  for (;;) {
    auto frame = transport->receive(deadline);
    if (!frame) return frame.status();
    if (!*frame) return Status(Code::unreachable, "no answer from the server in time");
    auto outcome = session.on_frame(**frame);
    if (!outcome) continue;
    transport->close(Clock::now() + kCloseTime);
    if (!*outcome) return outcome->status();
    if (Status s = replica_.set_enrolled((*outcome)->user, (*outcome)->role, std::string(url)); !s)
      return s;
    return **outcome;
  }
}

Result<sync::HistoryLog> SyncClient::fetch_history(std::string_view url,
                                                   const std::string& collection,
                                                   const std::string& id, milliseconds timeout) {
  auto endpoint = parse_ws_url(url);
  if (!endpoint) return endpoint.status();
  const auto deadline = Clock::now() + timeout;
  auto transport = options_.make_transport();
  if (Status c = transport->connect(*endpoint, deadline); !c) return c;
  RecordingStore store(replica_);
  sync::ClientSessionConfig config = session_config(*transport);
  config.history_only = sync::HistoryRequest{collection, id};
  sync::ClientSession session(store, std::move(config));
  for (auto& f : session.start()) transport->send(std::move(f));
  for (;;) {
    auto frame = transport->receive(deadline);
    if (!frame) return frame.status();
    if (!*frame) return Status(Code::unreachable, "no answer from the server in time");
    auto out = session.on_frame(**frame);
    if (session.failed()) {
      transport->close(Clock::now() + kCloseTime);
      return store.error() ? *store.error() : *session.failure();
    }
    for (auto& f : out) transport->send(std::move(f));
    if (session.history()) {
      transport->close(Clock::now() + kCloseTime);
      return *session.history();
    }
  }
}

SyncOutcome SyncClient::sync_once(std::string_view url, milliseconds timeout) {
  SyncOutcome outcome;
  auto endpoint = parse_ws_url(url);
  if (!endpoint) {
    outcome.kind = SyncOutcome::Kind::failed;
    outcome.detail = endpoint.status();
    return outcome;
  }
  auto deadline = Clock::now() + timeout;
  Status last(Code::unreachable, "no connection attempted");
  std::optional<Status> server_error;  // the last error the server answered with
  for (int attempt = 0;;) {
    log("connecting to " + endpoint->to_string());
    auto transport = options_.make_transport();
    if (Status c = transport->connect(*endpoint, deadline); !c) {
      if (is_final(c)) {
        outcome.kind = SyncOutcome::Kind::failed;
        outcome.detail = c;
        return outcome;
      }
      last = c;
    } else {
      bool welcomed = false;
      const std::size_t before = progress_of(outcome);
      End end = run_session(*transport, outcome, deadline, timeout, nullptr, welcomed);
      // A server that keeps answering with an error is retried with growing waits, unless
      // the session got something through.
      if (welcomed && (end != End::server_error || progress_of(outcome) != before)) attempt = 0;
      if (end == End::server_error) {
        server_error = outcome.detail;
        end = End::dropped;
      }
      if (end != End::dropped) {
        transport->close(Clock::now() + kCloseTime);
        switch (end) {
          case End::up_to_date:
            outcome.kind = SyncOutcome::Kind::up_to_date;
            outcome.detail = Status::ok();
            break;
          case End::refused:
            outcome.kind = SyncOutcome::Kind::refused;
            break;
          default:
            outcome.kind = SyncOutcome::Kind::failed;
            break;
        }
        return outcome;
      }
      last = outcome.detail;
      transport->close(Clock::now() + milliseconds(200));
    }
    log(last.to_string());
    auto now = Clock::now();
    if (now >= deadline) break;
    auto delay = std::min<Clock::duration>(backoff_delay(attempt++), deadline - now);
    std::this_thread::sleep_for(delay);
    if (Clock::now() >= deadline) break;
  }
  outcome.kind = SyncOutcome::Kind::unreachable;
  // The server's own answer says more than a timeout that ended a later attempt.
  if (server_error)
    outcome.detail =
        Status(server_error->code(), "could not sync with " + endpoint->to_string() + " within " +
                                         seconds_text(timeout) + ": " + server_error->message() +
                                         " (this device's operations stay in its outbox)");
  else
    outcome.detail =
        Status(Code::unreachable, "could not sync with " + endpoint->to_string() + " within " +
                                      seconds_text(timeout) + ": " + last.message());
  return outcome;
}

SyncOutcome SyncClient::run_live(std::string_view url, const std::stop_token& stop) {
  SyncOutcome outcome;
  auto endpoint = parse_ws_url(url);
  if (!endpoint) {
    outcome.kind = SyncOutcome::Kind::failed;
    outcome.detail = endpoint.status();
    return outcome;
  }
  std::mutex mutex;
  std::condition_variable_any wakeup;
  for (int attempt = 0; !stop.stop_requested();) {
    auto transport = options_.make_transport();
    Status last = transport->connect(*endpoint, Clock::now() + options_.live_connect_timeout);
    if (is_final(last)) {
      outcome.kind = SyncOutcome::Kind::failed;
      outcome.detail = last;
      return outcome;
    }
    if (last) {
      bool welcomed = false;
      auto deadline = Clock::time_point::max();
      const std::size_t before = progress_of(outcome);
      End end = run_session(*transport, outcome, deadline, milliseconds(0), &stop, welcomed);
      if (welcomed && (end != End::server_error || progress_of(outcome) != before)) attempt = 0;
      if (end == End::server_error) end = End::dropped;
      if (end != End::dropped) {
        transport->close(Clock::now() + kCloseTime);
        if (end == End::refused) {
          outcome.kind = SyncOutcome::Kind::refused;
          return outcome;
        }
        if (end == End::failed) {
          outcome.kind = SyncOutcome::Kind::failed;
          return outcome;
        }
        break;  // stopped
      }
      last = outcome.detail;
    }
    log(last.to_string());
    std::unique_lock lock(mutex);
    wakeup.wait_for(lock, stop, backoff_delay(attempt++), [] { return false; });
  }
  outcome.kind = SyncOutcome::Kind::up_to_date;
  outcome.detail = Status::ok();
  return outcome;
}

}  // namespace fieldsync::client
