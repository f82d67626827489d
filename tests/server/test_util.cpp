// Helpers shared by the server tests.
#include "test_util.hpp"

#include <stdlib.h>

#include <cstdio>
#include <stdexcept>

namespace fieldsync::test {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "fieldsync-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string device_id(int n) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%032x", n);
  return buf;
}

sync::Op put_op(const std::string& device, std::uint64_t counter, const std::string& collection,
                const std::string& record, const Fields& fields) {
  sync::Op op;
  op.id = device + "." + std::to_string(counter);
  op.device = device;
  op.user = "alice";
  op.hlc = sync::Hlc{kNowMs + static_cast<std::int64_t>(counter), 0};
  op.collection = collection;
  op.record = record;
  op.kind = sync::OpKind::put;
  for (const auto& [name, value] : fields)
    op.writes.push_back(sync::FieldWrite{name, sync::WriteKind::set, value, {}});
  return op;
}

sync::Op note_op(const std::string& device, std::uint64_t counter, const std::string& record,
                 const std::string& case_id, const std::string& text) {
  return put_op(device, counter, "notes", record,
                {{"case_id", boost::json::value(case_id)}, {"text", boost::json::value(text)}});
}

RunningServer::RunningServer(server::ServerConfig config) {
  config.data_dir = dir_.path().string();
  config.host = "127.0.0.1";
  config.port = 0;
  if (config.log_level == "info") config.log_level = "warn";
  config.shutdown_grace_ms = 2'000;
  auto started = server::Server::start(std::move(config));
  if (!started) throw std::runtime_error("server did not start: " + started.status().to_string());
  server_ = std::move(*started);
  thread_ = std::thread([this] { server_->run(); });
}

RunningServer::~RunningServer() { stop(); }

void RunningServer::stop() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace fieldsync::test
