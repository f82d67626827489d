// POSIX file helpers: whole-file reads, atomic replacement, durable renames.
#include "file_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fieldsync::crypto::detail {
namespace {

Status os_error(const std::string& what, const std::string& path) {
  return Status(Code::storage, what + " '" + path + "': " + std::strerror(errno));
}

std::string parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status write_all(int fd, std::span<const std::uint8_t> bytes, const std::string& path) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return os_error("cannot write", path);
    done += static_cast<std::size_t>(n);
  }
  return Status::ok();
}

}  // namespace

Result<std::vector<std::uint8_t>> read_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Status(Code::not_found, "no file '" + path + "'");
    return os_error("cannot open", path);
  }
  std::vector<std::uint8_t> out;
  std::uint8_t chunk[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return os_error("cannot read", path);
    if (n == 0) break;
    out.insert(out.end(), chunk, chunk + n);
  }
  return out;
}

Status write_file_atomic(const std::string& path, std::span<const std::uint8_t> bytes,
                         unsigned mode) {
  std::string tmp = path + ".tmp";
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (fd.get() < 0) return os_error("cannot create", tmp);
    if (Status s = write_all(fd.get(), bytes, tmp); !s) return s;
    if (::fsync(fd.get()) != 0) return os_error("cannot fsync", tmp);
  }
  return rename_durable(tmp, path);
}

Status rename_durable(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return os_error("cannot rename to", to);
  return fsync_parent_dir(to);
}

Status fsync_path(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return os_error("cannot open", path);
  if (::fsync(fd.get()) != 0) return os_error("cannot fsync", path);
  return Status::ok();
}

Status fsync_parent_dir(const std::string& path) { return fsync_path(parent_dir(path)); }

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Status remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return os_error("cannot remove", path);
  return Status::ok();
}

}  // namespace fieldsync::crypto::detail
