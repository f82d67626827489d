// The audit log (server/audit.hpp): a clean store verifies; a one-byte change to any logged
// operation or entry, a deleted entry or log row, two entries swapped, and a forged checkpoint
// are each found and located; a format-3 store is brought into the trail and verifies.
// Signed pushes (apply_push): each device's chain continues across pushes, repeats are
// answered again, a gap or a bad signature refuses the push, and a device op removed from a
// recomputed server chain is caught by the device's own signature.
#include <catch2/catch.hpp>

#include <functional>

#include <boost/json.hpp>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/server/apply.hpp"
#include "fieldsync/server/audit.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "fieldsync/sync/op_chain.hpp"
#include "test_util.hpp"

using namespace fieldsync;
using namespace fieldsync::test;

namespace {

struct AuditedStore {
  TempDir dir;
  std::string path = dir.file(server::kStoreFileName);
  std::shared_ptr<const crypto::SigningKey> key =
      std::make_shared<const crypto::SigningKey>(crypto::SigningKey::generate());
  std::unique_ptr<server::SqliteStore> store;
  std::uint64_t counter = 0;

  AuditedStore() { open(); }
  void open() {
    server::SqliteStoreOptions options;
    options.audit_key = key;
    auto s = server::SqliteStore::open(path, options);
    REQUIRE(s);
    store = std::move(*s);
  }
  // One commit of `n` edits of case c1 (so each commit ends in a checkpoint).
  void edits(int n) {
    std::vector<sync::Op> ops;
    for (int i = 0; i < n; ++i) {
      ++counter;
      ops.push_back(put_op(device_id(1), counter, "cases", "c1",
                           {{"status", counter % 2 ? "closed" : "planning"}}));
    }
    auto tx = store->begin();
    REQUIRE(tx);
    REQUIRE(server::apply_batch(**tx, ops, sync::default_schema(), {kNowMs, 1000, false}));
    REQUIRE((*tx)->commit());
  }
  server::audit::VerifyReport verify() {
    auto db = crypto::Database::open(path, {});
    REQUIRE(db);
    auto r = server::audit::verify(**db, key->public_key());
    REQUIRE(r);
    return *r;
  }
  // Runs SQL the way someone with the sqlite3 shell would, triggers out of the way first.
  void tamper(const std::string& sql) {
    auto db = crypto::Database::open(path, {});
    REQUIRE(db);
    REQUIRE(
        (*db)->exec("DROP TRIGGER IF EXISTS audit_log_append_only_update;"
                    "DROP TRIGGER IF EXISTS audit_log_append_only_delete;"
                    "DROP TRIGGER IF EXISTS log_append_only_update;"
                    "DROP TRIGGER IF EXISTS log_append_only_delete;" +
                    sql));
  }
  std::int64_t entry_of_log_row(int log_seq) {
    auto db = crypto::Database::open(path, {});
    REQUIRE(db);
    auto st = (*db)->prepare(
        "SELECT seq FROM audit_log WHERE kind = 'op' AND json_extract(detail, '$.log') = ?1");
    REQUIRE(st);
    auto row = st->bind(1, std::int64_t{log_seq}).step();
    REQUIRE(row);
    REQUIRE(*row);
    return st->column_int(0);
  }
};

// What someone with the file but without the server's key can do after changing entries:
// recompute every entry's hash in order (triggers already dropped by tamper()). `edit` may
// change each entry first, given the hash of the entry before it.
void rewrite_chain(const std::string& path,
                   const std::function<void(std::int64_t, server::audit::Event&,
                                            const crypto::Digest&)>& edit = {}) {
  auto db = crypto::Database::open(path, {});
  REQUIRE(db);
  auto rows = (*db)->prepare(
      "SELECT seq, at_ms, kind, user, device, subject, detail FROM audit_log ORDER BY seq");
  REQUIRE(rows);
  std::vector<std::pair<std::int64_t, server::audit::Event>> all;
  for (;;) {
    auto row = rows->step();
    REQUIRE(row);
    if (!*row) break;
    all.emplace_back(
        rows->column_int(0),
        server::audit::Event{rows->column_text(2), rows->column_int(1), rows->column_text(3),
                             rows->column_text(4), rows->column_text(5), rows->column_text(6)});
  }
  crypto::Digest prev{};
  for (auto& [seq, e] : all) {
    if (edit) edit(seq, e, prev);
    prev = server::audit::entry_hash(prev, static_cast<std::uint64_t>(seq), e);
    auto up = (*db)->prepare("UPDATE audit_log SET detail = ?2, hash = ?3 WHERE seq = ?1");
    REQUIRE(up);
    REQUIRE(up->bind(1, seq).bind(2, e.detail).bind_blob(3, prev).run());
  }
}

std::string seq_text(std::int64_t seq) { return "#" + std::to_string(seq); }

}  // namespace

