// Scopes in the protocol state machines: the scope is loaded before the welcome, the first
// scope frame follows the catch-up, a fetch is answered with what the device lacks, live
// entries are filtered by the scope and an assignment reloads it; scope frames round-trip.
#include <span>
#include <string>

#include <catch2/catch.hpp>

#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/sync/client_session.hpp"
#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/scope.hpp"
#include "fieldsync/sync/server_session.hpp"
#include "memory_client_store.hpp"

using namespace fieldsync;
using namespace fieldsync::sync;
using fieldsync::test::MemoryClientStore;
using Items = std::vector<std::string>;

namespace {

const std::string kDevice = "0123456789abcdef0123456789abcdef";
const std::string kOther = "fedcba9876543210fedcba9876543210";

Message decoded(const std::string& frame) {
  auto m = decode(frame);
  REQUIRE(m);
  return *m;
}

template <typename T>
const T& frame_as(const std::string& frame, Message& keep) {
  keep = decoded(frame);
  REQUIRE(std::holds_alternative<T>(keep));
  return std::get<T>(keep);
}

Op put(const std::string& collection, const std::string& id, const std::string& field,
       const std::string& value, std::uint64_t n = 1) {
  Op op;
  op.id = std::string(kOther) + "-" + std::to_string(n);
  op.device = kOther;
  op.user = "lee";
  op.hlc = Hlc{1'700'000'000'000 + static_cast<std::int64_t>(n), 0};
  op.collection = collection;
  op.record = id;
  op.writes.push_back({field, WriteKind::set, boost::json::value(value), {}});
  return op;
}

// A worker's device through hello, challenge, auth and the scope load, welcomed.
struct Session {
  crypto::SigningKey key = crypto::SigningKey::generate();
  MemoryClientStore store;
  ClientSession client{store, {.device = kDevice, .user = "ana", .schema_version = 2, .key = &key}};
  ServerSession server{default_schema(), [] {
                         ServerSessionConfig c;
                         c.require_auth = true;
                         return c;
                       }()};

  void welcome(const Visibility& scope, const Items& saved) {
    auto challenge = server.on_frame(client.start().at(0), 0, 1000);
    auto auth = client.on_frame(challenge.send.at(0));
    auto lookup = server.on_frame(auth.at(0), 0, 1000);
    REQUIRE(lookup.lookup_device);
    auto loading = server.on_device(DeviceRecord{"ana", "worker", key.public_key()}, 0, 1000);
    REQUIRE(loading.load_scope);
    auto w = server.on_scope(scope, saved, 0, 1000);
    REQUIRE(w.send.size() == 1);
    auto next = client.on_frame(w.send[0]);
    REQUIRE_FALSE(next.empty());
    auto read = server.on_frame(next[0], 0, 1000);  // the pull
    REQUIRE(read.read);
    REQUIRE(server.visibility());
  }
};

}  // namespace

TEST_CASE("scope frames round-trip, and bad items are malformed", "[scope]") {
  Scope s{false, {"c:case-1", "k:cl-1"}, {"c:old"}, std::string(64, 'a')};
  Message keep;
  const auto& back = frame_as<Scope>(encode(s), keep);
  CHECK(back.add == s.add);
  CHECK(back.remove == s.remove);
  CHECK(back.digest == s.digest);
  CHECK(decode(R"({"v":3,"t":"scope","full":true,"add":["x:1"],"remove":[],"digest":""})")
            .status()
            .code() == Code::malformed_frame);
  Fetch f{{{"c:case-1", "abc"}, {"k:cl-1", ""}}};
  const auto& fb = frame_as<Fetch>(encode(f), keep);
  REQUIRE(fb.items.size() == 2);
  CHECK(fb.items[0].have == "abc");
  RecordState st;
  apply(st, put("cases", "case-1", "programme", "food"), *default_schema().collection("cases"));
  Snapshot snap{{{"cases", "case-1", st}}, true};
  const auto& sb = frame_as<Snapshot>(encode(snap), keep);
  REQUIRE(sb.records.size() == 1);
  CHECK(sb.records[0].state == st);
  CHECK(sb.more);
}

