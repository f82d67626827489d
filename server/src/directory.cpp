// Directory: teams, users, the lease and the server's own op identity (contract in
// directory.hpp). Devices and enrolment codes are in directory_devices.cpp.
#include "fieldsync/server/directory.hpp"

#include <array>
#include <charconv>
#include <chrono>

#include <boost/json.hpp>

#include "directory_impl.hpp"
#include "fieldsync/crypto/hash.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/server/audit.hpp"
#include "fieldsync/sync/ids.hpp"

namespace fieldsync::server {
using crypto::Database;

namespace {

constexpr std::array<std::string_view, 3> kRoles = {"worker", "lead", "admin"};
constexpr std::array<std::string_view, 4> kStates = {"active", "revoked", "revoked_no_upload",
                                                     "wiped"};
constexpr const char* kSyncWithinKey = "lease_sync_within_days";
constexpr const char* kWipeAfterKey = "lease_wipe_after_days";

template <typename T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

Result<std::optional<std::string>> get_setting(Database& db, const char* key) {
  auto st = db.prepare("SELECT value FROM settings WHERE key = ?1");
  if (!st) return st.status();
  auto row = st->bind(1, key).step();
  if (!row) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(st->column_text(0));
}

Status set_setting(Database& db, const char* key, int value) {
  auto st = db.prepare(
      "INSERT INTO settings(key, value) VALUES (?1, ?2) "
      "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  if (!st) return st.status();
  return st->bind(1, key).bind(2, std::to_string(value)).run();
}

// The server device id in meta, made when missing (inside the caller's write transaction).
Result<std::string> ensure_server_device(Database& db, crypto::Random& random) {
  auto id = directory_sql::get_meta(db, "server_device");
  if (!id) return id.status();
  if (*id) return **id;
  std::string made = sync::new_device_id(random);
  if (Status s = directory_sql::set_meta(db, "server_device", made); !s) return s;
  return made;
}

}  // namespace

namespace directory_sql {

Status audit_change(Database& db, const std::shared_ptr<const crypto::SigningKey>& key,
                    const char* kind, std::int64_t at_ms, const std::string& user,
                    const std::string& device, const std::string& detail) {
  auto seq = audit::append(db, audit::Event{kind, at_ms, user, device, "", detail}, key);
  return seq ? Status::ok() : seq.status();
}

Result<std::optional<std::string>> get_meta(Database& db, std::string_view key) {
  auto st = db.prepare("SELECT value FROM meta WHERE key = ?1");
  if (!st) return st.status();
  auto row = st->bind(1, key).step();
  if (!row) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(st->column_text(0));
}

Status set_meta(Database& db, std::string_view key, std::string_view value) {
  auto st = db.prepare(
      "INSERT INTO meta(key, value) VALUES (?1, ?2) "
      "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  if (!st) return st.status();
  return st->bind(1, key).bind(2, value).run();
}

Result<User> load_user(Database& db, const std::string& name) {
  auto st = db.prepare("SELECT role, team, created_ms FROM users WHERE name = ?1");
  if (!st) return st.status();
  auto row = st->bind(1, name).step();
  if (!row) return row.status();
  if (!*row) return Status(Code::not_found, "no user '" + name + "'");
  auto role = role_from_name(st->column_text(0));
  if (!role) return Status(Code::storage, "user '" + name + "' has an unknown role");
  return User{name, *role, st->column_text(1), st->column_int(2)};
}

bool is_valid_name(std::string_view name) { return sync::is_valid_record_id(name); }

}  // namespace directory_sql

std::string_view role_name(Role role) { return kRoles.at(static_cast<std::size_t>(role)); }

std::optional<Role> role_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kRoles.size(); ++i)
    if (kRoles[i] == name) return static_cast<Role>(i);
  return std::nullopt;
}

std::string_view device_state_name(DeviceState state) {
  return kStates.at(static_cast<std::size_t>(state));
}

std::optional<DeviceState> device_state_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kStates.size(); ++i)
    if (kStates[i] == name) return static_cast<DeviceState>(i);
  return std::nullopt;
}

