// fieldsync: the field client on the command line. One replica file per device; commands
// write offline, query, and sync with fieldsync-server. The command-line contract (commands,
// --json shapes, exit codes) is the one in docs and issue 2; main() only wires it together.
//
// Exit codes: 0 success; 1 error (message on stderr as "error: ...", for `sync` also a wss://
// server whose certificate does not verify); for `sync`: 2 server unreachable in time, 3
// refused by the server, 4 some operations rejected; for any command that opens the replica:
// 5 wrong passphrase, 6 the replica failed authentication (tampered).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "cli/passphrase.hpp"
#include "common/guarded_main.hpp"
#include "common/history_text.hpp"
#include "fieldsync/client/replica.hpp"
#include "fieldsync/client/sync_client.hpp"
#include "fieldsync/sync/history.hpp"

namespace {

namespace json = boost::json;
using fieldsync::Code;
using fieldsync::Result;
using fieldsync::Status;
using fieldsync::client::FieldEdit;
using fieldsync::client::RecordView;
using fieldsync::client::Replica;
using fieldsync::client::ReplicaOptions;
using fieldsync::client::SyncClient;
using fieldsync::client::SyncOutcome;
using fieldsync::crypto::Credential;
using fieldsync::crypto::KdfLimits;

constexpr int kExitError = 1;
constexpr int kExitUnreachable = 2;
constexpr int kExitRefused = 3;
constexpr int kExitRejected = 4;
constexpr int kExitWrongPassphrase = 5;
constexpr int kExitTampered = 6;

struct Globals {
  std::string replica;
  std::string passphrase_env;
  bool verbose = false;
};

int fail(const Status& s) {
  switch (s.code()) {
    case Code::wrong_passphrase:
      std::cerr << "error: " << s.message() << "\n";
      return kExitWrongPassphrase;
    case Code::tampered:
      std::cerr << "error: the replica was tampered with or damaged: " << s.message() << "\n";
      return kExitTampered;
    default:
      std::cerr << "error: " << s.message() << "\n";
      return kExitError;
  }
}

// A replica given and present: checked before a passphrase is asked for.
Status need_replica(const Globals& g) {
  if (g.replica.empty())
    return {Code::invalid_argument,
            "no replica given: use fieldsync --replica FILE <command> (or set "
            "FIELDSYNC_REPLICA)"};
  std::error_code ec;
  if (!std::filesystem::exists(g.replica, ec))
    return {Code::not_found, "no replica at " + g.replica + "; run init first"};
  return Status::ok();
}

// The passphrase of the replica, as a credential (KDF limits for a rewrap: `limits`).
Result<Credential> current_credential(const Globals& g,
                                      KdfLimits limits = KdfLimits::interactive()) {
  auto p = fieldsync::cli::read_passphrase(g.passphrase_env, "Passphrase for " + g.replica + ": ");
  if (!p) return p.status();
  return Credential::passphrase(std::move(*p), limits);
}

Result<std::unique_ptr<Replica>> open_replica(const Globals& g) {
  if (Status s = need_replica(g); !s) return s;
  auto credential = current_credential(g);
  if (!credential) return credential.status();
  return Replica::open(g.replica, *credential, ReplicaOptions{});
}

// "field=value" (set), "field+=value" (add to a set), "field-=value" (remove from a set).
Result<FieldEdit> parse_edit(const std::string& text) {
  std::size_t i = 0;
  while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_'))
    ++i;
  FieldEdit e;
  e.field = text.substr(0, i);
  std::string_view rest = std::string_view(text).substr(i);
  if (!e.field.empty() && rest.starts_with("+=")) {
    e.kind = FieldEdit::Kind::add;
    e.value = std::string(rest.substr(2));
  } else if (!e.field.empty() && rest.starts_with("-=")) {
    e.kind = FieldEdit::Kind::remove;
    e.value = std::string(rest.substr(2));
  } else if (!e.field.empty() && rest.starts_with("=")) {
    e.kind = FieldEdit::Kind::set;
    e.value = std::string(rest.substr(1));
  } else {
    return Status(Code::invalid_argument, "cannot read '" + text +
                                              "': use field=value, or field+=value / "
                                              "field-=value for a set field");
  }
  return e;
}

std::string show_value(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v.get_array()) out += (out.empty() ? "" : ", ") + show_value(e);
    return "[" + out + "]";
  }
  return json::serialize(v);
}

