// The dashboard's JSON API (contract in web_api.hpp).
#include "web_api.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <span>

#include <spdlog/spdlog.h>
#include <boost/json.hpp>

#include "dashboard.hpp"
#include "fieldsync/crypto/password.hpp"
#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/server/case_admin.hpp"
#include "fieldsync/sync/ids.hpp"
#include "shared_state.hpp"

namespace fieldsync::server {
namespace json = boost::json;
namespace {

// A caseload or conflicts listing is recorded at most this often per login (the live page
// re-reads on every sync); an opened case, every time.
constexpr std::int64_t kListingAuditEveryMs = 5LL * 60 * 1000;
constexpr auto kWriterWait = std::chrono::seconds(30);

ApiResponse answer(int status, const json::object& body) {
  return ApiResponse{status, json::serialize(body), {}};
}
ApiResponse error(int status, const std::string& message) {
  return answer(status, json::object{{"error", message}});
}

// The HTTP status for an error of the store, the directory or the rules.
int http_status(Code code) {
  switch (code) {
    case Code::forbidden:
    case Code::out_of_scope:
      return 403;
    case Code::not_found:
      return 404;
    case Code::deleted:
    case Code::append_only:
    case Code::changed:
      return 409;
    case Code::unknown_collection:
    case Code::unknown_field:
    case Code::wrong_type:
    case Code::invalid_id:
    case Code::invalid_argument:
      return 400;
    case Code::storage:
    case Code::disk_full:
    case Code::busy:
      return 503;
    default:
      return 500;
  }
}

ApiResponse failure(WebContext& ctx, const Status& s, const char* what) {
  const int status = http_status(s.code());
  if (status >= 500) {
    ctx.shared.log->error("dashboard {}: {}", what, s.to_string());
    return error(status, std::string(what) + " failed on the server; try again");
  }
  return error(status, s.message());
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::string cookie_value(const std::string& header, std::string_view name) {
  std::string_view rest = header;
  while (!rest.empty()) {
    const auto end = rest.find(';');
    const std::string part = trim(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    const auto eq = part.find('=');
    if (eq != std::string::npos && part.compare(0, eq, name) == 0) return part.substr(eq + 1);
  }
  return {};
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// A query parameter, with %XX and '+' decoded; "" when absent or malformed.
std::string query_param(const std::string& query, std::string_view name) {
  std::string_view rest = query;
  while (!rest.empty()) {
    const auto end = rest.find('&');
    std::string_view part = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    const auto eq = part.find('=');
    if (eq == std::string_view::npos || part.substr(0, eq) != name) continue;
    std::string out;
    for (std::size_t i = eq + 1; i < part.size(); ++i) {
      const char c = part[i];
      if (c == '+') {
        out += ' ';
      } else if (c == '%' && i + 2 < part.size() && is_hex(part[i + 1]) && is_hex(part[i + 2])) {
        out += static_cast<char>(std::stoi(std::string(part.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else if (c == '%') {
        return {};
      } else {
        out += c;
      }
    }
    return out;
  }
  return {};
}

// Whether the browser reached the server over https (directly, or through the proxy).
bool https(const WebContext& ctx, const ApiRequest& req) {
  return ctx.tls || (ctx.behind_proxy && req.forwarded_proto == "https");
}

// The client's address: behind a proxy, the last X-Forwarded-For entry (the one the proxy
// added, whether it joined the lines or added its own); else the connection's peer. An entry
// that is not an address gives the peer.
std::string client_address(const WebContext& ctx, const ApiRequest& req) {
  if (!ctx.behind_proxy || req.forwarded_for.empty()) return req.peer;
  const auto comma = req.forwarded_for.rfind(',');
  const std::string last = canonical_address(
      comma == std::string::npos ? std::string_view(req.forwarded_for)
                                 : std::string_view(req.forwarded_for).substr(comma + 1));
  return last.empty() ? req.peer : last;
}

std::string session_cookie(const WebContext& ctx, const ApiRequest& req, const std::string& value,
                           std::int64_t max_age_s) {
  return std::string(kSessionCookie) + "=" + value + "; Path=/; HttpOnly; SameSite=Strict" +
         "; Max-Age=" + std::to_string(max_age_s) + (https(ctx, req) ? "; Secure" : "");
}

// The request's JSON object body, or nullopt.
std::optional<json::object> json_body(const ApiRequest& req) {
  if (req.content_type.rfind("application/json", 0) != 0) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

std::optional<std::string> string_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

// A browser's Origin must be this server: "http(s)://" + Host.
bool same_origin(const WebContext& ctx, const ApiRequest& req) {
  if (req.origin.empty()) return true;
  return req.origin == std::string(https(ctx, req) ? "https://" : "http://") + req.host;
}

json::object me_json(const WebSession& s) {
  return json::object{
      {"user", s.user}, {"role", role_name(s.role)}, {"team", s.team}, {"csrf", s.csrf}};
}

// Appends audit events through the writer and waits until they are committed.
Status record(WebContext& ctx, std::vector<audit::Event> events) {
  if (events.empty()) return Status::ok();
  auto done = std::make_shared<std::promise<Status>>();
  auto future = done->get_future();
  Status s = ctx.shared.writer->submit_events(std::move(events),
                                              [done](Status r) { done->set_value(std::move(r)); });
  if (!s) return s;
  if (future.wait_for(kWriterWait) != std::future_status::ready)
    return Status(Code::busy, "the audit trail did not answer in time");
  return future.get();
}

audit::Event read_event(WebContext& ctx, const WebSession& s, const ApiRequest& req,
                        std::string subject, std::string_view what) {
  json::object detail{{"what", what}, {"via", "dashboard"}, {"peer", client_address(ctx, req)}};
  return audit::Event{"read", ctx.shared.now_ms(), s.user,
                      "",     std::move(subject),  json::serialize(detail)};
}

// Builds a server-made operation inside the writer's transaction (decide_in, change_case_in).
using MakeOp = std::function<Result<ServerOp>(
    StoreTx&, Directory&, const ServerOpSlot&, std::int64_t now_ms, const sync::Schema&,
    const crypto::SigningKey*, std::vector<sync::EntryScope>* scopes)>;

// Reserves the server device's next op, runs `make` on the writer thread and waits for the
// outcome. Everything the work holds is owned by it: after a timeout here the writer may
// still run it.
Result<ServerOp> run_server_op(WebContext& ctx, MakeOp make) {
  auto slot = ctx.shared.directory->next_server_op(ctx.shared.now_ms());
  if (!slot) return slot.status();
  auto done = std::make_shared<std::promise<Result<ServerOp>>>();
  auto future = done->get_future();
  Writer::Work work = [make = std::move(make), slot = *slot, key = ctx.server_key,
                       &directory = *ctx.shared.directory, &schema = ctx.shared.schema](
                          StoreTx& tx, std::int64_t now,
                          std::vector<sync::EntryScope>* scopes) -> Result<Writer::WorkDone> {
    auto r = make(tx, directory, slot, now, schema, key.get(), scopes);
    if (!r) return r.status();
    Writer::WorkDone out;
    if (r->changed) {
      out.ops.push_back(r->op);
      out.results.push_back(r->result);
    }
    return out;
  };
  Status s = ctx.shared.writer->submit_work(std::move(work), [done](Result<Writer::WorkDone> r) {
    if (!r) return done->set_value(r.status());
    if (r->ops.empty()) return done->set_value(ServerOp{});
    done->set_value(ServerOp{true, r->ops.front(), r->results.front()});
  });
  if (!s) return s;
  if (future.wait_for(kWriterWait) != std::future_status::ready)
    return Status(Code::busy, "the store did not answer in time (the change may still be made)");
  return future.get();
}

class Api {
 public:
  Api(WebContext& ctx, const ApiRequest& req) : ctx_(ctx), req_(req) {}

  ApiResponse run() {
    if (req_.post && req_.path == "/api/login") return login();
    auto s = authenticate();
    if (!s && !auth_error_.is_ok()) return failure(ctx_, auth_error_, "sign-in check");
    if (!s) return error(401, "not logged in");
    session_ = std::move(*s);
    if (req_.post) {
      if (!same_origin(ctx_, req_)) return error(403, "request from another site refused");
      if (!same_secret(req_.csrf, session_.csrf))
        return error(403, "missing or wrong CSRF token: reload the page");
      if (req_.path == "/api/logout") return logout();
      if (req_.path == "/api/resolve") return resolve();
      if (req_.path == "/api/assign") return assign();
      return error(404, "no such action");
    }
    if (req_.path == "/api/me") return answer(200, me_json(session_));
    if (req_.path == "/api/caseload") return caseload();
    if (req_.path == "/api/case") return case_page();
    if (req_.path == "/api/conflicts") return conflicts();
    return error(404, "no such page");
  }

 private:
  // The request's session; nullopt when there is none (401), or with auth_error_ set when the
  // directory could not be read (503: the session is kept).
  std::optional<WebSession> authenticate() {
    token_ = cookie_value(req_.cookie, kSessionCookie);
    if (token_.empty()) return std::nullopt;
    // A re-read the page made on a live event does not count as the user's activity.
    const std::int64_t now = ctx_.shared.now_ms();
    auto s = req_.background ? ctx_.sessions.peek(token_, now) : ctx_.sessions.find(token_, now);
    if (!s) return std::nullopt;
    // The directory has the last word on the role and team; a new password (or none) ends
    // every session made with the old one.
    auto u = ctx_.shared.directory->user(s->user);
    auto hash = ctx_.shared.directory->password_hash(s->user);
    if ((!u && u.status().code() != Code::not_found) || !hash) {
      auth_error_ = !u ? u.status() : hash.status();
      return std::nullopt;
    }
    if (!u || !*hash || **hash != s->password_hash) {
      ctx_.sessions.remove(token_);
      return std::nullopt;
    }
    s->role = u->role;
    s->team = u->team;
    return s;
  }

  Viewer viewer() const { return Viewer{session_.user, session_.role, session_.team}; }
  dashboard::Sources sources() {
    return dashboard::Sources{ctx_.shared.store, *ctx_.shared.directory, ctx_.shared.schema};
  }

  ApiResponse login() {
    if (!same_origin(ctx_, req_)) return error(403, "request from another site refused");
    auto body = json_body(req_);
    auto user = body ? string_of(*body, "user") : std::nullopt;
    auto password = body ? string_of(*body, "password") : std::nullopt;
    if (!user || !password)
      return error(400, R"(send {"user": NAME, "password": PASSWORD} as application/json)");
    const std::int64_t now = ctx_.shared.now_ms();
    const std::string address = client_address(ctx_, req_);
    const std::string key = limit_key(address);
    // No user has a name outside the directory's rules: refused without a hash, and never
    // written to the log as it came.
    if (!sync::is_valid_record_id(*user)) {
      ctx_.limiter.failed("", key, now);
      return error(401, "wrong user name or password");
    }
    if (std::int64_t wait = ctx_.limiter.wait_ms(*user, key, now); wait > 0) {
      const std::int64_t seconds = (wait + 999) / 1000;
      ctx_.shared.log->warn("dashboard login for '{}' from {} refused: too many failures", *user,
                            address);
      ApiResponse r =
          error(429, "too many failed logins; try again in " + std::to_string(seconds) + " s");
      r.headers.emplace_back("Retry-After", std::to_string(seconds));
      return r;
    }
    auto hash = ctx_.shared.directory->password_hash(*user);
    if (!hash && hash.status().code() != Code::not_found)
      return failure(ctx_, hash.status(), "login");
    const std::string& secret = *password;
    const std::span<const std::uint8_t> pw(reinterpret_cast<const std::uint8_t*>(secret.data()),
                                           secret.size());
    // An unknown user or one without a password costs the same Argon2id as a wrong one.
    const bool known = hash && *hash;
    const bool ok = crypto::verify_password(known ? **hash : dummy_hash(), pw) && known;
    if (!ok) {
      ctx_.limiter.failed(*user, key, now);
      ctx_.shared.log->info("dashboard login for '{}' from {} failed", *user, address);
      return error(401, "wrong user name or password");
    }
    auto u = ctx_.shared.directory->user(*user);
    if (!u) return failure(ctx_, u.status(), "login");
    ctx_.limiter.succeeded(*user, key);
    const std::string token = ctx_.sessions.create(*u, **hash, now);
    auto s = ctx_.sessions.find(token, now);
    if (!s) return error(500, "the session could not be made");
    json::object detail{{"event", "login"}, {"via", "dashboard"}, {"peer", address}};
    if (Status r = record(
            ctx_, {audit::Event{"login", now, u->name, "", u->name, json::serialize(detail)}});
        !r) {
      ctx_.sessions.remove(token);
      return failure(ctx_, r, "login");
    }
    ctx_.shared.log->info("dashboard login: '{}' ({}) from {}", u->name, role_name(u->role),
                          address);
    ApiResponse r = answer(200, me_json(*s));
    r.headers.emplace_back("Set-Cookie",
                           session_cookie(ctx_, req_, token, WebSessions::kMaxAgeMs / 1000));
    return r;
  }

  static const std::string& dummy_hash() {
    static const std::string hash = [] {
      const std::string pw = "no such user";
      auto h = crypto::hash_password({reinterpret_cast<const std::uint8_t*>(pw.data()), pw.size()},
                                     crypto::KdfLimits::interactive());
      return h ? *h : std::string();
    }();
    return hash;
  }

  ApiResponse logout() {
    ctx_.sessions.remove(token_);
    json::object detail{
        {"event", "logout"}, {"via", "dashboard"}, {"peer", client_address(ctx_, req_)}};
    if (Status s = record(ctx_, {audit::Event{"login", ctx_.shared.now_ms(), session_.user, "",
                                              session_.user, json::serialize(detail)}});
        !s)
      ctx_.shared.log->warn("dashboard logout of '{}' not recorded: {}", session_.user,
                            s.to_string());
    ApiResponse r = answer(200, json::object{});
    r.headers.emplace_back("Set-Cookie", session_cookie(ctx_, req_, "", 0));
    return r;
  }

  // Records a listing of `kind` as a read of cases/* unless one was recorded for this sign-in
  // within kListingAuditEveryMs; only a recorded one counts.
  Status record_listing(const std::string& kind) {
    const std::int64_t now = ctx_.shared.now_ms();
    if (!ctx_.sessions.listing_due(token_, kind, now, kListingAuditEveryMs)) return Status::ok();
    auto e = read_event(ctx_, session_, req_, "cases/*", "dashboard " + kind);
    if (Status s = record(ctx_, {std::move(e)}); !s) return s;
    ctx_.sessions.listed(token_, kind, now);
    return Status::ok();
  }

  ApiResponse caseload() {
    auto src = sources();
    auto out = dashboard::caseload(src, viewer(), ctx_.shared.now_ms());
    if (!out) return failure(ctx_, out.status(), "caseload");
    (*out)["head"] = ctx_.shared.head.load();
    if (Status s = record_listing("caseload"); !s) return failure(ctx_, s, "caseload");
    return answer(200, *out);
  }

  ApiResponse case_page() {
    const std::string id = query_param(req_.query, "id");
    if (id.empty()) return error(400, "which case? /api/case?id=CASE");
    // Not echoed: it may not even be UTF-8, and no case could have it.
    if (!sync::is_valid_record_id(id))
      return error(400, "a case id is 1-64 characters of A-Za-z0-9._-");
    auto src = sources();
    auto page = dashboard::case_page(src, viewer(), id);
    if (!page) return failure(ctx_, page.status(), "case page");
    if (!*page) return error(404, "no case '" + id + "' in your caseload");
    std::vector<audit::Event> reads{
        read_event(ctx_, session_, req_, "cases/" + id, "dashboard case page")};
    const json::value& client = (**page).at("client");
    if (client.is_object())
      reads.push_back(read_event(ctx_, session_, req_,
                                 "clients/" + std::string(client.at("id").as_string()),
                                 "dashboard case page"));
    if (Status s = record(ctx_, std::move(reads)); !s) return failure(ctx_, s, "case page");
    return answer(200, **page);
  }

  ApiResponse conflicts() {
    auto src = sources();
    auto out = dashboard::open_conflicts(src, viewer());
    if (!out) return failure(ctx_, out.status(), "conflicts");
    if (!out->at("conflicts").as_array().empty())
      if (Status s = record_listing("conflicts"); !s) return failure(ctx_, s, "conflicts");
    return answer(200, *out);
  }

  ApiResponse resolve() {
    auto body = json_body(req_);
    auto collection = body ? string_of(*body, "collection") : std::nullopt;
    auto id = body ? string_of(*body, "id") : std::nullopt;
    auto field = body ? string_of(*body, "field") : std::nullopt;
    auto value = body ? string_of(*body, "value") : std::nullopt;
    // "base": the op ids of the values the lead was shown (optional); when given, a decision
    // made after another value arrived is refused (decide_in) instead of overriding it.
    std::optional<std::vector<std::string>> shown;
    if (const json::value* b = body ? body->if_contains("base") : nullptr) {
      shown.emplace();
      if (!b->is_array()) return error(400, "base is the list of the values' op ids");
      for (const json::value& op : b->as_array()) {
        if (!op.is_string()) return error(400, "base is the list of the values' op ids");
        shown->emplace_back(op.get_string());
      }
    }
    if (!collection || !id || !field || !value)
      return error(400, "send {collection, id, field, value} as application/json");
    if (!dashboard::may_decide(viewer()))
      return error(403, "only leads and admins decide conflicts");
    const Decision d{*collection, *id, *field, *value, session_.user, std::move(shown)};
    auto done = run_server_op(
        ctx_, [d](StoreTx& tx, Directory& directory, const ServerOpSlot& slot, std::int64_t now,
                  const sync::Schema& schema, const crypto::SigningKey* key,
                  std::vector<sync::EntryScope>* scopes) {
          return decide_in(tx, directory, d, slot, now, schema, key, scopes);
        });
    if (!done) return failure(ctx_, done.status(), "decision");
    ctx_.shared.log->info("dashboard: '{}' decided {}/{} {} (op {})", session_.user, d.collection,
                          d.id, d.field, done->op.id);
    return answer(200, json::object{{"op", done->op.id}, {"seq", done->result.seq}});
  }

  ApiResponse assign() {
    auto body = json_body(req_);
    auto case_id = body ? string_of(*body, "case") : std::nullopt;
    auto user = body ? string_of(*body, "user") : std::nullopt;
    if (!case_id || !user) return error(400, "send {case, user} as application/json");
    if (!dashboard::may_decide(viewer())) return error(403, "only leads and admins assign cases");
    const CaseChange change{CaseAction::assign, *case_id, *user, session_.user};
    auto done = run_server_op(
        ctx_, [change](StoreTx& tx, Directory& directory, const ServerOpSlot& slot,
                       std::int64_t now, const sync::Schema& schema, const crypto::SigningKey* key,
                       std::vector<sync::EntryScope>* scopes) {
          return change_case_in(tx, directory, change, slot, now, schema, key, scopes);
        });
    if (!done) return failure(ctx_, done.status(), "assignment");
    if (done->changed)
      ctx_.shared.log->info("dashboard: '{}' assigned case {} to '{}' (op {})", session_.user,
                            change.case_id, change.user, done->op.id);
    return answer(
        200, json::object{{"changed", done->changed},
                          {"op", done->changed ? json::value(done->op.id) : json::value(nullptr)}});
  }

  WebContext& ctx_;
  const ApiRequest& req_;
  std::string token_;
  WebSession session_;
  Status auth_error_;
};

}  // namespace

ApiResponse handle_api(WebContext& ctx, const ApiRequest& req) { return Api(ctx, req).run(); }

bool admit_login(WebContext& ctx) {
  if (ctx.logins.fetch_add(1) < kMaxQueuedLogins) return true;
  ctx.logins.fetch_sub(1);
  return false;
}

void release_login(WebContext& ctx) { ctx.logins.fetch_sub(1); }

std::string canonical_address(std::string_view text) {
  std::string s = trim(text);
  if (!s.empty() && s.front() == '[') {  // [v6] or [v6]:port
    const auto close = s.find(']');
    if (close == std::string::npos) return {};
    s = s.substr(1, close - 1);
  } else if (std::count(s.begin(), s.end(), ':') == 1) {  // v4:port
    s = s.substr(0, s.find(':'));
  }
  char out[INET6_ADDRSTRLEN] = {};
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1)
    return inet_ntop(AF_INET, &v4, out, sizeof out) ? std::string(out) : std::string();
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) != 1) return {};
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    std::memcpy(&v4, v6.s6_addr + 12, sizeof v4);
    return inet_ntop(AF_INET, &v4, out, sizeof out) ? std::string(out) : std::string();
  }
  return inet_ntop(AF_INET6, &v6, out, sizeof out) ? std::string(out) : std::string();
}

std::string limit_key(const std::string& address) {
  in6_addr a{};
  if (inet_pton(AF_INET6, address.c_str(), &a) != 1) return address;
  std::fill(std::begin(a.s6_addr) + 8, std::end(a.s6_addr), std::uint8_t{0});
  char text[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(AF_INET6, &a, text, sizeof text)) return address;
  return std::string(text) + "/64";
}

std::optional<WebSession> session_of(WebContext& ctx, const std::string& cookie_header) {
  const std::string token = cookie_value(cookie_header, kSessionCookie);
  if (token.empty()) return std::nullopt;
  return ctx.sessions.peek(token, ctx.shared.now_ms());
}

}  // namespace fieldsync::server
