// Scopes: which records a user's devices hold (docs/ARCHITECTURE.md, "Scopes").
//
// Every record belongs to one scope item:
//   "c:<case id>"    a case, and every record that refers to a case (its case_id field)
//   "k:<client id>"  a client
//   ""               a record that refers to no case: it follows its creator
// The server decides which items a user may see and tells each device (the scope message);
// a device holds the records of those items. The digests below let the two sides compare
// what they hold without sending it.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "fieldsync/sync/merge.hpp"

namespace fieldsync::sync {

struct Op;

inline constexpr std::string_view kCaseItemPrefix = "c:";
inline constexpr std::string_view kClientItemPrefix = "k:";

// Where a record belongs, as the server's store knows it.
struct EntryScope {
  std::string item;      // scope_item() of the record; empty: it follows its creator
  std::string creator;   // the user whose op created the record
  bool created = false;  // live entries only: this op created the record
};

// What a user's devices may see.
struct Visibility {
  bool all = false;                   // everything (an admin), no filter
  std::vector<std::string> items;     // sorted, unique: case and client items
  std::vector<std::string> creators;  // sorted: whose creator-following records are seen
  // Only the records with no item that follow one of `creators` (a new device's bootstrap
  // read: it gets the items' records whole by fetch).
  bool itemless_only = false;

  bool contains(const std::string& item) const;
  bool sees_creator(const std::string& user) const;
  // A record with this scope is visible: its item is in the set, or it is not a case's and
  // its creator is among `creators`.
  bool sees(const EntryScope& scope) const;
};

// Whether the op `op`, on a record whose stored scope is `scope`, may change what `user`
// (whose scope is `v`) sees: it sets a case's assignee, shares or client, and the case is
// seen now, or would be seen after (assigned to a creator `v` follows, or unassigned when
// one created it, shared with `user`, or a new case created by one). A caller reloads the
// scope when it is true.
bool may_change_scope(const Visibility& v, std::string_view user, const Op& op,
                      const EntryScope& scope);

// The scope item of a record from its materialised fields.
std::string scope_item(std::string_view collection, std::string_view id,
                       const boost::json::object& fields);
std::string case_item(std::string_view case_id);
std::string client_item(std::string_view client_id);
bool is_case_item(std::string_view item);
// A well-formed item: a prefix and a valid record id.
bool is_valid_item(std::string_view item);

// The digest (64 hex digits) of a set of items; `items` sorted and unique.
std::string scope_digest(const std::vector<std::string>& items);

// The digest of what one side holds of one item: add its records in (collection, id) order.
class HoldingDigest {
 public:
  void add(std::string_view collection, std::string_view id, const RecordState& state);
  std::string finish() const;  // 64 hex digits
  bool empty() const { return text_.empty(); }

 private:
  std::string text_;
};

}  // namespace fieldsync::sync
