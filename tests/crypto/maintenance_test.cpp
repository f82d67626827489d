// Passphrase change, DEK rotation, VACUUM, the backup API, and crash recovery on encrypted
// databases.
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto_test_util.hpp"
#include "fieldsync/crypto/encrypted_vfs.hpp"
#include "fieldsync/crypto/maintenance.hpp"

using namespace fieldsync;
using namespace fieldsync::crypto;
using namespace fieldsync::crypto::test;

namespace {

std::int64_t clients_in(const std::string& path, const DatabaseKey& key) {
  auto db = open_db(path, encrypted(key));
  return scalar(*db, "SELECT count(*) FROM clients");
}

}  // namespace

TEST_CASE("changing the passphrase rewraps the key only") {
  ScratchDir dir;
  std::string path = make_db(dir, "r.db", 40, "old pw");
  const auto pages_before = bytes_of(path);
  const auto envelope_before = bytes_of(envelope_path(path));
  REQUIRE(change_credential(path, pass("old pw"), pass("new pw")));
  CHECK(bytes_of(path) == pages_before);
  CHECK(bytes_of(envelope_path(path)) != envelope_before);
  CHECK(open_key(path, pass("old pw")).status().code() == Code::wrong_passphrase);
  auto key = open_key(path, pass("new pw"));
  REQUIRE(key);
  CHECK(clients_in(path, *key) == 40);
  CHECK(change_credential(path, pass("old pw"), pass("x")).code() == Code::wrong_passphrase);
}

TEST_CASE("rekey rotates the data key and keeps the data") {
  ScratchDir dir;
  std::string path = make_db(dir, "r.db", 80, "old pw");
  auto old_key = open_key(path, pass("old pw"));
  REQUIRE(old_key);
  const auto envelope_before = bytes_of(envelope_path(path));
  {
    auto db = open_db(path, encrypted(*old_key));  // leave a WAL behind
    keep_wal(*db);
    add_clients(*db, 80, 100);
  }
  REQUIRE(std::filesystem::exists(path + "-wal"));
  auto next = rekey(path, pass("old pw"));
  INFO(next.status().to_string());
  REQUIRE(next);
  CHECK(next->db_id() != old_key->db_id());
  auto envelope_after = bytes_of(envelope_path(path));
  CHECK(
      std::equal(envelope_after.begin() + 16, envelope_after.begin() + 32, next->db_id().begin()));
  CHECK(
      !std::equal(envelope_after.begin() + 88, envelope_after.end(), envelope_before.begin() + 88));
  CHECK_FALSE(std::filesystem::exists(path + "-wal"));
  CHECK_FALSE(std::filesystem::exists(path + ".rekey"));
  CHECK_FALSE(std::filesystem::exists(path + ".rekey.keys"));
  CHECK(check(path, *old_key).status().code() == Code::tampered);
  REQUIRE(check(path, *next));
  auto reopened = open_key(path, pass("old pw"));
  REQUIRE(reopened);
  CHECK(reopened->db_id() == next->db_id());
  CHECK(clients_in(path, *reopened) == 100);
}

TEST_CASE("open_key completes a rekey interrupted between the two renames") {
  ScratchDir dir;
  std::string path = make_db(dir, "r.db", 20, "old pw");
  const auto old_envelope = bytes_of(envelope_path(path));
  auto next = rekey(path, pass("old pw"));
  REQUIRE(next);
  // The state a crash after the database rename leaves: new db, old envelope, new one aside.
  std::filesystem::rename(envelope_path(path), path + ".rekey.keys");
  write_bytes(envelope_path(path), old_envelope);
  auto key = open_key(path, pass("old pw"));
  REQUIRE(key);
  CHECK(key->db_id() == next->db_id());
  CHECK_FALSE(std::filesystem::exists(path + ".rekey.keys"));
  CHECK(clients_in(path, *key) == 20);
}

TEST_CASE("open_key discards a rekey interrupted before the swap") {
  ScratchDir dir;
  std::string path = make_db(dir, "r.db", 20, "old pw");
  auto half = create_key(path + ".rekey", pass("old pw"));
  REQUIRE(half);
  { open_db(path + ".rekey", encrypted(*half)); }
  auto key = open_key(path, pass("old pw"));
  REQUIRE(key);
  CHECK_FALSE(std::filesystem::exists(path + ".rekey"));
  CHECK_FALSE(std::filesystem::exists(path + ".rekey.keys"));
  CHECK(clients_in(path, *key) == 20);
}

