// The default field-outreach schema, in one place. To extend it: add a field or collection
// below and bump kSchemaVersion (devices and server compare versions at hello; a field unknown
// to the server is refused per operation, never silently dropped).
#include "fieldsync/sync/schema.hpp"

namespace fieldsync::sync {
namespace {

// 2: cases.shared_with (the users a case is shared with; identity and access).
constexpr int kSchemaVersion = 2;

FieldSpec text(std::string name, bool sensitive = false) {
  return {std::move(name), FieldType::text, MergePolicy::register_lww, sensitive, {}, {}};
}
FieldSpec date(std::string name, bool sensitive = false) {
  return {std::move(name), FieldType::date, MergePolicy::register_lww, sensitive, {}, {}};
}
FieldSpec datetime(std::string name) {
  return {std::move(name), FieldType::datetime, MergePolicy::register_lww, false, {}, {}};
}
FieldSpec choice(std::string name, std::vector<std::string> choices,
                 MergePolicy policy = MergePolicy::register_lww, bool sensitive = false) {
  return {std::move(name), FieldType::choice, policy, sensitive, std::move(choices), {}};
}
FieldSpec ref(std::string name, std::string collection) {
  return {std::move(name),      FieldType::ref, MergePolicy::register_lww, false, {},
          std::move(collection)};
}
FieldSpec set(std::string name, bool sensitive = false) {
  return {std::move(name), FieldType::set, MergePolicy::add_wins_set, sensitive, {}, {}};
}
// Fields of append-only collections are written once, at creation.
FieldSpec once(FieldSpec f) {
  f.policy = MergePolicy::write_once;
  return f;
}

Schema make_default_schema() {
  std::vector<CollectionSpec> c;
  c.push_back(
      {"clients",
       false,
       {text("name", true), date("date_of_birth", true), text("contact", true),
        text("address", true), text("location_description", true), text("preferred_language")}});
  c.push_back(
      {"cases",
       false,
       {ref("client_id", "clients"), text("programme"),
        choice("status", {"assessment", "planning", "implementation", "evaluation", "closed"}),
        choice("risk", {"low", "medium", "high", "critical"}, MergePolicy::register_review, true),
        choice("consent", {"given", "withdrawn", "unknown"}, MergePolicy::register_review, true),
        text("assigned_to"), set("shared_with"), set("needs", true), date("opened_on"),
        date("closed_on")}});
  c.push_back({"visits",
               false,
               {ref("case_id", "cases"), datetime("time"), text("place", true),
                choice("kind", {"home", "outreach", "office", "phone", "video", "clinic"}),
                text("outcome", true)}});
  c.push_back(
      {"notes",
       true,
       {once(ref("case_id", "cases")), once(text("text", true)), once(ref("visit_id", "visits"))}});
  c.push_back({"referrals",
               false,
               {ref("case_id", "cases"), text("service"),
                choice("status", {"proposed", "sent", "accepted", "declined", "completed"}),
                date("sent_on")}});
  c.push_back({"tasks",
               false,
               {ref("case_id", "cases"), text("title", true), date("due_date"),
                choice("status", {"open", "done", "cancelled"}), text("assigned_to")}});
  return Schema(kSchemaVersion, std::move(c));
}

}  // namespace

const Schema& default_schema() {
  static const Schema schema = make_default_schema();
  return schema;
}

}  // namespace fieldsync::sync