TEST_CASE("a clean audit log verifies, with every op and checkpoint checked", "[audit]") {
  AuditedStore s;
  s.edits(3);
  s.edits(2);
  auto r = s.verify();
  INFO((r.problem ? r.problem->what : ""));
  CHECK_FALSE(r.problem);
  CHECK(r.ops == 5);
  CHECK(r.checkpoints == 2);
  CHECK(r.entries == 7);
  CHECK(r.last_checkpoint == 7);
}

TEST_CASE("the log is append-only for the store itself", "[audit]") {
  AuditedStore s;
  s.edits(1);
  auto db = crypto::Database::open(s.path, {});
  REQUIRE(db);
  Status update = (*db)->exec("UPDATE log SET skewed = 1");
  CHECK(update.code() == Code::storage);
  CHECK(update.message().find("append-only") != std::string::npos);
  CHECK_FALSE((*db)->exec("DELETE FROM audit_log WHERE seq = 1"));
}

TEST_CASE("one changed byte of a logged operation is found at its entry", "[audit]") {
  AuditedStore s;
  s.edits(4);
  const auto entry = s.entry_of_log_row(3);
  s.tamper("UPDATE log SET op_json = replace(op_json, '\"closed\"', '\"closec\"') WHERE seq = 3;");
  auto r = s.verify();
  REQUIRE(r.problem);
  CHECK(r.problem->seq == static_cast<std::uint64_t>(entry));
  CHECK(r.problem->what.find("log row #3") != std::string::npos);
}

TEST_CASE("a changed log column, time or skew flag is found at its entry", "[audit]") {
  AuditedStore s;
  s.edits(3);
  const auto entry = s.entry_of_log_row(2);
  SECTION("received time") {
    s.tamper("UPDATE log SET received_ms = received_ms + 1 WHERE seq = 2;");
  }
  SECTION("skewed flag") { s.tamper("UPDATE log SET skewed = 1 WHERE seq = 2;"); }
  SECTION("record column") { s.tamper("UPDATE log SET record = 'c2' WHERE seq = 2;"); }
  auto r = s.verify();
  REQUIRE(r.problem);
  CHECK(r.problem->seq == static_cast<std::uint64_t>(entry));
}

TEST_CASE("a changed byte of an audit entry is found at that entry", "[audit]") {
  AuditedStore s;
  s.edits(3);
  SECTION("user") { s.tamper("UPDATE audit_log SET user = 'alicf' WHERE seq = 2;"); }
  SECTION("time") { s.tamper("UPDATE audit_log SET at_ms = at_ms - 1 WHERE seq = 2;"); }
  SECTION("hash") { s.tamper("UPDATE audit_log SET hash = zeroblob(32) WHERE seq = 2;"); }
  auto r = s.verify();
  REQUIRE(r.problem);
  CHECK(r.problem->seq == 2);
  CHECK(r.problem->what.find(seq_text(2)) != std::string::npos);
}

TEST_CASE("a deleted entry or log row is found and located", "[audit]") {
  AuditedStore s;
  s.edits(4);
  SECTION("an audit entry") {
    s.tamper("DELETE FROM audit_log WHERE seq = 3;");
    auto r = s.verify();
    REQUIRE(r.problem);
    CHECK(r.problem->seq == 3);
    CHECK(r.problem->what.find("missing") != std::string::npos);
  }
  SECTION("a log row") {
    const auto entry = s.entry_of_log_row(2);
    s.tamper("DELETE FROM log WHERE seq = 2;");
    auto r = s.verify();
    REQUIRE(r.problem);
    CHECK(r.problem->seq == static_cast<std::uint64_t>(entry));
    CHECK(r.problem->what.find("missing") != std::string::npos);
  }
  SECTION("the last entries, cut off with their checkpoint") {
    s.edits(1);
    s.tamper("DELETE FROM audit_log WHERE seq >= 6;");
    // Nothing in the store says the tail existed; the log rows without entries do.
    auto r = s.verify();
    REQUIRE(r.problem);
    CHECK(r.problem->what.find("has no audit entry") != std::string::npos);
  }
}