TEST_CASE("scoped session: first scope after the catch-up, fetch answered by difference",
          "[scope]") {
  Session s;
  s.store.cursor_ = 3;  // it pulled before: no bootstrap
  Visibility scope{false, {"c:case-1", "k:cl-1"}, {"ana"}};
  s.welcome(scope, {});
  // The caught-up pull: changes, then the first scope frame (a delta from the empty set).
  auto done = s.server.on_read(Changes{{}, 5, false, false});
  REQUIRE(done.send.size() == 2);
  Message keep;
  const auto& sc = frame_as<Scope>(done.send[1], keep);
  CHECK_FALSE(sc.full);
  CHECK(sc.add == scope.items);
  CHECK(sc.digest == scope_digest(scope.items));
  REQUIRE(done.save_scope);
  CHECK(*done.save_scope == scope.items);
  CHECK(s.client.on_frame(done.send[0]).empty());
  auto fetch = s.client.on_frame(done.send[1]);
  REQUIRE(fetch.size() == 1);
  CHECK(s.store.scope == scope.items);
  CHECK_FALSE(s.client.up_to_date());  // waiting for the snapshot

  // The items are read one at a time (paced by the transport), answered in one page.
  auto read = s.server.on_frame(fetch[0], 5, 1000);
  REQUIRE(read.read_items);
  CHECK(*read.read_items == Items{"c:case-1"});
  auto next = s.server.on_items(std::vector<std::vector<SnapshotRecord>>{{}});
  CHECK(next.send.empty());
  REQUIRE(next.read_items);
  CHECK(*next.read_items == Items{"k:cl-1"});
  auto empty = s.server.on_items(std::vector<std::vector<SnapshotRecord>>{{}});
  REQUIRE(empty.send.size() == 1);  // the first fetch's answer: nothing
  CHECK_FALSE(empty.read_items);
  RecordState st;
  apply(st, put("cases", "case-1", "programme", "food"), *default_schema().collection("cases"));
  HoldingDigest held;
  held.add("clients", "cl-1", st);
  // The device claims to hold cl-1 exactly as the server does: only case-1 comes back.
  Fetch again{{{"c:case-1", ""}, {"k:cl-1", held.finish()}}};
  auto read2 = s.server.on_frame(encode(again), 5, 1000);
  REQUIRE(read2.read_items);
  auto part =
      s.server.on_items(std::vector<std::vector<SnapshotRecord>>{{{"cases", "case-1", st}}});
  CHECK(part.send.empty());
  REQUIRE(part.read_items);
  auto answer =
      s.server.on_items(std::vector<std::vector<SnapshotRecord>>{{{"clients", "cl-1", st}}});
  REQUIRE(answer.send.size() == 1);
  const auto& snap = frame_as<Snapshot>(answer.send[0], keep);
  REQUIRE(snap.records.size() == 1);
  CHECK(snap.records[0].id == "case-1");
  CHECK_FALSE(snap.more);

  SECTION("a fetch for an item outside the scope gets nothing") {
    auto outside = s.server.on_frame(encode(Fetch{{{"c:someone-else", ""}}}), 5, 1000);
    CHECK_FALSE(outside.read_items);
    REQUIRE(outside.send.size() == 1);
    CHECK(frame_as<Snapshot>(outside.send[0], keep).records.empty());
  }
  SECTION("a page read under the old scope stops at a reassignment of a visible case") {
    LogEntry edit{6, put("visits", "v-1", "outcome", "y", 6), false, {"c:case-1", "lee"}};
    LogEntry away{7, put("cases", "case-1", "assigned_to", "ben", 7), false, {"c:case-1", "lee"}};
    LogEntry later{8, put("visits", "v-1", "outcome", "z", 8), false, {"c:case-1", "lee"}};
    auto pulled = s.server.on_frame(encode(Pull{5, 100}), 8, 1000);
    REQUIRE(pulled.read);
    auto cut = s.server.on_read(Changes{{edit, away, later}, 8, false, false});
    CHECK(cut.load_scope);
    REQUIRE(cut.send.size() == 1);
    const auto& c = frame_as<Changes>(cut.send[0], keep);
    REQUIRE(c.entries.size() == 1);  // only what came before the reassignment
    CHECK(c.cursor == 6);
    CHECK(c.more);
    Visibility none{false, {}, {"ana"}};
    s.server.on_scope(none, scope.items, 8, 1000);
    CHECK(s.server.visibility()->items.empty());
  }
  SECTION("the device is told the cursor after its own ops, and after many skipped entries") {
    Op own = put("visits", "v-1", "outcome", "mine", 6);
    own.device = kDevice;
    auto told = s.server.on_live({LogEntry{6, own, false, {"c:case-1", "ana"}}});
    REQUIRE(told.send.size() == 1);
    const auto& c = frame_as<Changes>(told.send[0], keep);
    CHECK(c.entries.empty());
    CHECK(c.live);
    CHECK(c.cursor == 6);
    LogEntry theirs{7, put("visits", "v-9", "outcome", "x", 7), false, {"c:case-9", "lee"}};
    CHECK(s.server.on_live({theirs}).send.empty());  // one entry it does not see: nothing yet
    std::vector<LogEntry> many;
    for (std::uint64_t seq = 8; seq < 1008; ++seq)
      many.push_back({seq, put("visits", "v-9", "outcome", "x", seq), false, {"c:case-9", "lee"}});
    auto notice = s.server.on_live(many);
    REQUIRE(notice.send.size() == 1);
    Message keep2;
    CHECK(frame_as<Changes>(notice.send[0], keep2).cursor == 1007);
  }
  SECTION("live entries outside the scope are not sent; an assignment reloads the scope") {
    LogEntry theirs{6, put("visits", "v-9", "outcome", "x", 6), false, {"c:case-9", "lee"}};
    LogEntry mine{7, put("visits", "v-1", "outcome", "y", 7), false, {"c:case-1", "lee"}};
    auto live = s.server.on_live({theirs, mine});
    REQUIRE(live.send.size() == 1);
    const auto& c = frame_as<Changes>(live.send[0], keep);
    REQUIRE(c.entries.size() == 1);
    CHECK(c.entries[0].op.record == "v-1");
    LogEntry assign{8, put("cases", "case-9", "assigned_to", "ana", 8), false, {"c:case-9", "lee"}};
    auto reload = s.server.on_live({assign});
    CHECK(reload.load_scope);
    CHECK(reload.send.empty());
    Visibility wider{false, {"c:case-1", "c:case-9", "k:cl-1"}, {"ana"}};
    auto reread = s.server.on_scope(wider, scope.items, 8, 1000);
    REQUIRE(reread.read);
    CHECK(reread.read->cursor == 7);
    auto after = s.server.on_read(Changes{{assign}, 8, false, false});
    REQUIRE(after.send.size() == 2);  // the entry, then the scope delta
    const auto& delta = frame_as<Scope>(after.send[1], keep);
    CHECK(delta.add == Items{"c:case-9"});
    CHECK(delta.remove.empty());
  }
}

