// The encrypting VFS: no plaintext on disk, tamper detection naming the page, fail-closed
// refusals, and plain databases untouched.
#include <sqlite3.h>

#include <cstring>

#include "crypto_test_util.hpp"
#include "fieldsync/crypto/encrypted_vfs.hpp"
#include "fieldsync/crypto/maintenance.hpp"
#include "fieldsync/crypto/random.hpp"

using namespace fieldsync;
using namespace fieldsync::crypto;
using namespace fieldsync::crypto::test;

namespace {

void require_no_plaintext(const ScratchDir& dir) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    auto bytes = bytes_of(entry.path().string());
    ++files;
    for (const auto& secret : secrets()) {
      INFO(entry.path().filename().string() << " contains '" << secret << "'");
      CHECK_FALSE(contains(bytes, secret));
    }
  }
  CHECK(files >= 2);
}

// The realistic workload: committed transactions, a ROLLBACK, a big transaction abandoned by
// closing the connection, and a WAL (or journal) left on disk.
void run_workload(const std::string& db_path, const DatabaseKey& key, bool wal) {
  {
    auto db = open_db(db_path, encrypted(key, wal));
    create_schema(*db);
    add_clients(*db, 0, 100);
  }
  auto db = open_db(db_path, encrypted(key, wal));
  if (wal) keep_wal(*db);
  add_clients(*db, 100, 200);
  REQUIRE(
      db->exec("BEGIN; UPDATE notes SET visit_note_text = visit_note_text || ' again';"
               "ROLLBACK;"));
  add_clients(*db, 200, 250);
  {
    auto abandoned = open_db(db_path, encrypted(key, wal));
    if (wal) keep_wal(*abandoned);
    if (!wal) REQUIRE(abandoned->exec("PRAGMA journal_mode=PERSIST"));
    REQUIRE(
        abandoned->exec("PRAGMA cache_size=10; BEGIN;"
                        "UPDATE notes SET visit_note_text = 'methadone dose increased';"
                        "INSERT INTO clients(client_full_name) SELECT client_full_name "
                        "FROM clients;"));
    db.reset();  // closes while `abandoned` holds its open transaction
  }
}

void require_workload_intact(const std::string& db_path, const DatabaseKey& key) {
  auto db = open_db(db_path, encrypted(key));
  CHECK(scalar(*db, "SELECT count(*) FROM clients") == 250);
  CHECK(scalar(*db, "SELECT count(*) FROM notes") == 750);
  CHECK(scalar(*db, "SELECT count(*) FROM notes WHERE visit_note_text LIKE '%again'") == 0);
  auto st = db->prepare("SELECT client_full_name FROM clients WHERE id = 7");
  REQUIRE(st);
  REQUIRE(*st->step());
  CHECK(st->column_text(0) == client_name(7));
  auto ok = db->prepare("PRAGMA integrity_check");
  REQUIRE(ok);
  REQUIRE(*ok->step());
  CHECK(ok->column_text(0) == "ok");
}

std::uint32_t page_in_message(const Status& s) {
  auto at = s.message().find(" page ");
  REQUIRE(at != std::string::npos);
  return static_cast<std::uint32_t>(std::stoul(s.message().substr(at + 6)));
}

// Opens `db_path` and reads every page of every b-tree; the Status of the first failure.
Status read_everything(const std::string& db_path, const DatabaseKey& key) {
  auto db = Database::open(db_path, encrypted(key));
  if (!db) return db.status();
  auto st = (*db)->prepare("PRAGMA integrity_check");
  if (!st) return st.status();
  for (;;) {
    auto row = st->step();
    if (!row) return row.status();
    if (!*row) return Status::ok();
    if (st->column_text(0) == "ok") continue;
    // integrity_check reports unreadable pages as rows: the binding says whether it was tamper.
    if (auto t = (*db)->tamper_report()) return Status(Code::tampered, t->message());
    return Status(Code::storage, st->column_text(0));
  }
}

std::uint32_t frame_pgno(const std::vector<std::uint8_t>& wal, std::size_t frame_offset) {
  const std::uint8_t* p = wal.data() + frame_offset;
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}

void flip(const std::string& path, std::size_t at) {
  auto bytes = bytes_of(path);
  REQUIRE(at < bytes.size());
  bytes[at] ^= 0x20;
  write_bytes(path, bytes);
}

}  // namespace

TEST_CASE("a plain database (no key) works as before") {
  ScratchDir dir;
  std::string path = dir.file("plain.db");
  {
    auto db = open_db(path, OpenOptions{});
    create_schema(*db);
    add_clients(*db, 0, 10);
    CHECK(db->key_binding() == nullptr);
    CHECK_FALSE(db->tamper_report());
  }
  CHECK(contains(bytes_of(path), "SQLite format 3"));
  auto db = open_db(path, OpenOptions{});
  CHECK(scalar(*db, "SELECT count(*) FROM clients") == 10);
}

