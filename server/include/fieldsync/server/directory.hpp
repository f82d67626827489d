// The server's directory: teams, users with a role, enrolled devices with their Ed25519 public
// keys and states, one-time enrolment codes, and the programme's offline lease. It lives in
// the store file (store_file.hpp, tables teams, users, devices, enroll_codes, settings, and
// meta keys of its own), so the running server and fieldsync-admin share it; every change is
// committed at once and seen by the next read of any connection, in any process.
//
//   roles     worker (own caseload and shares), lead (a team's caseload), admin (no team)
//   devices   active -> revoked (may still upload) | revoked_no_upload -> wiped
//   codes     12 characters (enroll_code.hpp), one use, an expiry; stored only as a keyed
//             BLAKE2b hash under a random secret kept in meta ("enroll_code_key")
//   lease     sync_within_days (default 14): past it a device refuses to open its replica
//             until it syncs; wipe_after_days (default 30): past it the device wipes itself
//
// Names of users and teams are 1-64 characters of A-Za-z0-9._- (they appear in operations:
// cases.assigned_to, cases.shared_with). Times are Unix milliseconds passed in by the caller.
// Errors are values: Code::invalid_argument, not_found, unknown_device, code_invalid,
// code_expired, code_used, and Code::storage for the database's own failures.
//
// Ownership: the Directory owns its connections (opened through the StoreFile it was given,
// which need not outlive it). Thread safety: every method may be called from any thread,
// concurrently. Reads (user, list_*, device, lease, server_device) use pooled read-only
// connections and never wait for a writer (WAL). Writes use the Directory's one write
// connection, one at a time; they wait (SQLite busy timeout) while another connection holds
// the store's write lock, e.g. the server's writer during a group commit or fieldsync-admin,
// so a write called on an I/O thread may block it for the length of one commit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fieldsync/crypto/random.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/server/store_file.hpp"
#include "fieldsync/status.hpp"
#include "fieldsync/sync/hlc.hpp"

namespace fieldsync::server {

enum class Role { worker, lead, admin };
std::string_view role_name(Role role);
std::optional<Role> role_from_name(std::string_view name);

enum class DeviceState {
  active,
  revoked,            // refused for reads; may upload what it has not sent; told to wipe
  revoked_no_upload,  // a stolen device: refused, uploads discarded, told to wipe
  wiped,              // it confirmed the wipe
};
std::string_view device_state_name(DeviceState state);
std::optional<DeviceState> device_state_from_name(std::string_view name);

struct Team {
  std::string name;
  std::int64_t created_ms = 0;
  std::size_t users = 0;  // members (workers and leads)
};

struct User {
  std::string name;
  Role role = Role::worker;
  std::string team;  // empty for admins
  std::int64_t created_ms = 0;
};

struct Device {
  std::string id;  // 32 hex digits
  std::string user;
  Role role = Role::worker;  // the user's, at the time of the read
  std::string team;          // the user's; empty for admins
  crypto::PublicKey public_key{};
  DeviceState state = DeviceState::active;
  std::int64_t enrolled_ms = 0;
  std::optional<std::int64_t> last_sync_ms;
  std::optional<std::int64_t> revoked_ms;
};

struct EnrollCode {
  std::string code;  // "XXXX-XXXX-XXXX": shown once, never stored
  std::string user;
  std::int64_t expires_ms = 0;
};

struct Lease {
  int sync_within_days = 14;
  int wipe_after_days = 30;
  bool operator==(const Lease&) const = default;
};

inline constexpr std::int64_t kHourMs = 3'600'000;
inline constexpr std::int64_t kDefaultEnrollCodeTtlMs = kHourMs * 24;
inline constexpr std::int64_t kMaxEnrollCodeTtlMs = kHourMs * 24 * 7;
inline constexpr int kMaxLeaseDays = 3650;

// The identity the server writes its own operations under (assignments and shares made by
// fieldsync-admin): a device id made once per store, an op counter and a clock.
struct ServerOpSlot {
  std::string device;         // the store's server device id (32 hex)
  std::uint64_t counter = 0;  // this op's counter, never handed out twice
  sync::Hlc hlc;              // after every earlier server op's clock
};

struct DirectoryOptions {
  crypto::Random* random = nullptr;  // codes, secrets, the server device id; null: libsodium
  std::size_t max_idle_readers = 4;  // read connections kept open between calls
  // Seals the audit entries of every change (audit.hpp); null: unsealed (tests only).
  std::shared_ptr<const crypto::SigningKey> audit_key{};
};

class Directory {
 public:
  // Opens the directory of an opened store file (its tables exist: StoreFile::open made or
  // migrated them). Code::storage when the file cannot be opened.
  static Result<std::unique_ptr<Directory>> open(const StoreFile& file,
                                                 DirectoryOptions options = {});
  ~Directory();
  Directory(const Directory&) = delete;
  Directory& operator=(const Directory&) = delete;

