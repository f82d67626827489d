// A raw WebSocket/HTTP client for the server tests (Beast kept in ws_client.cpp). Every call
// waits at most its timeout, so a misbehaving server fails a test instead of hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "fieldsync/sync/wire.hpp"

namespace fieldsync::test {

using namespace std::chrono_literals;

class WsClient {
 public:
  WsClient();
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Connects to ws://127.0.0.1:PORT/sync.
  bool connect(std::uint16_t port, std::chrono::milliseconds timeout = 5s);
  bool send(const std::string& frame, std::chrono::milliseconds timeout = 10s);
  bool send(const sync::Message& m) { return send(sync::encode(m)); }
  // The next frame; nullopt when the server closed the connection or nothing came in time.
  std::optional<std::string> recv(std::chrono::milliseconds timeout = 5s);
  // The next frame decoded; nullopt as for recv() or when it does not decode.
  std::optional<sync::Message> recv_message(std::chrono::milliseconds timeout = 5s);
  // True once a recv() found the connection closed by the server.
  bool closed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct HttpReply {
  int status = 0;
  std::string body;
};
// GET http://127.0.0.1:PORT/TARGET; status 0 when the request failed.
HttpReply http_get(std::uint16_t port, const std::string& target);

// Helpers for the protocol's messages.
template <typename T>
const T* as(const std::optional<sync::Message>& m) {
  return m ? std::get_if<T>(&*m) : nullptr;
}

}  // namespace fieldsync::test
