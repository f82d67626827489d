// Opening the server's store for fieldsync-admin: the directory alone, or the directory and
// the log (for case changes and the audit trail). Both open DATA_DIR/fieldsync.db exactly as
// the server does (server::StoreFile: same key handling, pragmas and schema migration).
// Also here: who acts or reads (the --as user), and recording a person's read in the audit
// log (server/audit.hpp), shared by the commands that act or read.
#pragma once

#include <memory>
#include <string>

#include <boost/json/object.hpp>

#include "admin/commands.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/sqlite_store.hpp"

namespace fieldsync::admin {

// The store file (created, or migrated, as the server does); the caller connects to it.
Result<server::StoreFile> open_store_file(const Context& ctx);
// `writes`: the command's changes are audited, so their entries are sealed with the store's
// audit key (audit::open_key); listings and enrolment codes open without the key.
Result<std::unique_ptr<server::Directory>> open_directory(const Context& ctx, bool writes = true);

// The store with the server's audit key (loaded, or made when absent, as the server does), so
// that the changes the tool writes get checkpoints too.
struct OpenStore {
  std::unique_ptr<server::SqliteStore> store;
  std::unique_ptr<server::Directory> directory;  // declared last: destroyed first
  std::shared_ptr<const crypto::SigningKey> audit_key;
};
Result<OpenStore> open_store(const Context& ctx);

// The server's audit key file: ctx.audit_key_file, else DATA_DIR/audit.key.
std::string audit_key_path(const Context& ctx);

// The acting user: `given`, else the operating-system user when the directory knows them.
Result<std::string> acting_user(server::Directory& dir, const std::string& given);
// Who reads the audit trail: `given` (ctx.actor), else the operating-system user when the
// directory knows them; a lead or an admin (Code::forbidden for a worker).
Result<std::string> reading_user(server::Directory& dir, const std::string& given);

// Records that `reader` read `subject` through the store: one "read" entry in the audit log
// with `detail`, then a checkpoint signed with `key`, in one write transaction of its own.
Status record_read(const server::StoreFile& file,
                   const std::shared_ptr<const crypto::SigningKey>& key, const std::string& reader,
                   const std::string& subject, const boost::json::object& detail,
                   std::int64_t now_ms);

}  // namespace fieldsync::admin