TEST_CASE("two entries swapped are found at the first of them", "[audit]") {
  AuditedStore s;
  s.edits(4);
  s.tamper(
      "UPDATE audit_log SET seq = -1 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3;"
      "UPDATE audit_log SET seq = 3 WHERE seq = -1;");
  auto r = s.verify();
  REQUIRE(r.problem);
  CHECK(r.problem->seq == 2);
}

TEST_CASE("a forged checkpoint is found, even over a recomputed chain", "[audit]") {
  AuditedStore s;
  s.edits(2);
  s.edits(2);
  auto db = crypto::Database::open(s.path, {});
  REQUIRE(db);
  // An attacker rewrites the first op's user and recomputes every hash after it, signing the
  // checkpoints again with a key of their own.
  s.tamper(
      "UPDATE audit_log SET user = 'mallory' WHERE seq = 1;"
      "UPDATE log SET op_json = replace(op_json, '\"alice\"', '\"mallory\"') WHERE seq = 1;");
  auto forger = crypto::SigningKey::generate();
  rewrite_chain(s.path, [&](std::int64_t seq, server::audit::Event& e, const crypto::Digest& prev) {
    if (e.kind == "op") {
      auto log = (*db)->prepare("SELECT op_json FROM log WHERE op_id = ?1");
      REQUIRE(log);
      REQUIRE(*log->bind(1, e.subject).step());
      auto ev = server::audit::op_event(0, e.subject, e.device, e.user, log->column_text(0), false,
                                        e.at_ms, false);
      auto detail = boost::json::parse(e.detail).as_object();
      detail["digest"] = boost::json::parse(ev.detail).as_object()["digest"];
      e.detail = boost::json::serialize(detail);
    } else if (e.kind == "checkpoint") {
      const auto through = static_cast<std::uint64_t>(seq - 1);
      const std::string m = server::audit::checkpoint_message(through, prev);
      auto sig = forger.sign({reinterpret_cast<const std::uint8_t*>(m.data()), m.size()});
      boost::json::object detail;
      detail["through"] = through;
      detail["head"] = crypto::to_hex(prev);
      detail["sig"] = crypto::to_hex(sig);
      e.detail = boost::json::serialize(detail);
    }
  });
  auto r = s.verify();
  REQUIRE(r.problem);
  CHECK(r.problem->seq == 3);  // the first checkpoint
  CHECK(r.problem->what.find("signature does not verify") != std::string::npos);
}

TEST_CASE("a format-3 store gets an audit trail of its log that verifies", "[audit]") {
  AuditedStore s;
  s.edits(3);
  s.store.reset();
  s.tamper(
      "DROP TABLE audit_log; DROP TABLE device_chains; DROP TABLE passwords; UPDATE meta SET value "
      "= '3' "
      "WHERE key = 'format';");
  s.open();
  auto r = s.verify();
  INFO((r.problem ? r.problem->what : ""));
  CHECK_FALSE(r.problem);
  CHECK(r.ops == 3);
  s.edits(1);
  r = s.verify();
  CHECK_FALSE(r.problem);
  CHECK(r.ops == 4);
  CHECK(r.checkpoints == 1);
}

namespace {

// A device that signs its pushes, as a session hands them to the writer.
struct SigningDevice {
  std::string id = device_id(7);
  crypto::SigningKey key = crypto::SigningKey::generate();
  std::uint64_t counter = 0;
  std::vector<crypto::Digest> links{sync::chain_genesis(device_id(7))};  // links[n]: after op n

  sync::Op edit(const std::string& case_id) {
    sync::Op op = put_op(id, ++counter, "cases", case_id, {{"status", "planning"}});
    links.push_back(sync::chain_next(links.back(), sync::op_digest(op)));
    return op;
  }
  // A push of ops numbered first..last (1-based), signed as the device's ClientSession does.
  sync::SubmittedPush push(const std::vector<sync::Op>& all, std::size_t first, std::size_t last,
                           bool verified = true) {
    sync::SubmittedPush p;
    p.batch = first;
    sync::SignedChain c;
    c.device = id;
    c.user = "alice";
    c.prev = links[first - 1];
    for (std::size_t n = first; n <= last; ++n) {
      p.ops.push_back(all[n - 1]);
      c.digests.push_back(sync::op_digest(all[n - 1]));
    }
    const std::string m = sync::push_message(id, all[last - 1].id, links[last]);
    c.signature =
        crypto::to_hex(key.sign({reinterpret_cast<const std::uint8_t*>(m.data()), m.size()}));
    c.verified = verified;
    p.chain = c;
    return p;
  }
};

// Registers the device's key in the audit log, as enrolment does.
void enrol(AuditedStore& s, const SigningDevice& d) {
  auto tx = s.store->begin();
  REQUIRE(tx);
  boost::json::object detail{{"event", "enrolled"}, {"key", crypto::to_hex(d.key.public_key())}};
  REQUIRE((*tx)->append_audit(
      server::audit::Event{"device", kNowMs, "alice", d.id, "", boost::json::serialize(detail)}));
  REQUIRE((*tx)->commit());
}

std::vector<sync::OpResult> apply(AuditedStore& s, const sync::SubmittedPush& push) {
  auto tx = s.store->begin();
  REQUIRE(tx);
  auto r = server::apply_push(**tx, push, sync::default_schema(), {kNowMs, 1000, false});
  REQUIRE(r);
  REQUIRE((*tx)->commit());
  return *r;
}

}  // namespace

