// flock(2) with a deadline: tries without blocking and sleeps between attempts, so that a
// lock held for long (an app keeping its replica open) ends in a clear Code::busy.
#include "file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

namespace fieldsync::client {

std::string lock_path(const std::string& replica_path) { return replica_path + ".lock"; }

Result<FileLock> FileLock::acquire(const std::string& path, Mode mode,
                                   std::chrono::milliseconds timeout) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return Status(Code::storage, "cannot open lock file '" + path + "': " + std::strerror(errno));
  FileLock lock(fd);
  const int op = (mode == Mode::shared ? LOCK_SH : LOCK_EX) | LOCK_NB;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (::flock(fd, op) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK)
      return Status(Code::storage, "cannot lock '" + path + "': " + std::strerror(errno));
    if (std::chrono::steady_clock::now() >= deadline)
      return Status(Code::busy, "'" + path + "' is held by another process using the replica" +
                                    (mode == Mode::exclusive ? "; close it and try again" : ""));
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  return lock;
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

FileLock::~FileLock() { release(); }

void FileLock::release() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor drops the flock
  fd_ = -1;
}

}  // namespace fieldsync::client
