// The encrypting VFS shim: file kinds, page sealing on write, opening on read, the key
// registry behind the `fskey` URI parameter. Contract and limits: encrypted_vfs.hpp.
#include "fieldsync/crypto/encrypted_vfs.hpp"

#include <sodium.h>
#include <sqlite3.h>

#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "key_material.hpp"
#include "wal_format.hpp"

namespace fieldsync::crypto {

// What the files opened under one binding share: the key and the first tamper report.
struct KeyBindingState {
  std::shared_ptr<const detail::KeyMaterial> key;
  mutable std::mutex mu;
  std::optional<TamperReport> first;  // guarded by mu

  void report(const std::string& file, std::uint32_t page, std::int64_t frame) {
    TamperReport r{file, page, frame};
    sqlite3_log(SQLITE_IOERR_DATA, "%s", r.message().c_str());
    std::lock_guard lock(mu);
    if (!first) first = std::move(r);
  }
};

namespace {

using detail::be32;
using detail::kWalFrameHeaderBytes;
using detail::kWalHeaderBytes;

// ---- the key registry -------------------------------------------------------------------

struct Registry {
  std::mutex mu;
  std::uint64_t next = 1;                                         // guarded by mu
  std::map<std::uint64_t, std::shared_ptr<KeyBindingState>> map;  // guarded by mu
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: files may close during exit
  return *r;
}

std::shared_ptr<KeyBindingState> find_binding(sqlite3_filename name) {
  const char* handle = name ? sqlite3_uri_parameter(name, "fskey") : nullptr;
  if (!handle) return nullptr;
  std::uint64_t id = std::strtoull(handle, nullptr, 10);
  std::lock_guard lock(registry().mu);
  auto it = registry().map.find(id);
  return it == registry().map.end() ? nullptr : it->second;
}

// ---- per-file state ---------------------------------------------------------------------

enum class Kind { main_db, wal, journal, passthrough };

// Where the page image of a journal record is expected after its 4-byte page number.
struct PendingRecord {
  sqlite3_int64 offset = -1;
  std::uint32_t pgno = 0;
};

struct FileState {
  Kind kind = Kind::passthrough;
  std::shared_ptr<KeyBindingState> binding;
  const detail::KeyMaterial* key = nullptr;  // binding->key, for brevity
  std::string name;
  std::vector<std::uint8_t> scratch;  // one WAL frame: room for any sealed page
  PendingRecord write_record;         // journal: last 4-byte write; WAL: last frame header
  PendingRecord read_record;          // journal: last 4-byte read
};

// The sqlite3_file SQLite allocates for us: our base first, then the real file.
struct EncFile {
  sqlite3_file base;
  sqlite3_file* real;
  FileState* st;
};

EncFile* enc(sqlite3_file* f) { return reinterpret_cast<EncFile*>(f); }
sqlite3_file* real(sqlite3_file* f) { return enc(f)->real; }
sqlite3_vfs* root(sqlite3_vfs* vfs) { return static_cast<sqlite3_vfs*>(vfs->pAppData); }

int real_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  return real(f)->pMethods->xRead(real(f), buf, n, off);
}
int real_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  return real(f)->pMethods->xWrite(real(f), buf, n, off);
}

int refuse(int rc, const FileState& st, const char* what) {
  sqlite3_log(rc, "%s: %s refused by the encrypting VFS", st.name.c_str(), what);
  return rc;
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i]) return false;
  return true;
}

// SQLite must hand us pages whose reserved bytes are zero (they read back as zero; SQLite's
// WAL checksums cover them).
bool reserve_clear(const FileState& st, const std::uint8_t* page) {
  std::size_t ps = st.key->page_size;
  return all_zero(page + ps - detail::kReservedBytes, detail::kReservedBytes);
}

// Page 1 must declare the key's page size and the 40 reserved bytes.
bool header_matches(const FileState& st, const std::uint8_t* page) {
  std::uint32_t ps = (std::uint32_t{page[16]} << 8) | page[17];
  if (ps == 1) ps = 65536;
  return ps == st.key->page_size && page[20] == detail::kReservedBytes;
}

int seal_and_write(sqlite3_file* f, const std::uint8_t* page, std::uint32_t pgno,
                   sqlite3_int64 off) {
  FileState& st = *enc(f)->st;
  if (!reserve_clear(st, page)) return refuse(SQLITE_IOERR_WRITE, st, "page with reserved bytes");
  st.key->seal(page, pgno, st.scratch.data());
  return real_write(f, st.scratch.data(), static_cast<int>(st.key->page_size), off);
}