  // Teams and users. Names: see above. A worker or lead belongs to an existing team; an
  // admin to none. Errors: invalid_argument (bad name, already exists, team given to an
  // admin or missing for a worker or lead), not_found (no such team).
  Status add_team(const std::string& name, std::int64_t now_ms);
  Result<std::vector<Team>> list_teams();
  Status add_user(const std::string& name, Role role, const std::string& team, std::int64_t now_ms);
  Result<std::vector<User>> list_users();      // sorted by name
  Result<User> user(const std::string& name);  // not_found
  // A user's login password, as an Argon2id hash string (crypto/password.hpp): replaced by
  // set_password (not_found for an unknown user; audited, without the hash) / read
  // (nullopt: the user has no password and cannot log in).
  Status set_password(const std::string& name, const std::string& hash, std::int64_t now_ms);
  Result<std::optional<std::string>> password_hash(const std::string& name);

  // A new one-time code for `user` (not_found), valid for `ttl_ms` (0 < ttl <=
  // kMaxEnrollCodeTtlMs, else invalid_argument).
  Result<EnrollCode> new_enroll_code(const std::string& user, std::int64_t ttl_ms,
                                     std::int64_t now_ms);
  // Enrols device `device_id` with `public_key` for the code's user, in one transaction, and
  // uses the code up. Errors: code_invalid (unknown or malformed code), code_used,
  // code_expired (now_ms at or past the expiry), invalid_argument (a malformed device id, or
  // one already enrolled; the code is then not used up).
  Result<User> redeem_enroll_code(std::string_view code, const std::string& device_id,
                                  const crypto::PublicKey& public_key, std::int64_t now_ms);

  // Devices. unknown_device for an id that was never enrolled.
  Result<Device> device(const std::string& id);
  Result<std::vector<Device>> list_devices();  // sorted by user, then enrolment time
  // active -> revoked (allow_upload) or revoked_no_upload; a revoked device may still be
  // made revoked_no_upload. invalid_argument for anything else (already revoked, wiped).
  Status revoke_device(const std::string& id, bool allow_upload, std::int64_t now_ms);
  // A revoked device confirmed its wipe: -> wiped (again: no change). invalid_argument for an
  // active device.
  Status mark_wiped(const std::string& id);
  // The device connected and synced at `now_ms` (shown by `device list`).
  Status touch_last_sync(const std::string& id, std::int64_t now_ms);
  // The scope items (sync/scope.hpp) last sent to the device, sorted / replaces them.
  Result<std::vector<std::string>> device_scope(const std::string& id);
  Status set_device_scope(const std::string& id, const std::vector<std::string>& items);

  // The programme's offline lease (defaults until set). set_lease: invalid_argument unless
  // 1 <= sync_within_days < wipe_after_days <= kMaxLeaseDays.
  Result<Lease> lease();
  Status set_lease(const Lease& lease);

  // The store's server device id (made on first use).
  Result<std::string> server_device();
  // Reserves the next server op id and clock (committed at once: a failed operation leaves a
  // gap in the counter, never a reuse).
  Result<ServerOpSlot> next_server_op(std::int64_t now_ms);

  struct Impl;

 private:
  explicit Directory(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fieldsync::server