void print_record(const RecordView& r) {
  std::cout << r.collection << "/" << r.id << "\n";
  for (const auto& f : r.fields)
    std::cout << "  " << std::string(f.key()) << ": " << show_value(f.value()) << "\n";
}

// --- commands ---

int cmd_init(const Globals& g, const std::string& user, const std::string& kdf) {
  if (g.replica.empty()) return fail({Code::invalid_argument, "use fieldsync --replica FILE init"});
  auto limits = fieldsync::cli::parse_kdf(kdf);
  if (!limits) return fail(limits.status());
  auto p = fieldsync::cli::read_new_passphrase(
      g.passphrase_env, "New passphrase for " + g.replica + " (it encrypts the replica): ");
  if (!p) return fail(p.status());
  ReplicaOptions o;
  o.user = user;
  auto r = Replica::init(g.replica, Credential::passphrase(std::move(*p), *limits), std::move(o));
  if (!r) return fail(r.status());
  std::cout << "created replica " << g.replica << " (device " << (*r)->device() << ", user "
            << (*r)->user() << ")\n";
  return 0;
}

int cmd_put(const Globals& g, const std::string& collection, const std::string& id,
            const std::vector<std::string>& assignments) {
  std::vector<FieldEdit> edits;
  for (const auto& a : assignments) {
    auto e = parse_edit(a);
    if (!e) return fail(e.status());
    edits.push_back(std::move(*e));
  }
  auto r = open_replica(g);
  if (!r) return fail(r.status());
  auto op = (*r)->put(collection, id, edits);
  if (!op) return fail(op.status());
  std::cout << "saved " << collection << "/" << id << "\n";
  return 0;
}

// A lead's decision on a conflict: the value kept (a competitor's or another), written over
// every competing value, so it closes the conflict once synced.
int cmd_resolve(const Globals& g, const std::string& collection, const std::string& id,
                const std::string& field, const std::string& value) {
  auto r = open_replica(g);
  if (!r) return fail(r.status());
  auto op = (*r)->resolve(collection, id, field, value);
  if (!op) return fail(op.status());
  std::cout << "decided " << collection << "/" << id << " " << field << " (op " << *op
            << "; sent at the next sync)\n";
  return 0;
}

int cmd_delete(const Globals& g, const std::string& collection, const std::string& id) {
  auto r = open_replica(g);
  if (!r) return fail(r.status());
  auto op = (*r)->remove(collection, id);
  if (!op) return fail(op.status());
  std::cout << "deleted " << collection << "/" << id << "\n";
  return 0;
}

int cmd_note(const Globals& g, const std::string& case_id, const std::vector<std::string>& words) {
  std::string text;
  for (const auto& w : words) text += (text.empty() ? "" : " ") + w;
  auto r = open_replica(g);
  if (!r) return fail(r.status());
  auto id = (*r)->add_note(case_id, text);
  if (!id) return fail(id.status());
  std::cout << *id << "\n";
  return 0;
}

// Shares a case with another user (or stops sharing it): an edit of cases.shared_with that
// the server checks at the next sync (only the case's owner, a lead or an admin may).
int cmd_share(const Globals& g, const std::string& case_id, const std::string& user, bool share) {
  auto r = open_replica(g);
  if (!r) return fail(r.status());
  auto rec = (*r)->get("cases", case_id);
  if (!rec) return fail(rec.status());
  if (!*rec || (*rec)->deleted) return fail({Code::not_found, "no case " + case_id + " here"});
  using Kind = fieldsync::client::FieldEdit::Kind;
  auto op = (*r)->put("cases", case_id, {{"shared_with", share ? Kind::add : Kind::remove, user}});
  if (!op) return fail(op.status());
  std::cout << (share ? "shared case " : "stopped sharing case ") << case_id << " with " << user
            << " (sent at the next sync)\n";
  return 0;
}

