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
  bool json = false;
  std::function<std::int64_t()> now_ms;  // the system clock
};

int team_add(const Context& ctx, const std::string& name);
int team_list(const Context& ctx);
int user_add(const Context& ctx, const std::string& name, const std::string& role,
             const std::string& team);
int user_list(const Context& ctx);
int lease_set(const Context& ctx, std::optional<int> sync_within_days,
              std::optional<int> wipe_after_days);
int lease_show(const Context& ctx);

int device_enroll_code(const Context& ctx, const std::string& user, double ttl_hours);
int device_list(const Context& ctx);
int device_revoke(const Context& ctx, const std::string& id, bool no_upload);

// `actor` empty: the operating-system user, when a fieldsync user of that name exists.
int case_change(const Context& ctx, server::CaseAction action, const std::string& case_id,
                const std::string& user, const std::string& actor);

// The audit trail (docs/ADMIN.md)
// A record's history, field by field, with its conflicts: shows the record's values.
int audit_history(const Context& ctx, const std::string& collection, const std::string& id);

// Prints "error: <message>" on stderr; returns 1.
int fail(const Status& s);

}  // namespace fieldsync::admin
