// Operations: the unit of change that devices make offline, the server applies exactly once
// and every replica merges. One operation changes one record.
//
// JSON form (the wire and the outbox use the same):
//   op     := { "id": OPID, "device": DEVICE, "user": USER, "hlc": HLC,
//               "c": COLLECTION, "r": RECORD, "k": "put" | "del", "w": [ write* ],
//               ["del_base": [OPID*]] }
//   write  := { "f": FIELD, "x": "set", "v": VALUE, "b": [OPID*] }   register: base = the
//                                                                    versions the writer saw
//           | { "f": FIELD, "x": "add", "v": STRING }               set add; tag = op id
//           | { "f": FIELD, "x": "rem", "v": STRING, "b": [OPID*] } set remove: observed tags
// For "del", "del_base" lists every write id the deleting device saw on the record; edits
// not covered by it are concurrent with the delete and become conflict records.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "fieldsync/status.hpp"
#include "fieldsync/sync/hlc.hpp"
#include "fieldsync/sync/schema.hpp"

namespace fieldsync::sync {

enum class WriteKind { set, add, remove };

struct FieldWrite {
  std::string field;
  WriteKind kind = WriteKind::set;
  boost::json::value value;       // the value (set) or the element (add, remove)
  std::vector<std::string> base;  // set: versions seen; remove: add-tags observed

  bool operator==(const FieldWrite&) const = default;
};

enum class OpKind { put, del };

struct Op {
  std::string id;
  std::string device;
  std::string user;
  Hlc hlc;
  std::string collection;
  std::string record;
  OpKind kind = OpKind::put;
  std::vector<FieldWrite> writes;     // put only
  std::vector<std::string> del_base;  // del only

  bool operator==(const Op&) const = default;
};

boost::json::value to_json(const Op& op);
Result<Op> op_from_json(const boost::json::value& v);

// Checks an operation against the schema: known collection and fields, value types, a valid
// record id, set writes only on set fields, no edits on append-only collections beyond
// creation. Does not look at any stored state.
Status validate(const Op& op, const Schema& schema);

}  // namespace fieldsync::sync
