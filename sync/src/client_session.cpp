// The device side of the protocol (state machine described in client_session.hpp).
#include "fieldsync/sync/client_session.hpp"

#include <algorithm>
#include <iterator>
#include <optional>
#include <span>

#include "fieldsync/sync/op_chain.hpp"

namespace fieldsync::sync {

ClientSession::ClientSession(ClientStore& store, ClientSessionConfig config)
    : store_(store), config_(std::move(config)) {}

std::vector<std::string> ClientSession::start() {
  Hello h{config_.device,         config_.user,     store_.cursor(),
          config_.schema_version, kProtocolVersion, store_.scope_digest()};
  return {encode(h)};
}

bool ClientSession::up_to_date() const {
  return welcomed_ && !failed() && caught_up_ && !pull_in_flight_ && outbox_drained_ &&
         !push_batch_in_flight_ && (!scoped_ || scope_seen_) && fetching_.empty() &&
         to_fetch_.empty() && reads_drained_ && !reads_in_flight_;
}

std::vector<std::string> ClientSession::fail(Status s) {
  if (!failure_) failure_ = std::move(s);
  return {};
}

namespace {

// The chain part of a push: each op's digest, linked from `prev`, the last link signed.
PushChain sign_chain(const crypto::Digest& prev, const std::vector<Op>& ops,
                     const std::string& device, const crypto::SigningKey& key) {
  PushChain c;
  c.prev = digest_hex(prev);
  c.digests.reserve(ops.size());
  crypto::Digest link = prev;
  for (const Op& op : ops) {
    const crypto::Digest d = op_digest(op);
    c.digests.push_back(digest_hex(d));
    link = chain_next(link, d);
  }
  const std::string message = push_message(device, ops.back().id, link);
  c.signature = crypto::to_hex(
      key.sign({reinterpret_cast<const std::uint8_t*>(message.data()), message.size()}));
  return c;
}

}  // namespace

namespace {
// A push's budget, well under the frame limit.
constexpr std::size_t kPushBudgetBytes = kMaxFrameBytes / 2;
}  // namespace

std::vector<std::string> ClientSession::next_push() {
  if (!welcomed_ || failed() || push_batch_in_flight_) return {};
  auto ops = store_.pending_ops(config_.push_batch, in_flight_);
  if (!ops) return fail(ops.status());
  if (ops->empty()) {
    outbox_drained_ = true;
    return {};
  }
  outbox_drained_ = false;
  Push p{next_batch_++, std::move(*ops)};
  std::optional<crypto::Digest> prev;
  if (config_.key) {
    auto link = store_.chain_link_before(p.ops.front().id);
    if (!link) return fail(link.status());
    prev = *link;
  }
  std::string frame;
  for (;;) {
    if (prev) {
      p.chain = sign_chain(*prev, p.ops, config_.device, *config_.key);
      // A server that computes the digests itself is not sent them (64 hex digits an op).
      if (server_digests_) p.chain->digests.clear();
    }
    frame = encode(p);
    // A push stays well under the frame limit whatever its count (notes can be long): one over
    // the budget is halved, and the ops left out go in the next push.
    if (frame.size() <= kPushBudgetBytes || p.ops.size() == 1) break;
    p.ops.resize(p.ops.size() / 2);
  }
  for (const auto& op : p.ops) in_flight_.insert(op.id);
  push_batch_in_flight_ = p.batch;
  return {std::move(frame)};
}

std::vector<std::string> ClientSession::on_local_change() {
  outbox_drained_ = false;
  return next_push();
}

std::vector<std::string> ClientSession::on_frame(std::string_view frame) {
  if (failed()) return {};
  auto m = decode(frame);
  if (!m) return fail(m.status());
  return std::visit(
      [this](const auto& msg) -> std::vector<std::string> {
        using T = std::decay_t<decltype(msg)>;
        if constexpr (std::is_same_v<T, Welcome> || std::is_same_v<T, Ack> ||
                      std::is_same_v<T, Changes> || std::is_same_v<T, Error> ||
                      std::is_same_v<T, Challenge> || std::is_same_v<T, Scope> ||
                      std::is_same_v<T, Snapshot> || std::is_same_v<T, Noted> ||
                      std::is_same_v<T, HistoryLog>) {
          return handle(msg);
        } else {
          return fail({Code::unexpected_message, "server sent a client-side message"});
        }
      },
      *m);
}

std::vector<std::string> ClientSession::handle(const Challenge& m) {
  if (welcomed_ || challenged_) return fail({Code::unexpected_message, "unexpected challenge"});
  challenged_ = true;
  if (!config_.key)
    return fail({Code::unknown_device,
                 "the server requires an enrolled device: enrol this replica with a code"});
  if (m.nonce.size() != 64) return fail({Code::malformed_frame, "challenge nonce is not 32 bytes"});
  // A server that does not see the TLS connection (plain ws, or behind a TLS-terminating
  // proxy) checks no binding. A man in the middle gains nothing by clearing `bound`: the real
  // server still checks its own binding, which an unbound answer does not match.
  const std::string text = auth_message(kProtocolVersion, config_.device, m.nonce,
                                        m.bound ? config_.binding : std::string());
  auto sig = config_.key->sign(std::span<const std::uint8_t>(
      reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  return {encode(Auth{crypto::to_hex(sig)})};
}

std::vector<std::string> ClientSession::handle(const Welcome& m) {
  if (welcomed_) return fail({Code::unexpected_message, "second welcome"});
  welcomed_ = true;
  server_user_ = m.user;
  server_role_ = m.role;
  wipe_ = m.wipe;
  lease_ = m.lease;
  scoped_ = m.scoped && !m.wipe;
  fetch_window_ = std::clamp<std::uint32_t>(m.fetch_window, 1, kMaxFetchesInFlight);
  server_digests_ = m.server_digests;
  if (!m.epoch.empty())
    if (Status s = store_.on_server_epoch(m.epoch, m.epoch_base); !s) return fail(s);
  std::vector<std::string> out;
  if (config_.history_only) {
    history_in_flight_ = true;
    out.push_back(encode(*config_.history_only));
    return out;
  }
  for (auto& f : next_reads()) out.push_back(std::move(f));
  if (wipe_) {
    caught_up_ = true;  // a revoked device is sent nothing: it only uploads
  } else {
    pull_in_flight_ = true;
    out.push_back(encode(Pull{store_.cursor(), config_.pull_limit}));
  }
  for (auto& f : next_push()) out.push_back(std::move(f));
  return out;
}

std::vector<std::string> ClientSession::handle(const Ack& m) {
  if (!welcomed_ || push_batch_in_flight_ != m.batch)
    return fail({Code::unexpected_message, "ack for a batch that is not in flight"});
  if (Status s = store_.on_ack(m.results); !s) return fail(s);
  for (const auto& r : m.results) {
    in_flight_.erase(r.op);
    if (r.status == OpStatus::rejected)
      rejected_.push_back(r);
    else
      ++acked_;
  }
  in_flight_.clear();  // anything the server did not answer is resent in a later batch
  push_batch_in_flight_.reset();
  return next_push();
}

std::vector<std::string> ClientSession::handle(const Changes& m) {
  if (!welcomed_) return fail({Code::unexpected_message, "changes before welcome"});
  if (!m.live && !pull_in_flight_)
    return fail({Code::unexpected_message, "changes without a pull"});
  if (Status s = store_.apply_remote(m.entries, m.cursor); !s) return fail(s);
  received_ += m.entries.size();
  if (m.live) return {};
  pull_in_flight_ = false;
  if (m.more) {
    pull_in_flight_ = true;
    return {encode(Pull{m.cursor, config_.pull_limit})};
  }
  caught_up_ = true;
  return {};
}

std::vector<std::string> ClientSession::handle(const Scope& m) {
  if (!welcomed_) return fail({Code::unexpected_message, "scope before welcome"});
  auto applied = store_.apply_scope(m);
  if (!applied) return fail(applied.status());
  scope_seen_ = true;
  purged_ += applied->purged;
  // An answer in flight must not mark an item fetched that this frame removed or named again
  // (a stale answer may lack it): such items are fetched anew when in scope.
  for (auto& items : fetching_)
    std::erase_if(items, [&](const std::string& item) {
      return m.full || std::find(m.remove.begin(), m.remove.end(), item) != m.remove.end() ||
             std::find(m.add.begin(), m.add.end(), item) != m.add.end();
    });
  for (auto& f : applied->fetch) to_fetch_.push_back(std::move(f));
  return next_fetch();
}

std::vector<std::string> ClientSession::next_fetch() {
  std::vector<std::string> out;
  if (failed()) return out;
  // Small fetches: each answer is queued whole on the server, so it must stay well under the
  // server's per-connection queue (a lead's cases can be large). With a window of two, the
  // server reads the next items while this device stores the last answer.
  constexpr std::size_t kFetchChunk = 50;
  while (fetching_.size() < fetch_window_ && !to_fetch_.empty()) {
    Fetch f;
    const std::size_t n = std::min(to_fetch_.size(), std::min(kFetchChunk, kMaxFetchItems));
    f.items.assign(std::make_move_iterator(to_fetch_.begin()),
                   std::make_move_iterator(to_fetch_.begin() + static_cast<std::ptrdiff_t>(n)));
    to_fetch_.erase(to_fetch_.begin(), to_fetch_.begin() + static_cast<std::ptrdiff_t>(n));
    std::vector<std::string> items;
    items.reserve(f.items.size());
    for (const auto& i : f.items) items.push_back(i.item);
    fetching_.push_back(std::move(items));
    out.push_back(encode(f));
  }
  return out;
}

std::vector<std::string> ClientSession::handle(const Snapshot& m) {
  if (fetching_.empty()) return fail({Code::unexpected_message, "snapshot without a fetch"});
  if (Status s = store_.apply_snapshot(m.records); !s) return fail(s);
  snapshot_records_ += m.records.size();
  if (m.more) return {};
  // The answer to the oldest fetch is complete (the server answers in order).
  if (Status s = store_.mark_fetched(fetching_.front()); !s) return fail(s);
  fetching_.pop_front();
  return next_fetch();
}

std::vector<std::string> ClientSession::next_reads() {
  if (!welcomed_ || failed() || reads_in_flight_) return {};
  auto reads = store_.pending_reads(config_.reads_batch);
  if (!reads) return fail(reads.status());
  if (reads->empty()) {
    reads_drained_ = true;
    return {};
  }
  reads_drained_ = false;
  Reads r{next_reads_batch_++, std::move(*reads)};
  std::uint64_t through = 0;
  for (const auto& e : r.events) through = std::max(through, e.local);
  reads_in_flight_ = ReadsInFlight{r.batch, r.events.size(), through};
  return {encode(r)};
}

std::vector<std::string> ClientSession::handle(const Noted& m) {
  if (!reads_in_flight_ || reads_in_flight_->batch != m.batch)
    return fail({Code::unexpected_message, "noted for a reads batch that is not in flight"});
  if (Status s = store_.on_reads_noted(reads_in_flight_->through); !s) return fail(s);
  reads_noted_ += reads_in_flight_->count;
  reads_in_flight_.reset();
  return next_reads();
}

std::vector<std::string> ClientSession::handle(const HistoryLog& m) {
  if (!history_in_flight_) return fail({Code::unexpected_message, "a history nobody asked for"});
  history_in_flight_ = false;
  history_ = m;
  return {};
}

std::vector<std::string> ClientSession::handle(const Error& m) {
  if (m.fatal) return fail({m.code, m.message});
  // A history request or a reads batch the server could not answer: the session ends with
  // the reason (reads are sent again next time).
  if (history_in_flight_ || reads_in_flight_) return fail({m.code, m.message});
  // A non-fatal error (the server could not commit a batch): the batch stays in the outbox
  // and is sent again.
  if (push_batch_in_flight_) {
    in_flight_.clear();
    push_batch_in_flight_.reset();
    return fail({m.code, m.message});
  }
  return {};
}

}  // namespace fieldsync::sync