TEST_CASE("signed pushes extend the device's chain and verify with its key", "[audit]") {
  AuditedStore s;
  SigningDevice d;
  enrol(s, d);
  std::vector<sync::Op> ops;
  for (int i = 0; i < 5; ++i) ops.push_back(d.edit("c" + std::to_string(i)));

  auto first = apply(s, d.push(ops, 1, 2));
  CHECK(first.at(0).status == sync::OpStatus::accepted);
  CHECK(first.at(1).status == sync::OpStatus::accepted);

  SECTION("a batch sent again with new ops: the old ones answered, the new ones applied") {
    auto again = apply(s, d.push(ops, 2, 3));
    CHECK(again.at(0).status == sync::OpStatus::duplicate);
    CHECK(again.at(1).status == sync::OpStatus::accepted);
    auto r = s.verify();
    INFO((r.problem ? r.problem->what : ""));
    CHECK_FALSE(r.problem);
    CHECK(r.batches == 2);
    CHECK(r.ops == 3);
  }
  SECTION("a smaller resend wholly behind the server's link: every op answered again") {
    // The device lost the answer to ops 1-2 and sends op 1 alone (its batch got smaller).
    auto again = apply(s, d.push(ops, 1, 1));
    REQUIRE(again.size() == 1);
    CHECK(again.at(0).status == sync::OpStatus::duplicate);
    CHECK(again.at(0).seq == first.at(0).seq);
    auto next = apply(s, d.push(ops, 2, 3));  // and the chain goes on from op 2
    CHECK(next.at(0).status == sync::OpStatus::duplicate);
    CHECK(next.at(1).status == sync::OpStatus::accepted);
    auto r = s.verify();
    INFO((r.problem ? r.problem->what : ""));
    CHECK_FALSE(r.problem);
    CHECK(r.ops == 3);
  }
  SECTION("a push that skips an op breaks the chain and is refused whole") {
    auto skipped = apply(s, d.push(ops, 4, 5));
    for (const auto& r : skipped) {
      CHECK(r.status == sync::OpStatus::rejected);
      CHECK(r.code == Code::chain_broken);
    }
    auto r = s.verify();
    CHECK_FALSE(r.problem);
    CHECK(r.ops == 2);
  }
  SECTION("a push whose signature did not verify is refused whole and recorded") {
    auto forged = apply(s, d.push(ops, 3, 3, /*verified=*/false));
    CHECK(forged.at(0).code == Code::bad_signature);
    auto next = apply(s, d.push(ops, 3, 4));  // the chain still continues from op 2
    CHECK(next.at(0).status == sync::OpStatus::accepted);
    CHECK_FALSE(s.verify().problem);
  }
  SECTION("an op the session refused keeps its link; its refusal is answered again") {
    auto push = d.push(ops, 3, 4);
    sync::OpResult refused{ops[2].id, sync::OpStatus::rejected, 0, false, Code::forbidden, "no"};
    push.refused.push_back(sync::RefusedOp{0, ops[2], refused});
    push.ops.erase(push.ops.begin());
    auto r = apply(s, push);
    REQUIRE(r.size() == 1);
    CHECK(r[0].status == sync::OpStatus::accepted);
    auto again = apply(s, d.push(ops, 3, 5));
    CHECK(again.at(0).status == sync::OpStatus::rejected);
    CHECK(again.at(0).code == Code::forbidden);
    CHECK(again.at(1).status == sync::OpStatus::duplicate);
    CHECK(again.at(2).status == sync::OpStatus::accepted);
    auto v = s.verify();
    INFO((v.problem ? v.problem->what : ""));
    CHECK_FALSE(v.problem);
    CHECK(v.batches == 3);
  }
}

