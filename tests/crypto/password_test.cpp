// Password hashes (crypto/password.hpp): Argon2id strings that verify the password they were
// made from and nothing else.
#include <catch2/catch.hpp>

#include <string>

#include "fieldsync/crypto/password.hpp"

using namespace fieldsync;

namespace {

std::span<const std::uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

TEST_CASE("a password hash is Argon2id, salted, and verifies only its password", "[password]") {
  const std::string password = "correct horse battery";
  auto a = crypto::hash_password(bytes(password), crypto::KdfLimits::minimum());
  auto b = crypto::hash_password(bytes(password), crypto::KdfLimits::minimum());
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->rfind("$argon2id$", 0) == 0);
  CHECK(*a != *b);  // a fresh salt each time
  CHECK(crypto::verify_password(*a, bytes(password)));
  CHECK(crypto::verify_password(*b, bytes(password)));
  CHECK_FALSE(crypto::verify_password(*a, bytes("correct horse battery ")));
  CHECK_FALSE(crypto::verify_password(*a, bytes("")));
}

TEST_CASE("a string that is not a password hash verifies nothing", "[password]") {
  CHECK_FALSE(crypto::verify_password("", bytes("x")));
  CHECK_FALSE(crypto::verify_password("$argon2id$v=19$garbage", bytes("x")));
  CHECK_FALSE(crypto::verify_password(std::string(500, 'a'), bytes("x")));
}