TEST_CASE("a revoked device that may upload cannot fetch", "[scope]") {
  crypto::SigningKey key = crypto::SigningKey::generate();
  MemoryClientStore store;
  ClientSession client{store, {.device = kDevice, .user = "ana", .schema_version = 2, .key = &key}};
  ServerSessionConfig c;
  c.require_auth = true;
  ServerSession server{default_schema(), c};
  auto challenge = server.on_frame(client.start().at(0), 0, 1000);
  auto auth = client.on_frame(challenge.send.at(0));
  server.on_frame(auth.at(0), 0, 1000);
  auto w = server.on_device(
      DeviceRecord{"ana", "worker", key.public_key(), DeviceState::revoked_may_upload}, 0, 1000);
  REQUIRE(w.send.size() == 1);
  auto refused = server.on_frame(encode(Fetch{{{"c:anything", ""}}}), 0, 1000);
  CHECK_FALSE(refused.read_items);
  REQUIRE(refused.send.size() == 1);
  Message keep;
  CHECK(frame_as<Error>(refused.send[0], keep).code == Code::revoked);
}

TEST_CASE("a new device bootstraps: no item history, the items whole by fetch", "[scope]") {
  Session s;
  Visibility scope{false, {"c:case-1", "k:cl-1"}, {"ana", "lee"}};
  s.welcome(scope, {});
  // Its first pull reads the log of creator-following records only.
  REQUIRE(s.server.bootstrapping());
  REQUIRE(s.server.visibility()->itemless_only);
  CHECK(s.server.visibility()->creators == scope.creators);
  CHECK(s.server.visibility()->sees(EntryScope{"", "lee", false}));
  CHECK_FALSE(s.server.visibility()->sees(EntryScope{"c:case-1", "lee", false}));
  CHECK_FALSE(s.server.visibility()->sees(EntryScope{"k:cl-1", "ana", false}));
  // Caught up at the head: the cursor jumps there, and the scope is read again (records
  // committed since the read at auth count), here with a client registered meanwhile.
  LogEntry task{4, put("tasks", "t-1", "title", "call", 4), false, {"", "lee"}};
  auto done = s.server.on_read(Changes{{task}, 9, false, false});
  REQUIRE(done.send.size() == 1);
  CHECK(done.load_scope);
  Message keep;
  const auto& c = frame_as<Changes>(done.send[0], keep);
  CHECK(c.cursor == 9);
  REQUIRE(c.entries.size() == 1);
  // Bootstrap is over: later reads see the whole scope again.
  CHECK_FALSE(s.server.bootstrapping());
  CHECK_FALSE(s.server.visibility()->itemless_only);
  Visibility now{false, {"c:case-1", "k:cl-1", "k:cl-2"}, {"ana", "lee"}};
  auto reread = s.server.on_scope(now, Items{}, 9, 1000);
  REQUIRE(reread.read);
  CHECK(reread.read->cursor == 9);
  CHECK(s.server.visibility()->items == now.items);
  // The re-read from the head finds nothing new: the scope frame names every item.
  auto announced = s.server.on_read(Changes{{}, 9, false, false});
  REQUIRE(announced.send.size() == 1);
  Message keep2;
  const auto& sc = frame_as<Scope>(announced.send[0], keep2);
  CHECK(sc.add == now.items);
  // The device fetches every item, holding none of them.
  CHECK(s.client.on_frame(done.send[0]).empty());
  auto fetch = s.client.on_frame(announced.send[0]);
  REQUIRE(fetch.size() == 1);
  const auto& f = frame_as<Fetch>(fetch[0], keep);
  REQUIRE(f.items.size() == 3);
  CHECK(f.items[0].have.empty());
  CHECK(s.store.cursor() == 9);
}

