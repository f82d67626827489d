// Writes seed inputs for fuzz_vfs_page (format: vfs_input.hpp) into the directory given:
// a database alone, a database with a WAL of committed transactions, the same WAL with a torn
// last frame, a database with a hot rollback journal, and an envelope alone. The data key is
// random, wrapped under the fuzz target's fixed key file.
//   fuzz_make_vfs_seeds tests/fuzz/corpus/vfs_page
#include <sqlite3.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/crypto/keys.hpp"
#include "vfs_input.hpp"

using namespace fieldsync;
using namespace fieldsync::crypto;
namespace fs = std::filesystem;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

int fail_at(int line, const Status& s) {
  std::fprintf(stderr, "error (line %d): %s\n", line, s.to_string().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  sqlite3_config(
      SQLITE_CONFIG_LOG,
      +[](void*, int rc, const char* msg) { std::fprintf(stderr, "sqlite (%d): %s\n", rc, msg); },
      nullptr);
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string out = argv[1];
  fs::create_directories(out);
  const fs::path tmp = fs::temp_directory_path() / "fieldsync-vfs-seeds";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const std::string db_path = (tmp / "seed.db").string();
  auto key = create_key(db_path, fuzz::fuzz_credential(), KeyOptions{4096});
  if (!key) return fail_at(__LINE__, key.status());
  const std::string envelope = read_all(envelope_path(db_path));

  OpenOptions opts;
  opts.key = &*key;
  {
    auto db = Database::open(db_path, opts);
    if (!db) return fail_at(__LINE__, db.status());
    if (Status s = (*db)->exec("CREATE TABLE cases(id TEXT PRIMARY KEY, state TEXT);"
                               "INSERT INTO cases VALUES('k1', 'planning'), ('k2', 'closed');");
        !s)
      return fail_at(__LINE__, s);
  }  // closing checkpoints: the database alone
  const std::string db_alone = read_all(db_path);
  write_all(out + "/db_only", fuzz::pack_vfs_input(envelope, db_alone, "", false));
  write_all(out + "/envelope_only", envelope);

  {
    auto db = Database::open(db_path, opts);
    if (!db) return fail_at(__LINE__, db.status());
    sqlite3_db_config((*db)->handle(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    if (Status s = (*db)->exec("PRAGMA wal_autocheckpoint=0;"
                               "INSERT INTO cases VALUES('k3', 'assessment');"
                               "UPDATE cases SET state = 'evaluation' WHERE id = 'k1';");
        !s)
      return fail_at(__LINE__, s);
    const std::string wal = read_all(db_path + "-wal");
    const std::string db_bytes = read_all(db_path);
    write_all(out + "/db_wal", fuzz::pack_vfs_input(envelope, db_bytes, wal, false));
    // A crash mid-write: the last frame cut short.
    write_all(out + "/db_wal_torn",
              fuzz::pack_vfs_input(envelope, db_bytes, wal.substr(0, wal.size() - 500), false));
  }

  // A hot journal: a rollback-mode database whose transaction never finished.
  const std::string jdb = (tmp / "journal.db").string();
  auto jkey = create_key(jdb, fuzz::fuzz_credential(), KeyOptions{4096});
  if (!jkey) return fail_at(__LINE__, jkey.status());
  OpenOptions jopts;
  jopts.key = &*jkey;
  jopts.wal = false;
  {
    auto db = Database::open(jdb, jopts);
    if (!db) return fail_at(__LINE__, db.status());
    if (Status s = (*db)->exec(
            "PRAGMA journal_mode=PERSIST; CREATE TABLE t(x); INSERT INTO t VALUES('before');");
        !s)
      return fail_at(__LINE__, s);
    auto other = Database::open(jdb, jopts);
    if (!other) return fail_at(__LINE__, other.status());
    if (Status s = (*other)->exec("PRAGMA cache_size=1; BEGIN; UPDATE t SET x = 'during';"
                                  "INSERT INTO t SELECT zeroblob(3000) FROM t;");
        !s)
      return fail_at(__LINE__, s);
    const std::string journal = read_all(jdb + "-journal");
    const std::string db_bytes = read_all(jdb);
    write_all(out + "/db_hot_journal",
              fuzz::pack_vfs_input(read_all(envelope_path(jdb)), db_bytes, journal, true));
  }
  fs::remove_all(tmp);
  std::printf("seeds written to %s\n", out.c_str());
  return 0;
}
