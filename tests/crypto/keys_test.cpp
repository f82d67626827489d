// Key envelopes: create, unlock, wrong passphrase, malformed envelopes, key files.
#include <sys/stat.h>

#include "crypto_test_util.hpp"
#include "fieldsync/crypto/keys.hpp"

using namespace fieldsync;
using namespace fieldsync::crypto;
using namespace fieldsync::crypto::test;

TEST_CASE("a created key opens again with the same passphrase only") {
  ScratchDir dir;
  std::string db = dir.file("r.db");
  auto key = create_key(db, pass("correct horse"));
  REQUIRE(key);
  auto again = open_key(db, pass("correct horse"));
  REQUIRE(again);
  CHECK(again->db_id() == key->db_id());
  CHECK(again->page_size() == 4096);
  auto wrong = open_key(db, pass("correct horsf"));
  REQUIRE_FALSE(wrong);
  CHECK(wrong.status().code() == Code::wrong_passphrase);
  CHECK(bytes_of(envelope_path(db)).size() == 136);
}

TEST_CASE("create_key refuses an existing database or envelope, open_key needs one") {
  ScratchDir dir;
  std::string db = dir.file("r.db");
  REQUIRE(create_key(db, pass("a")));
  CHECK(create_key(db, pass("a")).status().code() == Code::invalid_argument);
  CHECK(open_key(dir.file("none.db"), pass("a")).status().code() == Code::not_found);
  CHECK(create_key(dir.file("x.db"), pass("a"), KeyOptions{3000}).status().code() ==
        Code::invalid_argument);
}

TEST_CASE("every envelope field is authenticated") {
  ScratchDir dir;
  std::string db = dir.file("r.db");
  REQUIRE(create_key(db, pass("pw")));
  const auto original = bytes_of(envelope_path(db));
  // db id, opslimit, memlimit, salt, nonce, wrapped key, tag
  for (std::size_t at : {16u, 20u, 39u, 47u, 50u, 70u, 90u, 130u}) {
    auto edited = original;
    edited[at] ^= 0x01;
    write_bytes(envelope_path(db), edited);
    auto r = open_key(db, pass("pw"));
    INFO("byte " << at << ": " << r.status().to_string());
    REQUIRE_FALSE(r);
    CHECK((r.status().code() == Code::wrong_passphrase || r.status().code() == Code::tampered));
  }
  auto bad_magic = original;
  bad_magic[0] = 'X';
  write_bytes(envelope_path(db), bad_magic);
  CHECK(open_key(db, pass("pw")).status().code() == Code::tampered);
  write_bytes(envelope_path(db), original);
  CHECK(open_key(db, pass("pw")));
}

TEST_CASE("a key file unlocks a server database, a passphrase does not") {
  ScratchDir dir;
  std::string key_file = dir.file("server.key");
  REQUIRE(write_key_file(key_file));
  CHECK(write_key_file(key_file).code() == Code::invalid_argument);
  auto cred = Credential::from_key_file(key_file);
  REQUIRE(cred);
  std::string db = dir.file("server.db");
  auto key = create_key(db, *cred);
  REQUIRE(key);
  auto again = Credential::from_key_file(key_file);
  REQUIRE(again);
  CHECK(open_key(db, *again));
  CHECK(open_key(db, pass("guess")).status().code() == Code::wrong_passphrase);

  std::string other = dir.file("other.key");
  REQUIRE(write_key_file(other));
  auto other_cred = Credential::from_key_file(other);
  REQUIRE(other_cred);
  CHECK(open_key(db, *other_cred).status().code() == Code::wrong_passphrase);
}

TEST_CASE("key files: raw 32 bytes or hex, private, well formed") {
  ScratchDir dir;
  std::string raw = dir.file("raw.key");
  write_bytes(raw, std::vector<std::uint8_t>(32, 7));
  ::chmod(raw.c_str(), 0600);
  CHECK(Credential::from_key_file(raw));
  ::chmod(raw.c_str(), 0644);
  CHECK(Credential::from_key_file(raw).status().code() == Code::invalid_argument);
  std::string bad = dir.file("bad.key");
  std::string text = "not a key\n";
  write_bytes(bad, {text.begin(), text.end()});
  ::chmod(bad.c_str(), 0600);
  CHECK(Credential::from_key_file(bad).status().code() == Code::invalid_argument);
}

TEST_CASE("SecureBuffer::take wipes the source string") {
  std::string text = "hunter2";
  SecureBuffer b = SecureBuffer::take(text);
  CHECK(text.empty());
  REQUIRE(b.size() == 7);
  CHECK(std::string(reinterpret_cast<const char*>(b.data()), b.size()) == "hunter2");
  SecureBuffer moved = std::move(b);
  CHECK(b.empty());
  CHECK(moved.size() == 7);
}