TEST_CASE("a device that holds items or has pulled before does not bootstrap", "[scope]") {
  Visibility scope{false, {"c:case-1"}, {"ana"}};
  SECTION("cursor ahead of 0") {
    Session s;
    s.store.cursor_ = 7;
    s.welcome(scope, {});
    CHECK_FALSE(s.server.bootstrapping());
    CHECK_FALSE(s.server.visibility()->itemless_only);
  }
  SECTION("items held") {
    Session s;
    s.store.scope = scope.items;
    s.welcome(scope, scope.items);
    CHECK_FALSE(s.server.bootstrapping());
    CHECK(s.server.visibility()->items == scope.items);
  }
}

// A client registered by one of the device's creators after the session read its scope (at
// auth) and before the bootstrap read's head: the bootstrap read skips every item's log and
// the cursor jumps past it, so the scope is read again after the catch-up and its first scope
// frame names the client's item. The store is emulated: read_log's SQL filter is
// Visibility::sees (EntryScope.created is false for entries read from the log).
TEST_CASE(
    "bootstrap: a client created between the scope load and the bootstrap read reaches "
    "the device",
    "[scope]") {
  Session s;
  Visibility at_auth{false, {"c:case-1"}, {"ana", "lee"}};
  Visibility now{false, {"c:case-1", "k:cl-new"}, {"ana", "lee"}};  // scope_of after the client
  // Hello, challenge, auth and the scope load, as Session::welcome, but the pull is held back.
  auto challenge = s.server.on_frame(s.client.start().at(0), 0, 1000);
  auto auth = s.client.on_frame(challenge.send.at(0));
  REQUIRE(s.server.on_frame(auth.at(0), 0, 1000).lookup_device);
  REQUIRE(
      s.server.on_device(DeviceRecord{"ana", "worker", s.key.public_key()}, 0, 1000).load_scope);
  auto w = s.server.on_scope(at_auth, Items{}, 0, 1000);
  REQUIRE(w.send.size() == 1);
  auto pull = s.client.on_frame(w.send[0]);
  REQUIRE_FALSE(pull.empty());

  // The log: a task that follows lee (before), then lee registers a client (after the scope
  // load, before the device's pull). The writer fans the client out to the session.
  const LogEntry task{4, put("tasks", "t-1", "title", "call", 4), false, {"", "lee"}};
  const LogEntry client{
      8, put("clients", "cl-new", "name", "Nadia", 8), false, {"k:cl-new", "lee", true}};
  const std::vector<LogEntry> log{task, client};
  std::vector<SessionActions> pending;
  pending.push_back(s.server.on_live({client}));
  pending.push_back(s.server.on_frame(pull[0], 8, 1000));  // the device's first pull

  // Carry out the actions like ws_session does, against the emulated store.
  bool got_entry = false;
  bool named = false;
  for (std::size_t i = 0; i < pending.size() && i < 50; ++i) {
    SessionActions a = std::move(pending[i]);
    for (const auto& f : a.send) {
      Message keep = decoded(f);
      if (const auto* c = std::get_if<Changes>(&keep))
        for (const auto& e : c->entries) got_entry |= e.op.record == "cl-new";
      if (const auto* sc = std::get_if<Scope>(&keep))
        for (const auto& item : sc->add) named |= item == "k:cl-new";
    }
    if (a.load_scope) pending.push_back(s.server.on_scope(now, Items{}, 8, 1000));
    if (a.read) {
      Changes c;
      c.cursor = 8;
      for (const auto& e : log) {
        if (e.seq <= a.read->cursor) continue;
        LogEntry read = e;
        read.scope.created = false;
        if (!s.server.visibility() || s.server.visibility()->sees(read.scope))
          c.entries.push_back(read);
      }
      pending.push_back(s.server.on_read(std::move(c)));
    }
  }
  // Either the log brings its entry, or the scope frame names its item (then fetched whole).
  CHECK((got_entry || named));
}