Directory::Directory(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Directory::~Directory() = default;

Result<std::unique_ptr<Directory>> Directory::open(const StoreFile& file,
                                                   DirectoryOptions options) {
  auto impl = std::make_unique<Impl>(file, std::move(options));
  auto wdb = file.connect(/*writable=*/true);
  if (!wdb) return wdb.status();
  if (Status s = (*wdb)->exec("PRAGMA foreign_keys=ON"); !s) return file.annotate(s);
  impl->wdb = std::move(*wdb);
  return std::unique_ptr<Directory>(new Directory(std::move(impl)));
}

Status Directory::add_team(const std::string& name, std::int64_t now_ms) {
  if (!directory_sql::is_valid_name(name))
    return Status(Code::invalid_argument,
                  "team name '" + name + "' must be 1-64 characters of A-Za-z0-9._-");
  return impl_->write([&](Database& db) -> Status {
    auto st = db.prepare(
        "INSERT INTO teams(name, created_ms) VALUES (?1, ?2) ON CONFLICT DO "
        "NOTHING");
    if (!st) return st.status();
    if (Status s = st->bind(1, name).bind(2, now_ms).run(); !s) return s;
    if (db.changes() == 0) return Status(Code::invalid_argument, "team '" + name + "' exists");
    return directory_sql::audit_change(
        db, impl_->options.audit_key, "admin", now_ms, "", "",
        boost::json::serialize(boost::json::object{{"event", "team_added"}, {"team", name}}));
  });
}

Result<std::vector<Team>> Directory::list_teams() {
  return impl_->read([](Database& db) -> Result<std::vector<Team>> {
    auto st = db.prepare(
        "SELECT t.name, t.created_ms, (SELECT COUNT(*) FROM users u WHERE u.team = t.name) "
        "FROM teams t ORDER BY t.name");
    if (!st) return st.status();
    std::vector<Team> out;
    for (;;) {
      auto row = st->step();
      if (!row) return row.status();
      if (!*row) return out;
      out.push_back(
          Team{st->column_text(0), st->column_int(1), static_cast<std::size_t>(st->column_int(2))});
    }
  });
}

Status Directory::add_user(const std::string& name, Role role, const std::string& team,
                           std::int64_t now_ms) {
  if (!directory_sql::is_valid_name(name))
    return Status(Code::invalid_argument,
                  "user name '" + name + "' must be 1-64 characters of A-Za-z0-9._-");
  if (role == Role::admin && !team.empty())
    return Status(Code::invalid_argument, "admins belong to no team (leave out --team)");
  if (role != Role::admin && team.empty())
    return Status(Code::invalid_argument,
                  "a " + std::string(role_name(role)) + " needs a team (--team TEAM)");
  return impl_->write([&](Database& db) -> Status {
    if (role != Role::admin) {
      auto t = db.prepare("SELECT 1 FROM teams WHERE name = ?1");
      if (!t) return t.status();
      auto row = t->bind(1, team).step();
      if (!row) return row.status();
      if (!*row) return Status(Code::not_found, "no team '" + team + "'");
    }
    auto st = db.prepare(
        "INSERT INTO users(name, role, team, created_ms) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT DO NOTHING");
    if (!st) return st.status();
    st->bind(1, name).bind(2, role_name(role)).bind(4, now_ms);
    if (role == Role::admin) {
      st->bind_null(3);
    } else {
      st->bind(3, team);
    }
    if (Status s = st->run(); !s) return s;
    if (db.changes() == 0) return Status(Code::invalid_argument, "user '" + name + "' exists");
    return directory_sql::audit_change(
        db, impl_->options.audit_key, "admin", now_ms, "", "",
        boost::json::serialize(boost::json::object{
            {"event", "user_added"}, {"name", name}, {"role", role_name(role)}, {"team", team}}));
  });
}

Result<std::vector<User>> Directory::list_users() {
  return impl_->read([](Database& db) -> Result<std::vector<User>> {
    auto st = db.prepare("SELECT name, role, team, created_ms FROM users ORDER BY name");
    if (!st) return st.status();
    std::vector<User> out;
    for (;;) {
      auto row = st->step();
      if (!row) return row.status();
      if (!*row) return out;
      auto role = role_from_name(st->column_text(1));
      if (!role) return Status(Code::storage, "a user has an unknown role");
      out.push_back(User{st->column_text(0), *role, st->column_text(2), st->column_int(3)});
    }
  });
}

Result<User> Directory::user(const std::string& name) {
  return impl_->read([&](Database& db) { return directory_sql::load_user(db, name); });
}

Status Directory::set_password(const std::string& name, const std::string& hash,
                               std::int64_t now_ms) {
  return impl_->write([&](Database& db) -> Status {
    auto user = directory_sql::load_user(db, name);
    if (!user) return user.status();
    auto st = db.prepare(
        "INSERT INTO passwords(user, hash, set_ms) VALUES (?1, ?2, ?3) "
        "ON CONFLICT(user) DO UPDATE SET hash = excluded.hash, set_ms = excluded.set_ms");
    if (!st) return st.status();
    if (Status s = st->bind(1, name).bind(2, hash).bind(3, now_ms).run(); !s) return s;
    return directory_sql::audit_change(
        db, impl_->options.audit_key, "admin", now_ms, "", "",
        boost::json::serialize(
            boost::json::object{{"event", "password_set"},
                                {"user", name},
                                // A digest of the stored hash string, never the hash: verify checks
                                // the table against it, so a hash swapped in the file shows.
                                {"hash_digest", crypto::to_hex(crypto::digest(hash))}}));
  });
}

Result<std::optional<std::string>> Directory::password_hash(const std::string& name) {
  return impl_->read([&](Database& db) -> Result<std::optional<std::string>> {
    auto st = db.prepare("SELECT hash FROM passwords WHERE user = ?1");
    if (!st) return st.status();
    auto row = st->bind(1, name).step();
    if (!row) return row.status();
    if (!*row) return std::optional<std::string>();
    return std::optional<std::string>(st->column_text(0));
  });
}

Result<Lease> Directory::lease() {
  return impl_->read([](Database& db) -> Result<Lease> {
    Lease out;
    for (auto [key, field] : {std::pair{kSyncWithinKey, &out.sync_within_days},
                              std::pair{kWipeAfterKey, &out.wipe_after_days}}) {
      auto v = get_setting(db, key);
      if (!v) return v.status();
      if (!*v) continue;
      auto days = parse_number<int>(**v);
      if (!days) return Status(Code::storage, std::string("setting ") + key + " is unreadable");
      *field = *days;
    }
    return out;
  });
}

Status Directory::set_lease(const Lease& lease) {
  if (lease.sync_within_days < 1 || lease.wipe_after_days > kMaxLeaseDays ||
      lease.sync_within_days >= lease.wipe_after_days)
    return Status(Code::invalid_argument, "the lease needs 1 <= sync-within < wipe-after <= " +
                                              std::to_string(kMaxLeaseDays) + " days");
  return impl_->write([&](Database& db) -> Status {
    if (Status s = set_setting(db, kSyncWithinKey, lease.sync_within_days); !s) return s;
    if (Status s = set_setting(db, kWipeAfterKey, lease.wipe_after_days); !s) return s;
    using namespace std::chrono;
    const std::int64_t now =
        duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    return directory_sql::audit_change(
        db, impl_->options.audit_key, "admin", now, "", "",
        boost::json::serialize(boost::json::object{{"event", "lease_set"},
                                                   {"sync_within_days", lease.sync_within_days},
                                                   {"wipe_after_days", lease.wipe_after_days}}));
  });
}

Result<std::string> Directory::server_device() {
  auto known =
      impl_->read([](Database& db) { return directory_sql::get_meta(db, "server_device"); });
  if (!known) return known.status();
  if (*known) return **known;
  std::string id;
  Status s = impl_->write([&](Database& db) -> Status {
    auto made = ensure_server_device(db, impl_->random());
    if (!made) return made.status();
    id = std::move(*made);
    return Status::ok();
  });
  if (!s) return s;
  return id;
}

Result<ServerOpSlot> Directory::next_server_op(std::int64_t now_ms) {
  ServerOpSlot slot;
  Status s = impl_->write([&](Database& db) -> Status {
    auto device = ensure_server_device(db, impl_->random());
    if (!device) return device.status();
    slot.device = std::move(*device);
    auto counter = directory_sql::get_meta(db, "server_op_counter");
    if (!counter) return counter.status();
    auto hlc = directory_sql::get_meta(db, "server_hlc");
    if (!hlc) return hlc.status();
    std::uint64_t last = 0;
    if (*counter) {
      auto parsed = parse_number<std::uint64_t>(**counter);
      if (!parsed) return Status(Code::storage, "the server op counter is unreadable");
      last = *parsed;
    }
    sync::Hlc last_hlc;
    if (*hlc) {
      auto parsed = sync::Hlc::parse(**hlc);
      if (!parsed) return Status(Code::storage, "the server clock is unreadable");
      last_hlc = *parsed;
    }
    sync::HlcClock clock(last_hlc);
    slot.counter = last + 1;
    slot.hlc = clock.now(now_ms);
    if (Status t = directory_sql::set_meta(db, "server_op_counter", std::to_string(slot.counter));
        !t)
      return t;
    return directory_sql::set_meta(db, "server_hlc", slot.hlc.to_string());
  });
  if (!s) return s;
  return slot;
}

}  // namespace fieldsync::server
