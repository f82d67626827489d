// Scopes end to end over loopback WebSockets: the real server with device authentication,
// real encrypted replicas and the sync client. Two workers of one team never receive each
// other's unshared cases, their lead receives both, out-of-scope writes are refused per
// operation and stay visible, and a reassignment or unshare purges the old device while the
// new owner receives the case whole.
#include <chrono>
#include <stop_token>
#include <thread>

#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "fieldsync/client/replica.hpp"
#include "fieldsync/client/sync_client.hpp"
#include "fieldsync/crypto/database.hpp"
#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/server/audit.hpp"
#include "fieldsync/server/case_admin.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "test_util.hpp"

using namespace fieldsync;
using namespace std::chrono_literals;
using Kind = client::FieldEdit::Kind;
using Outcome = client::SyncOutcome;

namespace {

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

crypto::Credential credential() {
  std::string passphrase = "test passphrase";
  return crypto::Credential::passphrase(crypto::SecureBuffer::take(passphrase),
                                        crypto::KdfLimits::minimum());
}

// One integer from a query on an open database.
std::int64_t int_of(crypto::Database& db, const std::string& sql) {
  auto st = db.prepare(sql);
  REQUIRE(st);
  auto row = st->step();
  REQUIRE(row);
  REQUIRE(*row);
  return st->column_int(0);
}

// One integer from the server's (plain) store.
std::int64_t store_query_int(const std::string& path, const std::string& sql) {
  auto db = crypto::Database::open(path, {});
  REQUIRE(db);
  return int_of(**db, sql);
}

// One integer from a replica's file, read through a separate connection under its key.
std::int64_t query_int(const std::string& path, const std::string& sql) {
  auto key = crypto::open_key(path, credential());
  REQUIRE(key);
  crypto::OpenOptions o;
  o.create = false;
  o.key = &*key;
  auto db = crypto::Database::open(path, o);
  REQUIRE(db);
  return int_of(**db, sql);
}

std::string field(const client::RecordView& r, const std::string& name) {
  const auto* v = r.fields.if_contains(name);
  return v ? boost::json::serialize(*v) : std::string();
}

server::ServerConfig with_auth() {
  server::ServerConfig c;
  c.require_auth = true;
  return c;
}

// A programme: team north (workers ana and ben, lead lea) and team south (worker sam).
struct Programme {
  test::RunningServer server;
  std::unique_ptr<server::Directory> directory;
  std::string url;

  explicit Programme(server::ServerConfig config = with_auth()) : server(std::move(config)) {
    auto file = server::StoreFile::open(server.data_dir() + "/fieldsync.db", "");
    REQUIRE(file);
    // The directory seals its audit entries with the server's key, as fieldsync-admin does.
    auto key = server::audit::open_key(*file, server.data_dir() + "/audit.key");
    REQUIRE(key);
    server::DirectoryOptions options;
    options.audit_key = *key;
    auto dir = server::Directory::open(*file, options);
    REQUIRE(dir);
    directory = std::move(*dir);
    REQUIRE(directory->add_team("north", wall_ms()));
    REQUIRE(directory->add_team("south", wall_ms()));
    REQUIRE(directory->add_user("ana", server::Role::worker, "north", wall_ms()));
    REQUIRE(directory->add_user("ben", server::Role::worker, "north", wall_ms()));
    REQUIRE(directory->add_user("lea", server::Role::lead, "north", wall_ms()));
    REQUIRE(directory->add_user("sam", server::Role::worker, "south", wall_ms()));
    url = "ws://127.0.0.1:" + std::to_string(server.port());
  }

