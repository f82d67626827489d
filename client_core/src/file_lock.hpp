// An advisory lock on a file beside the replica ("<replica>.lock"), shared by every process
// that has the replica open and taken exclusively by the maintenance steps that replace or
// read its files whole (rekey, passphrase change, check). flock(2) locks belong to the open
// file, so two Replica objects in one process exclude each other as two processes do.
//
// Ownership: a FileLock owns its descriptor; the lock is released when it is destroyed.
// Thread safety: one thread at a time per FileLock.
#pragma once

#include <chrono>
#include <string>

#include "fieldsync/status.hpp"

namespace fieldsync::client {

class FileLock {
 public:
  enum class Mode { shared, exclusive };

  // Waits up to `timeout` for the lock; Code::busy when another holder keeps it that long,
  // Code::storage when the lock file cannot be opened or created (mode 0600).
  static Result<FileLock> acquire(const std::string& path, Mode mode,
                                  std::chrono::milliseconds timeout);

  FileLock() = default;
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

  bool held() const { return fd_ >= 0; }
  void release();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// "<replica>.lock"
std::string lock_path(const std::string& replica_path);

}  // namespace fieldsync::client
