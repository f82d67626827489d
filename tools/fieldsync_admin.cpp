// fieldsync-admin: manages a programme's teams, users, devices, enrolment codes, case
// assignments and offline lease in a server's data directory, beside a running server, and
// reads and verifies its audit trail.
// main() only parses the command line; the commands are in tools/admin/.
//
// Exit codes: 0 done; 1 error ("error: message" on stderr). Every command takes --json.
#include <chrono>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "admin/commands.hpp"
#include "common/guarded_main.hpp"

namespace {

using fieldsync::admin::Context;
using fieldsync::server::CaseAction;

std::int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

struct Args {
  std::string name, role, team, user, device, case_id, actor, password_env;
  std::string kdf = "interactive";
  std::string collection, id, public_key, since, dest;
  double ttl_hours = 24;
  bool no_upload = false;
  int sync_within = 0, wipe_after = 0;
};

CLI::App* leaf(CLI::App* parent, const std::string& name, const std::string& help, bool& json) {
  auto* cmd = parent->add_subcommand(name, help);
  cmd->add_flag("--json", json, "Print JSON instead of text");
  return cmd;
}

CLI::App* group(CLI::App& app, const std::string& name, const std::string& help) {
  auto* cmd = app.add_subcommand(name, help);
  cmd->require_subcommand(1);
  return cmd;
}

int parse_error(CLI::App& app, const CLI::ParseError& e) {
  if (e.get_exit_code() == 0) return app.exit(e);  // --help
  std::cerr << "error: " << e.what() << "\nRun with --help for more information.\n";
  return 1;
}

}  // namespace