int open_or_report(FileState& st, std::uint8_t* page, std::uint32_t pgno, std::int64_t frame) {
  if (st.key->open(page, pgno)) return SQLITE_OK;
  st.binding->report(st.name, pgno, frame);
  return SQLITE_IOERR_DATA;
}

// ---- main database ----------------------------------------------------------------------

// Reads the whole page holding `off` into `page`; SQLITE_IOERR_SHORT_READ (page zeroed) past
// the end of the file.
int read_db_page(sqlite3_file* f, std::uint8_t* page, std::uint32_t pgno) {
  FileState& st = *enc(f)->st;
  const int ps = static_cast<int>(st.key->page_size);
  int rc = real_read(f, page, ps, sqlite3_int64{pgno - 1} * ps);
  if (rc == SQLITE_IOERR_SHORT_READ && all_zero(page, static_cast<std::size_t>(ps))) return rc;
  if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) return rc;
  return open_or_report(st, page, pgno, -1);  // a torn last page fails here too
}

int db_read(sqlite3_file* f, std::uint8_t* buf, int n, sqlite3_int64 off) {
  FileState& st = *enc(f)->st;
  const sqlite3_int64 ps = st.key->page_size;
  const auto pgno = static_cast<std::uint32_t>(off / ps + 1);
  const sqlite3_int64 in_page = off % ps;
  if (in_page + n > ps) return refuse(SQLITE_IOERR_READ, st, "read across pages");
  if (n == ps) return read_db_page(f, buf, pgno);
  int rc = read_db_page(f, st.scratch.data(), pgno);
  if (rc == SQLITE_OK || rc == SQLITE_IOERR_SHORT_READ)
    std::memcpy(buf, st.scratch.data() + in_page, static_cast<std::size_t>(n));
  sodium_memzero(st.scratch.data(), static_cast<std::size_t>(ps));
  return rc;
}

int db_write(sqlite3_file* f, const std::uint8_t* buf, int n, sqlite3_int64 off) {
  FileState& st = *enc(f)->st;
  const sqlite3_int64 ps = st.key->page_size;
  if (n != ps || off % ps != 0) return refuse(SQLITE_IOERR_WRITE, st, "partial page write");
  const auto pgno = static_cast<std::uint32_t>(off / ps + 1);
  if (pgno == 1 && !header_matches(st, buf))
    return refuse(SQLITE_IOERR_WRITE, st, "page 1 without the envelope's page size and reserve");
  return seal_and_write(f, buf, pgno, off);
}

// ---- WAL --------------------------------------------------------------------------------

struct FramePos {
  std::int64_t frame = -1;     // -1: inside the WAL header
  sqlite3_int64 in_frame = 0;  // offset inside the frame
};

FramePos frame_pos(const FileState& st, sqlite3_int64 off) {
  if (off < kWalHeaderBytes) return {-1, off};
  const sqlite3_int64 frame_bytes = kWalFrameHeaderBytes + st.key->page_size;
  return {(off - kWalHeaderBytes) / frame_bytes, (off - kWalHeaderBytes) % frame_bytes};
}

sqlite3_int64 file_size(sqlite3_file* f) {
  sqlite3_int64 size = 0;
  return real(f)->pMethods->xFileSize(real(f), &size) == SQLITE_OK ? size : 0;
}

// A whole frame read while SQLite recovers the WAL (see the header comment for the rule).
int wal_read_frame(sqlite3_file* f, std::uint8_t* buf, int n, sqlite3_int64 off,
                   std::int64_t frame) {
  FileState& st = *enc(f)->st;
  int rc = real_read(f, buf, n, off);
  if (rc != SQLITE_OK) return rc;
  const std::uint32_t pgno = be32(buf);
  if (st.key->open(buf + kWalFrameHeaderBytes, pgno)) return SQLITE_OK;
  detail::ReadAt read = [f](std::int64_t o, std::uint8_t* b, std::size_t len) {
    return real_read(f, b, static_cast<int>(len), o) == SQLITE_OK;
  };
  if (!detail::authentic_commit_after(read, file_size(f), *st.key, frame)) return SQLITE_OK;
  st.binding->report(st.name, pgno, frame);
  return SQLITE_IOERR_DATA;
}

int wal_read_page(sqlite3_file* f, std::uint8_t* buf, int n, sqlite3_int64 off,
                  std::int64_t frame) {
  FileState& st = *enc(f)->st;
  std::uint8_t pgno_bytes[4];
  int rc = real_read(f, pgno_bytes, 4, off - kWalFrameHeaderBytes);
  if (rc == SQLITE_OK) rc = real_read(f, buf, n, off);
  if (rc != SQLITE_OK) return rc;
  return open_or_report(st, buf, be32(pgno_bytes), frame);
}

