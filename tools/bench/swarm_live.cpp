// The swarm's live-latency phase (swarm.hpp): writers edit their own cases on a schedule, the
// observers receive the edits live, and this process times each edit from the write to the
// first observer's receipt.
#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/steady_timer.hpp>
#include <boost/json/serialize.hpp>

#include "swarm.hpp"
#include "swarm_driver.hpp"

namespace fieldsync::bench {
namespace {

namespace net = boost::asio;
using std::chrono::milliseconds;

constexpr std::size_t kMaxHandshakesInFlight = 64;
constexpr auto kSetupTime = std::chrono::seconds(60);
constexpr auto kSetupPerDevice = std::chrono::milliseconds(20);
constexpr auto kGrace = std::chrono::seconds(10);
constexpr auto kQuiet = std::chrono::seconds(2);
constexpr auto kProgressTick = std::chrono::milliseconds(100);
constexpr auto kWindowLead = std::chrono::milliseconds(20);
// The values an edit cycles through (cases.status; "closed" is left out).
constexpr std::array<const char*, 4> kStatuses = {"planning", "implementation", "evaluation",
                                                  "assessment"};

std::string case_id_of(const Identity& writer) { return "live-" + writer.device; }

// One edit of the window: when it was written and when an observer first had it.
struct Edit {
  SteadyClock::time_point written;
  std::optional<SteadyClock::time_point> seen;
};

double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// A writer's schedule: one edit at `next`, then every `interval`, until `end`.
struct Ticker {
  net::steady_timer timer;
  SteadyClock::time_point next;
  std::function<void()> edit;
};

void arm(Ticker& t, milliseconds interval, SteadyClock::time_point end) {
  if (t.next >= end) return;
  t.timer.expires_at(t.next);
  t.timer.async_wait([&t, interval, end](boost::system::error_code ec) {
    if (ec) return;  // cancelled: touch nothing
    t.edit();
    t.next += interval;
    arm(t, interval, end);
  });
}

std::uint64_t writer_bytes(Swarm& swarm, std::size_t writers) {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < writers; ++i) {
    const FrameCounts& c = swarm.connection(i).counts();
    n += c.bytes_sent + c.bytes_received;
  }
  return n;
}

// Writers' ops refused or answered as duplicates (an identity that wrote before), as an error.
Status writer_refusals(Swarm& swarm, std::size_t writers) {
  for (std::size_t i = 0; i < writers; ++i) {
    const SwarmStore& s = swarm.store(i);
    if (const auto& r = s.first_rejected(); r)
      return Status(r->code, "the server refused writer " + std::to_string(i) + "'s op " + r->op +
                                 ": " + r->reason);
    if (s.duplicates() > 0)
      return Status(Code::invalid_argument,
                    "writer " + std::to_string(i) +
                        " wrote before (ops acknowledged as duplicates): a writer needs an "
                        "identity that never wrote (enrol_identities)");
  }
  return Status::ok();
}

}  // namespace

