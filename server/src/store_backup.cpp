// StoreFile::backup: a consistent copy of a live store with SQLite's online backup (contract
// in store_file.hpp).
#include <sodium.h>
#include <sqlite3.h>

#include <array>
#include <charconv>
#include <filesystem>
#include <system_error>

#include "fieldsync/crypto/database.hpp"
#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/server/store_file.hpp"

namespace fieldsync::server {
namespace {

namespace fs = std::filesystem;

// Removes what a failed backup left at `dest` (the copy, its journal or WAL, its envelope).
void remove_copy(const std::string& dest) {
  std::error_code ec;
  for (const char* suffix : {"", "-journal", "-wal", "-shm"}) fs::remove(dest + suffix, ec);
  fs::remove(crypto::envelope_path(dest), ec);
}

Status copy_failed(const std::string& dest, const std::string& why) {
  remove_copy(dest);
  return Status(Code::storage, "backup to '" + dest + "' failed: " + why);
}

}  // namespace

Result<StoreFile::Backup> StoreFile::backup(const std::string& dest) const {
  std::error_code ec;
  for (const std::string& p : {dest, crypto::envelope_path(dest), dest + "-wal"})
    if (fs::exists(p, ec))
      return Status(Code::invalid_argument, "'" + p + "' exists: a backup never overwrites a file");
  const fs::path folder = fs::path(dest).parent_path();
  if (!folder.empty() && !fs::is_directory(folder, ec))
    return Status(Code::invalid_argument, "folder '" + folder.string() + "' does not exist");

  auto source = connect(false);
  if (!source) return source.status();
  if (key_) {
    fs::copy_file(crypto::envelope_path(path_), crypto::envelope_path(dest), ec);
    if (!ec)
      fs::permissions(crypto::envelope_path(dest), fs::perms::owner_read | fs::perms::owner_write,
                      fs::perm_options::replace, ec);
    if (ec) return copy_failed(dest, "copying the key envelope: " + ec.message());
  }
  crypto::OpenOptions o;
  o.create = true;
  o.wal = false;  // the copied header brings the store's journal mode along
  o.synchronous = "FULL";
  o.key = key_ ? &*key_ : nullptr;
  Backup out;
  {
    auto copy = crypto::Database::open(dest, o);
    if (!copy) return copy_failed(dest, copy.status().message());
    sqlite3_backup* b = sqlite3_backup_init((*copy)->handle(), "main", (*source)->handle(), "main");
    if (!b) return copy_failed(dest, sqlite3_errmsg((*copy)->handle()));
    // Every page in one step: one read transaction, so the copy is one commit's state. In WAL
    // mode the store's writers go on meanwhile; a busy source is waited for.
    int rc = SQLITE_BUSY;
    for (int attempt = 0; attempt < 600 && (rc == SQLITE_BUSY || rc == SQLITE_LOCKED); ++attempt) {
      rc = sqlite3_backup_step(b, -1);
      if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(100);
    }
    out.pages = static_cast<std::uint64_t>(sqlite3_backup_pagecount(b));
    const int finished = sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE || finished != SQLITE_OK)
      return copy_failed(dest, sqlite3_errstr(rc != SQLITE_DONE ? rc : finished));
  }
  auto check = StoreFile(dest, key_).connect(false);
  if (!check) return copy_failed(dest, check.status().message());
  auto st = (*check)->prepare("PRAGMA quick_check");
  if (!st) return copy_failed(dest, st.status().message());
  auto row = st->step();
  if (!row || !*row || st->column_text(0) != "ok")
    return copy_failed(dest, "the copy does not pass quick_check");
  // Whichever server serves this copy first gives it a new epoch (serving_epoch).
  {
    auto mark = StoreFile(dest, key_).connect(true);
    if (!mark) return copy_failed(dest, mark.status().message());
    if (Status s =
            (*mark)->exec("INSERT OR REPLACE INTO meta(key, value) VALUES('restore_pending', '1')");
        !s)
      return copy_failed(dest, s.message());
  }
  auto size = (*check)->prepare("PRAGMA page_size");
  if (!size) return copy_failed(dest, size.status().message());
  if (auto r = size->step(); r && *r)
    out.bytes = out.pages * static_cast<std::uint64_t>(size->column_int(0));
  return out;
}

Result<StoreFile::Epoch> StoreFile::serving_epoch() const {
  auto db = connect(true);
  if (!db) return db.status();
  Epoch out;
  Status done = crypto::in_transaction(**db, [&]() -> Status {
    auto read = [&](const char* key) -> Result<std::string> {
      auto st = (*db)->prepare("SELECT value FROM meta WHERE key = ?1");
      if (!st) return st.status();
      st->bind(1, std::string_view(key));
      auto row = st->step();
      if (!row) return row.status();
      return *row ? st->column_text(0) : std::string();
    };
    auto epoch = read("epoch");
    if (!epoch) return epoch.status();
    auto pending = read("restore_pending");
    if (!pending) return pending.status();
    auto base = read("epoch_base");
    if (!base) return base.status();
    out.id = *epoch;
    out.renewed = !pending->empty();
    std::uint64_t stored_base = 0;
    std::from_chars(base->data(), base->data() + base->size(), stored_base);
    out.base = stored_base;
    if (!out.id.empty() && !out.renewed) return Status::ok();
    std::array<std::uint8_t, 16> bytes{};
    randombytes_buf(bytes.data(), bytes.size());
    out.id = crypto::to_hex(bytes);
    auto st = (*db)->prepare("INSERT OR REPLACE INTO meta(key, value) VALUES('epoch', ?1)");
    if (!st) return st.status();
    st->bind(1, out.id);
    if (Status s = st->run(); !s) return s;
    if (out.renewed) {
      // Everything up to the copy's head is the backup's; devices put back what came after.
      auto head = (*db)->prepare("SELECT COALESCE(MAX(seq), 0) FROM log");
      if (!head) return head.status();
      auto row = head->step();
      if (!row) return row.status();
      out.base = static_cast<std::uint64_t>(head->column_int(0));
      auto put = (*db)->prepare("INSERT OR REPLACE INTO meta(key, value) VALUES('epoch_base', ?1)");
      if (!put) return put.status();
      put->bind(1, std::to_string(out.base));
      if (Status s = put->run(); !s) return s;
    }
    return (*db)->exec("DELETE FROM meta WHERE key = 'restore_pending'");
  });
  if (!done) return annotate(done);
  return out;
}

}  // namespace fieldsync::server