int wal_read(sqlite3_file* f, std::uint8_t* buf, int n, sqlite3_int64 off) {
  FileState& st = *enc(f)->st;
  const sqlite3_int64 ps = st.key->page_size;
  FramePos pos = frame_pos(st, off);
  if (pos.frame < 0 || pos.in_frame + n <= kWalFrameHeaderBytes) return real_read(f, buf, n, off);
  if (pos.in_frame == 0 && n == kWalFrameHeaderBytes + ps)
    return wal_read_frame(f, buf, n, off, pos.frame);
  if (pos.in_frame == kWalFrameHeaderBytes && n == ps)
    return wal_read_page(f, buf, n, off, pos.frame);
  return refuse(SQLITE_IOERR_READ, st, "WAL read of part of a page");
}

int wal_write(sqlite3_file* f, const std::uint8_t* buf, int n, sqlite3_int64 off) {
  FileState& st = *enc(f)->st;
  const sqlite3_int64 ps = st.key->page_size;
  FramePos pos = frame_pos(st, off);
  if (pos.frame < 0) return real_write(f, buf, n, off);
  if (pos.in_frame == 0 && n == kWalFrameHeaderBytes) {
    st.write_record = {off + kWalFrameHeaderBytes, be32(buf)};
    return real_write(f, buf, n, off);
  }
  if (pos.in_frame == 0 && n == kWalFrameHeaderBytes + ps) {
    int rc = real_write(f, buf, static_cast<int>(kWalFrameHeaderBytes), off);
    return rc != SQLITE_OK ? rc
                           : seal_and_write(f, buf + kWalFrameHeaderBytes, be32(buf),
                                            off + kWalFrameHeaderBytes);
  }
  if (pos.in_frame != kWalFrameHeaderBytes || n != ps)
    return refuse(SQLITE_IOERR_WRITE, st, "WAL write of part of a page");
  std::uint32_t pgno = st.write_record.pgno;
  if (st.write_record.offset != off) {
    std::uint8_t pgno_bytes[4];
    if (int rc = real_read(f, pgno_bytes, 4, off - kWalFrameHeaderBytes); rc != SQLITE_OK)
      return rc;
    pgno = be32(pgno_bytes);
  }
  st.write_record = {};
  return seal_and_write(f, buf, pgno, off);
}

// ---- rollback journal -------------------------------------------------------------------

int journal_read(sqlite3_file* f, std::uint8_t* buf, int n, sqlite3_int64 off) {
  FileState& st = *enc(f)->st;
  PendingRecord pending = std::exchange(st.read_record, {});
  if (n == static_cast<int>(st.key->page_size) && pending.offset == off) {
    int rc = real_read(f, buf, n, off);
    return rc != SQLITE_OK ? rc : open_or_report(st, buf, pending.pgno, -1);
  }
  int rc = real_read(f, buf, n, off);
  if (rc == SQLITE_OK && n == 4) st.read_record = {off + 4, be32(buf)};
  return rc;
}

int journal_write(sqlite3_file* f, const std::uint8_t* buf, int n, sqlite3_int64 off) {
  FileState& st = *enc(f)->st;
  PendingRecord pending = std::exchange(st.write_record, {});
  if (n == static_cast<int>(st.key->page_size)) {
    if (pending.offset != off) return refuse(SQLITE_IOERR_WRITE, st, "journal page without pgno");
    return seal_and_write(f, buf, pending.pgno, off);
  }
  if (n == 4) st.write_record = {off + 4, be32(buf)};
  return real_write(f, buf, n, off);
}

// ---- io methods -------------------------------------------------------------------------

int x_close(sqlite3_file* f) {
  int rc = real(f)->pMethods->xClose(real(f));
  FileState* st = enc(f)->st;
  sodium_memzero(st->scratch.data(), st->scratch.size());
  delete st;
  enc(f)->st = nullptr;
  return rc;
}

int x_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  auto* b = static_cast<std::uint8_t*>(buf);
  switch (enc(f)->st->kind) {
    case Kind::main_db:
      return db_read(f, b, n, off);
    case Kind::wal:
      return wal_read(f, b, n, off);
    case Kind::journal:
      return journal_read(f, b, n, off);
    case Kind::passthrough:
      break;
  }
  return real_read(f, buf, n, off);
}

