// fieldsync-admin audit history COLLECTION ID: a record's history, field by field, from the
// server's log (sync/history.hpp): who changed what, when (server and device clocks), the
// writes that lost to concurrent ones, and every conflict, open and resolved.
//
// This command shows record content on purpose: it is the audit history, for an authorised
// lead or administrator (--as), and prints the values each operation wrote, sensitive fields
// included; the read is recorded in the audit log first. Besides `audit export`, every other
// fieldsync-admin command prints names, ids, states and times only.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "admin/commands.hpp"
#include "admin/open_store.hpp"
#include "admin/output.hpp"
#include "common/history_text.hpp"
#include "fieldsync/server/history.hpp"
#include "fieldsync/sync/history.hpp"

namespace fieldsync::admin {
namespace json = boost::json;

int audit_history(const Context& ctx, const std::string& collection, const std::string& id) {
  const sync::CollectionSpec* spec = sync::default_schema().collection(collection);
  if (spec == nullptr)
    return fail(Status(Code::unknown_collection, "unknown collection '" + collection + "'"));
  auto opened = open_store(ctx);
  if (!opened) return fail(opened.status());
  auto reader = reading_user(*opened->directory, ctx.actor);
  if (!reader) return fail(reader.status());
  auto entries = server::read_history(opened->store->file(), collection, id);
  if (!entries) return fail(entries.status());
  if (entries->empty())
    return fail(Status(Code::not_found, "no history for " + collection + "/" + id));
  const sync::RecordHistory history = sync::record_history(collection, id, *entries, *spec);
  // A read of the record by a person: recorded before anything is shown.
  if (Status s =
          record_read(opened->store->file(), opened->audit_key, *reader, collection + "/" + id,
                      json::object{{"what", "history"}}, ctx.now_ms());
      !s)
    return fail(s);
  if (ctx.json) {
    print_json(std::cout, sync::to_json(history));
    return 0;
  }
  tools::print_history(std::cout, history, *spec);
  return 0;
}

}  // namespace fieldsync::admin
