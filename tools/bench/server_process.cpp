// fieldsync-bench's server process (see server_process.hpp): fork and exec with the output in
// a log file, the listening line read from that file, SIGTERM to stop.
#include "bench/server_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace fieldsync::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
constexpr std::string_view kListening = "listening on ";

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "  12345 kB" -> bytes.
std::uint64_t kib_value(std::string_view rest) {
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  std::uint64_t kib = 0;
  std::from_chars(rest.data(), rest.data() + rest.size(), kib);
  return kib * 1024;
}

}  // namespace

Result<std::string> server_beside_self() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return Status(Code::not_found, "cannot read /proc/self/exe: " + ec.message());
  const fs::path server = self.parent_path() / "fieldsync-server";
  if (!fs::is_regular_file(server, ec))
    return Status(Code::not_found, "no fieldsync-server beside this program (looked for " +
                                       server.string() + "); build it or pass --server-bin");
  return server.string();
}

Result<ProcessMemory> process_memory(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) return Status(Code::not_found, "process " + std::to_string(pid) + " is gone");
  ProcessMemory m;
  for (std::string line; std::getline(in, line);) {
    const std::string_view l = line;
    if (l.starts_with("VmHWM:")) m.peak_bytes = kib_value(l.substr(6));
    if (l.starts_with("VmRSS:")) m.rss_bytes = kib_value(l.substr(6));
  }
  return m;
}

Result<double> process_cpu_seconds(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  // "PID (COMM) STATE ...": the name may hold spaces, so fields are counted after its ')'.
  const auto close = stat.rfind(')');
  if (stat.empty() || close == std::string::npos)
    return Status(Code::not_found, "process " + std::to_string(pid) + " is gone");
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  // After the name: state (field 3) ... utime (14), stime (15).
  for (int n = 3; n <= 15 && in >> field; ++n)
    if (n == 14 || n == 15) ticks += std::strtod(field.c_str(), nullptr);
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

Result<std::unique_ptr<ServerProcess>> ServerProcess::start(const std::string& binary,
                                                            const std::string& data_dir,
                                                            std::chrono::milliseconds timeout) {
  if (::access(binary.c_str(), X_OK) != 0)
    return Status(Code::not_found, "cannot run fieldsync-server '" + binary + "'");
  const std::string log_path = (fs::path(data_dir) / "server.log").string();
  // Everything the child needs is prepared before the fork: it only opens, dups and execs.
  std::vector<std::string> args = {binary,     "--data",      data_dir,
                                   "--listen", "127.0.0.1:0", "--require-auth"};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Status(Code::internal, "cannot start fieldsync-server: fork failed");
  if (pid == 0) {
    const int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || in < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0)
      ::_exit(127);
    // The server stops when the bench dies, whatever way it does.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  std::unique_ptr<ServerProcess> p(new ServerProcess(pid, log_path));
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const std::string log = read_file(log_path);
    if (auto at = log.find(kListening); at != std::string::npos) {
      const auto end = log.find('\n', at);
      if (end != std::string::npos) {
        const std::string address =
            log.substr(at + kListening.size(), end - at - kListening.size());
        const auto colon = address.rfind(':');
        unsigned port = 0;
        if (colon != std::string::npos)
          std::from_chars(address.data() + colon + 1, address.data() + address.size(), port);
        if (port == 0 || port > 65535)
          return Status(Code::internal, "fieldsync-server printed an odd address: " + address);
        p->host_ = address.substr(0, colon);
        p->port_ = static_cast<std::uint16_t>(port);
        return p;
      }
    }
    int wstatus = 0;
    if (::waitpid(pid, &wstatus, WNOHANG) == pid) {
      p->pid_ = -1;
      const int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
      return Status(Code::unreachable, "fieldsync-server (" + binary + ") exited with " +
                                           std::to_string(code) + " before listening\n" +
                                           p->log_tail(10));
    }
    if (Clock::now() >= deadline)
      return Status(Code::unreachable,
                    "fieldsync-server did not say where it listens in time\n" + p->log_tail(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

ServerProcess::~ServerProcess() { (void)stop(); }

std::string ServerProcess::url() const {
  const bool v6 = host_.find(':') != std::string::npos && host_.front() != '[';
  return "ws://" + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_) + "/sync";
}

Status ServerProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return Status::ok();
  const pid_t pid = pid_;
  pid_ = -1;
  ::kill(pid, SIGTERM);
  const auto deadline = Clock::now() + grace;
  int wstatus = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &wstatus, WNOHANG);
    if (r == pid) break;
    if (r < 0) return Status(Code::internal, "lost track of fieldsync-server");
    if (Clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &wstatus, 0);
      return Status(Code::internal, "fieldsync-server did not stop within the grace period");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) return Status::ok();
  return Status(Code::internal, "fieldsync-server ended badly after SIGTERM\n" + log_tail(10));
}

std::string ServerProcess::log_tail(std::size_t lines) const {
  std::istringstream in(read_file(log_path_));
  std::deque<std::string> tail;
  for (std::string line; std::getline(in, line);) {
    tail.push_back(std::move(line));
    if (tail.size() > lines) tail.pop_front();
  }
  std::string out;
  for (const auto& l : tail) out += "  | " + l + "\n";
  return out;
}

}  // namespace fieldsync::bench
