// Helpers shared by the replica tests: a replica in a temporary directory with a controllable
// clock, and direct looks into its SQLite file.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/json/serialize.hpp>
#include <catch2/catch.hpp>

#include "fieldsync/client/replica.hpp"
#include "fieldsync/crypto/database.hpp"
#include "fieldsync/crypto/keys.hpp"
#include "temp_dir.hpp"

namespace fieldsync::test {

inline constexpr std::int64_t kT0 = 1'700'000'000'000;  // 2023-11-14, milliseconds

// A settable clock shared by a test and the replicas it makes.
struct FakeClock {
  std::shared_ptr<std::atomic<std::int64_t>> ms = std::make_shared<std::atomic<std::int64_t>>(kT0);
  std::function<std::int64_t()> fn() const {
    auto p = ms;
    return [p] { return p->load(); };
  }
  void advance(std::int64_t d) { *ms += d; }
};

inline constexpr const char* kPassphrase = "test passphrase";

// A passphrase credential with the minimum Argon2id cost (tests only).
inline crypto::Credential credential(std::string passphrase = kPassphrase) {
  return crypto::Credential::passphrase(crypto::SecureBuffer::take(passphrase),
                                        crypto::KdfLimits::minimum());
}

inline client::ReplicaOptions options(const FakeClock& clock, std::string user = "alice") {
  client::ReplicaOptions o;
  o.user = std::move(user);
  o.now_ms = clock.fn();
  return o;
}

inline std::unique_ptr<client::Replica> make_replica(const std::string& path,
                                                     const FakeClock& clock,
                                                     std::string user = "alice") {
  auto r = client::Replica::init(path, credential(), options(clock, std::move(user)));
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

// A separate connection to the replica's file under its key (the replica's own tables, as
// they are on disk).
inline std::unique_ptr<crypto::Database> open_raw(const std::string& path) {
  auto key = crypto::open_key(path, credential());
  REQUIRE(key.is_ok());
  crypto::OpenOptions o;
  o.create = false;
  o.key = &*key;
  auto db = crypto::Database::open(path, o);
  REQUIRE(db.is_ok());
  return std::move(db).value();
}

// One integer from the replica's file, read through a separate connection under its key.
inline std::int64_t query_int(const std::string& path, const std::string& sql) {
  auto db = open_raw(path);
  auto st = db->prepare(sql);
  REQUIRE(st.is_ok());
  auto row = st->step();
  REQUIRE(row.is_ok());
  REQUIRE(*row);
  return st->column_int(0);
}

inline std::int64_t outbox_size(const std::string& path) {
  return query_int(path, "SELECT count(*) FROM outbox");
}

inline std::int64_t record_count(const std::string& path) {
  return query_int(path, "SELECT count(*) FROM records");
}

inline std::string field(const client::RecordView& r, const std::string& name) {
  auto it = r.fields.find(name);
  if (it == r.fields.end()) return "<absent>";
  if (it->value().is_string()) return std::string(it->value().get_string());
  return boost::json::serialize(it->value());
}

}  // namespace fieldsync::test
