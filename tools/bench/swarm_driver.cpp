// The swarm's event loop and its devices (swarm_driver.hpp).
#include "swarm_driver.hpp"

#include <algorithm>

#include <boost/asio/ip/address.hpp>

#include "fieldsync/sync/schema.hpp"

namespace fieldsync::bench {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr auto kCloseTime = std::chrono::seconds(10);
constexpr auto kAbortTime = std::chrono::seconds(5);
constexpr auto kPollTick = std::chrono::milliseconds(50);

}  // namespace

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Swarm::~Swarm() { shutdown(); }

Status Swarm::resolve(const std::string& host, std::uint16_t port) {
  tcp::resolver resolver(ioc_);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty())
    return Status(Code::unreachable, "cannot resolve " + host + ": " + ec.message());
  endpoint_ = results.begin()->endpoint();
  const bool v6 = host.find(':') != std::string::npos;
  host_header_ = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  return Status::ok();
}

std::size_t Swarm::add(const Identity& identity) {
  const std::size_t i = connections_.size();
  identities_.push_back(&identity);
  const sync::Schema& schema = sync::default_schema();
  stores_.push_back(std::make_unique<SwarmStore>(identity.device, identity.user, schema,
                                                 [] { return wall_ms(); }));
  // Plain ws://: no channel binding.
  sync::ClientSessionConfig config{.device = identity.device,
                                   .user = identity.user,
                                   .schema_version = schema.version(),
                                   .key = &identity.key,
                                   .binding = {}};
  connections_.push_back(std::make_unique<SwarmConnection>(
      ioc_, endpoint_, host_header_, config, *stores_.back(), [this, i] { on_event(i); }));
  settled_.push_back(false);
  return i;
}

void Swarm::on_event(std::size_t i) {
  if (!connecting_ || settled_[i]) return;
  const SwarmConnection& c = *connections_[i];
  if (!c.live() && !c.failed()) return;
  settled_[i] = true;
  ++settled_count_;
  --in_flight_;
  open_next();
}

void Swarm::open_next() {
  while (in_flight_ < max_in_flight_ && next_to_open_ < connections_.size()) {
    const std::size_t i = next_to_open_++;
    if (settled_[i]) continue;
    ++in_flight_;
    connections_[i]->open();
  }
}

Status Swarm::connect_all(std::size_t max_in_flight, SteadyClock::time_point deadline) {
  max_in_flight_ = std::max<std::size_t>(1, max_in_flight);
  connecting_ = true;
  open_next();
  const bool done = run_until([this] { return settled_count_ == connections_.size(); }, deadline);
  connecting_ = false;
  if (Status f = first_failure(); !f) {
    std::size_t failed = 0;
    for (const auto& c : connections_) failed += c->failed() ? 1 : 0;
    return Status(f.code(), std::to_string(failed) + " of " + std::to_string(connections_.size()) +
                                " devices failed to connect; the first: " + f.message());
  }
  if (!done)
    return Status(Code::unreachable, "only " + std::to_string(settled_count_) + " of " +
                                         std::to_string(connections_.size()) +
                                         " devices were live before the deadline");
  return Status::ok();
}

bool Swarm::run_until(const std::function<bool()>& done, SteadyClock::time_point deadline) {
  while (!done()) {
    if (SteadyClock::now() >= deadline) return false;
    if (ioc_.stopped()) ioc_.restart();
    // Wakes at least every kPollTick, so that `done` may also depend on the time.
    if (ioc_.run_one_until(std::min(deadline, SteadyClock::now() + kPollTick)) == 0 &&
        ioc_.stopped()) {
      // Out of work: nothing will change by waiting.
      if (done()) return true;
      return false;
    }
  }
  return true;
}

void Swarm::run_for(std::chrono::milliseconds d) {
  const auto deadline = SteadyClock::now() + d;
  run_until([] { return false; }, deadline);
}

Status Swarm::first_failure() const {
  for (std::size_t i = 0; i < connections_.size(); ++i)
    if (const auto& f = connections_[i]->failure(); f)
      return Status(f->code(), "device " + identities_[i]->device + " (" + identities_[i]->user +
                                   "): " + f->message());
  return Status::ok();
}

void Swarm::shutdown() {
  connecting_ = false;
  for (auto& c : connections_) c->close();
  auto all_finished = [this] {
    return std::all_of(connections_.begin(), connections_.end(),
                       [](const auto& c) { return c->finished(); });
  };
  if (!run_until(all_finished, SteadyClock::now() + kCloseTime)) {
    for (auto& c : connections_)
      if (!c->finished()) c->abort();
    run_until(all_finished, SteadyClock::now() + kAbortTime);
  }
  // Whatever is left (timers of the caller's) completes or is dropped with the io_context.
  ioc_.restart();
  ioc_.poll();
}

}  // namespace fieldsync::bench
