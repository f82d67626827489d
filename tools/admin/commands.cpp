// fieldsync-admin: teams, users and the offline lease.
#include "admin/commands.hpp"

#include <iostream>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "admin/open_store.hpp"
#include "admin/output.hpp"
#include "cli/passphrase.hpp"
#include "fieldsync/crypto/password.hpp"

namespace fieldsync::admin {
namespace json = boost::json;

namespace {

json::value team_or_null(const std::string& team) {
  if (team.empty()) return nullptr;
  return json::value(team);
}

void print_lease(const Context& ctx, const server::Lease& lease) {
  if (ctx.json) {
    print_json(std::cout, json::object{{"sync_within_days", lease.sync_within_days},
                                       {"wipe_after_days", lease.wipe_after_days}});
    return;
  }
  std::cout << "devices must sync within " << lease.sync_within_days
            << " days (else the replica stays closed until they do) and wipe themselves after "
            << lease.wipe_after_days << " days without a sync\n";
}

}  // namespace

int team_add(const Context& ctx, const std::string& name) {
  auto dir = open_directory(ctx);
  if (!dir) return fail(dir.status());
  if (Status s = (*dir)->add_team(name, ctx.now_ms()); !s) return fail(s);
  if (ctx.json) {
    print_json(std::cout, json::object{{"name", name}});
  } else {
    std::cout << "added team " << name << "\n";
  }
  return 0;
}

int team_list(const Context& ctx) {
  auto dir = open_directory(ctx, /*writes=*/false);
  if (!dir) return fail(dir.status());
  auto teams = (*dir)->list_teams();
  if (!teams) return fail(teams.status());
  if (ctx.json) {
    json::array a;
    for (const auto& t : *teams)
      a.push_back(
          json::object{{"name", t.name}, {"users", t.users}, {"created", iso_utc(t.created_ms)}});
    print_json(std::cout, a);
    return 0;
  }
  if (teams->empty()) {
    std::cout << "no teams\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : *teams)
    rows.push_back({t.name, std::to_string(t.users), iso_utc(t.created_ms)});
  print_table(std::cout, {"TEAM", "USERS", "CREATED"}, rows);
  return 0;
}

int user_add(const Context& ctx, const std::string& name, const std::string& role,
             const std::string& team) {
  auto r = server::role_from_name(role);
  if (!r) return fail(Status(Code::invalid_argument, "role must be worker, lead or admin"));
  auto dir = open_directory(ctx);
  if (!dir) return fail(dir.status());
  if (Status s = (*dir)->add_user(name, *r, team, ctx.now_ms()); !s) return fail(s);
  if (ctx.json) {
    print_json(std::cout,
               json::object{{"name", name}, {"role", role}, {"team", team_or_null(team)}});
  } else {
    std::cout << "added " << role << " " << name << (team.empty() ? "" : " to team " + team)
              << "\n";
  }
  return 0;
}

int user_list(const Context& ctx) {
  auto dir = open_directory(ctx, /*writes=*/false);
  if (!dir) return fail(dir.status());
  auto users = (*dir)->list_users();
  if (!users) return fail(users.status());
  if (ctx.json) {
    json::array a;
    for (const auto& u : *users)
      a.push_back(json::object{{"name", u.name},
                               {"role", server::role_name(u.role)},
                               {"team", team_or_null(u.team)},
                               {"created", iso_utc(u.created_ms)}});
    print_json(std::cout, a);
    return 0;
  }
  if (users->empty()) {
    std::cout << "no users\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& u : *users)
    rows.push_back({u.name, std::string(server::role_name(u.role)), u.team.empty() ? "-" : u.team,
                    iso_utc(u.created_ms)});
  print_table(std::cout, {"USER", "ROLE", "TEAM", "CREATED"}, rows);
  return 0;
}

int user_passwd(const Context& ctx, const std::string& name, const std::string& password_env,
                const std::string& kdf) {
  auto limits = cli::parse_kdf(kdf);
  if (!limits) return fail(limits.status());
  auto dir = open_directory(ctx);
  if (!dir) return fail(dir.status());
  if (auto user = (*dir)->user(name); !user) return fail(user.status());
  auto password = cli::read_new_passphrase(password_env, "New password for " + name + ": ");
  if (!password) return fail(password.status());
  auto hash = crypto::hash_password(password->span(), *limits);
  if (!hash) return fail(hash.status());
  if (Status s = (*dir)->set_password(name, *hash, ctx.now_ms()); !s) return fail(s);
  if (ctx.json)
    print_json(std::cout, json::object{{"user", name}, {"password", "set"}});
  else
    std::cout << "password set for " << name << "\n";
  return 0;
}

int lease_set(const Context& ctx, std::optional<int> sync_within_days,
              std::optional<int> wipe_after_days) {
  if (!sync_within_days && !wipe_after_days)
    return fail(
        Status(Code::invalid_argument, "give --sync-within DAYS, --wipe-after DAYS or both"));
  auto dir = open_directory(ctx);
  if (!dir) return fail(dir.status());
  auto lease = (*dir)->lease();
  if (!lease) return fail(lease.status());
  if (sync_within_days) lease->sync_within_days = *sync_within_days;
  if (wipe_after_days) lease->wipe_after_days = *wipe_after_days;
  if (Status s = (*dir)->set_lease(*lease); !s) return fail(s);
  print_lease(ctx, *lease);
  return 0;
}

int lease_show(const Context& ctx) {
  auto dir = open_directory(ctx, /*writes=*/false);
  if (!dir) return fail(dir.status());
  auto lease = (*dir)->lease();
  if (!lease) return fail(lease.status());
  print_lease(ctx, *lease);
  return 0;
}

}  // namespace fieldsync::admin
