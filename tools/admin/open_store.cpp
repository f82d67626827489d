// fieldsync-admin: opening the store in the data directory (see open_store.hpp).
#include "admin/open_store.hpp"

#include <filesystem>
#include <iostream>

namespace fieldsync::admin {
namespace {

Result<std::string> store_path(const Context& ctx) {
  std::error_code ec;
  if (ctx.data_dir.empty() || !std::filesystem::is_directory(ctx.data_dir, ec))
    return Status(Code::not_found, "data directory '" + ctx.data_dir + "' does not exist");
  return (std::filesystem::path(ctx.data_dir) / server::kStoreFileName).string();
}

}  // namespace

int fail(const Status& s) {
  std::cerr << "error: " << s.message() << "\n";
  return 1;
}

Result<std::unique_ptr<server::Directory>> open_directory(const Context& ctx) {
  auto path = store_path(ctx);
  if (!path) return path.status();
  auto file = server::StoreFile::open(*path, ctx.key_file);
  if (!file) return file.status();
  return server::Directory::open(*file);
}

Result<OpenStore> open_store(const Context& ctx) {
  auto path = store_path(ctx);
  if (!path) return path.status();
  server::SqliteStoreOptions options;
  options.key_file = ctx.key_file;
  options.max_idle_readers = 1;
  auto store = server::SqliteStore::open(*path, options);
  if (!store) return store.status();
  auto directory = server::Directory::open((*store)->file());
  if (!directory) return directory.status();
  return OpenStore{std::move(*store), std::move(*directory)};
}

}  // namespace fieldsync::admin