  // An assignment or share made by `actor` through the store, as fieldsync-admin makes it.
  void change(server::CaseAction action, const std::string& case_id, const std::string& user,
              const std::string& actor) {
    auto key = crypto::load_signing_key_file(server.data_dir() + "/audit.key");
    REQUIRE(key);
    server::SqliteStoreOptions options;
    options.audit_key = std::make_shared<const crypto::SigningKey>(std::move(*key));
    auto store = server::SqliteStore::open(server.data_dir() + "/fieldsync.db", options);
    REQUIRE(store);
    auto r = server::change_case(**store, *directory, {action, case_id, user, actor}, wall_ms(),
                                 sync::default_schema(), options.audit_key.get());
    INFO(r.status().to_string());
    REQUIRE(r);
    CHECK(r->changed);
  }
  void verify_audit();
};

// The audit trail of everything so far verifies: every device's pushes signed, every
// checkpoint the server's.
void Programme::verify_audit() {
  auto key = crypto::load_signing_key_file(server.data_dir() + "/audit.key");
  REQUIRE(key);
  auto db = crypto::Database::open(server.data_dir() + "/fieldsync.db", {});
  REQUIRE(db);
  auto r = server::audit::verify(**db, key->public_key());
  REQUIRE(r);
  INFO((r->problem ? r->problem->what : ""));
  CHECK_FALSE(r->problem);
  CHECK(r->batches > 0);
  CHECK(r->ops > 0);
}

// One enrolled device with its encrypted replica.
struct Device {
  test::TempDir dir;
  std::string path = dir.file("replica.db");
  std::unique_ptr<client::Replica> replica;
  std::unique_ptr<client::SyncClient> client;
  Programme& p;

  Device(Programme& programme, const std::string& user) : p(programme) {
    auto r = client::Replica::init(path, credential(), client::ReplicaOptions{});
    REQUIRE(r);
    replica = std::move(*r);
    client = std::make_unique<client::SyncClient>(*replica);
    auto code = p.directory->new_enroll_code(user, server::kHourMs, wall_ms());
    REQUIRE(code);
    auto enrolled = client->enroll(p.url, code->code, 10s);
    INFO(enrolled.status().to_string());
    REQUIRE(enrolled);
  }

  Outcome sync() {
    auto o = client->sync_once(p.url, 20s);
    INFO(o.detail.to_string());
    REQUIRE(o.kind == Outcome::Kind::up_to_date);
    return o;
  }
  void put(const std::string& collection, const std::string& id,
           const std::vector<client::FieldEdit>& edits) {
    auto r = replica->put(collection, id, edits);
    INFO(r.status().to_string());
    REQUIRE(r);
  }
  bool has(const std::string& collection, const std::string& id) {
    auto r = replica->get(collection, id);
    REQUIRE(r);
    return r->has_value();
  }
  // Rows of the replica's file, any table, that mention `text` (read under its key).
  std::int64_t mentions(const std::string& text) {
    const std::string q = "'%" + text + "%'";
    return query_int(path, "SELECT (SELECT count(*) FROM records WHERE id LIKE " + q +
                               " OR state_json LIKE " + q + " OR fields_json LIKE " + q +
                               ") + (SELECT count(*) FROM outbox WHERE op_json LIKE " + q +
                               ") + (SELECT count(*) FROM scope WHERE item LIKE " + q +
                               ") + (SELECT count(*) FROM meta WHERE value LIKE " + q + ")");
  }
};

// A client, an open case assigned to `worker`, a visit and a note, all made on `d`.
void open_case(Device& d, const std::string& tag, const std::string& worker) {
  d.put("clients", "client-" + tag, {{"name", Kind::set, "Client " + tag}});
  d.put("cases", "case-" + tag,
        {{"client_id", Kind::set, "client-" + tag},
         {"assigned_to", Kind::set, worker},
         {"status", Kind::set, "assessment"}});
  d.put("visits", "visit-" + tag,
        {{"case_id", Kind::set, "case-" + tag}, {"outcome", Kind::set, "seen " + tag}});
  auto note = d.replica->add_note("case-" + tag, "note about " + tag + " only");
  REQUIRE(note);
}

}  // namespace

