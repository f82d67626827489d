// The commands of fieldsync-admin, one function each: open the store in the data directory
// (beside a running server, which sees the changes at once: the directory is read per
// connection and new log entries are picked up by its writer within a second), do the work,
// print the result as a table or JSON. Each returns the process's exit code: 0 done, 1 error
// (printed to stderr as "error: message").
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "fieldsync/server/case_admin.hpp"

namespace fieldsync::admin {

struct Context {
  std::string data_dir;  // must exist; the store is data_dir/fieldsync.db (created if absent)
  std::string key_file;  // empty: a plain store
  // The server's audit key (server/audit.hpp); empty: data_dir/audit.key.
  std::string audit_key_file;
  // Who runs a command that reads the audit trail (--as); empty: the operating-system user,
  // when a fieldsync user of that name exists. Must be a lead or an admin.
  std::string actor;
  bool json = false;
  std::function<std::int64_t()> now_ms;  // the system clock
};

int team_add(const Context& ctx, const std::string& name);
int team_list(const Context& ctx);
int user_add(const Context& ctx, const std::string& name, const std::string& role,
             const std::string& team);
int user_list(const Context& ctx);
// Sets a user's login password (the dashboard): read from the environment variable
// `password_env` when given, else asked twice at the terminal; at least 8 characters; stored
// as an Argon2id hash at the `kdf` level ("interactive", or "minimum" for tests only).
int user_passwd(const Context& ctx, const std::string& name, const std::string& password_env,
                const std::string& kdf);
int lease_set(const Context& ctx, std::optional<int> sync_within_days,
              std::optional<int> wipe_after_days);
int lease_show(const Context& ctx);

int device_enroll_code(const Context& ctx, const std::string& user, double ttl_hours);
int device_list(const Context& ctx);
int device_revoke(const Context& ctx, const std::string& id, bool no_upload);

// `actor` empty: the operating-system user, when a fieldsync user of that name exists.
int case_change(const Context& ctx, server::CaseAction action, const std::string& case_id,
                const std::string& user, const std::string& actor);

// The audit trail (docs/ADMIN.md). history and export show record content and are reads:
// each records one "read" entry (by ctx.actor) in the audit log before printing; verify is
// not a read of records and records nothing.
// A record's history, field by field, with its conflicts: shows the record's values.
int audit_history(const Context& ctx, const std::string& collection, const std::string& id);
// Re-checks the audit trail (server::audit::verify) against the server's public key: `public_key`
// (64 hex digits), else the one in the audit key file. Exit 1 when it does not verify.
int audit_verify(const Context& ctx, const std::string& public_key);
// The trail as JSON lines from the first entry at or after `since` (an ISO date, an ISO UTC
// time or Unix milliseconds), optionally only `user`'s entries or those about case `case_id`.
int audit_export(const Context& ctx, const std::string& since, const std::string& user,
                 const std::string& case_id);

// A consistent copy of the store, taken beside a running server (server::StoreFile::backup):
// `dest` is a new file; an encrypted store's copy stays encrypted under the same key (its
// envelope goes to "<dest>.keys"). Prints the copy's size, log head and audit entries. To
// restore, stop the server and put the copy (and envelope) in place as DATA_DIR/fieldsync.db.
int backup(const Context& ctx, const std::string& dest);

// Prints "error: <message>" on stderr; returns 1.
int fail(const Status& s);

}  // namespace fieldsync::admin