int cmd_get(const Globals& g, const std::string& collection, const std::string& id, bool as_json) {
  auto r = open_replica(g);
  if (!r) return fail(r.status());
  auto rec = (*r)->get(collection, id);
  if (!rec) return fail(rec.status());
  if (!*rec) return fail({Code::not_found, "no record " + collection + "/" + id});
  if ((*rec)->deleted) return fail({Code::deleted, collection + "/" + id + " is deleted"});
  // Opening a record is a read the server's audit log hears of at the next sync.
  if (Status noted = (*r)->note_read(collection, id); !noted) return fail(noted);
  if (as_json)
    std::cout << json::serialize(to_json(**rec)) << "\n";
  else
    print_record(**rec);
  return 0;
}

// A record's history, field by field: the replica holds only the record's current state, so
// the log comes from the server (which checks the record is in this device's scope and
// records the read). Operations still in the outbox are listed after it.
int cmd_history(const Globals& g, const std::string& collection, const std::string& id,
                const std::string& server, double timeout_s, const std::string& ca_file,
                bool as_json) {
  const fieldsync::sync::CollectionSpec* spec =
      fieldsync::sync::default_schema().collection(collection);
  if (!spec) return fail({Code::unknown_collection, "unknown collection '" + collection + "'"});
  auto r = open_replica(g);
  if (!r) return fail(r.status());
  auto rec = (*r)->get(collection, id);
  if (!rec) return fail(rec.status());
  if (!*rec) return fail({Code::not_found, "no record " + collection + "/" + id + " here"});
  const std::string url = server.empty() ? (*r)->enrolled_server() : server;
  if (url.empty())
    return fail({Code::invalid_argument, "this device is not enrolled: give --server"});
  fieldsync::client::SyncClientOptions options;
  options.ca_file = ca_file;
  SyncClient client(**r, std::move(options));
  auto log = client.fetch_history(
      url, collection, id, std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000)));
  if (!log) {
    fail(log.status());
    return log.status().code() == Code::unreachable ? kExitUnreachable : kExitError;
  }
  const auto history = fieldsync::sync::record_history(collection, id, log->entries, *spec);
  auto outbox = (*r)->outbox();
  if (!outbox) return fail(outbox.status());
  if (as_json) {
    json::object o = fieldsync::sync::to_json(history).as_object();
    json::array pending;
    for (const auto& e : *outbox)
      if (e.op.collection == collection && e.op.record == id) pending.emplace_back(e.op.id);
    o["not_synced"] = std::move(pending);
    o["truncated"] = log->more;
    std::cout << json::serialize(o) << "\n";
    return 0;
  }
  fieldsync::tools::print_history(std::cout, history, *spec);
  if (log->more)
    std::cout << "(the server shows the oldest " << log->entries.size() << " changes only)\n";
  for (const auto& e : *outbox)
    if (e.op.collection == collection && e.op.record == id)
      std::cout << "not yet synced: op " << e.op.id << (e.rejected ? " (rejected)" : "") << "\n";
  return 0;
}

int cmd_list(const Globals& g, const std::string& collection, bool as_json) {
  auto r = open_replica(g);
  if (!r) return fail(r.status());
  auto records = (*r)->list(collection);
  if (records)  // a listing shows every record's fields: one read of the collection
    if (Status noted = (*r)->note_read(collection, "*"); !noted) return fail(noted);
  if (!records) return fail(records.status());
  if (as_json) {
    json::array a;
    for (const auto& rec : *records) a.emplace_back(to_json(rec));
    std::cout << json::serialize(a) << "\n";
    return 0;
  }
  if (records->empty()) std::cout << "no " << collection << "\n";
  for (const auto& rec : *records) {
    std::cout << rec.id;
    for (const auto& f : rec.fields)
      std::cout << "  " << std::string(f.key()) << "=" << show_value(f.value());
    std::cout << "\n";
  }
  return 0;
}

void print_conflict(const fieldsync::sync::Conflict& c) {
  std::cout << c.collection << "/" << c.record << " " << c.field << ": "
            << (c.open ? "OPEN, awaiting review" : "resolved") << " ("
            << (c.kind == fieldsync::sync::ConflictKind::edit_vs_delete ? "edit vs delete"
                                                                        : "concurrent edit")
            << ")\n";
  for (const auto& k : c.competitors) {
    std::cout << (k.op == c.winner ? "  * " : "    ")
              << (k.value.is_null() ? std::string("(deleted)") : show_value(k.value)) << "  by "
              << k.user << " on device " << k.device.substr(0, 8) << " at " << k.hlc.to_string()
              << (k.op == c.winner ? "  (shown)" : "") << "\n";
  }
}

