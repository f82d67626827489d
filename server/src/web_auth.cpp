// The dashboard's sessions and login limiter (contract in web_auth.hpp).
#include "web_auth.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include <sodium.h>

#include "fieldsync/crypto/sign.hpp"

namespace fieldsync::server {
namespace {

std::string random_hex() {
  std::array<std::uint8_t, 32> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  return crypto::to_hex(bytes);
}

bool expired(const WebSession& s, std::int64_t now_ms) {
  return now_ms - s.last_ms > WebSessions::kIdleMs ||
         now_ms - s.created_ms > WebSessions::kMaxAgeMs;
}

}  // namespace

bool same_secret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string WebSessions::create(const User& user, const std::string& password_hash,
                                std::int64_t now_ms) {
  std::string token = random_hex();
  WebSession s{user.name, user.role, user.team, random_hex(), password_hash, now_ms, now_ms, {}};
  std::lock_guard lock(mu_);
  // One user's sign-ins cannot push out everyone else's sessions: their own oldest go first.
  std::size_t own = 0;
  auto own_oldest = sessions_.end();
  for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
    if (it->second.user != user.name) continue;
    ++own;
    if (own_oldest == sessions_.end() || it->second.last_ms < own_oldest->second.last_ms)
      own_oldest = it;
  }
  if (own >= kMaxPerUser) sessions_.erase(own_oldest);
  if (sessions_.size() >= kMaxSessions) {
    std::erase_if(sessions_, [now_ms](const auto& kv) { return expired(kv.second, now_ms); });
    while (sessions_.size() >= kMaxSessions) {
      auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](auto& a, auto& b) {
        return a.second.last_ms < b.second.last_ms;
      });
      sessions_.erase(oldest);
    }
  }
  sessions_.emplace(token, std::move(s));
  return token;
}

std::optional<WebSession> WebSessions::find(const std::string& token, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(token);
  if (it == sessions_.end()) return std::nullopt;
  if (expired(it->second, now_ms)) {
    sessions_.erase(it);
    return std::nullopt;
  }
  it->second.last_ms = now_ms;
  return it->second;
}

std::optional<WebSession> WebSessions::peek(const std::string& token, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(token);
  if (it == sessions_.end() || expired(it->second, now_ms)) return std::nullopt;
  return it->second;
}

void WebSessions::remove(const std::string& token) {
  std::lock_guard lock(mu_);
  sessions_.erase(token);
}

bool WebSessions::listing_due(const std::string& token, const std::string& kind,
                              std::int64_t now_ms, std::int64_t every_ms) {
  std::lock_guard lock(mu_);
  auto it = sessions_.find(token);
  if (it == sessions_.end()) return true;
  auto when = it->second.listed.find(kind);
  return when == it->second.listed.end() || now_ms - when->second >= every_ms;
}

void WebSessions::listed(const std::string& token, const std::string& kind, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  if (auto it = sessions_.find(token); it != sessions_.end()) it->second.listed[kind] = now_ms;
}

std::size_t WebSessions::size() {
  std::lock_guard lock(mu_);
  return sessions_.size();
}

bool WebSessions::open_stream(const std::string& user) {
  std::lock_guard lock(mu_);
  std::size_t& open = streams_[user];
  if (open >= kMaxStreamsPerUser) return false;
  ++open;
  return true;
}

void WebSessions::close_stream(const std::string& user) {
  std::lock_guard lock(mu_);
  auto it = streams_.find(user);
  if (it == streams_.end()) return;
  if (--it->second == 0) streams_.erase(it);
}

std::int64_t LoginLimiter::wait_of(Failures& f, int limit, std::int64_t now_ms) {
  while (!f.empty() && now_ms - f.front() >= kFailureWindowMs) f.pop_front();
  if (static_cast<int>(f.size()) < limit) return 0;
  return f.front() + kFailureWindowMs - now_ms;
}

std::int64_t LoginLimiter::wait_ms(const std::string& user, const std::string& peer,
                                   std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  std::int64_t wait = 0;
  if (auto it = by_user_peer_.find(user + "\n" + peer); it != by_user_peer_.end())
    wait = std::max(wait, wait_of(it->second, kMaxUserFailures, now_ms));
  if (auto it = by_peer_.find(peer); it != by_peer_.end())
    wait = std::max(wait, wait_of(it->second, kMaxPeerFailures, now_ms));
  if (auto it = by_name_.find(user); it != by_name_.end())
    wait = std::max(wait, wait_of(it->second, kMaxNameFailures, now_ms));
  return wait;
}

void LoginLimiter::note(std::unordered_map<std::string, Failures>& m, const std::string& key,
                        std::int64_t now_ms) {
  if (m.size() >= kMaxTracked && !m.contains(key)) {
    // Forget the names and addresses whose failures all left the window; if that frees
    // nothing, the one whose newest failure is oldest.
    std::erase_if(m, [now_ms](const auto& kv) {
      return kv.second.empty() || now_ms - kv.second.back() >= kFailureWindowMs;
    });
    if (m.size() >= kMaxTracked)
      m.erase(std::min_element(m.begin(), m.end(),
                               [](auto& a, auto& b) { return a.second.back() < b.second.back(); }));
  }
  Failures& f = m[key];
  f.push_back(now_ms);
  if (f.size() > static_cast<std::size_t>(kMaxNameFailures)) f.pop_front();
}

void LoginLimiter::failed(const std::string& user, const std::string& peer, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  note(by_user_peer_, user + "\n" + peer, now_ms);
  note(by_peer_, peer, now_ms);
  note(by_name_, user, now_ms);
}

void LoginLimiter::succeeded(const std::string& user, const std::string& peer) {
  std::lock_guard lock(mu_);
  by_user_peer_.erase(user + "\n" + peer);
}

}  // namespace fieldsync::server