static int run_main(int argc, char** argv) {
  CLI::App app{
      "fieldsync-admin: manage a fieldsync programme's teams, users, devices, enrolment codes, "
      "case assignments and offline lease in the server's data directory. Works beside a "
      "running fieldsync-server; devices see the changes at their next connection at the "
      "latest."};
  Context ctx;
  ctx.now_ms = system_now_ms;
  Args a;
  app.add_option("--data", ctx.data_dir,
                 "The server's data directory (the store is DIR/fieldsync.db)")
      ->type_name("DIR")
      ->required();
  app.add_option("--key-file", ctx.key_file,
                 "The key file of an encrypted store, as given to fieldsync-server")
      ->type_name("FILE");
  app.add_option("--audit-key", ctx.audit_key_file,
                 "The server's audit key file, as given to fieldsync-server (default "
                 "DIR/audit.key)")
      ->type_name("FILE");
  app.require_subcommand(1);

  auto* team = group(app, "team", "Teams of workers and their lead");
  auto* team_add = leaf(team, "add", "Add a team", ctx.json);
  team_add->add_option("NAME", a.name, "Team name: 1-64 characters of A-Za-z0-9._-")->required();
  auto* team_list = leaf(team, "list", "List the teams", ctx.json);

  auto* user = group(app, "user", "Users and their roles");
  auto* user_add = leaf(user, "add", "Add a user", ctx.json);
  user_add->add_option("NAME", a.name, "User name: 1-64 characters of A-Za-z0-9._-")->required();
  user_add->add_option("--role", a.role, "worker, lead or admin")
      ->required()
      ->check(CLI::IsMember({"worker", "lead", "admin"}));
  user_add->add_option("--team", a.team, "The user's team (workers and leads; not admins)");
  auto* user_list = leaf(user, "list", "List the users", ctx.json);
  auto* user_passwd =
      leaf(user, "passwd", "Set a user's password for logging in to the server", ctx.json);
  user_passwd->add_option("NAME", a.name, "The user")->required();
  user_passwd->add_option("--password-env", a.password_env,
                          "Read the password from this environment variable instead of asking "
                          "at the terminal (for scripts)");
  user_passwd->add_option("--kdf", a.kdf, "interactive (default) or minimum (tests only)")
      ->capture_default_str();

  auto* device = group(app, "device", "Devices: enrolment, list, revocation");
  auto* enroll = leaf(device, "enroll-code",
                      "Print a one-time code that enrols a new device for USER", ctx.json);
  enroll->add_option("USER", a.user, "Whose device")->required();
  enroll->add_option("--ttl", a.ttl_hours, "Hours the code stays valid (at most 168)")
      ->capture_default_str();
  auto* device_list = leaf(device, "list", "List devices: user, state, last sync", ctx.json);
  auto* revoke = leaf(device, "revoke",
                      "Revoke a device: it receives nothing more and is told to wipe", ctx.json);
  revoke->add_option("DEVICE", a.device, "The device id (32 hex digits)")->required();
  revoke->add_flag("--no-upload", a.no_upload,
                   "Refuse its uploads too (a stolen device); without it the device may first "
                   "upload what it has not sent");

  auto* cases = group(app, "case", "Assign and share cases (leads and admins)");
  auto case_cmd = [&](const std::string& name, const std::string& help) {
    auto* cmd = leaf(cases, name, help, ctx.json);
    cmd->add_option("CASE", a.case_id, "The case id")->required();
    cmd->add_option("USER", a.user, "A worker or lead")->required();
    cmd->add_option("--as", a.actor,
                    "The lead or admin acting (default: the system user, if a fieldsync user)");
    return cmd;
  };
  auto* assign = case_cmd("assign", "Assign CASE to USER");
  auto* share = case_cmd("share", "Share CASE with USER");
  auto* unshare = case_cmd("unshare", "Stop sharing CASE with USER");

  auto* lease = group(app, "lease", "The offline lease: how long devices may go without a sync");
  auto* lease_set = leaf(lease, "set", "Change the lease (defaults 14 and 30 days)", ctx.json);
  auto* within = lease_set->add_option("--sync-within", a.sync_within,
                                       "Days after which a device that has not synced refuses to "
                                       "open its replica until it syncs");
  auto* wipe = lease_set->add_option("--wipe-after", a.wipe_after,
                                     "Days after which a device that has not synced wipes itself");
  auto* lease_show = leaf(lease, "show", "Show the lease", ctx.json);

  auto* audit = group(app, "audit", "The audit trail: verify it, a record's history, export it");
  auto* verify = leaf(audit, "verify",
                      "Re-check the whole audit trail: its hash chain, every operation against "
                      "the log, device signatures and the server's checkpoints (exit 1 on a "
                      "problem)",
                      ctx.json);
  verify
      ->add_option("--public-key", a.public_key,
                   "The server's public audit key, 64 hex digits (default: from the audit "
                   "key file)")
      ->type_name("HEX");
  auto reader_option = [&](CLI::App* cmd) {
    cmd->add_option("--as", ctx.actor,
                    "The lead or admin reading (default: the system user, if a fieldsync user); "
                    "the read is recorded in the audit trail");
  };
  auto* history = leaf(audit, "history",
                       "A record's history, field by field, with its conflicts (shows the "
                       "record's values)",
                       ctx.json);
  history->add_option("COLLECTION", a.collection, "The record's collection")->required();
  history->add_option("ID", a.id, "The record id")->required();
  reader_option(history);
  auto* export_cmd = leaf(audit, "export",
                          "Print the trail as JSON lines, one entry a line (shows the "
                          "operations' values)",
                          ctx.json);
  export_cmd
      ->add_option("--since", a.since,
                   "From the first entry at or after T: a date (2026-11-30), a UTC time "
                   "(2026-11-30T12:00:00Z) or Unix milliseconds")
      ->type_name("T")
      ->required();
  export_cmd->add_option("--user", a.user, "Only the entries of this user");
  export_cmd->add_option("--case", a.case_id,
                         "Only the entries about this case and the records in it");
  reader_option(export_cmd);

  auto* backup = leaf(&app, "backup",
                      "Write a consistent copy of the store to DEST (a new file), beside a "
                      "running server; an encrypted store's copy stays encrypted",
                      ctx.json);
  backup->add_option("DEST", a.dest, "The copy's file (must not exist)")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return parse_error(app, e);
  }

  namespace cmd = fieldsync::admin;
  if (*team_add) return cmd::team_add(ctx, a.name);
  if (*team_list) return cmd::team_list(ctx);
  if (*user_add) return cmd::user_add(ctx, a.name, a.role, a.team);
  if (*user_list) return cmd::user_list(ctx);
  if (*user_passwd) return cmd::user_passwd(ctx, a.name, a.password_env, a.kdf);
  if (*enroll) return cmd::device_enroll_code(ctx, a.user, a.ttl_hours);
  if (*device_list) return cmd::device_list(ctx);
  if (*revoke) return cmd::device_revoke(ctx, a.device, a.no_upload);
  if (*assign) return cmd::case_change(ctx, CaseAction::assign, a.case_id, a.user, a.actor);
  if (*share) return cmd::case_change(ctx, CaseAction::share, a.case_id, a.user, a.actor);
  if (*unshare) return cmd::case_change(ctx, CaseAction::unshare, a.case_id, a.user, a.actor);
  if (*lease_set) {
    auto given = [](CLI::Option* o, int v) {
      return o->count() > 0 ? std::optional(v) : std::nullopt;
    };
    return cmd::lease_set(ctx, given(within, a.sync_within), given(wipe, a.wipe_after));
  }
  if (*lease_show) return cmd::lease_show(ctx);
  if (*backup) return cmd::backup(ctx, a.dest);
  if (*verify) return cmd::audit_verify(ctx, a.public_key);
  if (*history) return cmd::audit_history(ctx, a.collection, a.id);
  if (*export_cmd) return cmd::audit_export(ctx, a.since, a.user, a.case_id);
  return 1;
}

int main(int argc, char** argv) { return fieldsync::tools::guarded_main(run_main, argc, argv); }
