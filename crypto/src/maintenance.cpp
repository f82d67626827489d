// check: offline authentication of a database and its WAL; rekey: DEK rotation by copy + swap.
#include "fieldsync/crypto/maintenance.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "fieldsync/crypto/database.hpp"
#include "file_util.hpp"
#include "key_material.hpp"
#include "wal_format.hpp"

namespace fieldsync::crypto {
namespace {

using detail::be32;
using detail::kWalFrameHeaderBytes;
using detail::kWalHeaderBytes;

constexpr std::uint32_t kWalMagic = 0x377f0682;  // | 1 for big-endian checksums
constexpr std::int64_t kLockBytePageOffset = 0x40000000;

// A file opened read-only for positional reads; absent files read as empty.
class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd_ >= 0 && ::fstat(fd_, &st) == 0) size_ = st.st_size;
    error_ = fd_ < 0 && errno != ENOENT;
  }
  ~Reader() {
    if (fd_ >= 0) ::close(fd_);
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  bool failed() const { return error_; }
  std::int64_t size() const { return size_; }
  bool read(std::int64_t off, std::uint8_t* buf, std::size_t n) const {
    std::size_t done = 0;
    while (done < n) {
      ssize_t got = ::pread(fd_, buf + done, n - done, off + static_cast<off_t>(done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      done += static_cast<std::size_t>(got);
    }
    return true;
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::int64_t size_ = 0;
  bool error_ = false;
};

Status tampered(const std::string& file, std::uint32_t page, std::int64_t frame) {
  return Status(Code::tampered, TamperReport{file, page, frame}.message());
}

Status io_error(const std::string& path) {
  return Status(Code::storage, "cannot read '" + path + "': " + std::strerror(errno));
}

// A page buffer wiped when it goes out of scope.
struct PageBuffer {
  explicit PageBuffer(std::size_t n) : bytes(n) {}
  ~PageBuffer() { sodium_memzero(bytes.data(), bytes.size()); }
  std::vector<std::uint8_t> bytes;
};

Status check_db(const std::string& path, const detail::KeyMaterial& key, CheckReport& report) {
  Reader file(path);
  if (file.failed()) return io_error(path);
  const std::int64_t ps = key.page_size;
  const auto pages = static_cast<std::uint32_t>((file.size() + ps - 1) / ps);
  const auto lock_page = static_cast<std::uint32_t>(kLockBytePageOffset / ps + 1);
  PageBuffer page(static_cast<std::size_t>(ps));
  for (std::uint32_t pgno = 1; pgno <= pages; ++pgno) {
    if (pgno == lock_page) continue;  // SQLite never writes the lock-byte page
    if (!file.read(std::int64_t{pgno - 1} * ps, page.bytes.data(), page.bytes.size()) ||
        !key.open(page.bytes.data(), pgno))
      return tampered(path, pgno, -1);
    ++report.db_pages;
  }
  return Status::ok();
}

Status check_wal(const std::string& path, const detail::KeyMaterial& key, CheckReport& report) {
  Reader file(path);
  if (file.failed()) return io_error(path);
  if (file.size() < kWalHeaderBytes) return Status::ok();
  std::uint8_t header[kWalHeaderBytes];
  if (!file.read(0, header, sizeof header)) return io_error(path);
  if ((be32(header) & ~1u) != kWalMagic || be32(header + 8) != key.page_size)
    return Status(Code::tampered, "file '" + path + "' has a malformed WAL header");
  const std::int64_t frame_bytes = kWalFrameHeaderBytes + key.page_size;
  PageBuffer frame(static_cast<std::size_t>(frame_bytes));
  detail::ReadAt read = [&file](std::int64_t o, std::uint8_t* b, std::size_t n) {
    return file.read(o, b, n);
  };
  for (std::int64_t k = 0; kWalHeaderBytes + (k + 1) * frame_bytes <= file.size(); ++k) {
    if (!file.read(kWalHeaderBytes + k * frame_bytes, frame.bytes.data(), frame.bytes.size()))
      return io_error(path);
    if (std::memcmp(frame.bytes.data() + 8, header + 16, 8) != 0) break;  // older generation
    std::uint32_t pgno = be32(frame.bytes.data());
    if (!key.open(frame.bytes.data() + kWalFrameHeaderBytes, pgno)) {
      if (detail::authentic_commit_after(read, file.size(), key, k)) return tampered(path, pgno, k);
      break;  // the torn tail of an uncommitted transaction
    }
    ++report.wal_frames;
  }
  return Status::ok();
}

Status remove_leftovers(const std::string& tmp) {
  for (const char* suffix : {"", "-journal", "-wal", "-shm"})
    if (Status s = detail::remove_file(tmp + suffix); !s) return s;
  return detail::remove_file(envelope_path(tmp));
}

// Copies `src` into `dst` in one backup step.
Status copy_all(Database& src, Database& dst) {
  sqlite3_backup* b = sqlite3_backup_init(dst.handle(), "main", src.handle(), "main");
  if (!b) return dst.error("backup");
  int rc = sqlite3_backup_step(b, -1);
  int finish = sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) return src.error("backup step");
  if (finish != SQLITE_OK) return dst.error("backup finish");
  return Status::ok();
}

// Leaves the database in rollback mode without a WAL, holding its lock until closed.
Status take_offline(Database& db) {
  return db.exec(
      "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE; "
      "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;");
}

Result<DatabaseKey> build_copy(const std::string& db_path, const std::string& tmp,
                               const DatabaseKey& old_key, const Credential& credential) {
  OpenOptions src_opts;
  src_opts.create = false;
  src_opts.key = &old_key;
  auto src = Database::open(db_path, src_opts);
  if (!src) return src.status();
  if (Status s = take_offline(**src); !s) return s;
  auto next = create_key(tmp, credential, KeyOptions{old_key.page_size()});
  if (!next) return next.status();
  OpenOptions dst_opts;
  dst_opts.key = &*next;
  dst_opts.wal = false;
  auto dst = Database::open(tmp, dst_opts);
  if (!dst) return dst.status();
  if (Status s = copy_all(**src, **dst); !s) return s;
  return next;
}

}  // namespace

Result<CheckReport> check(const std::string& db_path, const DatabaseKey& key) {
  CheckReport report;
  if (!detail::file_exists(db_path)) return Status(Code::not_found, "no database " + db_path);
  if (Status s = check_db(db_path, *key.material(), report); !s) return s;
  if (Status s = check_wal(db_path + "-wal", *key.material(), report); !s) return s;
  return report;
}

Result<DatabaseKey> rekey(const std::string& db_path, const Credential& credential) {
  auto old_key = open_key(db_path, credential);  // also clears what a failed rekey left
  if (!old_key) return old_key.status();
  const std::string tmp = detail::rekey_path(db_path);
  if (Status s = remove_leftovers(tmp); !s) return s;
  auto next = build_copy(db_path, tmp, *old_key, credential);  // both connections closed here
  if (!next) {
    (void)remove_leftovers(tmp);
    return next.status();
  }
  if (Status s = detail::fsync_path(tmp); !s) return s;
  if (Status s = detail::rename_durable(tmp, db_path); !s) return s;
  (void)detail::remove_file(db_path + "-shm");
  if (Status s = detail::rename_durable(envelope_path(tmp), envelope_path(db_path)); !s) return s;
  return next;
}

}  // namespace fieldsync::crypto
