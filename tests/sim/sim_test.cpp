// The simulation: N devices with real replicas and the server's real store and writer logic,
// joined through the sans-I/O protocol by a seeded network that drops connections (losing
// frames in flight), delivers frames of many connections in any interleaving, replays old
// pushes (duplicates), and delays commits. For many seeds it checks: no acknowledged or
// written operation is lost, none is applied twice, and every replica converges to the
// server's state with the same conflicts.
//
// The scoped mode runs the same network with authenticated devices of two workers and their
// lead (server/scope.hpp): workers write to their own cases, now and then to another's
// (refused), share and unshare their cases; the lead reassigns cases between them. Then each
// device must hold exactly its user's scope, as the server has it, and nothing else but the
// records of its own refused writes.
#include <catch2/catch.hpp>

#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include <boost/json/serialize.hpp>

#include "fieldsync/client/replica.hpp"
#include "fieldsync/server/apply.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "fieldsync/sync/client_session.hpp"
#include "fieldsync/sync/server_session.hpp"

namespace fs = std::filesystem;
using namespace fieldsync;
using namespace fieldsync::sync;

namespace {

fs::path scratch_dir(std::uint64_t seed) {
  fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  fs::path dir =
      base / ("fieldsync-sim-" + std::to_string(::getpid()) + "-" + std::to_string(seed));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

struct Connection {
  std::unique_ptr<ClientSession> client;
  std::unique_ptr<ServerSession> server;
  std::deque<std::string> to_server, to_client;
  bool alive = true;
};

struct Device {
  std::unique_ptr<client::Replica> replica;
  std::shared_ptr<Connection> conn;
  std::vector<std::string> sent_pushes;  // frames, for replay as duplicates
};

struct PendingSubmit {
  std::weak_ptr<Connection> conn;
  SubmittedPush push;
};

class Simulation {
 public:
  // `scoped`: devices authenticate; the last one is the lead's, the others workers'.
  Simulation(std::uint64_t seed, int devices, bool scoped = false)
      : rng_(seed), dir_(scratch_dir(seed)), clock_(1'700'000'000'000), scoped_(scoped) {
    auto store = server::SqliteStore::open((dir_ / "server.db").string());
    REQUIRE(store);
    store_ = std::move(*store);
    if (scoped_) {
      auto d = server::Directory::open(store_->file());
      REQUIRE(d);
      directory_ = std::move(*d);
      REQUIRE(directory_->add_team("north", clock_));
    }
    for (int i = 0; i < devices; ++i) {
      client::ReplicaOptions o;
      o.user = scoped_ && i == devices - 1 ? "lead" : "worker" + std::to_string(i);
      if (scoped_)
        REQUIRE(directory_->add_user(
            o.user, i == devices - 1 ? server::Role::lead : server::Role::worker, "north", clock_));
      o.random = &rng_;
      // Device clocks disagree; one of them runs a day ahead.
      std::int64_t skew = i == 0 ? 86'400'000 : static_cast<std::int64_t>(rng_.below(20'000));
      o.now_ms = [this, skew] { return clock_ + skew; };
      std::string passphrase = "simulated device " + std::to_string(i);
      auto r = client::Replica::init(
          (dir_ / ("d" + std::to_string(i) + ".db")).string(),
          crypto::Credential::passphrase(crypto::SecureBuffer::take(passphrase),
                                         crypto::KdfLimits::minimum()),
          o);
      REQUIRE(r);
      devices_.push_back({std::move(*r), nullptr, {}});
    }
  }
  ~Simulation() {
    devices_.clear();
    store_.reset();
    fs::remove_all(dir_);
  }

  void run(int steps) {
    for (int s = 0; s < steps; ++s) step();
  }

  // Reconnects everyone and runs without faults until every device is up to date with
  // nothing pending, then once more so that every device has pulled everything.
  void heal() {
    for (int round = 0; round < 2; ++round) {
      for (std::size_t d = 0; d < devices_.size(); ++d) disconnect(d);
      for (std::size_t d = 0; d < devices_.size(); ++d) connect(d);
      for (int guard = 0; guard < 100000; ++guard) {
        if (!deliver_any(/*faults=*/false)) {
          if (!pending_.empty()) {
            commit_pending();
            continue;
          }
          break;
        }
      }
      for (std::size_t d = 0; d < devices_.size(); ++d) {
        auto& c = devices_[d].conn;
        REQUIRE(c);
        INFO("device " << d << " failure "
                       << (c->client->failed() ? c->client->failure()->to_string() : "none"));
        REQUIRE(c->client->up_to_date());
      }
    }
  }

  void check() {
    // No loss, no duplicate: the log holds every op written on a device exactly once.
    std::map<std::string, int> in_log;
    for (const auto& e : whole_log()) ++in_log[e.op.id];
    for (const auto& id : written_) {
      INFO("op " << id);
      REQUIRE(in_log[id] == 1);
    }
    REQUIRE(in_log.size() == written_.size());

    // Convergence: every replica shows every record as the server does, with the same conflicts.
    for (const auto& [collection, id] : records_) {
      auto row = store_->get_record(collection, id);
      REQUIRE(row);
      REQUIRE(row->has_value());
      std::string server_fields = boost::json::serialize((*row)->fields);
      for (std::size_t d = 0; d < devices_.size(); ++d) {
        auto view = devices_[d].replica->get(collection, id);
        REQUIRE(view);
        REQUIRE(view->has_value());
        INFO("device " << d << " " << collection << "/" << id);
        CHECK((*view)->deleted == (*row)->deleted);
        CHECK(boost::json::serialize((*view)->fields) == server_fields);
      }
    }
    auto first = devices_[0].replica->conflicts(true);
    REQUIRE(first);
    for (std::size_t d = 1; d < devices_.size(); ++d) {
      auto cs = devices_[d].replica->conflicts(true);
      REQUIRE(cs);
      REQUIRE(cs->size() == first->size());
      for (std::size_t i = 0; i < cs->size(); ++i)
        CHECK(boost::json::serialize(to_json((*cs)[i])) ==
              boost::json::serialize(to_json((*first)[i])));
    }
    for (auto& d : devices_) {
      auto ob = d.replica->outbox();
      REQUIRE(ob);
      CHECK(ob->empty());
    }
  }

  // Scoped mode: every op is in the log once or refused on its device (never both); each
  // device holds exactly the records its user's scope sees, as the server has them, and
  // nothing else but records its own refused writes touched.
  void check_scoped() {
    std::map<std::string, int> in_log;
    // The stored scope of each record (every entry of a record carries the same).
    std::map<std::pair<std::string, std::string>, std::string> creators;
    for (const auto& e : whole_log()) {
      ++in_log[e.op.id];
      creators[{e.op.collection, e.op.record}] = e.scope.creator;
    }
    std::set<std::string> refused;
    std::vector<std::set<std::pair<std::string, std::string>>> touched_by_refused(devices_.size());
    for (std::size_t d = 0; d < devices_.size(); ++d) {
      auto ob = devices_[d].replica->outbox();
      REQUIRE(ob);
      for (const auto& e : *ob) {
        INFO("op " << e.op.id << " " << e.reason);
        REQUIRE(e.rejected);  // nothing pending after heal()
        CHECK((e.code == Code::out_of_scope || e.code == Code::forbidden));
        refused.insert(e.op.id);
        touched_by_refused[d].insert({e.op.collection, e.op.record});
      }
    }
    for (const auto& id : written_) {
      INFO("op " << id);
      REQUIRE(in_log[id] + (refused.contains(id) ? 1 : 0) == 1);
    }
    REQUIRE(refused.size() > 0);  // the run did try writes outside the scope

    for (std::size_t d = 0; d < devices_.size(); ++d) {
      client::Replica& r = *devices_[d].replica;
      auto user = directory_->user(r.user());
      REQUIRE(user);
      auto scope = store_->scope_of({user->name, user->role, user->team});
      REQUIRE(scope);
      for (const auto& [collection, id] : records_) {
        INFO("device " << d << " (" << r.user() << ") " << collection << "/" << id);
        if (touched_by_refused[d].contains({collection, id})) continue;
        auto row = store_->get_record(collection, id);
        REQUIRE(row);
        auto view = r.get(collection, id);
        REQUIRE(view);
        bool visible = false;
        if (*row) {
          const std::string item = sync::scope_item(collection, id, (*row)->fields);
          sync::EntryScope es{item, creators[{collection, id}]};
          visible = scope->sees(es);
        }
        if (!visible) {
          CHECK_FALSE(view->has_value());
          continue;
        }
        REQUIRE(view->has_value());
        CHECK((*view)->deleted == (*row)->deleted);
        CHECK(boost::json::serialize((*view)->fields) == boost::json::serialize((*row)->fields));
      }
    }
  }

  std::size_t ops_written() const { return written_.size(); }
  std::size_t purged() const { return purged_; }
  std::size_t snapshot_records() const { return snapshot_records_; }

  // Every entry of the server's log, in order.
  std::vector<LogEntry> whole_log() {
    std::vector<LogEntry> out;
    std::uint64_t after = 0;
    for (;;) {
      auto page = store_->read_log(after, 1000, "");
      REQUIRE(page);
      for (auto& e : page->entries) out.push_back(std::move(e));
      after = page->cursor;
      if (!page->more) return out;
    }
  }

 private:
  void step() {
    clock_ += static_cast<std::int64_t>(rng_.below(3000));
    switch (rng_.below(10)) {
      case 0:
      case 1:
      case 2:
        if (scoped_)
          scoped_write(rng_.below(devices_.size()));
        else
          local_write(rng_.below(devices_.size()));
        break;
      case 3:
        connect(rng_.below(devices_.size()));
        break;
      case 4:
        if (rng_.below(3) == 0) disconnect(rng_.below(devices_.size()));
        break;
      case 5:
        commit_pending();
        break;
      default:
        deliver_any(/*faults=*/true);
        break;
    }
  }

  void local_write(std::size_t d) {
    client::Replica& r = *devices_[d].replica;
    const std::string k = "k" + std::to_string(rng_.below(4));
    static const std::vector<std::string> status = {"assessment", "planning", "implementation",
                                                    "evaluation", "closed"};
    static const std::vector<std::string> risk = {"low", "medium", "high"};
    static const std::vector<std::string> needs = {"housing", "food", "medical"};
    Result<std::string> op = std::string();
    std::string collection = "cases";
    std::string id = k;
    switch (rng_.below(7)) {
      case 0:
        op = r.put("cases", k, {{"status", client::FieldEdit::Kind::set, status[rng_.below(5)]}});
        break;
      case 1:
        op = r.put("cases", k, {{"risk", client::FieldEdit::Kind::set, risk[rng_.below(3)]}});
        break;
      case 2:
        op = r.put("cases", k, {{"needs", client::FieldEdit::Kind::add, needs[rng_.below(3)]}});
        break;
      case 3:
        op = r.put("cases", k, {{"needs", client::FieldEdit::Kind::remove, needs[rng_.below(3)]}});
        break;
      case 4:
        op = r.put(
            "cases", k,
            {{"programme", client::FieldEdit::Kind::set, "p" + std::to_string(rng_.below(9))}});
        break;
      case 5:
        op = add_note(r, k, collection, id);
        break;
      default:
        if (rng_.below(5) == 0)
          op = r.remove("cases", k);
        else
          return;
    }
    record_write(d, op, collection, id);
  }

  // Scoped mode: worker i owns cases "w<i>-k<j>"; the last device is the lead's.
  void scoped_write(std::size_t d) {
    client::Replica& r = *devices_[d].replica;
    using Kind = client::FieldEdit::Kind;
    const std::size_t workers = devices_.size() - 1;
    const std::size_t owner = rng_.below(workers);
    const bool own = d == owner || rng_.below(4) != 0;
    const std::string k =
        "w" + std::to_string(own && d < workers ? d : owner) + "-k" + std::to_string(rng_.below(3));
    Result<std::string> op = std::string();
    std::string collection = "cases";
    std::string id = k;
    const bool lead = d == workers;
    switch (rng_.below(6)) {
      case 0:  // a worker opens (or takes) the case; the lead edits it
        if (lead)
          op = r.put("cases", k, {{"status", Kind::set, "evaluation"}});
        else
          op = r.put("cases", k,
                     {{"status", Kind::set, rng_.below(2) ? "planning" : "assessment"},
                      {"assigned_to", Kind::set, r.user()}});
        break;
      case 1:
        op = r.put("cases", k, {{"risk", Kind::set, rng_.below(2) ? "low" : "high"}});
        break;
      case 2: {
        const std::string other = "worker" + std::to_string(rng_.below(workers));
        op = r.put("cases", k, {{"shared_with", rng_.below(2) ? Kind::add : Kind::remove, other}});
        break;
      }
      case 3:
        if (lead) {
          const std::string to = "worker" + std::to_string(rng_.below(workers));
          op = r.put("cases", k, {{"assigned_to", Kind::set, to}});
        } else {
          op = r.put("cases", k, {{"programme", Kind::set, "p" + std::to_string(rng_.below(9))}});
        }
        break;
      default:
        op = add_note(r, k, collection, id);
        break;
    }
    record_write(d, op, collection, id);
  }

  // A note on case `k`; sets `collection` and `id` to the note's. Returns its op id.
  Result<std::string> add_note(client::Replica& r, const std::string& k, std::string& collection,
                               std::string& id) {
    auto note = r.add_note(k, "note " + std::to_string(rng_.next()));
    if (!note) return note.status();
    collection = "notes";
    id = *note;
    auto ob = r.outbox();
    REQUIRE(ob);
    return ob->back().op.id;
  }

  // Remembers a local write (or checks that its refusal was an expected one) and pushes it
  // when the device is connected.
  void record_write(std::size_t d, const Result<std::string>& op, const std::string& collection,
                    const std::string& id) {
    if (!op) {
      // Expected refusals: editing a deleted case, removing an absent element or record.
      Code c = op.status().code();
      REQUIRE((c == Code::deleted || c == Code::not_found || c == Code::invalid_argument));
      return;
    }
    written_.insert(*op);
    records_.insert({collection, id});
    if (auto& c = devices_[d].conn; c && c->alive) queue_to_server(d, c->client->on_local_change());
  }

  void connect(std::size_t d) {
    auto& dev = devices_[d];
    if (dev.conn && dev.conn->alive) return;
    auto c = std::make_shared<Connection>();
    ClientSessionConfig cfg{.device = dev.replica->device(),
                            .user = dev.replica->user(),
                            .schema_version = 1,
                            .push_batch = 1 + rng_.below(5),
                            .pull_limit = static_cast<std::uint32_t>(1 + rng_.below(8)),
                            .key = scoped_ ? dev.replica->signing_key() : nullptr};
    c->client = std::make_unique<ClientSession>(*dev.replica, cfg);
    ServerSessionConfig scfg{.max_pull = static_cast<std::uint32_t>(1 + rng_.below(8)),
                             .max_push_ops = kMaxPushOps,
                             .require_auth = scoped_};
    c->server = std::make_unique<ServerSession>(default_schema(), scfg);
    dev.conn = c;
    queue_to_server(d, c->client->start());
    // Duplicate delivery: an old push of this device arrives again, on a session of its own.
    if (!dev.sent_pushes.empty() && rng_.below(3) == 0) replay(d);
  }

  void replay(std::size_t d) {
    if (scoped_) return;  // a replay must authenticate like any connection: nothing new
    auto ghost = std::make_shared<Connection>();
    ghost->server = std::make_unique<ServerSession>(default_schema());
    auto& dev = devices_[d];
    auto head = store_->head();
    REQUIRE(head);
    ghost->server->on_frame(encode(Hello{dev.replica->device(), dev.replica->user(), 0, 1}), *head,
                            clock_);
    auto a =
        ghost->server->on_frame(dev.sent_pushes[rng_.below(dev.sent_pushes.size())], *head, clock_);
    if (a.submit) pending_.push_back({ghost, std::move(*a.submit)});
    ghosts_.push_back(ghost);
  }

  void disconnect(std::size_t d) {
    auto& c = devices_[d].conn;
    if (!c) return;
    if (c->client) {
      purged_ += c->client->purged();
      snapshot_records_ += c->client->snapshot_records();
    }
    c->alive = false;  // frames in flight are lost; submitted pushes may still commit
    c.reset();
  }

  void queue_to_server(std::size_t d, std::vector<std::string> frames) {
    auto& c = devices_[d].conn;
    for (auto& f : frames) {
      if (f.find("\"t\":\"push\"") != std::string::npos) devices_[d].sent_pushes.push_back(f);
      c->to_server.push_back(std::move(f));
    }
  }

  // Delivers one frame on some live connection. Returns false when nothing was in flight.
  bool deliver_any(bool faults) {
    std::vector<std::size_t> busy;
    for (std::size_t d = 0; d < devices_.size(); ++d) {
      auto& c = devices_[d].conn;
      if (c && c->alive && (!c->to_server.empty() || !c->to_client.empty())) busy.push_back(d);
    }
    if (busy.empty()) return false;
    std::size_t d = busy[rng_.below(busy.size())];
    auto conn = devices_[d].conn;
    if (faults && rng_.below(40) == 0) {  // the link drops with frames in flight
      disconnect(d);
      return true;
    }
    bool up = !conn->to_server.empty() && (conn->to_client.empty() || rng_.below(2) == 0);
    if (up) {
      std::string f = std::move(conn->to_server.front());
      conn->to_server.pop_front();
      auto head = store_->head();
      REQUIRE(head);
      run_actions(conn, conn->server->on_frame(f, *head, clock_));
    } else {
      std::string f = std::move(conn->to_client.front());
      conn->to_client.pop_front();
      auto out = conn->client->on_frame(f);
      REQUIRE_FALSE(conn->client->failed());
      queue_to_server(d, std::move(out));
    }
    return true;
  }

  void run_actions(const std::shared_ptr<Connection>& conn, SessionActions a) {
    for (auto& f : a.send) conn->to_client.push_back(std::move(f));
    if (a.submit) pending_.push_back({conn, std::move(*a.submit)});
    if (a.read) {
      auto page = store_->read_log(a.read->cursor, a.read->limit, conn->server->device(),
                                   conn->server->visibility());
      REQUIRE(page);
      run_actions(conn, conn->server->on_read(std::move(*page)));
    }
    if (a.lookup_device) {
      const client::Replica* r = replica_of(*a.lookup_device);
      REQUIRE(r);
      auto u = directory_->user(r->user());
      REQUIRE(u);
      DeviceRecord rec{u->name, std::string(server::role_name(u->role)),
                       r->signing_key()->public_key()};
      auto head = store_->head();
      REQUIRE(head);
      run_actions(conn, conn->server->on_device(rec, *head, clock_));
    }
    if (a.load_scope) {
      auto u = directory_->user(conn->server->user());
      REQUIRE(u);
      auto scope = store_->scope_of({u->name, u->role, u->team});
      REQUIRE(scope);
      auto head = store_->head();
      REQUIRE(head);
      run_actions(conn, conn->server->on_scope(*scope, saved_scope_[conn->server->device()], *head,
                                               clock_));
    }
    if (a.save_scope) saved_scope_[conn->server->device()] = *a.save_scope;
    if (a.read_items) {
      auto items = store_->read_items(*a.read_items);
      REQUIRE(items);
      run_actions(conn, conn->server->on_items(*items));
    }
  }

  const client::Replica* replica_of(const std::string& device) const {
    for (const auto& d : devices_)
      if (d.replica->device() == device) return d.replica.get();
    return nullptr;
  }

  // The writer: every pending submission in one transaction (group commit), then acks and
  // fan-out to every live session.
  void commit_pending() {
    if (pending_.empty()) return;
    auto tx = store_->begin();
    REQUIRE(tx);
    std::vector<std::vector<OpResult>> results;
    std::vector<LogEntry> accepted;
    for (auto& p : pending_) {
      std::vector<EntryScope> scopes;
      auto r = server::apply_batch(**tx, p.push.ops, default_schema(),
                                   {clock_, kDefaultMaxAheadMs, scoped_}, &scopes);
      REQUIRE(r);
      std::size_t k = 0;
      for (std::size_t i = 0; i < r->size(); ++i)
        if ((*r)[i].status == OpStatus::accepted)
          accepted.push_back({(*r)[i].seq, p.push.ops[i], (*r)[i].skewed, scopes.at(k++)});
      results.push_back(std::move(*r));
    }
    REQUIRE((*tx)->commit());
    auto group = std::move(pending_);
    pending_.clear();
    for (std::size_t i = 0; i < group.size(); ++i) {
      auto conn = group[i].conn.lock();
      if (!conn || !conn->alive) continue;  // the ack is lost with the connection
      run_actions(conn, conn->server->on_committed(group[i].push.batch, results[i]));
    }
    for (auto& dev : devices_)
      if (dev.conn && dev.conn->alive) run_actions(dev.conn, dev.conn->server->on_live(accepted));
  }

  crypto::SeededRandom rng_;
  fs::path dir_;
  std::int64_t clock_;
  std::unique_ptr<server::SqliteStore> store_;
  std::vector<Device> devices_;
  std::vector<PendingSubmit> pending_;
  std::vector<std::shared_ptr<Connection>> ghosts_;
  std::set<std::string> written_;
  std::set<std::pair<std::string, std::string>> records_;
  bool scoped_ = false;
  std::size_t purged_ = 0;            // records devices removed (scope lost)
  std::size_t snapshot_records_ = 0;  // records devices received whole (scope gained)
  std::unique_ptr<server::Directory> directory_;
  std::map<std::string, std::vector<std::string>> saved_scope_;  // Directory::device_scope
};

}  // namespace

TEST_CASE("simulation: devices over a faulty network lose nothing, duplicate nothing, converge") {
  const std::uint64_t seeds = 24;
  std::size_t total_ops = 0;
  for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
    INFO("seed " << seed);
    Simulation sim(seed, 3 + static_cast<int>(seed % 4));
    sim.run(400);
    sim.heal();
    sim.check();
    total_ops += sim.ops_written();
  }
  CHECK(total_ops > seeds * 50);
}

TEST_CASE("simulation: scoped devices hold their user's scope exactly, through faults") {
  const std::uint64_t seeds = 12;
  std::size_t total_ops = 0, purged = 0, whole = 0;
  for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
    INFO("seed " << seed);
    Simulation sim(seed, 3 + static_cast<int>(seed % 3), /*scoped=*/true);
    sim.run(400);
    sim.heal();
    sim.check_scoped();
    total_ops += sim.ops_written();
    purged += sim.purged();
    whole += sim.snapshot_records();
  }
  CHECK(total_ops > seeds * 50);
  // The runs did move cases between devices: some were purged, some arrived whole.
  CHECK(purged > 0);
  CHECK(whole > 0);
}