TEST_CASE("two fetches may be in flight: answered in order, a third is refused", "[scope]") {
  Session s;
  s.store.cursor_ = 3;
  Visibility scope{false, {"c:a", "c:b", "c:c"}, {"ana"}};
  s.welcome(scope, {});
  Message keep;
  // The welcome allowed a window of two (the frames before the pull).
  RecordState st;
  apply(st, put("cases", "a", "programme", "food"), *default_schema().collection("cases"));
  auto first = s.server.on_frame(encode(Fetch{{{"c:a", ""}}}), 5, 1000);
  REQUIRE(first.read_items);
  auto second = s.server.on_frame(encode(Fetch{{{"c:b", ""}}}), 5, 1000);
  CHECK_FALSE(second.read_items);  // waits behind the first
  CHECK(second.send.empty());
  auto third = s.server.on_frame(encode(Fetch{{{"c:c", ""}}}), 5, 1000);
  REQUIRE_FALSE(third.send.empty());
  const auto& refused = frame_as<Error>(third.send.back(), keep);
  CHECK(refused.code == Code::unexpected_message);
  CHECK(refused.fatal);
}

TEST_CASE("a device keeps two fetches in flight when the welcome allows it", "[scope]") {
  Session s;
  s.store.cursor_ = 3;
  Items many;
  for (int i = 0; i < 120; ++i) many.push_back("c:case-" + std::to_string(1000 + i));
  Visibility scope{false, many, {"ana"}};
  s.welcome(scope, {});
  auto done = s.server.on_read(Changes{{}, 5, false, false});
  REQUIRE(done.send.size() == 2);
  (void)s.client.on_frame(done.send[0]);
  auto fetches = s.client.on_frame(done.send[1]);
  REQUIRE(fetches.size() == 2);  // 50 items each, the rest after an answer
  Message k1;
  Message k2;
  CHECK(frame_as<Fetch>(fetches[0], k1).items.front().item == many[0]);
  CHECK(frame_as<Fetch>(fetches[1], k2).items.front().item == many[50]);
  // An answer completes the oldest fetch and lets the next one go.
  auto more = s.client.on_frame(encode_snapshot_frame({}, false));
  REQUIRE(more.size() == 1);
  Message k3;
  CHECK(frame_as<Fetch>(more[0], k3).items.size() == 20);
  CHECK(s.store.fetched.size() == 50);
}