TEST_CASE("scopes: workers never receive each other's unshared cases, their lead gets both",
          "[scope]") {
  Programme p;
  Device ana(p, "ana");
  Device ben(p, "ben");
  Device lea(p, "lea");
  Device sam(p, "sam");
  open_case(ana, "ana1", "ana");
  open_case(ben, "ben1", "ben");
  open_case(sam, "sam1", "sam");
  CHECK(ana.sync().pushed == 4);
  CHECK(ben.sync().pushed == 4);
  CHECK(sam.sync().pushed == 4);
  ana.sync();
  ben.sync();
  lea.sync();

  for (const char* c : {"cases", "clients", "visits"}) {
    INFO(c);
    CHECK_FALSE(ana.has(c, std::string(c) == "cases"     ? "case-ben1"
                           : std::string(c) == "clients" ? "client-ben1"
                                                         : "visit-ben1"));
  }
  CHECK(ana.mentions("ben1") == 0);
  CHECK(ana.mentions("sam1") == 0);
  CHECK(ben.mentions("ana1") == 0);
  CHECK(ana.mentions("ana1") > 0);
  // The lead has the team's cases whole, and nothing of the other team.
  for (const char* tag : {"ana1", "ben1"}) {
    INFO(tag);
    CHECK(lea.has("cases", std::string("case-") + tag));
    CHECK(lea.has("clients", std::string("client-") + tag));
    CHECK(lea.has("visits", std::string("visit-") + tag));
  }
  CHECK(lea.mentions("sam1") == 0);
  auto notes = lea.replica->list("notes");
  REQUIRE(notes);
  CHECK(notes->size() == 2);

  SECTION("an out-of-scope write is refused per operation and stays visible") {
    // Ana edits Ben's case by id, and reuses the id of Ben's client for one of her own.
    ana.put("cases", "case-ben1", {{"status", Kind::set, "closed"}});
    ana.put("clients", "client-ben1", {{"name", Kind::set, "Someone else"}});
    ana.put("visits", "visit-ana2", {{"case_id", Kind::set, "case-ana1"}});
    auto o = ana.sync();
    CHECK(o.pushed == 1);
    REQUIRE(o.rejected.size() == 2);
    for (const auto& r : o.rejected) {
      INFO(r.reason);
      CHECK(r.code == Code::out_of_scope);
      CHECK(r.reason.find("not in the scope of 'ana'") != std::string::npos);
    }
    auto outbox = ana.replica->outbox();
    REQUIRE(outbox);
    REQUIRE(outbox->size() == 2);
    CHECK(outbox->at(0).rejected);
    CHECK(outbox->at(0).code == Code::out_of_scope);
    // The server kept Ben's case as it was.
    lea.sync();
    auto c = lea.replica->get("cases", "case-ben1");
    REQUIRE(c);
    REQUIRE(*c);
    CHECK(field(**c, "status") == "\"assessment\"");
  }

  SECTION("a worker cannot hand a case to someone else") {
    ana.put("cases", "case-ana1", {{"assigned_to", Kind::set, "ben"}});
    auto o = ana.sync();
    REQUIRE(o.rejected.size() == 1);
    CHECK(o.rejected[0].code == Code::forbidden);
    ben.sync();
    CHECK_FALSE(ben.has("cases", "case-ana1"));
  }

  SECTION("reassignment purges the old device and delivers the whole case to the new one") {
    p.change(server::CaseAction::assign, "case-ben1", "ana", "lea");
    auto gone = ben.sync();
    CHECK(gone.purged == 3);  // the case, its visit, its note
    CHECK_FALSE(ben.has("cases", "case-ben1"));
    CHECK_FALSE(ben.has("visits", "visit-ben1"));
    CHECK(ben.mentions("case-ben1") == 0);
    CHECK(ben.mentions("note about ben1") == 0);
    // Ben created the client: it stays in his scope (scope.hpp), without the case.
    CHECK(ben.has("clients", "client-ben1"));
    auto got = ana.sync();
    CHECK(got.snapshot_records >= 4);
    CHECK(ana.has("cases", "case-ben1"));
    CHECK(ana.has("visits", "visit-ben1"));
    CHECK(ana.has("clients", "client-ben1"));
    auto c = ana.replica->get("cases", "case-ben1");
    REQUIRE(c);
    REQUIRE(*c);
    CHECK(field(**c, "assigned_to") == "\"ana\"");
    CHECK(field(**c, "status") == "\"assessment\"");
    // Ana now writes to it; the lead sees her edit.
    ana.put("cases", "case-ben1", {{"status", Kind::set, "planning"}});
    CHECK(ana.sync().pushed == 1);
    lea.sync();
    auto seen = lea.replica->get("cases", "case-ben1");
    REQUIRE(seen);
    REQUIRE(*seen);
    CHECK(field(**seen, "status") == "\"planning\"");
  }

  SECTION("a worker shares a case from the device; unsharing purges it again") {
    ben.put("cases", "case-ben1", {{"shared_with", Kind::add, "ana"}});
    CHECK(ben.sync().pushed == 1);
    auto shared = ana.sync();
    CHECK(shared.snapshot_records >= 4);
    CHECK(ana.has("cases", "case-ben1"));
    CHECK(ana.has("visits", "visit-ben1"));
    // A share gives write access too.
    ana.put("visits", "visit-ben1", {{"outcome", Kind::set, "seen by ana"}});
    CHECK(ana.sync().pushed == 1);
    // Ana may not re-share Ben's case onward.
    ana.put("cases", "case-ben1", {{"shared_with", Kind::add, "lea"}});
    auto refused = ana.sync();
    REQUIRE(refused.rejected.size() == 1);
    CHECK(refused.rejected[0].code == Code::forbidden);

    ben.put("cases", "case-ben1", {{"shared_with", Kind::remove, "ana"}});
    CHECK(ben.sync().pushed == 1);
    auto unshared = ana.sync();
    CHECK(unshared.purged >= 3);
    CHECK_FALSE(ana.has("cases", "case-ben1"));
    CHECK_FALSE(ana.has("visits", "visit-ben1"));
    CHECK_FALSE(ana.has("clients", "client-ben1"));
  }
  p.verify_audit();
}