int cmd_conflicts(const Globals& g, bool all, bool as_json) {
  auto r = open_replica(g);
  if (!r) return fail(r.status());
  auto list = (*r)->conflicts(all);
  if (!list) return fail(list.status());
  // Each conflict shows its record's competing values: a read of that record.
  for (const auto& c : *list)
    if (Status noted = (*r)->note_read(c.collection, c.record); !noted) return fail(noted);
  if (as_json) {
    json::array a;
    for (const auto& c : *list) a.emplace_back(fieldsync::sync::to_json(c));
    std::cout << json::serialize(a) << "\n";
    return 0;
  }
  if (list->empty()) std::cout << (all ? "no conflicts\n" : "no open conflicts\n");
  for (const auto& c : *list) print_conflict(c);
  return 0;
}

std::string describe_op(const fieldsync::sync::Op& op) {
  return std::string(op.kind == fieldsync::sync::OpKind::del ? "delete " : "put ") + op.collection +
         "/" + op.record;
}

int cmd_outbox(const Globals& g, bool as_json) {
  auto r = open_replica(g);
  if (!r) return fail(r.status());
  auto entries = (*r)->outbox();
  if (!entries) return fail(entries.status());
  if (as_json) {
    json::array a;
    for (const auto& e : *entries) {
      json::object o;
      o["op"] = fieldsync::sync::to_json(e.op);
      o["status"] = e.rejected ? "rejected" : "pending";
      if (e.rejected) {
        o["code"] = fieldsync::code_name(e.code);
        o["reason"] = e.reason;
      }
      a.emplace_back(std::move(o));
    }
    std::cout << json::serialize(a) << "\n";
    return 0;
  }
  if (entries->empty()) std::cout << "outbox empty\n";
  for (const auto& e : *entries) {
    std::cout << e.op.id << "  " << describe_op(e.op) << "  "
              << (e.rejected
                      ? "REJECTED " + std::string(fieldsync::code_name(e.code)) + ": " + e.reason
                      : std::string("pending"))
              << "\n";
  }
  return 0;
}

int cmd_sync(const Globals& g, const std::string& server, double timeout_s,
             const std::string& ca_file) {
  if (!ca_file.empty() && !server.starts_with("wss://"))
    return fail({Code::invalid_argument, "--ca-file is for wss:// servers only"});
  auto r = open_replica(g);
  if (!r) return fail(r.status());
  fieldsync::client::SyncClientOptions options;
  options.ca_file = ca_file;
  if (g.verbose) options.log = [](std::string_view m) { std::cerr << "sync: " << m << "\n"; };
  SyncClient client(**r, std::move(options));
  auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));
  SyncOutcome out = client.sync_once(server, timeout);
  if (out.wipe) {
    r->reset();  // closed before its files go
    Status wiped = Replica::destroy(g.replica);
    std::cerr << "error: the server revoked this device: " << out.detail.message() << "; "
              << (wiped ? "its replica and keys have been destroyed"
                        : "destroying its replica failed: " + wiped.message())
              << "\n";
    return kExitRefused;
  }
  switch (out.kind) {
    case SyncOutcome::Kind::unreachable:
      fail(out.detail);
      return kExitUnreachable;
    case SyncOutcome::Kind::refused:
      std::cerr << "error: the server refused this device: " << out.detail.to_string() << "\n";
      return kExitRefused;
    case SyncOutcome::Kind::failed:
      return fail(out.detail);
    case SyncOutcome::Kind::up_to_date:
      break;
  }
  auto entries = (*r)->outbox();
  std::map<std::string, const fieldsync::sync::Op*> ops;
  std::size_t earlier_rejected = 0;
  if (entries)
    for (const auto& e : *entries) {
      ops[e.op.id] = &e.op;
      if (e.rejected) ++earlier_rejected;
    }
  earlier_rejected -= std::min(earlier_rejected, out.rejected.size());
  std::cout << "up to date with " << server << " (pushed " << out.pushed << ", pulled "
            << out.pulled << ")\n";
  if (out.snapshot_records > 0)
    std::cout << out.snapshot_records << " record(s) of cases new to this device received whole\n";
  if (out.purged > 0)
    std::cout << out.purged << " record(s) removed: their cases left this device's caseload\n";
  if (earlier_rejected > 0)
    std::cerr << "note: " << earlier_rejected
              << " operation(s) rejected earlier remain in the outbox (see: fieldsync outbox)\n";
  if (out.rejected.empty()) return 0;
  std::cout << out.rejected.size() << " operation(s) rejected by the server:\n";
  for (const auto& res : out.rejected) {
    auto it = ops.find(res.op);
    std::cout << "  " << res.op << (it != ops.end() ? "  " + describe_op(*it->second) : "") << "  "
              << fieldsync::code_name(res.code) << ": " << res.reason << "\n";
  }
  return kExitRejected;
}

