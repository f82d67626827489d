// Directory: enrolment codes and devices (contract in directory.hpp).
#include <algorithm>
#include <array>

#include <boost/json.hpp>

#include "directory_impl.hpp"
#include "fieldsync/crypto/keyed_hash.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/enroll_code.hpp"
#include "fieldsync/sync/ids.hpp"

namespace fieldsync::server {
using crypto::Database;

namespace {

constexpr const char* kCodeKeyMeta = "enroll_code_key";
constexpr int kCodeAttempts = 4;  // a new code colliding with a stored one is drawn again

// The secret the codes are hashed under, made on first use (inside the caller's write
// transaction). Kept as hex in meta: in an encrypted store it is encrypted like the rest.
Result<std::vector<std::uint8_t>> code_key(Database& db, crypto::Random& random) {
  auto stored = directory_sql::get_meta(db, kCodeKeyMeta);
  if (!stored) return stored.status();
  if (*stored) {
    auto bytes = crypto::from_hex(**stored);
    if (!bytes || bytes->size() != crypto::kKeyedHashKeyBytes)
      return Status(Code::storage, "the enrolment code secret is unreadable");
    return std::vector<std::uint8_t>(bytes->begin(), bytes->end());
  }
  std::vector<std::uint8_t> key(crypto::kKeyedHashKeyBytes);
  random.fill(key);
  if (Status s = directory_sql::set_meta(db, kCodeKeyMeta, crypto::to_hex(key)); !s) return s;
  return key;
}

crypto::KeyedHash code_hash(const std::vector<std::uint8_t>& key, const std::string& canonical) {
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(canonical.data());
  return crypto::keyed_hash(key, std::span(bytes, canonical.size()));
}

constexpr const char* kDeviceColumns =
    "SELECT d.id, d.user, u.role, u.team, d.public_key, d.state, d.enrolled_ms, "
    "d.last_sync_ms, d.revoked_ms FROM devices d JOIN users u ON u.name = d.user";

Result<Device> device_from_row(const crypto::Statement& st) {
  Device d;
  d.id = st.column_text(0);
  d.user = st.column_text(1);
  auto role = role_from_name(st.column_text(2));
  auto state = device_state_from_name(st.column_text(5));
  std::vector<std::uint8_t> key = st.column_blob(4);
  if (!role || !state || key.size() != d.public_key.size())
    return Status(Code::storage, "device " + d.id + " has an unreadable row");
  d.role = *role;
  d.team = st.column_text(3);
  std::copy(key.begin(), key.end(), d.public_key.begin());
  d.state = *state;
  d.enrolled_ms = st.column_int(6);
  if (!st.column_is_null(7)) d.last_sync_ms = st.column_int(7);
  if (!st.column_is_null(8)) d.revoked_ms = st.column_int(8);
  return d;
}

Result<Device> load_device(Database& db, const std::string& id) {
  auto st = db.prepare(std::string(kDeviceColumns) + " WHERE d.id = ?1");
  if (!st) return st.status();
  auto row = st->bind(1, id).step();
  if (!row) return row.status();
  if (!*row) return Status(Code::unknown_device, "no enrolled device " + id);
  return device_from_row(*st);
}

Status set_state(Database& db, const std::string& id, DeviceState state,
                 std::optional<std::int64_t> revoked_ms) {
  auto st = db.prepare(
      "UPDATE devices SET state = ?2, revoked_ms = COALESCE(revoked_ms, ?3) WHERE id = ?1");
  if (!st) return st.status();
  st->bind(1, id).bind(2, device_state_name(state));
  if (revoked_ms) {
    st->bind(3, *revoked_ms);
  } else {
    st->bind_null(3);
  }
  return st->run();
}

// Checks the code row for `hash` and uses it up for `device_id`; returns the code's user.
Result<std::string> use_code(Database& db, const crypto::KeyedHash& hash,
                             const std::string& device_id, std::int64_t now_ms) {
  auto st = db.prepare("SELECT user, expires_ms, used_ms FROM enroll_codes WHERE code_hash = ?1");
  if (!st) return st.status();
  auto row = st->bind_blob(1, hash).step();
  if (!row) return row.status();
  if (!*row) return Status(Code::code_invalid, "the enrolment code is not valid");
  if (!st->column_is_null(2)) return Status(Code::code_used, "the enrolment code was already used");
  if (now_ms >= st->column_int(1))
    return Status(Code::code_expired, "the enrolment code has expired; ask for a new one");
  std::string user = st->column_text(0);
  auto use =
      db.prepare("UPDATE enroll_codes SET used_ms = ?2, used_by_device = ?3 WHERE code_hash = ?1");
  if (!use) return use.status();
  if (Status s = use->bind_blob(1, hash).bind(2, now_ms).bind(3, device_id).run(); !s) return s;
  return user;
}

}  // namespace

Result<EnrollCode> Directory::new_enroll_code(const std::string& user, std::int64_t ttl_ms,
                                              std::int64_t now_ms) {
  if (ttl_ms <= 0 || ttl_ms > kMaxEnrollCodeTtlMs)
    return Status(Code::invalid_argument, "a code's lifetime must be more than 0 and at most " +
                                              std::to_string(kMaxEnrollCodeTtlMs / kHourMs) +
                                              " hours");
  EnrollCode out;
  Status s = impl_->write([&](Database& db) -> Status {
    auto known = directory_sql::load_user(db, user);
    if (!known) return known.status();
    auto key = code_key(db, impl_->random());
    if (!key) return key.status();
    auto ins = db.prepare(
        "INSERT INTO enroll_codes(code_hash, user, created_ms, expires_ms) VALUES (?1, ?2, ?3, "
        "?4) ON CONFLICT DO NOTHING");
    if (!ins) return ins.status();
    for (int attempt = 0; attempt < kCodeAttempts; ++attempt) {
      std::string code = make_enroll_code(impl_->random());
      Status r = ins->bind_blob(1, code_hash(*key, code))
                     .bind(2, user)
                     .bind(3, now_ms)
                     .bind(4, now_ms + ttl_ms)
                     .run();
      if (!r) return r;
      if (db.changes() == 1) {
        out = EnrollCode{format_enroll_code(code), user, now_ms + ttl_ms};
        return Status::ok();
      }
      (void)ins->reset();
    }
    return Status(Code::internal, "could not draw an unused enrolment code");
  });
  if (!s) return s;
  return out;
}

Result<User> Directory::redeem_enroll_code(std::string_view code, const std::string& device_id,
                                           const crypto::PublicKey& public_key,
                                           std::int64_t now_ms) {
  auto canonical = normalize_enroll_code(code);
  if (!canonical) return Status(Code::code_invalid, "the enrolment code is not valid");
  if (!sync::is_valid_device_id(device_id))
    return Status(Code::invalid_argument, "device id '" + device_id + "' is not 32 hex digits");
  User out;
  Status s = impl_->write([&](Database& db) -> Status {
    auto key = code_key(db, impl_->random());
    if (!key) return key.status();
    auto user = use_code(db, code_hash(*key, *canonical), device_id, now_ms);
    if (!user) return user.status();
    auto known = directory_sql::load_user(db, *user);
    if (!known) return known.status();
    auto ins = db.prepare(
        "INSERT INTO devices(id, user, public_key, state, enrolled_ms) VALUES (?1, ?2, ?3, "
        "'active', ?4) ON CONFLICT DO NOTHING");
    if (!ins) return ins.status();
    if (Status r =
            ins->bind(1, device_id).bind(2, *user).bind_blob(3, public_key).bind(4, now_ms).run();
        !r)
      return r;
    if (db.changes() == 0)
      return Status(Code::invalid_argument, "device " + device_id + " is already enrolled");
    out = std::move(*known);
    // The key enters the audit log: device signatures are checked against it from now on.
    return directory_sql::audit_change(
        db, impl_->options.audit_key, "device", now_ms, out.name, device_id,
        boost::json::serialize(
            boost::json::object{{"event", "enrolled"}, {"key", crypto::to_hex(public_key)}}));
  });
  if (!s) return s;
  return out;
}

Result<Device> Directory::device(const std::string& id) {
  return impl_->read([&](Database& db) { return load_device(db, id); });
}

Result<std::vector<Device>> Directory::list_devices() {
  return impl_->read([](Database& db) -> Result<std::vector<Device>> {
    auto st = db.prepare(std::string(kDeviceColumns) + " ORDER BY d.user, d.enrolled_ms, d.id");
    if (!st) return st.status();
    std::vector<Device> out;
    for (;;) {
      auto row = st->step();
      if (!row) return row.status();
      if (!*row) return out;
      auto d = device_from_row(*st);
      if (!d) return d.status();
      out.push_back(std::move(*d));
    }
  });
}

Status Directory::revoke_device(const std::string& id, bool allow_upload, std::int64_t now_ms) {
  return impl_->write([&](Database& db) -> Status {
    auto d = load_device(db, id);
    if (!d) return d.status();
    const DeviceState next = allow_upload ? DeviceState::revoked : DeviceState::revoked_no_upload;
    const bool allowed =
        d->state == DeviceState::active || (d->state == DeviceState::revoked && !allow_upload);
    if (!allowed)
      return Status(Code::invalid_argument,
                    "device " + id + " is already " + std::string(device_state_name(d->state)));
    if (Status s = set_state(db, id, next, now_ms); !s) return s;
    return directory_sql::audit_change(
        db, impl_->options.audit_key, "device", now_ms, d->user, id,
        boost::json::serialize(
            boost::json::object{{"event", allow_upload ? "revoked" : "revoked_no_upload"}}));
  });
}

Status Directory::mark_wiped(const std::string& id) {
  return impl_->write([&](Database& db) -> Status {
    auto d = load_device(db, id);
    if (!d) return d.status();
    if (d->state == DeviceState::wiped) return Status::ok();
    if (d->state == DeviceState::active)
      return Status(Code::invalid_argument, "device " + id + " is active, not revoked");
    return set_state(db, id, DeviceState::wiped, std::nullopt);
  });
}

Status Directory::touch_last_sync(const std::string& id, std::int64_t now_ms) {
  return impl_->write([&](Database& db) -> Status {
    auto st = db.prepare("UPDATE devices SET last_sync_ms = ?2 WHERE id = ?1");
    if (!st) return st.status();
    if (Status s = st->bind(1, id).bind(2, now_ms).run(); !s) return s;
    if (db.changes() == 0) return Status(Code::unknown_device, "no enrolled device " + id);
    return Status::ok();
  });
}

Result<std::vector<std::string>> Directory::device_scope(const std::string& id) {
  return impl_->read([&](Database& db) -> Result<std::vector<std::string>> {
    auto st = db.prepare("SELECT item FROM device_scope WHERE device = ?1 ORDER BY item");
    if (!st) return st.status();
    st->bind(1, id);
    std::vector<std::string> out;
    for (;;) {
      auto row = st->step();
      if (!row) return row.status();
      if (!*row) return out;
      out.push_back(st->column_text(0));
    }
  });
}

Status Directory::set_device_scope(const std::string& id, const std::vector<std::string>& items) {
  return impl_->write([&](Database& db) -> Status {
    auto clear = db.prepare("DELETE FROM device_scope WHERE device = ?1");
    if (!clear) return clear.status();
    if (Status s = clear->bind(1, id).run(); !s) return s;
    auto add = db.prepare("INSERT OR IGNORE INTO device_scope(device, item) VALUES (?1, ?2)");
    if (!add) return add.status();
    for (const auto& item : items) {
      (void)add->reset();
      if (Status s = add->bind(1, id).bind(2, item).run(); !s) return s;
    }
    return Status::ok();
  });
}

}  // namespace fieldsync::server
