// fieldsync-bench's programme and bulk enrolment (see programme.hpp).
#include "bench/programme.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/crypto/secure_buffer.hpp"
#include "fieldsync/server/audit.hpp"
#include "fieldsync/server/store_file.hpp"

namespace fieldsync::bench {
namespace {

namespace fs = std::filesystem;

// Codes live for an hour; each is redeemed right after it is made.
constexpr std::int64_t kCodeTtlMs = server::kHourMs;

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// add_team / add_user refuse names that exist; a bench rerun against the same store may
// meet its own earlier team, which is fine to reuse.
bool exists(const Result<std::vector<server::Team>>& teams, const std::string& name) {
  if (!teams) return false;
  for (const auto& t : *teams)
    if (t.name == name) return true;
  return false;
}

Status add_user(server::Directory& directory, const std::string& name, server::Role role,
                const std::string& team, std::int64_t now_ms) {
  if (auto u = directory.user(name)) {
    if (u->role == role && u->team == team) return Status::ok();
    return Status(Code::invalid_argument,
                  "user " + name + " exists in the directory with another role or team");
  }
  return directory.add_user(name, role, team, now_ms);
}

}  // namespace

crypto::Credential bench_credential() {
  std::string passphrase = "fieldsync-bench device passphrase";
  return crypto::Credential::passphrase(crypto::SecureBuffer::take(passphrase),
                                        crypto::KdfLimits::minimum());
}

Result<std::unique_ptr<server::Directory>> open_directory(const std::string& data_dir) {
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec))
    return Status(Code::not_found, "data directory '" + data_dir + "' does not exist");
  auto file = server::StoreFile::open((fs::path(data_dir) / server::kStoreFileName).string(), "");
  if (!file) return file.status();
  auto key = server::audit::open_key(
      *file, (fs::path(data_dir) / server::audit::kAuditKeyFileName).string());
  if (!key) return key.status();
  server::DirectoryOptions options;
  options.audit_key = *key;
  return server::Directory::open(*file, options);
}

Result<Team> set_up_team(server::Directory& directory, const std::string& tag, std::size_t workers,
                         std::int64_t now_ms) {
  Team team;
  team.name = "bench" + tag;
  team.lead = "lead" + tag;
  if (!exists(directory.list_teams(), team.name))
    if (Status s = directory.add_team(team.name, now_ms); !s) return s;
  if (Status s = add_user(directory, team.lead, server::Role::lead, team.name, now_ms); !s)
    return s;
  team.workers.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) {
    std::array<char, 32> n{};
    std::snprintf(n.data(), n.size(), "w%04zu", i + 1);
    std::string name = n.data() + tag;
    if (Status s = add_user(directory, name, server::Role::worker, team.name, now_ms); !s) return s;
    team.workers.push_back(std::move(name));
  }
  return team;
}

Result<std::unique_ptr<client::Replica>> enrolled_replica(server::Directory& directory,
                                                          const std::string& path,
                                                          const std::string& user,
                                                          const std::string& url) {
  client::ReplicaOptions options;
  options.user = user;
  auto replica = client::Replica::init(path, bench_credential(), options);
  if (!replica) return replica.status();
  const crypto::SigningKey* key = (*replica)->signing_key();
  if (!key) return Status(Code::internal, "a new replica has no signing key");
  const std::int64_t now = wall_ms();
  auto code = directory.new_enroll_code(user, kCodeTtlMs, now);
  if (!code) return code.status();
  auto enrolled =
      directory.redeem_enroll_code(code->code, (*replica)->device(), key->public_key(), now);
  if (!enrolled) return enrolled.status();
  if (Status s = (*replica)->set_enrolled(enrolled->name,
                                          std::string(server::role_name(enrolled->role)), url);
      !s)
    return s;
  return std::move(*replica);
}

}  // namespace fieldsync::bench
