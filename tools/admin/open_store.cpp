// fieldsync-admin: opening the store in the data directory, the acting user, and recording
// reads (see open_store.hpp).
#include "admin/open_store.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <boost/json/serialize.hpp>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/server/audit.hpp"

namespace fieldsync::admin {
namespace {

Result<std::string> store_path(const Context& ctx) {
  std::error_code ec;
  if (ctx.data_dir.empty() || !std::filesystem::is_directory(ctx.data_dir, ec))
    return Status(Code::not_found, "data directory '" + ctx.data_dir + "' does not exist");
  return (std::filesystem::path(ctx.data_dir) / server::kStoreFileName).string();
}

// The operating system's name for whoever runs the tool ("" when unknown).
std::string os_user() {
  if (const passwd* pw = getpwuid(geteuid()); pw && pw->pw_name) return pw->pw_name;
  const char* env = std::getenv("USER");
  return env ? env : "";
}

}  // namespace

int fail(const Status& s) {
  std::cerr << "error: " << s.message() << "\n";
  return 1;
}

std::string audit_key_path(const Context& ctx) {
  if (!ctx.audit_key_file.empty()) return ctx.audit_key_file;
  return (std::filesystem::path(ctx.data_dir) / server::audit::kAuditKeyFileName).string();
}

Result<server::StoreFile> open_store_file(const Context& ctx) {
  auto path = store_path(ctx);
  if (!path) return path.status();
  return server::StoreFile::open(*path, ctx.key_file);
}

Result<std::unique_ptr<server::Directory>> open_directory(const Context& ctx, bool writes) {
  auto file = open_store_file(ctx);
  if (!file) return file.status();
  if (!writes) return server::Directory::open(*file);  // it appends no audit entry to seal
  auto key = server::audit::open_key(*file, audit_key_path(ctx));
  if (!key) return key.status();
  server::DirectoryOptions options;
  options.audit_key = *key;
  return server::Directory::open(*file, options);
}

Result<OpenStore> open_store(const Context& ctx) {
  auto file = open_store_file(ctx);
  if (!file) return file.status();
  // The store's own key, made here only for a store that has none yet (audit::open_key).
  auto key = server::audit::open_key(*file, audit_key_path(ctx));
  if (!key) return key.status();
  server::SqliteStoreOptions options;
  options.key_file = ctx.key_file;
  options.max_idle_readers = 1;
  options.audit_key = *key;
  auto store = server::SqliteStore::open(file->path(), options);
  if (!store) return store.status();
  server::DirectoryOptions directory_options;
  directory_options.audit_key = *key;
  auto directory = server::Directory::open((*store)->file(), directory_options);
  if (!directory) return directory.status();
  return OpenStore{std::move(*store), std::move(*directory), options.audit_key};
}

Result<std::string> acting_user(server::Directory& dir, const std::string& given) {
  if (!given.empty()) return given;
  const std::string me = os_user();
  if (!me.empty() && dir.user(me)) return me;
  return Status(Code::invalid_argument, "say who is acting with --as USER (the system user '" + me +
                                            "' is not a fieldsync user)");
}

Result<std::string> reading_user(server::Directory& dir, const std::string& given) {
  std::string name = given;
  if (name.empty()) {
    const std::string me = os_user();
    if (me.empty() || !dir.user(me))
      return Status(Code::invalid_argument, "say who reads with --as USER (the system user '" + me +
                                                "' is not a fieldsync user)");
    name = me;
  }
  auto user = dir.user(name);
  if (!user) {
    if (user.status().code() == Code::not_found)
      return Status(Code::not_found, "unknown user '" + name + "'");
    return user.status();
  }
  if (user->role == server::Role::worker)
    return Status(Code::forbidden,
                  "only a lead or an admin may read the audit trail; " + name + " is a worker");
  return name;
}

Status record_read(const server::StoreFile& file,
                   const std::shared_ptr<const crypto::SigningKey>& key, const std::string& reader,
                   const std::string& subject, const boost::json::object& detail,
                   std::int64_t now_ms) {
  auto db = file.connect(true);
  if (!db) return db.status();
  const server::audit::Event event{"read", now_ms,  reader,
                                   "",     subject, boost::json::serialize(detail)};
  Status s = crypto::in_transaction(**db, [&]() -> Status {
    auto seq = server::audit::append(**db, event, key);
    return seq ? Status::ok() : seq.status();
  });
  return s ? s : file.annotate(s);
}

}  // namespace fieldsync::admin
