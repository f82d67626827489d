// Operations: JSON round trip and validation against the schema.
#include <catch2/catch.hpp>

#include "fieldsync/sync/op.hpp"
#include "test_device.hpp"

using namespace fieldsync;
using namespace fieldsync::sync;

namespace {
Op case_edit(const std::string& field, const std::string& value) {
  test::TestDevice d(test::device_id(1), "ana");
  return d.set("cases", "case-1", field, value, 1000);
}
}  // namespace

TEST_CASE("op: JSON round trip keeps every part") {
  test::TestDevice d(test::device_id(1), "ana");
  Op a = d.set("cases", "case-1", "status", "planning", 1000);
  Op b = d.set("cases", "case-1", "status", "implementation", 2000);
  Op c = d.add("cases", "case-1", "needs", "housing", 3000);
  Op e = d.del("cases", "case-1", 4000);
  for (const Op& op : {a, b, c, e}) {
    auto back = op_from_json(to_json(op));
    REQUIRE(back);
    REQUIRE(*back == op);
  }
  REQUIRE(b.writes[0].base == std::vector<std::string>{a.id});
}

TEST_CASE("op: validation names what is wrong") {
  const Schema& s = default_schema();
  REQUIRE(validate(case_edit("status", "planning"), s));
  CHECK(validate(case_edit("colour", "red"), s).code() == Code::unknown_field);
  CHECK(validate(case_edit("status", "dancing"), s).code() == Code::wrong_type);
  CHECK(validate(case_edit("needs", "housing"), s).code() == Code::wrong_type);

  Op bad_collection = case_edit("status", "planning");
  bad_collection.collection = "spaceships";
  CHECK(validate(bad_collection, s).code() == Code::unknown_collection);

  Op bad_id = case_edit("status", "planning");
  bad_id.record = "has space";
  CHECK(validate(bad_id, s).code() == Code::invalid_id);

  Op not_string = case_edit("programme", "x");
  not_string.writes[0].value = 42;
  CHECK(validate(not_string, s).code() == Code::wrong_type);

  Op bad_date = case_edit("opened_on", "2024-13-01");
  CHECK(validate(bad_date, s).code() == Code::wrong_type);

  test::TestDevice d(test::device_id(1), "ana");
  Op del_note = d.del("notes", "n1", 1000);
  CHECK(validate(del_note, s).code() == Code::append_only);
}

TEST_CASE("op: malformed JSON operations are errors, not crashes") {
  CHECK_FALSE(op_from_json(boost::json::value(3)));
  boost::json::object o = to_json(case_edit("status", "planning")).as_object();
  o["hlc"] = "yesterday";
  CHECK(op_from_json(o).status().code() == Code::malformed_frame);
  o = to_json(case_edit("status", "planning")).as_object();
  o.erase("w");
  CHECK_FALSE(op_from_json(o));
  o = to_json(case_edit("status", "planning")).as_object();
  o["k"] = "explode";
  CHECK_FALSE(op_from_json(o));
}