TEST_CASE("a snapshot frame built from encoded records is the encoded snapshot", "[scope]") {
  RecordState st;
  apply(st, put("cases", "case-1", "programme", "food"), *default_schema().collection("cases"));
  const SnapshotRecord r{"cases", "case-1", st};
  for (bool more : {false, true}) {
    auto whole = decode(encode(Snapshot{{r, r}, more}));
    auto built =
        decode(encode_snapshot_frame({encode_snapshot_record(r), encode_snapshot_record(r)}, more));
    REQUIRE(whole);
    REQUIRE(built);
    const auto& a = std::get<Snapshot>(*whole);
    const auto& b = std::get<Snapshot>(*built);
    CHECK(a.more == b.more);
    REQUIRE(b.records.size() == 2);
    CHECK(b.records[1].state == a.records[1].state);
  }
  CHECK(decode(encode_snapshot_frame({}, false)));
}

// A fetch's answer is paced, so a rescope can come between its item reads.
// Records of an item the scope frame removed must not reach the device after that frame (the
// device purges on the frame, then would store them again and never be told to drop them).
namespace {
struct FetchThenRemove {
  Session s;
  Visibility scope{false, {"c:a", "c:x"}, {"ana"}};
  Visibility without_x{false, {"c:a"}, {"ana"}};
  RecordState st;
  std::vector<std::string> wire;  // every frame the server sent after the first scope frame
  FetchThenRemove() {
    s.store.cursor_ = 3;
    s.welcome(scope, {});
    auto done = s.server.on_read(Changes{{}, 5, false, false});
    REQUIRE(done.send.size() == 2);
    apply(st, put("cases", "x", "programme", "food"), *default_schema().collection("cases"));
  }
  void collect(const SessionActions& a) {
    for (const auto& f : a.send) wire.push_back(f);
  }
  // The case x is reassigned away while live: the scope is reloaded without c:x, the log
  // re-read, and the scope frame removing c:x goes out.
  void reassign_x_away() {
    LogEntry away{6, put("cases", "x", "assigned_to", "ben", 6), false, {"c:x", "lee"}};
    auto reload = s.server.on_live({away});
    REQUIRE(reload.load_scope);
    collect(reload);
    auto reread = s.server.on_scope(without_x, scope.items, 6, 1000);
    REQUIRE(reread.read);
    collect(reread);
    auto announced = s.server.on_read(Changes{{}, 6, false, false});
    collect(announced);
  }
  // True when a snapshot frame after the scope frame that removed c:x carries x's records.
  bool x_after_removal() {
    bool removed = false;
    bool leaked = false;
    for (const auto& f : wire) {
      Message m = decoded(f);
      if (const auto* sc = std::get_if<Scope>(&m))
        for (const auto& i : sc->remove) removed |= i == "c:x";
      if (const auto* sn = std::get_if<Snapshot>(&m))
        for (const auto& r : sn->records) leaked |= removed && r.id == "x";
    }
    REQUIRE(removed);
    return leaked;
  }
};
}  // namespace

TEST_CASE("a removed item's records held in the open page do not follow its removal", "[scope]") {
  FetchThenRemove t;
  auto read = t.s.server.on_frame(encode(Fetch{{{"c:x", ""}, {"c:a", ""}}}), 5, 1000);
  REQUIRE(read.read_items);
  CHECK(*read.read_items == Items{"c:x"});
  // x is read under the old scope; its records wait in the page for the next item.
  auto next = t.s.server.on_items(std::vector<std::vector<SnapshotRecord>>{{{"cases", "x", t.st}}});
  t.collect(next);
  REQUIRE(next.read_items);
  t.reassign_x_away();
  auto last = t.s.server.on_items(std::vector<std::vector<SnapshotRecord>>{{}});
  t.collect(last);
  CHECK_FALSE(t.x_after_removal());
}

