// fieldsync-admin backup: a consistent copy of the store beside a running server (contract in
// commands.hpp).
#include <iostream>

#include <boost/json.hpp>

#include "commands.hpp"
#include "fieldsync/crypto/database.hpp"
#include "open_store.hpp"

namespace fieldsync::admin {
namespace {

struct CopyState {
  std::int64_t head = 0;           // the newest operation in the copy's log
  std::int64_t audit_entries = 0;  // the copy's audit trail
};

Result<std::int64_t> single_number(crypto::Database& db, const char* sql) {
  auto st = db.prepare(sql);
  if (!st) return st.status();
  auto row = st->step();
  if (!row) return row.status();
  return *row ? st->column_int(0) : 0;
}

Result<CopyState> copy_state(const server::StoreFile& copy) {
  auto db = copy.connect(false);
  if (!db) return db.status();
  CopyState out;
  auto head = single_number(**db, "SELECT COALESCE(MAX(seq), 0) FROM log");
  if (!head) return head.status();
  auto audit = single_number(**db, "SELECT COALESCE(MAX(seq), 0) FROM audit_log");
  if (!audit) return audit.status();
  out.head = *head;
  out.audit_entries = *audit;
  return out;
}

}  // namespace

int backup(const Context& ctx, const std::string& dest) {
  auto file = open_store_file(ctx);
  if (!file) return fail(file.status());
  auto made = file->backup(dest);
  if (!made) return fail(made.status());
  auto copy = server::StoreFile::open(dest, ctx.key_file);
  if (!copy) return fail(copy.status());
  auto state = copy_state(*copy);
  if (!state) return fail(state.status());
  if (ctx.json) {
    std::cout << boost::json::serialize(
                     boost::json::object{{"file", dest},
                                         {"encrypted", copy->encrypted()},
                                         {"pages", made->pages},
                                         {"bytes", made->bytes},
                                         {"head", state->head},
                                         {"audit_entries", state->audit_entries}})
              << "\n";
    return 0;
  }
  std::cout << "backup written to " << dest << (copy->encrypted() ? " (encrypted)" : "") << ": "
            << made->bytes << " bytes, log head " << state->head << ", " << state->audit_entries
            << " audit entries\n";
  return 0;
}

}  // namespace fieldsync::admin
