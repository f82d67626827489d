// The dashboard's sessions and login limiter: tokens and CSRF secrets, idle and absolute
// expiry, logout, the audit throttle for listings, the per-user and per-address limits, the
// cap on a user's event streams, and the server's answers to requests it cannot read whole.
#include <sys/socket.h>
#include <sys/time.h>

#include <set>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include "test_util.hpp"
#include "web_api.hpp"
#include "web_auth.hpp"

using namespace fieldsync;
using server::LoginLimiter;
using server::WebSessions;
using test::kNowMs;

namespace {

server::User lead() { return server::User{"lea", server::Role::lead, "north", 0}; }

// Sends `request` as it is to the server on 127.0.0.1:`port` and returns everything it answers
// until it closes the connection (or 5 s pass).
std::string raw_http(std::uint16_t port, const std::string& request) {
  namespace net = boost::asio;
  net::io_context ioc;
  net::ip::tcp::socket socket(ioc);
  socket.connect({net::ip::make_address("127.0.0.1"), port});
  timeval timeout{5, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  boost::system::error_code ec;
  net::write(socket, net::buffer(request), ec);
  std::string out;
  char buf[4096];
  for (;;) {
    const std::size_t n = socket.read_some(net::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
  }
  return out;
}

}  // namespace

TEST_CASE("a session is found by its token until it idles out, ages out or logs out", "[web]") {
  WebSessions sessions;
  const std::string token = sessions.create(lead(), "hash-1", kNowMs);
  CHECK(token.size() == 64);
  auto s = sessions.find(token, kNowMs + 1000);
  REQUIRE(s);
  CHECK(s->user == "lea");
  CHECK(s->role == server::Role::lead);
  CHECK(s->team == "north");
  CHECK(s->csrf.size() == 64);
  CHECK(s->csrf != token);
  CHECK_FALSE(sessions.find(token + "0", kNowMs));
  CHECK_FALSE(sessions.find("", kNowMs));

  SECTION("idle for longer than kIdleMs") {
    CHECK_FALSE(sessions.find(token, kNowMs + 1000 + WebSessions::kIdleMs + 1));
    CHECK(sessions.size() == 0);
  }
  SECTION("used often, but older than kMaxAgeMs") {
    std::int64_t t = kNowMs;
    while (t + WebSessions::kIdleMs / 2 <= kNowMs + WebSessions::kMaxAgeMs) {
      t += WebSessions::kIdleMs / 2;
      REQUIRE(sessions.find(token, t));
    }
    CHECK_FALSE(sessions.find(token, kNowMs + WebSessions::kMaxAgeMs + 1));
  }
  SECTION("logged out") {
    sessions.remove(token);
    CHECK_FALSE(sessions.find(token, kNowMs + 1));
  }
}

TEST_CASE("every session gets its own random token and CSRF secret", "[web]") {
  WebSessions sessions;
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    const std::string token = sessions.create(lead(), "hash-1", kNowMs);
    auto s = sessions.find(token, kNowMs);
    REQUIRE(s);
    CHECK(seen.insert(token).second);
    CHECK(seen.insert(s->csrf).second);
  }
}

TEST_CASE("a listing is due at first and then at most once per period, per kind", "[web]") {
  WebSessions sessions;
  const std::string token = sessions.create(lead(), "hash-1", kNowMs);
  CHECK(sessions.listing_due(token, "caseload", kNowMs, 60'000));
  // Only a listing that was recorded counts (a failed audit write leaves it due).
  CHECK(sessions.listing_due(token, "caseload", kNowMs + 1, 60'000));
  sessions.listed(token, "caseload", kNowMs);
  CHECK_FALSE(sessions.listing_due(token, "caseload", kNowMs + 59'999, 60'000));
  CHECK(sessions.listing_due(token, "conflicts", kNowMs + 1, 60'000));
  CHECK(sessions.listing_due(token, "caseload", kNowMs + 60'000, 60'000));
}

TEST_CASE("peek does not keep a session alive, and one user's sessions are capped", "[web]") {
  WebSessions sessions;
  const std::string token = sessions.create(lead(), "hash-1", kNowMs);
  REQUIRE(sessions.peek(token, kNowMs + WebSessions::kIdleMs - 1));
  CHECK(sessions.peek(token, kNowMs + WebSessions::kIdleMs - 1)->password_hash == "hash-1");
  CHECK_FALSE(sessions.peek(token, kNowMs + WebSessions::kIdleMs + 1));

  WebSessions many;
  const std::string other =
      many.create(server::User{"ana", server::Role::worker, "north", 0}, "hash-2", kNowMs);
  std::vector<std::string> lea;
  for (std::size_t i = 0; i < WebSessions::kMaxPerUser + 5; ++i)
    lea.push_back(many.create(lead(), "hash-1", kNowMs + static_cast<std::int64_t>(i)));
  CHECK(many.size() == WebSessions::kMaxPerUser + 1);
  CHECK(many.find(other, kNowMs + 100));  // another user's session stays
  CHECK_FALSE(many.find(lea.front(), kNowMs + 100));
  CHECK(many.find(lea.back(), kNowMs + 100));
}

TEST_CASE("same_secret compares whole strings", "[web]") {
  CHECK(server::same_secret("abc", "abc"));
  CHECK_FALSE(server::same_secret("abc", "abd"));
  CHECK_FALSE(server::same_secret("abc", "ab"));
  CHECK_FALSE(server::same_secret("", "a"));
}

TEST_CASE("failed logins lock a name from one address, an address, and a name from anywhere",
          "[web]") {
  LoginLimiter limiter;
  const std::int64_t t = kNowMs;
  for (int i = 0; i < LoginLimiter::kMaxUserFailures; ++i) {
    CHECK(limiter.wait_ms("lea", "10.0.0.1", t + i) == 0);
    limiter.failed("lea", "10.0.0.1", t + i);
  }
  const std::int64_t wait = limiter.wait_ms("lea", "10.0.0.1", t + 10);
  CHECK(wait > 0);
  CHECK(wait <= LoginLimiter::kFailureWindowMs);
  // Another address may still sign lea in (a stranger cannot lock her out), other names too.
  CHECK(limiter.wait_ms("lea", "10.0.0.2", t + 10) == 0);
  CHECK(limiter.wait_ms("ana", "10.0.0.1", t + 10) == 0);
  // It lifts when the oldest failure leaves the window.
  CHECK(limiter.wait_ms("lea", "10.0.0.1", t + LoginLimiter::kFailureWindowMs) == 0);

  SECTION("a success clears the name's failures from that address") {
    limiter.succeeded("lea", "10.0.0.1");
    CHECK(limiter.wait_ms("lea", "10.0.0.1", t + 20) == 0);
  }
  SECTION("one address trying many names is locked") {
    for (int i = 0; i < LoginLimiter::kMaxPeerFailures; ++i)
      limiter.failed("user" + std::to_string(i), "10.9.9.9", t + 100 + i);
    CHECK(limiter.wait_ms("someone", "10.9.9.9", t + 200) > 0);
    CHECK(limiter.wait_ms("someone", "10.9.9.8", t + 200) == 0);
  }
  SECTION("one name tried from many addresses is locked") {
    for (int i = 0; i < LoginLimiter::kMaxNameFailures; ++i)
      limiter.failed("ben", "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250),
                     t + 100 + i);
    CHECK(limiter.wait_ms("ben", "10.2.0.1", t + 300) > 0);
    CHECK(limiter.wait_ms("lea", "10.2.0.1", t + 300) == 0);
  }
}

TEST_CASE("addresses are recorded in one form and counted by network", "[web]") {
  using server::canonical_address;
  using server::limit_key;
  CHECK(canonical_address("10.0.0.1") == "10.0.0.1");
  CHECK(canonical_address(" 10.0.0.2 ") == "10.0.0.2");
  CHECK(canonical_address("10.0.0.3:5555") == "10.0.0.3");
  // An IPv4 client of a dual-stack listener is an IPv4 client.
  CHECK(canonical_address("::ffff:10.0.0.4") == "10.0.0.4");
  CHECK(canonical_address("[2001:DB8::1]:443") == "2001:db8::1");
  CHECK(canonical_address("2001:db8:0:0:0:0:0:2") == "2001:db8::2");
  CHECK(canonical_address("not an address").empty());
  CHECK(canonical_address("").empty());
  CHECK(canonical_address("[::1").empty());
  CHECK(limit_key("10.0.0.1") == "10.0.0.1");
  CHECK(limit_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64");
  CHECK(limit_key("2001:db8:1:2:ffff::9") == limit_key("2001:db8:1:2::1"));
  CHECK(limit_key("2001:db8:1:3::1") != limit_key("2001:db8:1:2::1"));
}

TEST_CASE("a user's open event streams are capped, and each closed one gives its place back",
          "[web]") {
  WebSessions sessions;
  for (std::size_t i = 0; i < WebSessions::kMaxStreamsPerUser; ++i)
    REQUIRE(sessions.open_stream("lea"));
  CHECK_FALSE(sessions.open_stream("lea"));
  CHECK(sessions.open_stream("ana"));  // another user's are counted apart
  sessions.close_stream("lea");
  CHECK(sessions.open_stream("lea"));
  CHECK_FALSE(sessions.open_stream("lea"));
  sessions.close_stream("nobody");  // nothing to give back: no effect
  CHECK_FALSE(sessions.open_stream("lea"));
}

TEST_CASE("a request too large or malformed gets a JSON error, and the server goes on", "[web]") {
  test::RunningServer server;
  const std::string big_body(40'000, 'x');
  const std::string too_long =
      raw_http(server.port(),
               "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
               "application/json\r\nContent-Length: " +
                   std::to_string(big_body.size()) + "\r\n\r\n" + big_body);
  CHECK(too_long.starts_with("HTTP/1.1 413"));
  CHECK(too_long.find(R"({"error":"the request body is over 16 KiB"})") != std::string::npos);

  const std::string big_headers = raw_http(
      server.port(),
      "GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(20'000, 'y') + "\r\n\r\n");
  CHECK(big_headers.starts_with("HTTP/1.1 431"));
  CHECK(big_headers.find(R"("error")") != std::string::npos);

  const std::string malformed =
      raw_http(server.port(), "GET /api/me HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n");
  CHECK(malformed.starts_with("HTTP/1.1 400"));
  CHECK(malformed.find(R"({"error":"malformed HTTP request"})") != std::string::npos);

  CHECK(raw_http(server.port(),
                 "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: "
                 "close\r\n\r\n")
            .starts_with("HTTP/1.1 200"));
}