TEST_CASE("a device op dropped from the log is caught by the device's signature", "[audit]") {
  AuditedStore s;
  SigningDevice d;
  enrol(s, d);
  std::vector<sync::Op> ops{d.edit("c1"), d.edit("c2"), d.edit("c3")};
  apply(s, d.push(ops, 1, 3));
  // Someone removes op 2's audit entry and log row and recomputes the server's chain; they
  // cannot sign as the device.
  const auto gone = s.entry_of_log_row(2);
  s.tamper("DELETE FROM audit_log WHERE seq = " + std::to_string(gone) +
           "; DELETE FROM log WHERE seq = 2; UPDATE audit_log SET seq = seq - 1 WHERE seq > " +
           std::to_string(gone) + ";");
  rewrite_chain(s.path);
  auto r = s.verify();
  REQUIRE(r.problem);
  CHECK(r.problem->what.find("batch of " + d.id) != std::string::npos);
}

// Appends `e` to the audit log with its hash computed, as someone with the file (but not the
// server's key) would.
void forge_entry(crypto::Database& db, const server::audit::Event& e) {
  auto head = db.prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
  REQUIRE(head);
  REQUIRE(*head->step());
  const auto seq = static_cast<std::uint64_t>(head->column_int(0)) + 1;
  crypto::Digest prev{};
  const auto blob = head->column_blob(1);
  std::copy(blob.begin(), blob.end(), prev.begin());
  auto add = db.prepare(
      "INSERT INTO audit_log(seq, at_ms, kind, user, device, subject, detail, hash) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  REQUIRE(add);
  REQUIRE(add->bind(1, static_cast<std::int64_t>(seq))
              .bind(2, e.at_ms)
              .bind(3, e.kind)
              .bind(4, e.user)
              .bind(5, e.device)
              .bind(6, e.subject)
              .bind(7, e.detail)
              .bind_blob(8, server::audit::entry_hash(prev, seq, e))
              .run());
}

TEST_CASE("entries added without the key are caught, at the tail and by the next writer",
          "[audit]") {
  AuditedStore s;
  s.edits(2);
  // Someone with the file but not the key appends a forged op and its entry, hash and all.
  {
    auto db = crypto::Database::open(s.path, {});
    REQUIRE(db);
    sync::Op forged = put_op(device_id(1), 99, "cases", "c1", {{"risk", "high"}});
    const std::string op_json = sync::canonical(forged);
    auto ins = (*db)->prepare(
        "INSERT INTO log(op_id, device, collection, record, op_json, skewed, received_ms) "
        "VALUES (?1, ?2, 'cases', 'c1', ?3, 0, ?4)");
    REQUIRE(ins);
    REQUIRE(ins->bind(1, forged.id).bind(2, forged.device).bind(3, op_json).bind(4, kNowMs).run());
    const auto log_seq = static_cast<std::uint64_t>((*db)->last_insert_rowid());
    forge_entry(**db, server::audit::op_event(log_seq, forged.id, forged.device, forged.user,
                                              op_json, false, kNowMs, false));
  }
  auto r = s.verify();
  REQUIRE(r.problem);
  CHECK(r.problem->what.find("follow the newest checkpoint") != std::string::npos);
  const auto forged_entry = r.problem->seq;
  // The server's next commit notices before sealing anything over it.
  s.edits(1);
  r = s.verify();
  REQUIRE(r.problem);
  CHECK(r.problem->seq == forged_entry);
  CHECK(r.problem->what.find("without a checkpoint after them") != std::string::npos);
}

TEST_CASE("a store refuses an audit key other than the one it was first used with", "[audit]") {
  AuditedStore s;
  s.edits(1);
  s.store.reset();
  server::SqliteStoreOptions other;
  other.audit_key = std::make_shared<const crypto::SigningKey>(crypto::SigningKey::generate());
  auto opened = server::SqliteStore::open(s.path, other);
  REQUIRE_FALSE(opened);
  CHECK(opened.status().code() == Code::invalid_argument);
  CHECK(opened.status().message().find("--audit-key") != std::string::npos);
}

TEST_CASE("a tampered number, directory key or chain cache is located", "[audit]") {
  AuditedStore s;
  SigningDevice d;
  enrol(s, d);
  std::vector<sync::Op> ops{d.edit("c1"), d.edit("c2")};
  apply(s, d.push(ops, 1, 2));
  SECTION("a log number that is not one") {
    s.tamper("UPDATE audit_log SET detail = json_set(detail, '$.log', -1) WHERE kind = 'op';");
    rewrite_chain(s.path);  // past the hash check, to the number itself
    auto r = s.verify();
    REQUIRE(r.problem);  // located, not an exception
    CHECK(r.problem->what.find("names no log row") != std::string::npos);
  }
  SECTION("a device's key or state changed in the directory") {
    s.tamper(
        "INSERT INTO users(name, role, team, created_ms) VALUES ('alice', 'admin', NULL, 0);"
        "INSERT INTO devices(id, user, public_key, state, enrolled_ms) VALUES ('" +
        d.id + "', 'alice', zeroblob(32), 'active', 0);");
    auto r = s.verify();
    REQUIRE(r.problem);
    CHECK(r.problem->what.find("key in the directory is not the one in the log") !=
          std::string::npos);
  }
  SECTION("the chain cache row of a device removed") {
    s.tamper("DELETE FROM device_chains;");
    auto r = s.verify();
    REQUIRE(r.problem);
    CHECK(r.problem->what.find("device_chains lacks device") != std::string::npos);
  }
}

TEST_CASE("a device's first signed push may start inside its chain", "[audit]") {
  AuditedStore s;
  SigningDevice d;
  enrol(s, d);
  std::vector<sync::Op> ops{d.edit("c1"), d.edit("c2"), d.edit("c3"), d.edit("c4")};
  SECTION("not without earlier ops of the device in the log: its start would be missing") {
    auto refused = apply(s, d.push(ops, 3, 3));
    CHECK(refused.at(0).code == Code::chain_broken);
    CHECK_FALSE(s.verify().problem);
    return;
  }
  // Ops 1-2 went in unsigned (the server did not authenticate devices then); then op 3 signed.
  sync::SubmittedPush unsigned_push;
  unsigned_push.ops = {ops[0], ops[1]};
  apply(s, unsigned_push);
  auto first = apply(s, d.push(ops, 3, 3));
  CHECK(first.at(0).status == sync::OpStatus::accepted);
  auto next = apply(s, d.push(ops, 4, 4));
  CHECK(next.at(0).status == sync::OpStatus::accepted);
  auto r = s.verify();
  INFO((r.problem ? r.problem->what : ""));
  CHECK_FALSE(r.problem);
  CHECK(r.batches == 2);
}

TEST_CASE("a forged start of the trail does not pass for a migration", "[audit]") {
  AuditedStore s;
  s.edits(1);
  {
    auto db = crypto::Database::open(s.path, {});
    REQUIRE(db);
    forge_entry(**db, server::audit::Event{"admin", kNowMs, "", "", "",
                                           R"({"event":"audit_started","earlier_ops":0})"});
  }
  s.edits(1);  // the writer does not take it for a migrated store's start
  auto r = s.verify();
  REQUIRE(r.problem);
  CHECK(r.problem->what.find("inserted") != std::string::npos);
}

TEST_CASE("a push of a device revoked without uploads is refused, also mid-session", "[audit]") {
  AuditedStore s;
  SigningDevice d;
  enrol(s, d);
  std::vector<sync::Op> ops{d.edit("c1")};
  s.tamper(
      "INSERT INTO users(name, role, team, created_ms) VALUES ('alice', 'admin', NULL, 0);"
      "INSERT INTO devices(id, user, public_key, state, enrolled_ms) VALUES ('" +
      d.id + "', 'alice', zeroblob(32), 'revoked_no_upload', 0);");
  auto r = apply(s, d.push(ops, 1, 1));
  CHECK(r.at(0).status == sync::OpStatus::rejected);
  CHECK(r.at(0).code == Code::revoked);
}

TEST_CASE("a password hash swapped in the file is found", "[audit]") {
  AuditedStore s;
  auto file = server::StoreFile::open(s.path, "");
  REQUIRE(file);
  server::DirectoryOptions options;
  options.audit_key = s.key;
  auto dir = server::Directory::open(*file, options);
  REQUIRE(dir);
  REQUIRE((*dir)->add_user("root", server::Role::admin, "", kNowMs));
  REQUIRE((*dir)->set_password("root", "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", kNowMs));
  CHECK_FALSE(s.verify().problem);
  s.tamper("UPDATE passwords SET hash = '$argon2id$v=19$m=8,t=1,p=1$c2FsdA$b3RoZXI';");
  auto r = s.verify();
  REQUIRE(r.problem);
  CHECK(r.problem->what.find("password of root") != std::string::npos);
}
