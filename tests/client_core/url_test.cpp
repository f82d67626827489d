// Server URLs: ws:// and wss://HOST:PORT[/PATH] and clear errors for everything else.
#include <catch2/catch.hpp>

#include "fieldsync/client/transport.hpp"

using fieldsync::Code;
using fieldsync::client::parse_ws_url;

TEST_CASE("ws URLs parse into host, port and path", "[url]") {
  auto a = parse_ws_url("ws://127.0.0.1:8700");
  REQUIRE(a.is_ok());
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 8700);
  CHECK(a->path == "/sync");
  CHECK(a->to_string() == "ws://127.0.0.1:8700/sync");

  auto b = parse_ws_url("ws://sync.example.org:443/api/sync");
  REQUIRE(b.is_ok());
  CHECK(b->host == "sync.example.org");
  CHECK(b->path == "/api/sync");

  auto c = parse_ws_url("ws://[::1]:9000/");
  REQUIRE(c.is_ok());
  CHECK(c->host == "::1");
  CHECK(c->path == "/sync");
  CHECK(c->to_string() == "ws://[::1]:9000/sync");
  CHECK(!a->tls);
}

TEST_CASE("wss URLs are the same with TLS", "[url]") {
  auto a = parse_ws_url("wss://sync.example.org:8443/api/sync");
  REQUIRE(a.is_ok());
  CHECK(a->tls);
  CHECK(a->host == "sync.example.org");
  CHECK(a->port == 8443);
  CHECK(a->path == "/api/sync");
  CHECK(a->to_string() == "wss://sync.example.org:8443/api/sync");

  auto b = parse_ws_url("wss://[::1]:9000");
  REQUIRE(b.is_ok());
  CHECK(b->tls);
  CHECK(b->to_string() == "wss://[::1]:9000/sync");
}

TEST_CASE("anything else is invalid_argument with the reason", "[url]") {
  for (const char* url :
       {"", "http://127.0.0.1:8700", "https://example.org:443", "wss://example.org", "ws://",
        "wss://", "ws://127.0.0.1", "ws://127.0.0.1:", "ws://127.0.0.1:0", "ws://127.0.0.1:70000",
        "ws://127.0.0.1:87x0", "ws://:8700", "ws://user@host:1", "ws://[::1:80", "ws://h:1/a b",
        "127.0.0.1:8700"}) {
    INFO(url);
    auto r = parse_ws_url(url);
    REQUIRE(!r.is_ok());
    CHECK(r.status().code() == Code::invalid_argument);
    CHECK(r.status().message().find("ws://HOST:PORT") != std::string::npos);
    CHECK(r.status().message().find("wss://HOST:PORT") != std::string::npos);
  }
}
