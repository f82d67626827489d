// Hybrid logical clock: monotonic, adopts remote time, refuses clocks beyond the bound.
#include <catch2/catch.hpp>

#include "fieldsync/sync/hlc.hpp"

using fieldsync::sync::Hlc;
using fieldsync::sync::HlcClock;

TEST_CASE("hlc: local events are strictly increasing even when physical time stalls") {
  HlcClock c;
  Hlc a = c.now(1000);
  Hlc b = c.now(1000);
  Hlc d = c.now(999);  // the physical clock stepped back
  REQUIRE(a < b);
  REQUIRE(b < d);
  REQUIRE(d.wall_ms == 1000);
}

TEST_CASE("hlc: a remote clock within the bound is adopted") {
  HlcClock c(Hlc{}, 60'000);
  REQUIRE(c.observe(Hlc{30'000, 4}, 1000));
  Hlc next = c.now(1000);
  REQUIRE(next > Hlc{30'000, 4});
}

TEST_CASE("hlc: a remote clock beyond the bound is reported and not adopted") {
  HlcClock c(Hlc{}, 60'000);
  const Hlc far{1000 + 3 * 24 * 3600 * 1000LL, 0};
  REQUIRE_FALSE(c.observe(far, 1000));
  REQUIRE(c.last().wall_ms == 1000);
  REQUIRE(c.now(2000) < far);
  REQUIRE(c.is_skewed(far, 1000));
}

TEST_CASE("hlc: text form round-trips and sorts like the value") {
  Hlc a{0x18c2a3b4c5dLL, 7};
  Hlc b{0x18c2a3b4c5dLL, 8};
  REQUIRE(Hlc::parse(a.to_string()) == a);
  REQUIRE(a.to_string() < b.to_string());
  REQUIRE_FALSE(Hlc::parse("nonsense").has_value());
  REQUIRE_FALSE(Hlc::parse("zzzzzzzzzzzzzzzz-00000000").has_value());
}
