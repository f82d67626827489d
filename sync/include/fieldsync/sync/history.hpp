// A record's history, field by field, for the audit trail (`fieldsync-admin audit history`):
// the record's log entries replayed through the merge (merge.hpp) in server order, with what
// each operation wrote, what it changed in the record's visible value, and the conflicts it
// started or joined. Pure: no I/O, no clock reads; the same entries give the same history.
//
// Ownership: everything returned is a plain value owned by the caller.
// Thread safety: record_history() and to_json() share nothing and may run on any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "fieldsync/sync/hlc.hpp"
#include "fieldsync/sync/merge.hpp"
#include "fieldsync/sync/op.hpp"
#include "fieldsync/sync/schema.hpp"

namespace fieldsync::sync {

// One log entry of the record: the server's sequence number, the op, and when the server
// received it (server clock, Unix milliseconds).
struct HistoryEntry {
  std::uint64_t seq = 0;
  Op op;
  std::int64_t received_ms = 0;
};

// A field's value before and after; null where absent. Set fields hold sorted arrays, as
// materialize() gives them.
//
// In HistoryStep::written, one write of the op: a register write has old_value null and
// new_value the value written; a set add has old_value null and new_value the element; a set
// remove has old_value the element and new_value null.
struct FieldChange {
  std::string field;
  boost::json::value old_value;
  boost::json::value new_value;
};

struct HistoryStep {
  std::uint64_t seq = 0;
  std::string op;  // op id
  std::string user;
  std::string device;
  Hlc hlc;  // the device's clock when it made the op
  std::int64_t received_ms = 0;
  bool deleted = false;  // the op is a delete of the record
  // The op's effect on the visible value (materialize() before and after), sorted by field.
  // Empty for an op that changed nothing visible: a concurrent write that lost, a duplicate.
  std::vector<FieldChange> changes;
  // What the op itself wrote, in the op's order (encoding above); empty for a delete. Lists
  // both writes of a conflict, the losing one included.
  std::vector<FieldChange> written;
  // Fields on which the op started or joined a conflict: after it, the register field has
  // two or more heads and more than before, or an edit_vs_delete conflict on the field
  // appeared. Sorted, without duplicates.
  std::vector<std::string> conflicts;
};

struct RecordHistory {
  std::string collection;
  std::string id;
  std::vector<HistoryStep> steps;   // one per entry, in the entries' order
  std::vector<Conflict> conflicts;  // every conflict, open and resolved, on the final state
};

// Replays `entries` (the record's log entries in server sequence order, all of one record of
// the collection described by `spec`) with sync::apply, one step per entry; duplicates get a
// step too. An op of another record is not detected: the caller selects the entries.
RecordHistory record_history(const std::string& collection, const std::string& id,
                             const std::vector<HistoryEntry>& entries, const CollectionSpec& spec);

// { "collection", "id",
//   "steps": [ { "seq", "op", "user", "device", "hlc": { "wall_ms", "logical" },
//                "received_ms", "deleted", "changes": [ { "field", "old", "new" } ],
//                "written": [ { "field", "old", "new" } ], "conflicts": [ FIELD ] } ],
//   "conflicts": [ to_json(Conflict) ] }
boost::json::value to_json(const RecordHistory& history);

}  // namespace fieldsync::sync
