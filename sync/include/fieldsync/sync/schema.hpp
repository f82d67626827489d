// The schema: collections, their fields, each field's type and merge policy. The default
// field-outreach schema is defined in one place (default_schema.cpp) and carries a version.
//
// Thread safety: a Schema is immutable after construction and may be shared across threads.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "fieldsync/status.hpp"

namespace fieldsync::sync {

enum class FieldType {
  text,      // any string
  date,      // "YYYY-MM-DD"
  datetime,  // "YYYY-MM-DDTHH:MM[:SS]" with optional "Z"
  choice,    // one of FieldSpec::choices
  ref,       // a record id in FieldSpec::ref_collection
  set,       // a set of strings (values of set fields are changed by add/remove)
};

enum class MergePolicy {
  register_lww,     // last writer wins by (HLC, device); concurrent edits leave a resolved conflict
  register_review,  // the same winner, but the conflict stays open until a lead decides
  add_wins_set,     // observed-remove set: an add concurrent with a remove wins
  write_once,       // fields of append-only collections: set at creation, never changed
};

struct FieldSpec {
  std::string name;
  FieldType type = FieldType::text;
  MergePolicy policy = MergePolicy::register_lww;
  bool sensitive = false;  // personal or health data: never in server logs, minimum necessary
  std::vector<std::string> choices;  // for FieldType::choice
  std::string ref_collection;        // for FieldType::ref
};

struct CollectionSpec {
  std::string name;
  bool append_only = false;  // records are created once and never edited or deleted
  std::vector<FieldSpec> fields;

  const FieldSpec* field(std::string_view name) const;
};

class Schema {
 public:
  Schema(int version, std::vector<CollectionSpec> collections);

  int version() const { return version_; }
  const CollectionSpec* collection(std::string_view name) const;
  const std::vector<CollectionSpec>& collections() const { return collections_; }

  // Checks that `value` is acceptable for the field (type, choices, id syntax of refs).
  Status check_value(const CollectionSpec& c, const FieldSpec& f,
                     const boost::json::value& value) const;

 private:
  int version_;
  std::vector<CollectionSpec> collections_;
};

// The field-outreach schema: clients, cases, visits, notes, referrals, tasks.
const Schema& default_schema();

std::string_view policy_name(MergePolicy p);
std::string_view type_name(FieldType t);

}  // namespace fieldsync::sync