int cmd_enroll(const Globals& g, const std::string& server, const std::string& code,
               double timeout_s, const std::string& ca_file) {
  auto r = open_replica(g);
  if (!r) return fail(r.status());
  fieldsync::client::SyncClientOptions options;
  options.ca_file = ca_file;
  SyncClient client(**r, std::move(options));
  auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));
  auto enrolled = client.enroll(server, code, timeout);
  if (!enrolled) return fail(enrolled.status());
  std::cout << "enrolled device " << (*r)->device() << " at " << server << " for user "
            << enrolled->user << " (" << enrolled->role << ")\n";
  return 0;
}

int cmd_info(const Globals& g) {
  auto r = open_replica(g);
  if (!r) return fail(r.status());
  auto entries = (*r)->outbox();
  if (!entries) return fail(entries.status());
  std::size_t rejected = 0;
  for (const auto& e : *entries) rejected += e.rejected ? 1 : 0;
  std::cout << "replica " << g.replica << "\n  device " << (*r)->device() << "\n  user "
            << (*r)->user() << "\n  schema version " << (*r)->schema().version() << "\n  cursor "
            << (*r)->cursor() << "\n  outbox " << entries->size() - rejected << " pending, "
            << rejected << " rejected\n";
  return 0;
}

int cmd_passwd(const Globals& g, const std::string& new_env, const std::string& kdf) {
  if (Status s = need_replica(g); !s) return fail(s);
  auto limits = fieldsync::cli::parse_kdf(kdf);
  if (!limits) return fail(limits.status());
  auto current = current_credential(g);
  if (!current) return fail(current.status());
  auto next = fieldsync::cli::read_new_passphrase(new_env, "New passphrase: ");
  if (!next) return fail(next.status());
  Status s = Replica::change_passphrase(g.replica, *current,
                                        Credential::passphrase(std::move(*next), *limits));
  if (!s) return fail(s);
  std::cout << "passphrase changed for " << g.replica << "\n";
  return 0;
}

int cmd_rekey(const Globals& g, const std::string& kdf) {
  if (Status s = need_replica(g); !s) return fail(s);
  auto limits = fieldsync::cli::parse_kdf(kdf);
  if (!limits) return fail(limits.status());
  auto credential = current_credential(g, *limits);
  if (!credential) return fail(credential.status());
  if (Status s = Replica::rekey(g.replica, *credential); !s) return fail(s);
  std::cout << "new data key for " << g.replica << "; every page was rewritten under it\n";
  return 0;
}

int cmd_check(const Globals& g) {
  if (Status s = need_replica(g); !s) return fail(s);
  auto credential = current_credential(g);
  if (!credential) return fail(credential.status());
  auto report = Replica::check(g.replica, *credential);
  if (!report) return fail(report.status());
  std::cout << g.replica << ": all " << report->db_pages << " pages and " << report->wal_frames
            << " WAL frames authenticated\n";
  return 0;
}

}  // namespace

