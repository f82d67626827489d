// Opening the server's store for fieldsync-admin: the directory alone, or the directory and
// the log (for case changes). Both open DATA_DIR/fieldsync.db exactly as the server does
// (server::StoreFile: same key handling, pragmas and schema migration).
#pragma once

#include <memory>

#include "admin/commands.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/sqlite_store.hpp"

namespace fieldsync::admin {

Result<std::unique_ptr<server::Directory>> open_directory(const Context& ctx);

struct OpenStore {
  std::unique_ptr<server::SqliteStore> store;
  std::unique_ptr<server::Directory> directory;  // declared last: destroyed first
};
Result<OpenStore> open_store(const Context& ctx);

}  // namespace fieldsync::admin
