// The merge: pure functions from (record state, operation) to record state. No I/O, no clock
// reads, no randomness. The rules (docs/ARCHITECTURE.md, "Merge rules"):
//
//  - A record's state keeps, per register field, every write it has seen (op id, clock,
//    device, user, value, base). A write is superseded when another write names it in its
//    base. The heads are the writes not superseded. The field's value is the head with the
//    greatest (HLC, device id, op id). Causality beats clocks: a write made after seeing a
//    value replaces it, whatever the clocks say, so a device whose clock runs ahead wins
//    only against edits that were truly concurrent with its own.
//  - Two or more heads are a conflict: the winner is shown, every other head is kept. For
//    register_lww it is resolved automatically; for register_review it stays open until a
//    write whose base names every head (a decision) supersedes them.
//  - A write whose base names two or more writes closed a conflict; that conflict stays in
//    the record's history as resolved.
//  - Set fields are observed-remove sets: an element is present while some add tag of it is
//    not named by a remove. A concurrent add and remove: the add wins.
//  - write_once fields (append-only collections) take the earliest write; never a conflict.
//  - A delete is a tombstone and wins over concurrent edits; an edit head the delete did
//    not see is kept as an edit_vs_delete conflict record (resolved).
// Every function here is deterministic in the set of operations applied: the same ops in any
// order, with duplicates, give the same state, value, and conflicts.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "fieldsync/sync/op.hpp"
#include "fieldsync/sync/schema.hpp"

namespace fieldsync::sync {

struct WriteMeta {
  std::string op;
  Hlc hlc;
  std::string device;
  std::string user;
  boost::json::value value;
  std::vector<std::string> base;

  bool operator==(const WriteMeta&) const = default;
};

struct RegisterState {
  std::vector<WriteMeta> writes;  // sorted by op id
  bool operator==(const RegisterState&) const = default;
};

struct SetState {
  // Tags are op ids; one op may add several elements, so removals are kept per element.
  std::map<std::string, std::set<std::string>> adds;     // element -> add tags
  std::map<std::string, std::set<std::string>> removed;  // element -> tags named by removes
  bool operator==(const SetState&) const = default;
};

struct DeleteMeta {
  std::string op;
  Hlc hlc;
  std::string device;
  std::string user;
  std::vector<std::string> base;
  bool operator==(const DeleteMeta&) const = default;
};

struct RecordState {
  std::map<std::string, RegisterState> registers;
  std::map<std::string, SetState> sets;
  std::vector<DeleteMeta> deletes;  // sorted by op id

  bool deleted() const { return !deletes.empty(); }
  bool empty() const { return registers.empty() && sets.empty() && deletes.empty(); }
  bool operator==(const RecordState&) const = default;
};

// Applies `op` (already validated against the schema) to `state`. Returns false when the op
// had already been applied (nothing changed).
bool apply(RecordState& state, const Op& op, const CollectionSpec& spec);

// Joins `from` into `state` (both states of the same record): the state of having applied
// the ops of both. Returns false when `from` added nothing. A snapshot from the server is
// merged this way.
bool merge_state(RecordState& state, const RecordState& from);

// The record's visible fields: name -> value, names sorted, set values as sorted arrays.
boost::json::object materialize(const RecordState& state, const CollectionSpec& spec);

// The heads of a register field, sorted by op id (empty when the field was never written).
std::vector<const WriteMeta*> heads(const RegisterState& reg);
// The winning head, or nullptr.
const WriteMeta* winner(const RegisterState& reg, MergePolicy policy);
// The base of a device's ordinary edit of a register field: every head, so the edit settles
// an lww conflict; for register_review only the winner (the value shown), so an open review
// conflict stays open until a decision names every head.
std::vector<std::string> edit_base(const RegisterState& reg, MergePolicy policy);
// The add tags of `element` that are still live (what a remove of it must name).
std::vector<std::string> live_tags(const SetState& set, const std::string& element);
// Every write id and add tag on the record: the base of a delete.
std::vector<std::string> all_write_ids(const RecordState& state);

struct Competitor {
  std::string op;
  boost::json::value value;  // null for a delete
  std::string user;
  std::string device;
  Hlc hlc;
};

enum class ConflictKind { concurrent_edit, edit_vs_delete };

struct Conflict {
  std::string collection;
  std::string record;
  std::string field;
  ConflictKind kind = ConflictKind::concurrent_edit;
  std::vector<Competitor> competitors;  // sorted by op id
  std::string winner;                   // op id of the competitor shown as the value
  bool open = false;                    // awaiting a lead's review
  std::string resolved_by;              // op id of the decision, when one closed it
};

// Every conflict of the record, open and resolved, in a deterministic order.
std::vector<Conflict> conflicts(const RecordState& state, const CollectionSpec& spec,
                                const std::string& collection, const std::string& record);

boost::json::value to_json(const Conflict& c);

// Storage form of a record's state (used by the replica and the server store).
boost::json::value to_json(const RecordState& state);
Result<RecordState> record_state_from_json(const boost::json::value& v);

}  // namespace fieldsync::sync