int x_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  const auto* b = static_cast<const std::uint8_t*>(buf);
  switch (enc(f)->st->kind) {
    case Kind::main_db:
      return db_write(f, b, n, off);
    case Kind::wal:
      return wal_write(f, b, n, off);
    case Kind::journal:
      return journal_write(f, b, n, off);
    case Kind::passthrough:
      break;
  }
  return real_write(f, buf, n, off);
}

int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  return real(f)->pMethods->xTruncate(real(f), size);
}
int x_sync(sqlite3_file* f, int flags) { return real(f)->pMethods->xSync(real(f), flags); }
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real(f)->pMethods->xFileSize(real(f), size);
}
int x_lock(sqlite3_file* f, int level) { return real(f)->pMethods->xLock(real(f), level); }
int x_unlock(sqlite3_file* f, int level) { return real(f)->pMethods->xUnlock(real(f), level); }
int x_check_reserved_lock(sqlite3_file* f, int* out) {
  return real(f)->pMethods->xCheckReservedLock(real(f), out);
}

// Refuses PRAGMA page_size with another size than the envelope's (it would need a VACUUM
// that rewrites every page in a size the envelope does not know).
int pragma_control(sqlite3_file* f, char** args) {
  const FileState& st = *enc(f)->st;
  if (st.kind == Kind::main_db && args[1] && sqlite3_stricmp(args[1], "page_size") == 0 &&
      args[2] && std::strtoul(args[2], nullptr, 10) != st.key->page_size) {
    args[0] = sqlite3_mprintf("an encrypted database keeps the page size of its key (%u)",
                              st.key->page_size);
    return SQLITE_ERROR;
  }
  return real(f)->pMethods->xFileControl(real(f), SQLITE_FCNTL_PRAGMA, args);
}

int x_file_control(sqlite3_file* f, int op, void* arg) {
  if (op == SQLITE_FCNTL_MMAP_SIZE) {
    *static_cast<sqlite3_int64*>(arg) = 0;
    return SQLITE_OK;
  }
  if (op == SQLITE_FCNTL_PRAGMA) return pragma_control(f, static_cast<char**>(arg));
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}

int x_sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int x_device_characteristics(sqlite3_file* f) {
  return real(f)->pMethods->xDeviceCharacteristics(real(f));
}
int x_shm_map(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return real(f)->pMethods->xShmMap(real(f), region, size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
int x_shm_unmap(sqlite3_file* f, int delete_flag) {
  return real(f)->pMethods->xShmUnmap(real(f), delete_flag);
}
// No memory mapping: SQLite falls back to xRead, which is where pages are opened.
int x_fetch(sqlite3_file*, sqlite3_int64, int, void** out) {
  *out = nullptr;
  return SQLITE_OK;
}
int x_unfetch(sqlite3_file*, sqlite3_int64, void*) { return SQLITE_OK; }

const sqlite3_io_methods kMethods = {
    3,
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved_lock,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    x_fetch,
    x_unfetch,
};

// ---- the VFS ----------------------------------------------------------------------------

// Which kind of file `flags` opens; passthrough for the super-journal; nullopt: refused.
std::optional<Kind> kind_of(int flags) {
  if (flags & SQLITE_OPEN_MAIN_DB) return Kind::main_db;
  if (flags & SQLITE_OPEN_WAL) return Kind::wal;
  if (flags & SQLITE_OPEN_MAIN_JOURNAL) return Kind::journal;
  if (flags & SQLITE_OPEN_SUPER_JOURNAL) return Kind::passthrough;
  return std::nullopt;
}

int x_open(sqlite3_vfs* vfs, sqlite3_filename name, sqlite3_file* file, int flags, int* out) {
  EncFile* f = enc(file);
  f->base.pMethods = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(f + 1);
  f->st = nullptr;
  std::optional<Kind> kind = kind_of(flags);
  const char* shown = name ? name : "(temporary file)";
  if (!kind || !name) {
    sqlite3_log(SQLITE_CANTOPEN, "%s: temporary files are refused (use temp_store=MEMORY)", shown);
    return SQLITE_CANTOPEN;
  }
  auto st = std::make_unique<FileState>();
  st->kind = *kind;
  st->name = name;
  if (*kind != Kind::passthrough) {
    st->binding = find_binding(name);
    if (!st->binding || !sqlite3_uri_boolean(name, "psow", 1)) {
      sqlite3_log(SQLITE_CANTOPEN, "%s: no registered key (or psow=0)", shown);
      return SQLITE_CANTOPEN;
    }
    st->key = st->binding->key.get();
    st->scratch.resize(kWalFrameHeaderBytes + st->key->page_size);
  }
  int rc = root(vfs)->xOpen(root(vfs), name, f->real, flags, out);
  if (rc != SQLITE_OK) return rc;
  f->st = st.release();
  f->base.pMethods = &kMethods;
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return root(vfs)->xDelete(root(vfs), name, sync_dir);
}
int x_access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return root(vfs)->xAccess(root(vfs), name, flags, out);
}
int x_full_pathname(sqlite3_vfs* vfs, const char* name, int n, char* out) {
  return root(vfs)->xFullPathname(root(vfs), name, n, out);
}
void* x_dl_open(sqlite3_vfs* vfs, const char* name) { return root(vfs)->xDlOpen(root(vfs), name); }
void x_dl_error(sqlite3_vfs* vfs, int n, char* msg) { root(vfs)->xDlError(root(vfs), n, msg); }
void (*x_dl_sym(sqlite3_vfs* vfs, void* lib, const char* sym))(void) {
  return root(vfs)->xDlSym(root(vfs), lib, sym);
}
void x_dl_close(sqlite3_vfs* vfs, void* lib) { root(vfs)->xDlClose(root(vfs), lib); }
int x_randomness(sqlite3_vfs* vfs, int n, char* out) {
  return root(vfs)->xRandomness(root(vfs), n, out);
}
int x_sleep(sqlite3_vfs* vfs, int us) { return root(vfs)->xSleep(root(vfs), us); }
int x_current_time(sqlite3_vfs* vfs, double* out) {
  return root(vfs)->xCurrentTime(root(vfs), out);
}
int x_get_last_error(sqlite3_vfs* vfs, int n, char* out) {
  return root(vfs)->xGetLastError(root(vfs), n, out);
}
int x_current_time_int64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return root(vfs)->xCurrentTimeInt64(root(vfs), out);
}

