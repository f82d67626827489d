// The dashboard's logins (internal): sessions held in memory behind a random cookie token,
// each with its own CSRF token, and a limit on failed logins.
//
//   sessions   a token of 32 random bytes (64 hex digits), the cookie's value; a session ends
//              after kIdleMs without a request, kMaxAgeMs after login, at logout, or when the
//              server restarts (nothing is written to disk)
//   csrf       32 random bytes per session, sent by the page in X-CSRF-Token on every
//              state-changing request and compared in constant time
//   limiter    kMaxUserFailures failed logins per user name, and kMaxPeerFailures per peer
//              address, within kFailureWindowMs; past either the login is refused (429) until
//              the oldest failure leaves the window. A success clears the user's failures.
//
// Thread safety: every method may be called from any thread (one mutex each).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "fieldsync/server/directory.hpp"

namespace fieldsync::server {

struct WebSession {
  std::string user;
  Role role = Role::worker;
  std::string team;
  std::string csrf;  // 64 hex digits
  std::int64_t created_ms = 0;
  std::int64_t last_ms = 0;
  std::int64_t listed_ms = 0;  // when a caseload read was last recorded in the audit trail
};

class WebSessions {
 public:
  static constexpr std::int64_t kIdleMs = 30LL * 60 * 1000;
  static constexpr std::int64_t kMaxAgeMs = 12LL * 3600 * 1000;
  static constexpr std::size_t kMaxSessions = 10'000;  // beyond: the oldest are dropped

  // A new session for `user`; returns its token.
  std::string create(const User& user, std::int64_t now_ms);
  // The live session of `token` (its last use updated), nullopt when unknown or expired.
  std::optional<WebSession> find(const std::string& token, std::int64_t now_ms);
  void remove(const std::string& token);
  // Whether a caseload read by this session should be recorded now: true at the first one
  // and then at most once per `every_ms` (the live page refreshes on every sync).
  bool note_listing(const std::string& token, std::int64_t now_ms, std::int64_t every_ms);
  std::size_t size();

 private:
  std::mutex mu_;
  std::unordered_map<std::string, WebSession> sessions_;  // guarded by mu_
};

// True when the two strings are equal; the time taken depends only on their lengths.
bool same_secret(const std::string& a, const std::string& b);

class LoginLimiter {
 public:
  static constexpr int kMaxUserFailures = 5;
  static constexpr int kMaxPeerFailures = 20;
  static constexpr std::int64_t kFailureWindowMs = 15LL * 60 * 1000;
  static constexpr std::size_t kMaxTracked = 10'000;  // names and addresses remembered

  // 0 when a login may be tried now, else how long until it may (milliseconds).
  std::int64_t wait_ms(const std::string& user, const std::string& peer, std::int64_t now_ms);
  void failed(const std::string& user, const std::string& peer, std::int64_t now_ms);
  void succeeded(const std::string& user);

 private:
  using Failures = std::deque<std::int64_t>;  // times, oldest first
  static std::int64_t wait_of(Failures& f, int limit, std::int64_t now_ms);
  static void note(std::unordered_map<std::string, Failures>& m, const std::string& key,
                   std::int64_t now_ms);
  std::mutex mu_;
  std::unordered_map<std::string, Failures> by_user_;  // guarded by mu_
  std::unordered_map<std::string, Failures> by_peer_;  // guarded by mu_
};

}  // namespace fieldsync::server
