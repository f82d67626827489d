// Scope items and digests (scope.hpp).
#include "fieldsync/sync/scope.hpp"

#include <algorithm>
#include <span>

#include <boost/json.hpp>

#include "fieldsync/crypto/keyed_hash.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/sync/ids.hpp"
#include "fieldsync/sync/op.hpp"

namespace fieldsync::sync {
namespace {

// Domain separation: these digests are not secrets, the key only keeps them apart from
// every other BLAKE2b use in the project.
constexpr std::string_view kScopeContext = "fieldsync scope digest v1.......";
constexpr std::string_view kHoldingContext = "fieldsync holding digest v1.....";

std::string hash_hex(std::string_view context, std::string_view text) {
  auto key = std::span(reinterpret_cast<const std::uint8_t*>(context.data()), context.size());
  auto msg = std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  return crypto::to_hex(crypto::keyed_hash(key, msg));
}

}  // namespace

bool Visibility::contains(const std::string& item) const {
  return all || std::binary_search(items.begin(), items.end(), item);
}

bool Visibility::sees_creator(const std::string& user) const {
  return all || std::binary_search(creators.begin(), creators.end(), user);
}

bool Visibility::sees(const EntryScope& scope) const {
  if (all) return true;
  if (itemless_only) return scope.item.empty() && sees_creator(scope.creator);
  if (!scope.item.empty() && contains(scope.item)) return true;
  return !is_case_item(scope.item) && sees_creator(scope.creator);
}

bool may_change_scope(const Visibility& v, std::string_view user, const Op& op,
                      const EntryScope& scope) {
  if (op.collection != "cases") return false;
  const bool visible = v.contains(case_item(op.record));
  for (const auto& w : op.writes) {
    if (w.field != "assigned_to" && w.field != "shared_with" && w.field != "client_id") continue;
    if (visible) return true;
    const std::string value = w.value.is_string() ? std::string(w.value.get_string()) : "";
    // An unassigned case goes back to its creator.
    if (w.field == "assigned_to" && v.sees_creator(value.empty() ? scope.creator : value))
      return true;
    if (w.field == "shared_with" && value == user) return true;
  }
  // A new case without an assignee belongs to its creator, whose lead sees it too.
  return !visible && scope.created && v.sees_creator(scope.creator);
}

std::string case_item(std::string_view case_id) {
  return std::string(kCaseItemPrefix) + std::string(case_id);
}
std::string client_item(std::string_view client_id) {
  return std::string(kClientItemPrefix) + std::string(client_id);
}
bool is_case_item(std::string_view item) { return item.starts_with(kCaseItemPrefix); }

bool is_valid_item(std::string_view item) {
  if (!item.starts_with(kCaseItemPrefix) && !item.starts_with(kClientItemPrefix)) return false;
  return is_valid_record_id(item.substr(2));
}

std::string scope_item(std::string_view collection, std::string_view id,
                       const boost::json::object& fields) {
  if (collection == "cases") return case_item(id);
  if (collection == "clients") return client_item(id);
  const auto* c = fields.if_contains("case_id");
  if (c && c->is_string() && !c->get_string().empty()) return case_item(c->get_string());
  return {};
}

std::string scope_digest(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& i : items) {
    text += i;
    text += '\n';
  }
  return hash_hex(kScopeContext, text);
}

void HoldingDigest::add(std::string_view collection, std::string_view id,
                        const RecordState& state) {
  text_ += collection;
  text_ += '\0';
  text_ += id;
  text_ += '\0';
  text_ += boost::json::serialize(to_json(state));
  text_ += '\n';
}

std::string HoldingDigest::finish() const { return hash_hex(kHoldingContext, text_); }

}  // namespace fieldsync::sync
