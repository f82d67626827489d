// The Directory's connections and the SQL helpers its two source files share (internal).
//
// Thread safety: wdb is guarded by write_mu (one write transaction at a time); the pool of
// read connections by read_mu. The other members are set in open() and read-only after.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/crypto/random.hpp"
#include "fieldsync/server/directory.hpp"

namespace fieldsync::server {

struct Directory::Impl {
  Impl(StoreFile f, DirectoryOptions o) : file(std::move(f)), options(std::move(o)) {}

  StoreFile file;
  DirectoryOptions options;
  crypto::SodiumRandom sodium;

  std::mutex write_mu;
  std::unique_ptr<crypto::Database> wdb;  // guarded by write_mu

  std::mutex read_mu;
  std::vector<std::unique_ptr<crypto::Database>> idle;  // guarded by read_mu

  crypto::Random& random() { return options.random ? *options.random : sodium; }

  // Runs `body(db)` in one BEGIN IMMEDIATE transaction on the write connection.
  template <typename F>
  Status write(F&& body) {
    std::lock_guard lock(write_mu);
    return crypto::in_transaction(*wdb, [&]() -> Status { return body(*wdb); });
  }

  // Runs `body(db)` on a read connection from the pool (one snapshot per statement).
  template <typename F>
  auto read(F&& body) -> decltype(body(std::declval<crypto::Database&>())) {
    std::unique_ptr<crypto::Database> db;
    {
      std::lock_guard lock(read_mu);
      if (!idle.empty()) {
        db = std::move(idle.back());
        idle.pop_back();
      }
    }
    if (!db) {
      auto opened = file.connect(/*writable=*/false);
      if (!opened) return opened.status();
      db = std::move(*opened);
    }
    auto result = body(*db);
    std::lock_guard lock(read_mu);
    if (idle.size() < options.max_idle_readers) idle.push_back(std::move(db));
    return result;
  }
};

namespace directory_sql {

Result<std::optional<std::string>> get_meta(crypto::Database& db, std::string_view key);
Status set_meta(crypto::Database& db, std::string_view key, std::string_view value);
// The user `name`, or not_found.
Result<User> load_user(crypto::Database& db, const std::string& name);
// Records a change to the directory in the audit log (audit.hpp), inside the change's
// transaction. `detail`: a JSON object's text.
Status audit_change(crypto::Database& db, const std::shared_ptr<const crypto::SigningKey>& key,
                    const char* kind, std::int64_t at_ms, const std::string& user,
                    const std::string& device, const std::string& detail);
bool is_valid_name(std::string_view name);

}  // namespace directory_sql
}  // namespace fieldsync::server