TEST_CASE("a database that cannot grow fails with disk_full, and works again with room") {
  ScratchDir dir;
  std::string path = dir.file("full.db");
  auto db = open_db(path, OpenOptions{});
  create_schema(*db);
  add_clients(*db, 0, 10);
  // SQLITE_FULL, as on a full disk: the file may not grow past its current size.
  const std::int64_t pages = scalar(*db, "PRAGMA page_count");
  REQUIRE(db->exec("PRAGMA max_page_count=" + std::to_string(pages)));
  Status s = db->exec(
      "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1000 UNION ALL SELECT i + 1 FROM n WHERE i < 1050) "
      "INSERT INTO clients(id, client_full_name) SELECT i, hex(randomblob(2000)) FROM n; COMMIT;");
  REQUIRE_FALSE(s);
  CHECK(s.code() == Code::disk_full);
  CHECK(is_store_failure(s.code()));
  (void)db->exec("ROLLBACK");
  CHECK(scalar(*db, "SELECT count(*) FROM clients") == 10);
  REQUIRE(db->exec("PRAGMA max_page_count=1073741823"));
  add_clients(*db, 10, 20);
  CHECK(scalar(*db, "SELECT count(*) FROM clients") == 20);
}

TEST_CASE("no plaintext on disk after a WAL workload, and the data reads back") {
  ScratchDir dir;
  std::string path = dir.file("replica.db");
  auto key = create_key(path, pass("pw"));
  REQUIRE(key);
  run_workload(path, *key, /*wal=*/true);
  REQUIRE(std::filesystem::file_size(path + "-wal") > 0);
  require_no_plaintext(dir);
  auto report = check(path, *key);
  INFO(report.status().to_string());
  REQUIRE(report);
  CHECK(report->wal_frames > 0);
  require_workload_intact(path, *key);
  require_no_plaintext(dir);
}

TEST_CASE("no plaintext on disk in rollback-journal mode, hot journal rolled back") {
  ScratchDir dir;
  std::string path = dir.file("replica.db");
  auto key = create_key(path, pass("pw"));
  REQUIRE(key);
  run_workload(path, *key, /*wal=*/false);
  require_no_plaintext(dir);
  require_workload_intact(path, *key);
  require_no_plaintext(dir);
}

TEST_CASE("flipping any byte of a database page is reported as tampering of that page") {
  ScratchDir dir;
  std::string path = make_db(dir, "replica.db", 120, "pw");
  auto key = open_key(path, pass("pw"));
  REQUIRE(key);
  const std::size_t ps = key->page_size();
  const auto original = bytes_of(path);
  const std::size_t pages = original.size() / ps;
  REQUIRE(pages > 10);
  SeededRandom rng(42);
  for (std::size_t page = 0; page < pages; ++page) {
    for (std::size_t offset : {std::size_t{0}, static_cast<std::size_t>(rng.below(ps - 40)),
                               ps - 40 + rng.below(24), ps - 16 + rng.below(16)}) {
      std::size_t at = page * ps + offset;
      flip(path, at);
      INFO("flipped byte " << at << " of page " << page + 1);
      auto checked = check(path, *key);
      REQUIRE_FALSE(checked);
      CHECK(checked.status().code() == Code::tampered);
      CHECK(page_in_message(checked.status()) == page + 1);
      if (offset == 0 || page % 4 == 0) {  // through SQLite, for a sample
        Status read = read_everything(path, *key);
        INFO(read.to_string());
        CHECK(read.code() == Code::tampered);
        CHECK(page_in_message(read) == page + 1);
      }
      write_bytes(path, original);
    }
  }
  CHECK(read_everything(path, *key));
}

TEST_CASE("flipping a byte of a WAL frame's page is reported as tampering") {
  ScratchDir dir;
  std::string path = dir.file("replica.db");
  auto key = create_key(path, pass("pw"));
  REQUIRE(key);
  {
    auto db = open_db(path, encrypted(*key));
    keep_wal(*db);
    create_schema(*db);
    for (int i = 0; i < 6; ++i) add_clients(*db, i * 20, i * 20 + 20);
  }
  const std::string wal = path + "-wal";
  const auto original = bytes_of(wal);
  const std::size_t frame = 24 + key->page_size();
  const std::size_t frames = (original.size() - 32) / frame;
  REQUIRE(frames > 10);
  SeededRandom rng(7);
  for (std::size_t k = 0; k < frames; k += 1 + rng.below(3)) {
    std::size_t at = 32 + k * frame + 24 + rng.below(key->page_size());
    std::uint32_t pgno = frame_pgno(original, 32 + k * frame);
    flip(wal, at);
    INFO("flipped WAL byte " << at << " in frame " << k << " (page " << pgno << ")");
    auto checked = check(path, *key);
    REQUIRE_FALSE(checked);
    CHECK(checked.status().code() == Code::tampered);
    CHECK(page_in_message(checked.status()) == pgno);
    // Through SQLite (WAL recovery): detected unless the frame is the last commit's (then it
    // cannot be told from a write torn by a crash, and the transaction is dropped).
    if (k + 1 < frames) {
      auto copy = dir.file("copy.db");
      std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
      std::filesystem::copy_file(wal, copy + "-wal",
                                 std::filesystem::copy_options::overwrite_existing);
      std::filesystem::remove(copy + "-shm");
      Status read = read_everything(copy, *key);
      INFO(read.to_string());
      CHECK(read.code() == Code::tampered);
      CHECK(page_in_message(read) == pgno);
    }
    write_bytes(wal, original);
  }
}