TEST_CASE("VACUUM and VACUUM INTO work on an encrypted database") {
  ScratchDir dir;
  std::string path = make_db(dir, "r.db", 120, "old pw");
  auto key = open_key(path, pass("old pw"));
  REQUIRE(key);
  auto db = open_db(path, encrypted(*key));
  REQUIRE(db->exec("DELETE FROM notes WHERE id % 2 = 0; VACUUM;"));
  CHECK(scalar(*db, "SELECT count(*) FROM notes") == 180);
  CHECK(scalar(*db, "PRAGMA freelist_count") == 0);

  std::string copy = dir.file("copy.db");
  auto copy_key = create_key(copy, pass("copy pw"));
  REQUIRE(copy_key);
  KeyBinding binding(*copy_key);
  auto into = db->prepare("VACUUM INTO ?1");
  REQUIRE(into);
  REQUIRE(into->bind(1, binding.uri(copy)).run());
  db.reset();
  REQUIRE(check(path, *key));
  REQUIRE(check(copy, *copy_key));
  CHECK(clients_in(copy, *copy_key) == 120);
  for (const auto& secret : secrets()) CHECK_FALSE(contains(bytes_of(copy), secret));
  for (const auto& secret : secrets()) CHECK_FALSE(contains(bytes_of(path), secret));
}

TEST_CASE("the backup API copies an encrypted database into another one") {
  ScratchDir dir;
  std::string path = make_db(dir, "r.db", 60, "old pw");
  auto key = open_key(path, pass("old pw"));
  REQUIRE(key);
  std::string copy = dir.file("backup.db");
  auto copy_key = create_key(copy, pass("backup pw"));
  REQUIRE(copy_key);
  {
    auto src = open_db(path, encrypted(*key));
    auto dst = open_db(copy, encrypted(*copy_key, /*wal=*/false));
    sqlite3_backup* b = sqlite3_backup_init(dst->handle(), "main", src->handle(), "main");
    REQUIRE(b);
    while (sqlite3_backup_step(b, 5) == SQLITE_OK) {
    }
    REQUIRE(sqlite3_backup_finish(b) == SQLITE_OK);
  }
  REQUIRE(check(copy, *copy_key));
  CHECK(clients_in(copy, *copy_key) == 60);
  for (const auto& secret : secrets()) CHECK_FALSE(contains(bytes_of(copy), secret));
}

namespace {

// In a child process: commits `committed` clients one transaction at a time, then starts a
// big transaction that spills pages to disk and dies without committing or closing.
[[noreturn]] void crash_child(const std::string& path, bool wal, int committed) {
  auto key = open_key(path, pass("old pw"));
  if (!key) _exit(2);
  auto db = Database::open(path, encrypted(*key, wal));
  if (!db) _exit(3);
  for (int i = 0; i < committed; ++i) {
    auto st = (*db)->prepare("INSERT INTO clients(client_full_name) VALUES('committed')");
    if (!st || !st->run()) _exit(4);
  }
  if (!(*db)->exec("PRAGMA cache_size=5; BEGIN;"
                   "INSERT INTO notes(visit_note_text) SELECT visit_note_text FROM notes;"
                   "UPDATE clients SET client_full_name = 'uncommitted';"))
    _exit(5);
  _exit(0);
}

void crash_and_recover(bool wal) {
  ScratchDir dir;
  std::string path = make_db(dir, "r.db", 50, "old pw");
  if (!wal) {
    auto key = open_key(path, pass("old pw"));
    REQUIRE(key);
    REQUIRE(open_db(path, encrypted(*key))->exec("PRAGMA journal_mode=DELETE"));
  }
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) crash_child(path, wal, 25);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  const std::string left = path + (wal ? "-wal" : "-journal");  // what recovery must read
  REQUIRE(std::filesystem::exists(left));
  REQUIRE(std::filesystem::file_size(left) > 2 * 4096);  // holds page images
  for (const auto& secret : secrets()) CHECK_FALSE(contains(bytes_of(left), secret));
  auto key = open_key(path, pass("old pw"));
  REQUIRE(key);
  auto db = open_db(path, encrypted(*key, wal));
  CHECK(scalar(*db, "SELECT count(*) FROM clients") == 75);
  CHECK(scalar(*db, "SELECT count(*) FROM clients WHERE client_full_name = 'committed'") == 25);
  CHECK(scalar(*db, "SELECT count(*) FROM clients WHERE client_full_name = 'uncommitted'") == 0);
  CHECK(scalar(*db, "SELECT count(*) FROM notes") == 150);
  db.reset();
  REQUIRE(check(path, *key));
}

}  // namespace

TEST_CASE("a process killed mid-transaction loses no committed write (WAL)") {
  crash_and_recover(/*wal=*/true);
}

TEST_CASE("a process killed mid-transaction loses no committed write (rollback journal)") {
  crash_and_recover(/*wal=*/false);
}
