// The server store on the encrypting VFS (SqliteStoreOptions::key_file): data round-trips
// across reopen with no plaintext on disk, and every way of opening it with the wrong key, no
// key or a bad key file is a clear error with its own code.
#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/server/apply.hpp"
#include "fieldsync/server/server.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "test_util.hpp"

using namespace fieldsync;
using namespace fieldsync::test;

namespace {

const std::string kA = device_id(1);
// Record content that must never reach the disk in the clear.
const std::string kSecretValue = "Zanzibar-Housing-7731";
const std::string kSecretNote = "met Amina at the riverside shelter";

void store_ops(server::ServerStore& store, const std::vector<sync::Op>& ops) {
  auto tx = store.begin();
  REQUIRE(tx);
  auto r = server::apply_batch(**tx, ops, sync::default_schema(), {kNowMs, 1000});
  REQUIRE(r);
  REQUIRE((*tx)->commit());
}

std::vector<sync::Op> secret_ops() {
  std::vector<sync::Op> ops;
  ops.reserve(51);
  for (int i = 0; i < 50; ++i)
    ops.push_back(put_op(kA, static_cast<std::uint64_t>(i) + 1, "cases", "c" + std::to_string(i),
                         {{"programme", boost::json::value(kSecretValue)}}));
  ops.push_back(note_op(kA, 51, "n1", "c1", kSecretNote));
  return ops;
}

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// No known plaintext in the file: neither record content nor SQLite's header.
void check_sealed(const std::string& path) {
  const std::string bytes = bytes_of(path);
  INFO(path << ": " << bytes.size() << " bytes");
  CHECK(bytes.find(kSecretValue) == std::string::npos);
  CHECK(bytes.find(kSecretNote) == std::string::npos);
  CHECK(bytes.find("SQLite format 3") == std::string::npos);
}

server::SqliteStoreOptions with_key(const std::string& key_file) {
  server::SqliteStoreOptions o;
  o.key_file = key_file;
  return o;
}

std::string new_key_file(const TempDir& dir, const std::string& name) {
  std::string path = dir.file(name);
  REQUIRE(crypto::write_key_file(path));
  return path;
}

// The root page of the log table, read through the key after checkpointing the WAL into the
// main file (so that the page's only copy is there).
std::uint32_t checkpointed_log_root(const std::string& path, const std::string& key_file) {
  auto credential = crypto::Credential::from_key_file(key_file);
  REQUIRE(credential);
  auto key = crypto::open_key(path, *credential);
  REQUIRE(key);
  crypto::OpenOptions o;
  o.key = &*key;
  auto db = crypto::Database::open(path, o);
  REQUIRE(db);
  REQUIRE((*db)->exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  auto root = (*db)->prepare("SELECT rootpage FROM sqlite_master WHERE name = 'log'");
  REQUIRE(root);
  auto row = root->step();
  REQUIRE(row);
  REQUIRE(*row);
  return static_cast<std::uint32_t>(root->column_int(0));
}

void flip_byte(const std::string& path, std::size_t offset) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  REQUIRE(f);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  REQUIRE(f.get(c));
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5a));
  REQUIRE(f.flush());
}

}  // namespace

TEST_CASE("an encrypted store round-trips ops across reopen with no plaintext on disk",
          "[store][encrypted]") {
  TempDir dir;
  const std::string path = dir.file("fieldsync.db");
  const std::string key_file = new_key_file(dir, "server.key");
  {
    auto store = server::SqliteStore::open(path, with_key(key_file));
    REQUIRE(store);
    store_ops(**store, secret_ops());
    auto page = (*store)->read_log(0, 100, "");  // through a reader connection
    REQUIRE(page);
    CHECK(page->entries.size() == 51);
    CHECK(std::filesystem::file_size(path + "-wal") > 0);
    check_sealed(path + "-wal");
    check_sealed(path);
  }
  CHECK(std::filesystem::exists(crypto::envelope_path(path)));
  CHECK(std::filesystem::file_size(path) > 4096);  // checkpointed when the store closed
  check_sealed(path);

  auto store = server::SqliteStore::open(path, with_key(key_file));
  REQUIRE(store);
  CHECK(*(*store)->head() == 51);
  auto c7 = (*store)->get_record("cases", "c7");
  REQUIRE(c7);
  REQUIRE(c7->has_value());
  CHECK((*c7)->fields.at("programme") == boost::json::value(kSecretValue));
  auto page = (*store)->read_log(50, 10, "");
  REQUIRE(page);
  REQUIRE(page->entries.size() == 1);
  CHECK(page->entries[0].op == secret_ops().back());
}

TEST_CASE("an encrypted store opened with another key file is Code::wrong_passphrase",
          "[store][encrypted]") {
  TempDir dir;
  const std::string path = dir.file("fieldsync.db");
  REQUIRE(server::SqliteStore::open(path, with_key(new_key_file(dir, "right.key"))));
  auto store = server::SqliteStore::open(path, with_key(new_key_file(dir, "wrong.key")));
  REQUIRE_FALSE(store);
  CHECK(store.status().code() == Code::wrong_passphrase);
  CHECK_THAT(store.status().message(), Catch::Contains("the key file does not unlock"));
}

