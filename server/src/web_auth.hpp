// The dashboard's logins (internal): sessions held in memory behind a random cookie token,
// each with its own CSRF token, and a limit on failed logins.
//
//   sessions   a token of 32 random bytes (64 hex digits), the cookie's value; a session ends
//              after kIdleMs without a request, kMaxAgeMs after login, at logout, when the
//              user's password changes (checked by the API), or when the server restarts
//              (nothing is written to disk); at most kMaxPerUser per user (the least recently
//              used goes)
//   streams    a user's open event streams (GET /api/events), at most kMaxStreamsPerUser at
//              once: each holds a connection open without a timeout, so their number is capped
//   csrf       32 random bytes per session, sent by the page in X-CSRF-Token on every
//              state-changing request and compared in constant time
//   limiter    within kFailureWindowMs: kMaxUserFailures failed logins for one user name from
//              one client address (an IPv6 client: its /64), kMaxPeerFailures from one
//              address for any names, kMaxNameFailures for one name from anywhere; past any of
//              them the login is refused (429) until the oldest failure leaves the window. So
//              a stranger cannot lock a user out with a few requests, and guessing one user's
//              password from many addresses is bounded too. A success clears that user's
//              failures from that address.
//
// Thread safety: every method may be called from any thread (one mutex each).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
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
  std::string csrf;           // 64 hex digits
  std::string password_hash;  // the hash the user signed in with (a change ends the session)
  std::int64_t created_ms = 0;
  std::int64_t last_ms = 0;
  // When each kind of listing ("caseload", "conflicts") was last recorded in the audit trail.
  std::map<std::string, std::int64_t> listed;
};

class WebSessions {
 public:
  static constexpr std::int64_t kIdleMs = 30LL * 60 * 1000;
  static constexpr std::int64_t kMaxAgeMs = 12LL * 3600 * 1000;
  static constexpr std::size_t kMaxSessions = 10'000;  // beyond: the oldest are dropped
  static constexpr std::size_t kMaxPerUser = 20;
  static constexpr std::size_t kMaxStreamsPerUser = 16;

  // A new session for `user`, who signed in with the password `password_hash`; returns its
  // token.
  std::string create(const User& user, const std::string& password_hash, std::int64_t now_ms);
  // The live session of `token` (its last use updated), nullopt when unknown or expired.
  std::optional<WebSession> find(const std::string& token, std::int64_t now_ms);
  // The same without counting as a use (the event stream's checks keep no session alive).
  std::optional<WebSession> peek(const std::string& token, std::int64_t now_ms);
  void remove(const std::string& token);
  // Whether a listing of `kind` shown to this session should be recorded now: at the first
  // one, then at most once per `every_ms` (the live page reads again on every sync) /
  // records that it was.
  bool listing_due(const std::string& token, const std::string& kind, std::int64_t now_ms,
                   std::int64_t every_ms);
  void listed(const std::string& token, const std::string& kind, std::int64_t now_ms);
  std::size_t size();
  // Takes a place for one more open event stream of `user` (false: kMaxStreamsPerUser are
  // open) / gives it back.
  bool open_stream(const std::string& user);
  void close_stream(const std::string& user);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, WebSession> sessions_;  // guarded by mu_
  std::unordered_map<std::string, std::size_t> streams_;  // guarded by mu_; user -> open
};

// True when the two strings are equal; the time taken depends only on their lengths.
bool same_secret(const std::string& a, const std::string& b);

class LoginLimiter {
 public:
  static constexpr int kMaxUserFailures = 5;
  static constexpr int kMaxPeerFailures = 20;
  static constexpr int kMaxNameFailures = 100;
  static constexpr std::int64_t kFailureWindowMs = 15LL * 60 * 1000;
  static constexpr std::size_t kMaxTracked = 10'000;  // names and addresses remembered

  // 0 when a login may be tried now, else how long until it may (milliseconds). `peer`: the
  // client's address, an IPv6 one cut to its /64 (limit_key in web_api.cpp).
  std::int64_t wait_ms(const std::string& user, const std::string& peer, std::int64_t now_ms);
  void failed(const std::string& user, const std::string& peer, std::int64_t now_ms);
  void succeeded(const std::string& user, const std::string& peer);

 private:
  using Failures = std::deque<std::int64_t>;  // times, oldest first
  static std::int64_t wait_of(Failures& f, int limit, std::int64_t now_ms);
  static void note(std::unordered_map<std::string, Failures>& m, const std::string& key,
                   std::int64_t now_ms);
  std::mutex mu_;
  std::unordered_map<std::string, Failures> by_user_peer_;  // guarded by mu_
  std::unordered_map<std::string, Failures> by_peer_;       // guarded by mu_
  std::unordered_map<std::string, Failures> by_name_;       // guarded by mu_
};

}  // namespace fieldsync::server