static int run_main(int argc, char** argv) {
  CLI::App app{
      "fieldsync: the field client. Records are written offline into a local replica "
      "file and synced with fieldsync-server."};
  app.footer(
      "Options before the command apply to every command; the command's own come after it.\n"
      "The passphrase is asked at the terminal (without echo) unless --passphrase-env is given.\n"
      "Exit codes: 0 ok; 1 error (sync: also an untrusted server certificate); sync: 2\n"
      "unreachable, 3 refused, 4 operations rejected;\n"
      "5 wrong passphrase; 6 the replica was tampered with (or damaged).");
  app.require_subcommand(1);
  Globals g;
  app.add_option("--replica", g.replica, "The replica file of this device")
      ->envname("FIELDSYNC_REPLICA");
  app.add_option("--passphrase-env", g.passphrase_env,
                 "Read the replica's passphrase from this environment variable instead of "
                 "asking at the terminal (for scripts)");
  app.add_flag("-v,--verbose", g.verbose, "Report sync progress on stderr");

  std::string user, collection, id, server, new_env, ca_file;
  std::string kdf = "interactive";
  std::vector<std::string> rest;
  bool as_json = false, all = false;
  double timeout_s = 30;

  auto* init = app.add_subcommand("init", "Create a new replica (a new device) at --replica");
  init->add_option("--user", user, "Who writes on this device (default: $USER)");
  const char* kdf_help =
      "Argon2id cost of the passphrase: interactive (libsodium's interactive level, for "
      "devices) or minimum (tests and benchmarks only)";
  init->add_option("--kdf", kdf, kdf_help)->capture_default_str();

  auto* put = app.add_subcommand(
      "put",
      "Create or edit a record offline: field=value; for set fields field+=value, "
      "field-=value");
  put->add_option("COLLECTION", collection, "clients, cases, visits, referrals, tasks")->required();
  put->add_option("ID", id, "Record id: 1-64 characters of A-Za-z0-9._-")->required();
  put->add_option("EDITS", rest, "field=value | field+=value | field-=value")->required();

  std::string field, value;
  auto* resolve = app.add_subcommand(
      "resolve",
      "Decide a conflict: keep one of the competing values or write another; synced like any "
      "edit");
  resolve->add_option("COLLECTION", collection, "The collection")->required();
  resolve->add_option("ID", id, "The record id")->required();
  resolve->add_option("FIELD", field, "The conflicted field (see: fieldsync conflicts)")
      ->required();
  resolve->add_option("VALUE", value, "The value decided on")->required();

  auto* del = app.add_subcommand("delete", "Delete a record (a tombstone)");
  del->add_option("COLLECTION", collection, "The collection")->required();
  del->add_option("ID", id, "The record id")->required();

  auto* note = app.add_subcommand("note", "Add a progress note to a case; prints the note's id");
  note->add_option("CASE_ID", id, "The case")->required();
  note->add_option("TEXT", rest, "The note (several words are joined by spaces)")->required();

  std::string share_user;
  auto* share = app.add_subcommand(
      "share", "Share a case you own with another user (read and write); sent at the next sync");
  share->add_option("CASE_ID", id, "The case")->required();
  share->add_option("USER", share_user, "Who gets it")->required();
  auto* unshare = app.add_subcommand("unshare", "Stop sharing a case with a user");
  unshare->add_option("CASE_ID", id, "The case")->required();
  unshare->add_option("USER", share_user, "Who loses it")->required();

  auto* get = app.add_subcommand("get", "Show one record (exit 1 when absent or deleted)");
  get->add_option("COLLECTION", collection, "The collection")->required();
  get->add_option("ID", id, "The record id")->required();
  get->add_flag("--json", as_json, R"(Print {"collection","id","fields"} as JSON)");

  auto* history = app.add_subcommand(
      "history",
      "Show every change to a record this device holds, field by field, from the server "
      "(who, which device, device and server time, conflicts). Exit 2: server unreachable");
  history->add_option("COLLECTION", collection, "The collection")->required();
  history->add_option("ID", id, "The record id")->required();
  history->add_option("--server", server,
                      "The server (default: the one this device enrolled with)");
  history->add_option("--ca-file", ca_file, "wss://: trust only the CAs in this PEM file")
      ->type_name("FILE");
  history->add_option("--timeout", timeout_s, "Seconds to wait for the server")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  history->add_flag("--json", as_json, "Print the history as JSON");

  auto* list = app.add_subcommand("list", "Show the records of a collection, sorted by id");
  list->add_option("COLLECTION", collection, "The collection")->required();
  list->add_flag("--json", as_json, "Print a JSON array of records");

  auto* conflicts = app.add_subcommand("conflicts", "Show open conflicts (edits that collided)");
  conflicts->add_flag("--all", all, "Also show conflicts resolved automatically");
  conflicts->add_flag("--json", as_json, "Print a JSON array of conflicts");

  auto* sync = app.add_subcommand(
      "sync",
      "Push the outbox and pull every change. Exit 0 up to date, 1 error (also: the "
      "server's TLS certificate is not trusted), 2 server unreachable in time, 3 refused by "
      "the server, 4 some operations rejected");
  sync->add_option(
          "--server", server,
          "wss://HOST:PORT[/PATH] (TLS, the certificate verified) or ws://HOST:PORT[/PATH] "
          "(path default /sync)")
      ->required();
  sync->add_option("--ca-file", ca_file,
                   "wss://: trust only the certificate authorities in this PEM file instead of "
                   "the system's store")
      ->type_name("FILE");
  sync->add_option("--timeout", timeout_s, "Seconds to keep trying to reach the server")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();

  std::string code;
  auto* enroll =
      app.add_subcommand("enroll", "Bind this device to a user with a one-time code from an admin");
  enroll->add_option("--server", server, "wss://HOST:PORT or ws://HOST:PORT")->required();
  enroll->add_option("--code", code, "The code from fieldsync-admin device enroll-code")
      ->required();
  enroll->add_option("--ca-file", ca_file, "wss://: trust only the CAs in this PEM file")
      ->type_name("FILE");
  enroll->add_option("--timeout", timeout_s, "Seconds to wait for the server")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();

  auto* outbox =
      app.add_subcommand("outbox",
                         "Show operations not yet acknowledged by the server, with the reason of "
                         "rejected ones");
  outbox->add_flag("--json", as_json, "Print a JSON array");

  auto* info = app.add_subcommand("info", "Show this device's id, user, cursor and outbox size");

  auto* passwd = app.add_subcommand(
      "passwd", "Change the replica's passphrase (the data key is rewrapped; no page changes)");
  passwd->add_option("--new-passphrase-env", new_env,
                     "Read the new passphrase from this environment variable");
  passwd->add_option("--kdf", kdf, kdf_help)->capture_default_str();

  auto* rekey = app.add_subcommand(
      "rekey", "Rotate the replica's data key: every page is rewritten under a new one");
  rekey->add_option("--kdf", kdf, kdf_help)->capture_default_str();

  auto* check = app.add_subcommand(
      "check", "Authenticate every page of the replica and its WAL; name the first that fails");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    std::string message = e.what();
    if (app.get_subcommands().empty() && !app.remaining().empty())
      message = "unknown command '" + app.remaining().front() + "'";
    std::cerr << "error: " << message << "\nRun with --help for more information.\n";
    return kExitError;
  }

  if (*init) return cmd_init(g, user, kdf);
  if (*put) return cmd_put(g, collection, id, rest);
  if (*resolve) return cmd_resolve(g, collection, id, field, value);
  if (*del) return cmd_delete(g, collection, id);
  if (*note) return cmd_note(g, id, rest);
  if (*share) return cmd_share(g, id, share_user, true);
  if (*unshare) return cmd_share(g, id, share_user, false);
  if (*get) return cmd_get(g, collection, id, as_json);
  if (*history) return cmd_history(g, collection, id, server, timeout_s, ca_file, as_json);
  if (*list) return cmd_list(g, collection, as_json);
  if (*conflicts) return cmd_conflicts(g, all, as_json);
  if (*sync) return cmd_sync(g, server, timeout_s, ca_file);
  if (*enroll) return cmd_enroll(g, server, code, timeout_s, ca_file);
  if (*outbox) return cmd_outbox(g, as_json);
  if (*info) return cmd_info(g);
  if (*passwd) return cmd_passwd(g, new_env, kdf);
  if (*rekey) return cmd_rekey(g, kdf);
  if (*check) return cmd_check(g);
  return kExitError;
}

int main(int argc, char** argv) { return fieldsync::tools::guarded_main(run_main, argc, argv); }