TEST_CASE("scopes: a new device starts from the records' current state, not their history",
          "[scope]") {
  Programme p;
  Device ana(p, "ana");
  Device ben(p, "ben");
  open_case(ana, "ana1", "ana");
  open_case(ben, "ben1", "ben");
  // History the new device must not replay: ten edits of one case, and a task that refers to
  // no case (it follows its creator, so it comes through the log).
  for (int i = 0; i < 10; ++i)
    ana.put("cases", "case-ana1", {{"status", Kind::set, i % 2 ? "planning" : "assessment"}});
  ana.put("tasks", "task-loose", {{"title", Kind::set, "call the housing office"}});
  ana.sync();
  ben.sync();

  Device lea(p, "lea");
  auto first = lea.sync();
  CHECK(first.pulled == 1);            // the case-less task only
  CHECK(first.snapshot_records == 8);  // two clients, cases, visits and notes, whole
  for (const char* tag : {"ana1", "ben1"}) {
    INFO(tag);
    CHECK(lea.has("cases", std::string("case-") + tag));
    CHECK(lea.has("visits", std::string("visit-") + tag));
  }
  CHECK(lea.has("tasks", "task-loose"));
  // The same records as the device that wrote them, field by field.
  for (const char* c : {"cases", "clients", "visits", "notes", "tasks"}) {
    INFO(c);
    auto mine = ana.replica->list(c);
    auto theirs = lea.replica->list(c);
    REQUIRE(mine);
    REQUIRE(theirs);
    for (const auto& r : *mine) {
      auto same = lea.replica->get(c, r.id);
      REQUIRE(same);
      REQUIRE(*same);
      CHECK(boost::json::serialize(client::to_json(**same)) ==
            boost::json::serialize(client::to_json(r)));
    }
  }
  // Then by cursor, as any device: one edit arrives as one log entry.
  CHECK(static_cast<std::int64_t>(lea.replica->cursor()) ==
        store_query_int(p.server.data_dir() + "/fieldsync.db", "SELECT max(seq) FROM log"));
  ana.put("visits", "visit-ana1", {{"outcome", Kind::set, "seen again"}});
  ana.sync();
  auto next = lea.sync();
  CHECK(next.pulled == 1);
  CHECK(next.snapshot_records == 0);
  p.verify_audit();
}

TEST_CASE("scopes: a connected device is told at once when a case comes into its scope",
          "[scope]") {
  Programme p;
  Device ana(p, "ana");
  Device ben(p, "ben");
  open_case(ben, "ben1", "ben");
  ben.sync();
  // Ana stays connected; the lead assigns Ben's case to her meanwhile.
  std::stop_source stop;
  client::SyncOutcome live;
  std::thread t([&] { live = ana.client->run_live(p.url, stop.get_token()); });
  std::this_thread::sleep_for(500ms);
  p.change(server::CaseAction::assign, "case-ben1", "ana", "lea");
  // Another Replica object on the same file, as a second app process would open it.
  auto reader = client::Replica::open(ana.path, credential(), client::ReplicaOptions{});
  REQUIRE(reader);
  bool arrived = false;
  for (int i = 0; i < 100 && !arrived; ++i) {
    std::this_thread::sleep_for(100ms);
    auto c = (*reader)->get("visits", "visit-ben1");
    arrived = c && c->has_value();
  }
  stop.request_stop();
  t.join();
  CHECK(arrived);
}

