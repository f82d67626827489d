// Schema lookups and value checks.
#include "fieldsync/sync/schema.hpp"

#include <boost/json/value.hpp>

#include <algorithm>
#include <cctype>

#include "fieldsync/sync/ids.hpp"

namespace fieldsync::sync {
namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return false;
  for (std::size_t i = pos; i < pos + n; ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

int number(std::string_view s, std::size_t pos, std::size_t n) {
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

// YYYY-MM-DD with a month 1-12 and a day 1-31.
bool is_date(std::string_view s) {
  if (s.size() < 10 || !digits(s, 0, 4) || s[4] != '-' || !digits(s, 5, 2) || s[7] != '-' ||
      !digits(s, 8, 2))
    return false;
  int month = number(s, 5, 2);
  int day = number(s, 8, 2);
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

// YYYY-MM-DDTHH:MM[:SS][Z]
bool is_datetime(std::string_view s) {
  if (!is_date(s) || s.size() < 16 || (s[10] != 'T' && s[10] != ' ') || !digits(s, 11, 2) ||
      s[13] != ':' || !digits(s, 14, 2))
    return false;
  if (number(s, 11, 2) > 23 || number(s, 14, 2) > 59) return false;
  std::string_view rest = s.substr(16);
  if (rest.size() >= 3 && rest[0] == ':' && digits(rest, 1, 2)) rest = rest.substr(3);
  return rest.empty() || rest == "Z";
}

}  // namespace

const FieldSpec* CollectionSpec::field(std::string_view field_name) const {
  for (const auto& f : fields)
    if (f.name == field_name) return &f;
  return nullptr;
}

Schema::Schema(int version, std::vector<CollectionSpec> collections)
    : version_(version), collections_(std::move(collections)) {}

const CollectionSpec* Schema::collection(std::string_view name) const {
  for (const auto& c : collections_)
    if (c.name == name) return &c;
  return nullptr;
}

Status Schema::check_value(const CollectionSpec& c, const FieldSpec& f,
                           const boost::json::value& value) const {
  auto where = c.name + "." + f.name;
  if (!value.is_string()) return {Code::wrong_type, where + " takes a string value"};
  std::string_view s = value.get_string();
  if (s.size() > std::size_t{64} * 1024)
    return {Code::wrong_type, where + " is longer than 64 KiB"};
  switch (f.type) {
    case FieldType::text:
    case FieldType::set:
      return Status::ok();
    case FieldType::date:
      if (!is_date(s) || s.size() != 10)
        return {Code::wrong_type, where + " takes a date YYYY-MM-DD"};
      return Status::ok();
    case FieldType::datetime:
      if (!is_datetime(s))
        return {Code::wrong_type, where + " takes a time YYYY-MM-DDTHH:MM[:SS][Z]"};
      return Status::ok();
    case FieldType::choice:
      if (std::find(f.choices.begin(), f.choices.end(), s) == f.choices.end()) {
        std::string list;
        for (const auto& ch : f.choices) list += (list.empty() ? "" : ", ") + ch;
        return {Code::wrong_type, where + " takes one of: " + list};
      }
      return Status::ok();
    case FieldType::ref:
      if (!is_valid_record_id(s))
        return {Code::wrong_type, where + " takes a " + f.ref_collection + " id"};
      return Status::ok();
  }
  return {Code::internal, "unhandled field type"};
}

std::string_view policy_name(MergePolicy p) {
  switch (p) {
    case MergePolicy::register_lww:
      return "register";
    case MergePolicy::register_review:
      return "register_review";
    case MergePolicy::add_wins_set:
      return "add_wins_set";
    case MergePolicy::write_once:
      return "write_once";
  }
  return "?";
}

std::string_view type_name(FieldType t) {
  switch (t) {
    case FieldType::text:
      return "text";
    case FieldType::date:
      return "date";
    case FieldType::datetime:
      return "datetime";
    case FieldType::choice:
      return "choice";
    case FieldType::ref:
      return "ref";
    case FieldType::set:
      return "set";
  }
  return "?";
}

}  // namespace fieldsync::sync