Result<LiveFigures> live_latency(const std::string& host, std::uint16_t port,
                                 const std::vector<Identity>& writers,
                                 const std::vector<Identity>& observers, milliseconds interval,
                                 milliseconds duration,
                                 const std::function<void(double)>& progress) {
  if (writers.empty() || observers.empty())
    return Status(Code::invalid_argument, "live_latency needs writers and observers");
  if (interval.count() <= 0 || duration.count() <= 0)
    return Status(Code::invalid_argument, "interval and duration must be positive");
  const std::size_t nw = writers.size();

  // What the stores' hooks write to: declared before the swarm, which may still run them
  // while it closes.
  std::unordered_map<std::string, Edit> edits;  // op id -> the window's edits
  std::unordered_set<std::string> cases;        // the writers' case ids
  // Per observer: which of the writers' cases it has (from entries or snapshots).
  std::vector<std::unordered_set<std::string>> observed(observers.size());
  Swarm swarm;
  if (Status s = swarm.resolve(host, port); !s) return s;
  for (const auto& w : writers) {
    swarm.add(w);
    cases.insert(case_id_of(w));
  }
  for (std::size_t k = 0; k < observers.size(); ++k) {
    SwarmStore& store = swarm.store(swarm.add(observers[k]));
    auto note_case = [&cases, &held = observed[k]](const std::string& c, const std::string& id) {
      if (c == "cases" && cases.contains(id)) held.insert(id);
    };
    store.on_record(note_case);
    store.on_entry([&edits, note_case](const sync::LogEntry& e) {
      note_case(e.op.collection, e.op.record);
      auto it = edits.find(e.op.id);
      if (it != edits.end() && !it->second.seen) it->second.seen = SteadyClock::now();
    });
  }

  const auto setup_deadline =
      SteadyClock::now() + kSetupTime + kSetupPerDevice * static_cast<int>(swarm.size());
  if (Status s = swarm.connect_all(kMaxHandshakesInFlight, setup_deadline); !s) return s;

  // Each writer creates its case (assigned to its own user, so its lead sees it) and waits
  // for the ack; every observer must then hold every case.
  for (std::size_t i = 0; i < nw; ++i) {
    auto op = swarm.store(i).put("cases", case_id_of(writers[i]),
                                 {{"status", "assessment"},
                                  {"programme", "bench"},
                                  {"assigned_to", boost::json::value(writers[i].user)}});
    if (!op) return op.status();
    swarm.connection(i).local_change();
  }
  auto failed_or_refused = [&] { return !swarm.first_failure() || !writer_refusals(swarm, nw); };
  auto created = [&] {
    for (std::size_t i = 0; i < nw; ++i)
      if (swarm.store(i).outbox_size() > 0) return false;
    return true;
  };
  const bool made =
      swarm.run_until([&] { return created() || failed_or_refused(); }, setup_deadline);
  if (Status s = swarm.first_failure(); !s) return s;
  if (Status s = writer_refusals(swarm, nw); !s) return s;
  if (!made) return Status(Code::unreachable, "the writers' cases were not all acknowledged");
  auto all_held = [&] {
    for (std::size_t k = 0; k < observers.size(); ++k)
      if (observed[k].size() < cases.size() || !swarm.connection(nw + k).live()) return false;
    return true;
  };
  // An observer gets a new case live or by the fetch after its scope changed; once the
  // observers are live and have received nothing for kQuiet, what they lack is not coming.
  std::uint64_t frames_seen = 0;
  auto last_frame = SteadyClock::now();
  auto quiet = [&] {
    std::uint64_t frames = 0;
    bool live = true;
    for (std::size_t k = 0; k < observers.size(); ++k) {
      frames += swarm.connection(nw + k).counts().frames_received;
      live = live && swarm.connection(nw + k).live();
    }
    const auto now = SteadyClock::now();
    if (frames != frames_seen) {
      frames_seen = frames;
      last_frame = now;
    }
    return live && now - last_frame >= kQuiet;
  };
  swarm.run_until([&] { return all_held() || quiet() || !swarm.first_failure(); }, setup_deadline);
  if (Status s = swarm.first_failure(); !s) return s;
  for (std::size_t k = 0; k < observers.size(); ++k)
    if (observed[k].size() < cases.size())
      return Status(Code::out_of_scope,
                    "observer " + observers[k].device + " (" + observers[k].user + ") holds " +
                        std::to_string(observed[k].size()) + " of the " +
                        std::to_string(cases.size()) +
                        " writers' cases: observers must see them (e.g. the writers' team lead)");

  // The window: writer i edits at start + interval * i / writers, then every interval.
  std::size_t encoded_bytes = 0;
  const std::uint64_t bytes_before = writer_bytes(swarm, nw);
  const auto start = SteadyClock::now() + kWindowLead;
  const auto end = start + duration;
  Status edit_failure = Status::ok();
  std::vector<std::unique_ptr<Ticker>> tickers;
  tickers.reserve(nw);
  for (std::size_t i = 0; i < nw; ++i) {
    const auto offset = std::chrono::duration_cast<SteadyClock::duration>(interval) *
                        static_cast<std::int64_t>(i) / static_cast<std::int64_t>(nw);
    auto t =
        std::make_unique<Ticker>(Ticker{net::steady_timer(swarm.io()), start + offset, nullptr});
    t->edit = [&, i, n = std::size_t{0}]() mutable {
      auto op = swarm.store(i).put("cases", case_id_of(writers[i]),
                                   {{"status", kStatuses[n++ % kStatuses.size()]}});
      if (!op) {
        if (edit_failure) edit_failure = op.status();
        return;
      }
      edits.emplace(op->id, Edit{SteadyClock::now(), std::nullopt});
      encoded_bytes += boost::json::serialize(sync::to_json(*op)).size();
      swarm.connection(i).local_change();
    };
    arm(*t, interval, end);
    tickers.push_back(std::move(t));
  }
  net::steady_timer progress_timer(swarm.io());
  std::function<void()> tick = [&] {
    if (progress) {
      const double done = std::chrono::duration<double>(SteadyClock::now() - start) / duration;
      progress(std::clamp(done, 0.0, 1.0));
    }
    progress_timer.expires_after(kProgressTick);
    progress_timer.async_wait([&tick](boost::system::error_code ec) {
      if (!ec) tick();
    });
  };
  tick();
  swarm.run_until([&] { return failed_or_refused() || !edit_failure; }, end);
  // Grace: the last edits' acks and deliveries.
  auto settled = [&] {
    if (!created()) return false;
    return std::all_of(edits.begin(), edits.end(), [](const auto& e) { return e.second.seen; });
  };
  if (swarm.first_failure() && writer_refusals(swarm, nw) && edit_failure)
    swarm.run_until([&] { return settled() || failed_or_refused(); }, end + kGrace);
  progress_timer.cancel();
  for (auto& t : tickers) t->timer.cancel();
  if (Status s = swarm.first_failure(); !s) return s;
  if (Status s = writer_refusals(swarm, nw); !s) return s;
  if (!edit_failure) return edit_failure;
  const std::uint64_t bytes = writer_bytes(swarm, nw) - bytes_before;
  swarm.shutdown();
  if (progress) progress(1.0);

  LiveFigures f;
  f.writers = nw;
  f.edits = edits.size();
  std::vector<double> latencies;
  latencies.reserve(edits.size());
  for (const auto& [id, e] : edits)
    if (e.seen)
      latencies.push_back(std::chrono::duration<double, std::milli>(*e.seen - e.written).count());
  std::sort(latencies.begin(), latencies.end());
  f.seen = latencies.size();
  f.lost = f.edits - f.seen;
  f.p50_ms = percentile(latencies, 0.50);
  f.p99_ms = percentile(latencies, 0.99);
  f.max_ms = latencies.empty() ? 0 : latencies.back();
  if (f.edits > 0) {
    f.bytes_per_edit = static_cast<double>(bytes) / static_cast<double>(f.edits);
    f.encoded_edit_bytes = static_cast<double>(encoded_bytes) / static_cast<double>(f.edits);
  }
  return f;
}

}  // namespace fieldsync::bench
