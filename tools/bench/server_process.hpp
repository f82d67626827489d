// fieldsync-bench's server: a real fieldsync-server started as a child process on a data
// directory, listening on 127.0.0.1 at a port it picks (--listen 127.0.0.1:0), with device
// authentication on (--require-auth). Its stdout and stderr go to DATA_DIR/server.log; the
// port is read from its "listening on HOST:PORT" line there. Also: the process's memory from
// /proc/PID/status, and where the server binary is found.
//
// Ownership: a ServerProcess owns the child; destroying it stops the server (SIGTERM, then
// waits; SIGKILL after a grace period). Threading: one thread at a time; the memory reading
// may be called from any thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "fieldsync/status.hpp"

namespace fieldsync::bench {

// The fieldsync-server beside this executable (the folder of /proc/self/exe): not_found
// when there is none.
Result<std::string> server_beside_self();

struct ProcessMemory {
  std::uint64_t peak_bytes = 0;  // VmHWM: the peak resident set size
  std::uint64_t rss_bytes = 0;   // VmRSS: the resident set size now
};
// Reads /proc/PID/status: not_found when the process is gone.
Result<ProcessMemory> process_memory(pid_t pid);

// The CPU time (user + system) the process has used, in seconds, from /proc/PID/stat:
// not_found when the process is gone.
Result<double> process_cpu_seconds(pid_t pid);

class ServerProcess {
 public:
  // Starts `binary --data DATA_DIR --listen 127.0.0.1:0 --require-auth` and waits (up to
  // `timeout`) for its listening line. Code::unreachable when it exits or stays silent; the
  // message ends with the tail of its log.
  static Result<std::unique_ptr<ServerProcess>> start(const std::string& binary,
                                                      const std::string& data_dir,
                                                      std::chrono::milliseconds timeout);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& host() const { return host_; }
  std::uint16_t port() const { return port_; }
  std::string url() const;  // ws://HOST:PORT/sync
  // Stops it: SIGTERM (the server finishes commits in flight and exits 0), waits up to
  // `grace`, then SIGKILL. An error when it exited otherwise than with 0 after SIGTERM.
  Status stop(std::chrono::milliseconds grace = std::chrono::seconds(20));
  // The last `lines` lines of its log, for error messages.
  std::string log_tail(std::size_t lines) const;

 private:
  ServerProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
  std::string host_;
  std::uint16_t port_ = 0;
};

}  // namespace fieldsync::bench
