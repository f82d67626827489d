// Ids: unique without coordination, validated at every boundary.
#include <catch2/catch.hpp>

#include <set>

#include "fieldsync/sync/ids.hpp"

using namespace fieldsync::sync;

TEST_CASE("ids: device ids are 32 hex digits and do not repeat") {
  fieldsync::crypto::SeededRandom r(42);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = new_device_id(r);
    REQUIRE(is_valid_device_id(id));
    REQUIRE(seen.insert(id).second);
  }
}

TEST_CASE("ids: operation ids carry device and counter") {
  fieldsync::crypto::SeededRandom r(1);
  auto dev = new_device_id(r);
  auto op = make_op_id(dev, 17);
  auto parsed = parse_op_id(op);
  REQUIRE(parsed);
  REQUIRE(parsed->first == dev);
  REQUIRE(parsed->second == 17);
  REQUIRE_FALSE(parse_op_id("abc.1"));
  REQUIRE_FALSE(parse_op_id(dev + ".0"));
  REQUIRE_FALSE(parse_op_id(dev + ".1x"));
  REQUIRE_FALSE(parse_op_id(dev));
}

TEST_CASE("ids: record ids are 1-64 characters of A-Za-z0-9._-") {
  REQUIRE(is_valid_record_id("case-42"));
  REQUIRE(is_valid_record_id("A.b_c-9"));
  REQUIRE(is_valid_record_id(std::string(64, 'x')));
  REQUIRE_FALSE(is_valid_record_id(""));
  REQUIRE_FALSE(is_valid_record_id(std::string(65, 'x')));
  REQUIRE_FALSE(is_valid_record_id("a b"));
  REQUIRE_FALSE(is_valid_record_id("a/b"));
  REQUIRE_FALSE(is_valid_record_id("é"));
}