TEST_CASE("an item not yet read when the scope loses it is not sent for the fetch", "[scope]") {
  FetchThenRemove t;
  auto read = t.s.server.on_frame(encode(Fetch{{{"c:a", ""}, {"c:x", ""}}}), 5, 1000);
  REQUIRE(read.read_items);
  auto next = t.s.server.on_items(std::vector<std::vector<SnapshotRecord>>{{}});
  REQUIRE(next.read_items);
  CHECK(*next.read_items == Items{"c:x"});  // the transport reads it when its queue is short
  t.reassign_x_away();
  // ... which is now, after the scope frame: the store returns x's records as they are now.
  auto last = t.s.server.on_items(std::vector<std::vector<SnapshotRecord>>{{{"cases", "x", t.st}}});
  t.collect(last);
  CHECK_FALSE(t.x_after_removal());
}

TEST_CASE("an answer in flight does not mark fetched an item a later scope frame removed",
          "[scope]") {
  Session s;
  s.store.cursor_ = 3;
  Visibility scope{false, {"c:a", "c:x"}, {"ana"}};
  s.welcome(scope, {});
  auto done = s.server.on_read(Changes{{}, 5, false, false});
  REQUIRE(done.send.size() == 2);
  (void)s.client.on_frame(done.send[0]);
  auto fetch = s.client.on_frame(done.send[1]);
  REQUIRE(fetch.size() == 1);
  // x leaves the scope and comes back before the answer to the first fetch arrives.
  Scope away{false, {}, {"c:x"}, scope_digest(Items{"c:a"})};
  (void)s.client.on_frame(encode(away));
  Scope back{false, {"c:x"}, {}, scope_digest(scope.items)};
  auto again = s.client.on_frame(encode(back));
  REQUIRE(again.size() == 1);                                 // x is fetched anew
  (void)s.client.on_frame(encode_snapshot_frame({}, false));  // the stale answer
  CHECK(s.store.fetched == Items{"c:a"});
}

TEST_CASE("which case writes may change a scope: assignments, shares, clients, new cases",
          "[scope]") {
  // Lea leads ana and ben: she sees case-a1 and follows what her team creates.
  Visibility lea;
  lea.items = {"c:case-a1"};
  lea.creators = {"ana", "ben", "lea"};
  auto op = [](const std::string& record, const std::string& field, boost::json::value value) {
    Op o;
    o.collection = "cases";
    o.record = record;
    o.writes.push_back(FieldWrite{field, WriteKind::set, std::move(value), {}});
    return o;
  };
  const EntryScope by_sam{"c:case-s1", "sam", false};
  const EntryScope by_ben{"c:case-s2", "ben", false};
  CHECK(may_change_scope(lea, "lea", op("case-a1", "assigned_to", "sam"),
                         EntryScope{"c:case-a1", "ana", false}));
  CHECK(may_change_scope(lea, "lea", op("case-s1", "assigned_to", "ben"), by_sam));
  CHECK_FALSE(may_change_scope(lea, "lea", op("case-s1", "assigned_to", "zoe"), by_sam));
  CHECK_FALSE(may_change_scope(lea, "lea", op("case-s1", "risk", "high"), by_sam));
  // Unassigned, a case goes back to its creator: ben's case comes to lea, sam's does not.
  CHECK(may_change_scope(lea, "lea", op("case-s2", "assigned_to", ""), by_ben));
  CHECK(may_change_scope(lea, "lea", op("case-s2", "assigned_to", nullptr), by_ben));
  CHECK_FALSE(may_change_scope(lea, "lea", op("case-s1", "assigned_to", ""), by_sam));
  CHECK(may_change_scope(lea, "lea", op("case-s1", "shared_with", "lea"), by_sam));
  CHECK_FALSE(may_change_scope(lea, "lea", op("case-s1", "shared_with", "zoe"), by_sam));
  CHECK(may_change_scope(lea, "lea", op("case-n", "status", "intake"),
                         EntryScope{"c:case-n", "ben", true}));
  Op visit = op("visit-1", "case_id", "case-s1");
  visit.collection = "visits";
  CHECK_FALSE(may_change_scope(lea, "lea", visit, by_sam));
}
