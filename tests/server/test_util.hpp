// Helpers shared by the server tests: temporary directories, operations of the default
// schema, and an in-process server running on a thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

#include "fieldsync/server/server.hpp"
#include "fieldsync/sync/op.hpp"

namespace fieldsync::test {

// A fresh directory under the system's temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline constexpr std::int64_t kNowMs = 1'700'000'000'000;

// A valid device id made from a small number ("000...0007").
std::string device_id(int n);

using Fields = std::vector<std::pair<std::string, boost::json::value>>;

// A put of register fields by `device` (user "alice"), with the clock at kNowMs + counter.
sync::Op put_op(const std::string& device, std::uint64_t counter, const std::string& collection,
                const std::string& record, const Fields& fields);
// A new progress note on `case_id`.
sync::Op note_op(const std::string& device, std::uint64_t counter, const std::string& record,
                 const std::string& case_id, const std::string& text);

// A Server on 127.0.0.1, port 0, in a temp dir, run on its own thread; stopped and joined
// when destroyed.
class RunningServer {
 public:
  explicit RunningServer(server::ServerConfig config = {});
  ~RunningServer();
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;
  std::uint16_t port() const { return server_->port(); }
  std::string data_dir() const { return dir_.path().string(); }
  server::Server& server() { return *server_; }
  // Stops the server and waits for run() to return.
  void stop();

 private:
  TempDir dir_;
  std::unique_ptr<server::Server> server_;
  std::thread thread_;
};

}  // namespace fieldsync::test