TEST_CASE("swapping two sealed pages is detected") {
  ScratchDir dir;
  std::string path = make_db(dir, "replica.db", 60, "pw");
  auto key = open_key(path, pass("pw"));
  REQUIRE(key);
  const std::size_t ps = key->page_size();
  auto bytes = bytes_of(path);
  std::swap_ranges(bytes.begin() + 2 * ps, bytes.begin() + 3 * ps, bytes.begin() + 4 * ps);
  write_bytes(path, bytes);
  auto checked = check(path, *key);
  REQUIRE_FALSE(checked);
  CHECK(checked.status().code() == Code::tampered);
  CHECK(page_in_message(checked.status()) == 3);
  CHECK(read_everything(path, *key).code() == Code::tampered);
}

TEST_CASE("a database sealed under another key (a swapped envelope) is tampered, page 1") {
  ScratchDir dir;
  auto a = create_key(dir.file("a.db"), pass("pw"));
  auto b = create_key(dir.file("b.db"), pass("pw"));
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(open_db(dir.file("a.db"), encrypted(*a))->exec("CREATE TABLE t(x)"));
  auto opened = Database::open(dir.file("a.db"), encrypted(*b));
  REQUIRE_FALSE(opened);
  CHECK(opened.status().code() == Code::tampered);
  CHECK(page_in_message(opened.status()) == 1);
}

TEST_CASE("the VFS fails closed") {
  ScratchDir dir;
  std::string path = dir.file("replica.db");
  auto key = create_key(path, pass("pw"));
  REQUIRE(key);
  auto db = open_db(path, encrypted(*key));
  create_schema(*db);

  SECTION("no page size change") {
    CHECK_FALSE(db->exec("PRAGMA page_size=8192; VACUUM;"));
    CHECK(scalar(*db, "PRAGMA page_size") == 4096);
  }
  SECTION("no temp files on disk") {
    REQUIRE(db->exec("PRAGMA temp_store=FILE"));
    Status s = db->exec(
        "CREATE TEMP TABLE scratch(x); PRAGMA temp.cache_size=5;"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
        "INSERT INTO scratch SELECT printf('%0100d', i) FROM n;");
    CHECK_FALSE(s);
    for (const auto& e : std::filesystem::directory_iterator(dir.path()))
      CHECK(e.path().filename().string().rfind("replica.db", 0) == 0);
  }
  SECTION("no memory mapping") {
    REQUIRE(db->exec("PRAGMA mmap_size=1000000"));
    CHECK(scalar(*db, "PRAGMA mmap_size") == 0);
    CHECK(scalar(*db, "SELECT count(*) FROM clients") == 0);
  }
  SECTION("no file without a registered key, no psow=0") {
    REQUIRE(register_encrypted_vfs());
    sqlite3* raw = nullptr;
    std::string uri = "file:" + path + "?vfs=" + kEncryptedVfsName;
    CHECK(sqlite3_open_v2(uri.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, nullptr) !=
          SQLITE_OK);
    sqlite3_close(raw);
    KeyBinding binding(*key);
    std::string psow = binding.uri(path) + "&psow=0";
    raw = nullptr;
    CHECK(sqlite3_open_v2(psow.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, nullptr) !=
          SQLITE_OK);
    sqlite3_close(raw);
  }
  SECTION("the URI carries a handle, not the key") {
    std::string name = sqlite3_db_filename(db->handle(), "main");
    CHECK(name.find("fskey") == std::string::npos);
    REQUIRE(db->key_binding());
    CHECK(db->key_binding()->uri(path).find("fskey=") != std::string::npos);
  }
}

TEST_CASE("an encrypted database works at every page size a key may have") {
  for (const std::uint32_t size : {1024U, 2048U, 8192U, 65536U}) {
    for (const bool wal : {true, false}) {
      ScratchDir dir;
      const std::string path = dir.file("sized.db");
      INFO("page size " << size << (wal ? ", WAL" : ", rollback journal"));
      auto key = create_key(path, pass("page size"), KeyOptions{size});
      REQUIRE(key);
      {
        auto db = open_db(path, encrypted(*key, wal));
        create_schema(*db);
        add_clients(*db, 0, 50);
        auto ps = db->prepare("PRAGMA page_size");
        REQUIRE(ps);
        REQUIRE(*ps->step());
        CHECK(ps->column_int(0) == size);
      }
      auto db = open_db(path, encrypted(*key, wal));
      auto n = db->prepare("SELECT count(*) FROM clients");
      REQUIRE(n);
      REQUIRE(*n->step());
      CHECK(n->column_int(0) == 50);
    }
  }
}