TEST_CASE("audit: a device's history request is scoped, and its reads reach the audit log",
          "[scope][audit]") {
  Programme p;
  Device ana(p, "ana");
  Device ben(p, "ben");
  open_case(ana, "ana1", "ana");
  open_case(ben, "ben1", "ben");
  ana.put("cases", "case-ana1", {{"status", Kind::set, "planning"}});
  ana.sync();
  ben.sync();

  auto own = ana.client->fetch_history(p.url, "cases", "case-ana1", 10s);
  INFO(own.status().to_string());
  REQUIRE(own);
  REQUIRE(own->entries.size() == 2);
  CHECK(own->entries[0].op.user == "ana");
  CHECK(own->entries[1].received_ms >= own->entries[0].received_ms);
  // Another worker's case is answered like a case that does not exist.
  auto other = ana.client->fetch_history(p.url, "cases", "case-ben1", 10s);
  REQUIRE_FALSE(other);
  CHECK(other.status().code() == Code::not_found);
  auto none = ana.client->fetch_history(p.url, "cases", "no-such-case", 10s);
  CHECK(none.status().code() == Code::not_found);

  REQUIRE(ana.replica->note_read("cases", "case-ana1"));
  REQUIRE(ana.replica->note_read("clients", "client-ana1"));
  ana.sync();
  auto pending = ana.replica->pending_reads(10);
  REQUIRE(pending);
  CHECK(pending->empty());
  // Three reads of ana's device: the history she fetched and the two records she opened.
  const std::string db = p.server.data_dir() + "/fieldsync.db";
  CHECK(store_query_int(db,
                        "SELECT count(*) FROM audit_log WHERE kind = 'read' AND "
                        "user = 'ana' AND device = '" +
                            ana.replica->device() + "'") == 3);
  CHECK(store_query_int(db,
                        "SELECT count(*) FROM audit_log WHERE kind = 'read' AND "
                        "subject = 'cases/case-ben1'") == 0);
  p.verify_audit();
}

// A new device's first sync brings its whole caseload by fetch. The answer to a fetch is
// read one item at a time as the session's outgoing queue drains (as the log read is paced),
// so a caseload larger than the queue limit still arrives: here the limit is lowered to 12 MiB
// and two cases hold ~8 MB each (notes of 60 KB; texts are at most 64 KiB). A single item
// larger than the limit would still not fit.
TEST_CASE("scopes: a new device gets a caseload larger than the session queue", "[scope]") {
  server::ServerConfig config = with_auth();
  config.max_queued_bytes = std::size_t{12} * 1024 * 1024;
  Programme p(config);
  Device ana(p, "ana");
  Device early(p, "lea");  // a lead's device that synced before: it replays the log
  ana.put("tasks", "task-first", {{"title", Kind::set, "first"}});  // so that its cursor is not 0
  ana.sync();
  early.sync();
  REQUIRE(early.replica->cursor() > 0);
  const std::string text(60 * 1000, 'x');
  for (const char* tag : {"big1", "big2"}) {
    open_case(ana, tag, "ana");
    for (int i = 0; i < 130; ++i) {
      REQUIRE(ana.replica->add_note(std::string("case-") + tag, text));
      if (i % 30 == 29) ana.sync();  // pushes under the 4 MiB frame limit (see the next test)
    }
    ana.sync();
  }
  auto replayed = early.sync();  // by the log, in paced pages
  CHECK(early.has("cases", "case-big2"));
  CHECK(replayed.pulled > 0);

  Device fresh(p, "lea");  // a new device of the same lead: bootstrap, everything by fetch
  auto o = fresh.client->sync_once(p.url, 8s);
  INFO(o.detail.to_string());
  CHECK(o.kind == Outcome::Kind::up_to_date);
  CHECK(fresh.has("cases", "case-big2"));
}

// A push is bounded by its encoded size as well as its count: 70 notes of 60 KB written
// offline (4.2 MB, over the 4 MiB frame limit in one push) go up in several pushes.
TEST_CASE("scopes: a device whose pending ops exceed one frame still uploads them", "[scope]") {
  Programme p;
  Device ana(p, "ana");
  open_case(ana, "big", "ana");
  const std::string text(60 * 1000, 'x');
  for (int i = 0; i < 70; ++i) REQUIRE(ana.replica->add_note("case-big", text));
  auto o = ana.client->sync_once(p.url, 8s);
  INFO(o.detail.to_string());
  CHECK(o.kind == Outcome::Kind::up_to_date);
}