sqlite3_vfs make_vfs(sqlite3_vfs* base) {
  sqlite3_vfs v{};
  v.iVersion = 2;
  v.szOsFile = static_cast<int>(sizeof(EncFile)) + base->szOsFile;
  v.mxPathname = base->mxPathname;
  v.zName = kEncryptedVfsName;
  v.pAppData = base;
  v.xOpen = x_open;
  v.xDelete = x_delete;
  v.xAccess = x_access;
  v.xFullPathname = x_full_pathname;
  v.xDlOpen = x_dl_open;
  v.xDlError = x_dl_error;
  v.xDlSym = x_dl_sym;
  v.xDlClose = x_dl_close;
  v.xRandomness = x_randomness;
  v.xSleep = x_sleep;
  v.xCurrentTime = x_current_time;
  v.xGetLastError = x_get_last_error;
  v.xCurrentTimeInt64 = x_current_time_int64;
  return v;
}

std::string percent_encode(const std::string& path) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '.' || c == '-' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  // "file://x" would name a host; keep a leading "//" from being read that way.
  if (out.rfind("//", 0) == 0) out = "/." + out.substr(1);
  return out;
}

}  // namespace

std::string TamperReport::message() const {
  std::string m = "file '" + file + "' page " + std::to_string(page);
  if (frame >= 0) m += " (WAL frame " + std::to_string(frame) + ")";
  return m + " failed authentication";
}

Status register_encrypted_vfs() {
  static const int rc = [] {
    sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
    if (!base) return SQLITE_ERROR;
    static sqlite3_vfs vfs = make_vfs(base);
    return sqlite3_vfs_register(&vfs, /*makeDflt=*/0);
  }();
  if (rc != SQLITE_OK)
    return Status(Code::internal,
                  std::string("cannot register the encrypting VFS: ") + sqlite3_errstr(rc));
  return Status::ok();
}

KeyBinding::KeyBinding(const DatabaseKey& key) : state_(std::make_shared<KeyBindingState>()) {
  state_->key = key.material();
  std::lock_guard lock(registry().mu);
  handle_ = registry().next++;
  registry().map[handle_] = state_;
}

KeyBinding::~KeyBinding() {
  std::lock_guard lock(registry().mu);
  registry().map.erase(handle_);
}

std::string KeyBinding::uri(const std::string& path) const {
  return "file:" + percent_encode(path) + "?vfs=" + kEncryptedVfsName +
         "&fskey=" + std::to_string(handle_);
}

std::optional<TamperReport> KeyBinding::tamper_report() const {
  std::lock_guard lock(state_->mu);
  return state_->first;
}

}  // namespace fieldsync::crypto