TEST_CASE("a plain store given a key file is refused, not encrypted in place",
          "[store][encrypted]") {
  TempDir dir;
  const std::string path = dir.file("fieldsync.db");
  {
    auto plain = server::SqliteStore::open(path);
    REQUIRE(plain);
    store_ops(**plain, secret_ops());
  }
  CHECK(bytes_of(path).find(kSecretValue) != std::string::npos);  // what check_sealed looks for
  auto store = server::SqliteStore::open(path, with_key(new_key_file(dir, "server.key")));
  REQUIRE_FALSE(store);
  CHECK(store.status().code() == Code::invalid_argument);
  CHECK_THAT(store.status().message(), Catch::Contains(path + "' is not encrypted"));
  CHECK_FALSE(std::filesystem::exists(crypto::envelope_path(path)));
  auto again = server::SqliteStore::open(path);  // still a good plain store
  REQUIRE(again);
  CHECK(*(*again)->head() == 51);
}

TEST_CASE("an encrypted store opened without a key file is refused", "[store][encrypted]") {
  TempDir dir;
  const std::string path = dir.file("fieldsync.db");
  REQUIRE(server::SqliteStore::open(path, with_key(new_key_file(dir, "server.key"))));
  auto store = server::SqliteStore::open(path);
  REQUIRE_FALSE(store);
  CHECK(store.status().code() == Code::invalid_argument);
  CHECK_THAT(store.status().message(), Catch::Contains("is encrypted"));
  CHECK_THAT(store.status().message(), Catch::Contains("no key file was given"));
}

TEST_CASE("a missing, too open or malformed key file is refused before any file is made",
          "[store][encrypted]") {
  TempDir dir;
  const std::string path = dir.file("fieldsync.db");
  const std::string key_file = dir.file("server.key");
  SECTION("missing") {
    auto store = server::SqliteStore::open(path, with_key(key_file));
    REQUIRE_FALSE(store);
    CHECK(store.status().code() == Code::not_found);
    CHECK_THAT(store.status().message(), Catch::Contains("key file '" + key_file + "'"));
  }
  SECTION("readable by others") {
    REQUIRE(crypto::write_key_file(key_file));
    REQUIRE(::chmod(key_file.c_str(), 0644) == 0);
    auto store = server::SqliteStore::open(path, with_key(key_file));
    REQUIRE_FALSE(store);
    CHECK(store.status().code() == Code::invalid_argument);
    CHECK_THAT(store.status().message(), Catch::Contains("readable by group or others"));
  }
  SECTION("malformed") {
    std::ofstream(key_file) << "not a key\n";
    REQUIRE(::chmod(key_file.c_str(), 0600) == 0);
    auto store = server::SqliteStore::open(path, with_key(key_file));
    REQUIRE_FALSE(store);
    CHECK(store.status().code() == Code::invalid_argument);
    CHECK_THAT(store.status().message(), Catch::Contains("64 hex digits"));
  }
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK_FALSE(std::filesystem::exists(crypto::envelope_path(path)));
}

TEST_CASE("a tampered page of an encrypted store is Code::tampered naming file and page",
          "[store][encrypted]") {
  TempDir dir;
  const std::string path = dir.file("fieldsync.db");
  const std::string key_file = new_key_file(dir, "server.key");
  {
    auto store = server::SqliteStore::open(path, with_key(key_file));
    REQUIRE(store);
    store_ops(**store, secret_ops());
  }
  const std::uint32_t log_root = checkpointed_log_root(path, key_file);
  REQUIRE(log_root > 1);
  std::uint32_t page = 1;
  SECTION("page 1, read when the store opens") {}
  SECTION("the log's root page, read for the head") { page = log_root; }
  flip_byte(path, std::size_t{page - 1} * 4096 + 1000);
  auto store = server::SqliteStore::open(path, with_key(key_file));
  REQUIRE_FALSE(store);
  const std::string& message = store.status().message();
  CHECK(store.status().code() == Code::tampered);
  CHECK_THAT(message, Catch::Contains("page " + std::to_string(page) + " failed authentication"));
  CHECK_THAT(message, Catch::Contains("file '" + path));
  CHECK_THAT(message, !Catch::Contains("I/O error"));
}

TEST_CASE("Server::start opens an encrypted store and refuses the wrong key",
          "[server][encrypted]") {
  TempDir dir;
  server::ServerConfig config;
  config.data_dir = dir.path().string();
  config.port = 0;
  config.log_level = "off";
  config.key_file = new_key_file(dir, "server.key");
  {
    auto running = server::Server::start(config);
    REQUIRE(running);
  }
  CHECK(std::filesystem::exists(crypto::envelope_path(dir.file(server::kStoreFileName))));
  config.key_file = new_key_file(dir, "other.key");
  auto wrong = server::Server::start(config);
  REQUIRE_FALSE(wrong);
  CHECK(wrong.status().code() == Code::wrong_passphrase);
  config.key_file.clear();
  auto none = server::Server::start(config);
  REQUIRE_FALSE(none);
  CHECK(none.status().code() == Code::invalid_argument);
}
