// Several Replica objects on one file (as several processes would be): writers wait for each
// other instead of failing, and operation ids stay unique.
#include <set>
#include <thread>

#include "replica_test_util.hpp"

using fieldsync::client::FieldEdit;
using fieldsync::client::Replica;
using namespace fieldsync::test;

TEST_CASE("two Replica objects on one file write concurrently from two threads", "[replica]") {
  TempDir dir;
  FakeClock clock;
  auto path = dir.file("r.db");
  make_replica(path, clock).reset();

  constexpr int kWrites = 40;
  auto writer = [&](const std::string& prefix, int* failures) {
    auto r = Replica::open(path, credential(), options(clock));
    if (!r) {
      ++*failures;
      return;
    }
    for (int i = 0; i < kWrites; ++i) {
      // Every thread edits a shared record too, so both write the same rows.
      auto a = (*r)->put("cases", prefix + std::to_string(i),
                         {{"status", FieldEdit::Kind::set, "assessment"}});
      auto b = (*r)->put("cases", "shared",
                         {{"needs", FieldEdit::Kind::add, prefix + std::to_string(i)}});
      if (!a || !b) ++*failures;
    }
  };
  int failures_a = 0, failures_b = 0;
  std::thread ta(writer, "a", &failures_a);
  std::thread tb(writer, "b", &failures_b);
  ta.join();
  tb.join();
  CHECK(failures_a == 0);
  CHECK(failures_b == 0);

  auto r = Replica::open(path, credential(), options(clock));
  REQUIRE(r.is_ok());
  auto box = (*r)->outbox();
  REQUIRE(box.is_ok());
  CHECK(box->size() == 4 * kWrites);
  std::set<std::string> ids;
  for (const auto& e : *box) ids.insert(e.op.id);
  CHECK(ids.size() == box->size());
  CHECK((*r)->list("cases")->size() == 2 * kWrites + 1);
  auto shared = (*r)->get("cases", "shared");
  CHECK((*shared)->fields.at("needs").as_array().size() == 2 * kWrites);
}
