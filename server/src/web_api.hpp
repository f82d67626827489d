// The dashboard's JSON API (internal; the routes and shapes are in docs/DASHBOARD.md):
//   POST /api/login, /api/logout, /api/resolve, /api/assign; GET /api/me, /api/caseload,
//   /api/case?id=ID, /api/conflicts.
// Requests arrive as plain values (no Beast types here), answers leave the same way; the
// HTTP session turns them into messages. Every state-changing request needs the session's
// CSRF token in X-CSRF-Token and, when the browser sends one, an Origin equal to the server's
// own; a login needs a JSON body and passes the limiter (web_auth.hpp). Reads that show
// record content are recorded in the audit trail before the answer leaves.
//
// Thread safety: handle_api() blocks (Argon2id, SQLite, waiting for the writer): call it on a
// worker thread, never a network one. Many calls may run at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "web_auth.hpp"

namespace fieldsync::crypto {
class SigningKey;
}

namespace fieldsync::server {

class SharedState;

struct WebContext {
  SharedState& shared;
  std::shared_ptr<const crypto::SigningKey> server_key;  // signs the dashboard's operations
  bool tls = false;                                      // cookies get Secure
  // Behind a TLS-terminating proxy (--insecure-behind-proxy): the proxy's X-Forwarded-Proto
  // says whether the browser used https, and the last X-Forwarded-For entry is the client.
  bool behind_proxy = false;
  WebSessions sessions;
  LoginLimiter limiter;
  std::atomic<int> logins{0};  // sign-ins queued or being checked (admit_login)
};

// Sign-ins queued at once: each runs Argon2id (64 MiB) on the one sign-in thread, apart from
// the dashboard's reads; beyond this many the answer is 503 at once, without queueing.
inline constexpr int kMaxQueuedLogins = 4;

// Takes a place for a sign-in (false: all kMaxQueuedLogins are taken) / gives it back.
bool admit_login(WebContext& ctx);
void release_login(WebContext& ctx);

// An address as the dashboard records and counts it: an IPv4 address (also one written as an
// IPv4-mapped IPv6 address) in dotted form, an IPv6 one in its canonical form; brackets and a
// port are removed. "" when `text` is not an address.
std::string canonical_address(std::string_view text);
// The key the limiter counts a canonical address under: IPv6 by its /64, IPv4 as it is.
std::string limit_key(const std::string& address);

struct ApiRequest {
  bool post = false;  // else GET
  std::string path;   // "/api/..."
  std::string query;  // after '?', undecoded
  std::string body;
  std::string cookie;           // the Cookie header
  std::string csrf;             // X-CSRF-Token
  std::string content_type;     // Content-Type
  std::string origin;           // Origin ("" when absent)
  std::string host;             // Host
  std::string peer;             // the client's address, without the port
  std::string forwarded_proto;  // X-Forwarded-Proto (used only behind a proxy)
  std::string forwarded_for;    // every X-Forwarded-For line, joined by ',' (only behind a proxy)
  bool background = false;      // X-Background: 1, a re-read the page made on a live event
};

struct ApiResponse {
  int status = 200;
  std::string body;  // JSON
  std::vector<std::pair<std::string, std::string>> headers;
};

inline constexpr const char* kSessionCookie = "fieldsync_session";

ApiResponse handle_api(WebContext& ctx, const ApiRequest& req);

// The live session named by a Cookie header, if any, without counting as a use of it (the
// event stream: an open tab alone does not keep a session alive). No directory read.
std::optional<WebSession> session_of(WebContext& ctx, const std::string& cookie_header);

}  // namespace fieldsync::server
