// The encrypting VFS: a shim over SQLite's default (unix) VFS that seals every page of an
// encrypted database, of its WAL and of its rollback journal (format: docs/ENCRYPTION.md).
//
// Files, by the flag SQLite opens them with:
//   MAIN_DB       whole pages sealed in place; page 1 sealed whole, header included. Reads of
//                 part of a page (SQLite reads 100 bytes, or 16 at offset 24, of page 1) open
//                 the whole page and copy out the slice. The reserved 40 bytes read as zeros.
//   WAL           the 32-byte WAL header and 24-byte frame headers stay plaintext (page
//                 numbers, salts, SQLite's checksums); each frame's page is sealed with the
//                 page number taken from its frame header.
//   MAIN_JOURNAL  page images sealed, found by the 4-byte page number written (or read) just
//                 before them; headers, checksums and the super-journal name stay plaintext.
//   SUPER_JOURNAL passed through (it holds only file names).
//   anything else (statement journals, temp databases and their journals, transient
//                 databases for VACUUM, sorter files, unnamed files) is REFUSED: fail closed.
//                 Database::open sets temp_store=MEMORY, under which SQLite keeps all of them in
//                 memory (the study behind this observed none opened). Sealing them instead
//                 would need a second, block-wise format with per-file keys for files SQLite
//                 writes in arbitrary chunks; keeping them off disk is simpler and leaks
//                 neither content nor sizes. The cost is RAM for big sorts and VACUUM.
// Tampering: a page that fails authentication makes the read return SQLITE_IOERR_DATA (which
// SQLite reports to statements as a plain SQLITE_IOERR) and is recorded, first failure first,
// in the KeyBinding the file was opened under: callers ask it (or Database::tamper_report).
// A WAL frame that fails while SQLite recovers the WAL is the tail of a transaction torn by a
// crash unless a later authentic commit frame of the same WAL generation follows; a torn tail
// is handed to SQLite zeroed (its checksum then ends recovery there), anything else is tamper.
//
// Not supported (fails closed or is refused): memory-mapped I/O (xFetch never maps; the
// mmap_size file control is forced to 0); changing the page size (PRAGMA page_size to another
// value is an error); a reserve other than 40 bytes (page 1 is refused); the psow=0 URI
// parameter (SQLite would split WAL page writes); temp files (above); opening any file without
// a registered key; writes that are not whole pages at page offsets; super-journal names of
// exactly one page in length (taken for a page image). Attached databases need their own key
// and URI. Not protected: rolling a file back to an older authentic version (see the doc).
//
// Thread safety: register_encrypted_vfs and KeyBinding are safe from any thread; each open
// file is used by SQLite under its connection's mutex, as for any VFS.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "fieldsync/crypto/keys.hpp"

namespace fieldsync::crypto {

// The name the VFS is registered under. It is never made the default VFS.
inline constexpr const char* kEncryptedVfsName = "fieldsync-encrypted";
inline constexpr int kReservedBytes = 40;

// Registers the VFS (once per process; later calls do nothing). Status::ok or Code::internal.
Status register_encrypted_vfs();

// Where a page failed authentication.
struct TamperReport {
  std::string file;    // the path SQLite opened (the database, its -wal or -journal)
  std::uint32_t page;  // the database page number
  std::int64_t frame;  // the WAL frame index (from 0), or -1 outside the WAL
  // "file 'x.db-wal' page 7 (WAL frame 12) failed authentication"
  std::string message() const;
};

struct KeyBindingState;

// A key registered with the VFS under an opaque handle: the handle, never the key, goes into
// the URI SQLite opens (`uri`). Files opened under it keep the key alive until they close,
// even after the binding is destroyed; new files cannot be opened under it after that.
class KeyBinding {
 public:
  explicit KeyBinding(const DatabaseKey& key);
  ~KeyBinding();
  KeyBinding(const KeyBinding&) = delete;
  KeyBinding& operator=(const KeyBinding&) = delete;

  // "file:<path, percent-encoded>?vfs=fieldsync-encrypted&fskey=<handle>"; open it with
  // SQLITE_OPEN_URI (or use it in ATTACH / VACUUM INTO on a connection opened that way).
  std::string uri(const std::string& path) const;
  // The first authentication failure seen by any file opened under this binding.
  std::optional<TamperReport> tamper_report() const;

 private:
  std::uint64_t handle_;
  std::shared_ptr<KeyBindingState> state_;
};

}  // namespace fieldsync::crypto
