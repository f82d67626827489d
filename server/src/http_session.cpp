// The HTTP side of a connection: GET /healthz answers with the store's head, a WebSocket
// upgrade on /sync becomes a ws session, /api/events becomes the dashboard's event stream,
// other /api/ requests go to the dashboard's API on a worker thread, the dashboard's files
// are served from the binary, anything else is 404. One session template serves plain TCP
// (beast::tcp_stream) and TLS (beast::ssl_stream); both are instantiated here.
#include "http_session.hpp"

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json.hpp>

#include "live_events.hpp"
#include "web_api.hpp"
#include "web_assets.hpp"
#include "ws_session.hpp"

namespace fieldsync::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace ssl = net::ssl;

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

constexpr auto kReadTimeout = std::chrono::seconds(30);
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(5);
constexpr std::uint32_t kMaxRequestBytes = 16 * 1024;
constexpr auto kEventKeepAlive = std::chrono::seconds(15);

// The page may load only its own files and talk only to this server.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

// The peer's address as the dashboard records it (an IPv4 client of a dual-stack listener
// in dotted form: canonical_address).
std::string address_of(beast::tcp_stream& stream) {
  beast::error_code ec;
  auto ep = stream.socket().remote_endpoint(ec);
  if (ec) return "?";
  std::string a = canonical_address(ep.address().to_string());
  return a.empty() ? ep.address().to_string() : a;
}

std::string peer_of(beast::tcp_stream& stream) {
  beast::error_code ec;
  auto ep = stream.socket().remote_endpoint(ec);
  return ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
}

template <class Body>
void set_web_headers(http::response<Body>& res, bool tls, const char* cache) {
  res.set(http::field::server, "fieldsync");
  res.set("Content-Security-Policy", kContentSecurityPolicy);
  res.set(http::field::x_frame_options, "DENY");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set(http::field::cache_control, cache);
  if (tls) res.set(http::field::strict_transport_security, "max-age=31536000");
}

template <class Stream>
class HttpSession final : public Connection,
                          public std::enable_shared_from_this<HttpSession<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using std::enable_shared_from_this<HttpSession<Stream>>::shared_from_this;

 public:
  HttpSession(Stream&& stream, SharedState& shared, std::chrono::milliseconds handshake_timeout)
      : stream_(std::move(stream)),
        executor_(beast::get_lowest_layer(stream_).get_executor()),
        shared_(shared),
        peer_(peer_of(beast::get_lowest_layer(stream_))),
        address_(address_of(beast::get_lowest_layer(stream_))),
        handshake_timeout_(handshake_timeout),
        keep_alive_(executor_) {}
  ~HttpSession() override {
    release_stream();
    shared_.leave(this);
  }
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  void run() {
    shared_.join(shared_from_this());
    net::dispatch(executor_, beast::bind_front_handler(&HttpSession::start, shared_from_this()));
  }

  void shutdown() override {
    net::post(executor_, [self = shared_from_this()] {
      if (self->upgraded_) return;  // the stream belongs to the ws session now
      self->keep_alive_.cancel();
      auto& tcp = beast::get_lowest_layer(self->stream_);
      beast::error_code ec;
      tcp.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
      tcp.close();
    });
  }

 private:
  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }

  void start() {
    if constexpr (kTls) {
      // Both the look at the first bytes and the handshake fall under one timeout.
      tcp().expires_after(handshake_timeout_);
      beast::async_detect_ssl(
          tcp(), buffer_, beast::bind_front_handler(&HttpSession::on_detect, shared_from_this()));
    } else {
      do_read();
    }
  }

  void on_detect(beast::error_code ec, bool is_tls) {
    if (ec) return handshake_failed(ec);
    if (!is_tls) return refuse_plain();
    stream_.async_handshake(
        ssl::stream_base::server, buffer_.data(),
        beast::bind_front_handler(&HttpSession::on_handshake, shared_from_this()));
  }

  void on_handshake(beast::error_code ec, std::size_t used) {
    if (ec) return handshake_failed(ec);
    buffer_.consume(used);
    do_read();
  }

  // Logged with the peer and the reason (OpenSSL's or Beast's), never the bytes received.
  void handshake_failed(beast::error_code ec) {
    if (ec == net::error::operation_aborted || shared_.stopping.load()) return;
    shared_.log->info("peer {}: TLS handshake failed: {}", peer_,
                      ec == beast::error::timeout ? "timed out" : ec.message());
  }

  // A plain HTTP (or ws://) client on the TLS port: a readable refusal in plain HTTP.
  void refuse_plain() {
    shared_.log->info("peer {}: no TLS handshake (plain HTTP?); answered 400", peer_);
    auto res = std::make_shared<http::response<http::string_body>>(http::status::bad_request, 11);
    res->set(http::field::server, "fieldsync");
    res->set(http::field::content_type, "text/plain");
    res->keep_alive(false);
    res->body() = "this server speaks TLS only: use wss:// or https://\n";
    res->prepare_payload();
    tcp().expires_after(kTlsShutdownTimeout);
    http::async_write(tcp(), *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        beast::error_code ignored;
                        self->tcp().socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
                        self->drain();
                      });
  }

  // Reads what the client still sends until it closes (or the timer runs out), so that
  // closing the socket does not reset the connection before the client read the answer.
  void drain() {
    tcp().async_read_some(net::buffer(scratch_),
                          [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (!ec) self->drain();
                          });
  }

  void do_read() {
    parser_.emplace();
    parser_->header_limit(kMaxRequestBytes);
    parser_->body_limit(kMaxRequestBytes);
    tcp().expires_after(kReadTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream) return do_eof();
    if (ec == http::error::body_limit)
      return refuse(http::status::payload_too_large, "the request body is over 16 KiB");
    if (ec == http::error::header_limit)
      return refuse(http::status::request_header_fields_too_large,
                    "the request's headers are over 16 KiB");
    if (ec && ec.category() == beast::error_code(http::error::bad_target).category() &&
        ec != http::error::partial_message)
      return refuse(http::status::bad_request, "malformed HTTP request");
    if (ec) {
      if (ec != net::error::operation_aborted && ec != beast::error::timeout)
        shared_.log->debug("http read failed: {}", ec.message());
      return;
    }
    const auto& req = parser_->get();
    const std::string path(req.target().substr(0, req.target().find('?')));
    if (websocket::is_upgrade(req) && path == "/sync") {
      if (shared_.stopping.load())
        return respond(http::status::service_unavailable, R"({"status":"stopping"})");
      upgraded_ = true;
      return start_ws_session(std::move(stream_), parser_->release(), shared_);
    }
    if (path.starts_with("/api/")) {
      if (req.method() == http::verb::get && path == "/api/events") return start_events();
      if (req.method() != http::verb::get && req.method() != http::verb::post)
        return respond(http::status::method_not_allowed, R"({"error":"use GET or POST"})");
      return call_api(path, std::string(req.target().substr(path.size())));
    }
    if (req.method() == http::verb::get) {
      if (const auto* asset = web_assets::find(path)) return respond_asset(*asset);
    }
    if (req.method() == http::verb::get && path == "/healthz") {
      auto head = shared_.store.head();
      if (!head) {
        shared_.log->error("healthz: store not readable: {}", head.status().to_string());
        return respond(http::status::service_unavailable, R"({"status":"error"})");
      }
      // A full disk: reads go on (200), but the status says that writes are refused.
      const bool full = shared_.writer && shared_.writer->disk_full();
      return respond(http::status::ok, std::string(R"({"status":")") + (full ? "disk_full" : "ok") +
                                           R"(","head":)" + std::to_string(*head) + "}");
    }
    respond(http::status::not_found, R"({"status":"not found"})");
  }

  // A request that could not be read whole (too large, malformed): a JSON error, then the
  // connection closes (what is left of the request is read and dropped first, so that the
  // client sees the answer rather than a reset).
  void refuse(http::status status, const std::string& message) {
    shared_.log->debug("peer {}: HTTP request refused: {}", peer_, message);
    auto res = std::make_shared<http::response<http::string_body>>(status, 11);
    res->set(http::field::server, "fieldsync");
    res->set(http::field::content_type, "application/json");
    res->keep_alive(false);
    res->body() = boost::json::serialize(boost::json::object{{"error", message}});
    res->prepare_payload();
    tcp().expires_after(kTlsShutdownTimeout);
    http::async_write(
        stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
          if (ec) return;
          if constexpr (kTls) {
            self->do_eof();
          } else {
            beast::error_code ignored;
            self->tcp().socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
            self->drain();
          }
        });
  }

  void respond(http::status status, std::string body) {
    auto res =
        std::make_shared<http::response<http::string_body>>(status, parser_->get().version());
    res->set(http::field::server, "fieldsync");
    res->set(http::field::content_type, "application/json");
    res->keep_alive(parser_->get().keep_alive() && status != http::status::service_unavailable);
    res->body() = std::move(body);
    send(res);
  }

  void send(const std::shared_ptr<http::response<http::string_body>>& res) {
    res->prepare_payload();
    tcp().expires_after(kReadTimeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        self->on_write(res->keep_alive(), ec);
                      });
  }

  void respond_asset(const web_assets::Asset& asset) {
    auto res = std::make_shared<http::response<http::string_body>>(http::status::ok,
                                                                   parser_->get().version());
    set_web_headers(*res, kTls, "no-cache");
    res->set(http::field::content_type, web_assets::content_type(asset.name));
    res->keep_alive(parser_->get().keep_alive());
    res->body().assign(asset.bytes.data(), asset.bytes.size());
    send(res);
  }

  // The dashboard's API runs on a worker thread; its answer comes back to this strand.
  void call_api(const std::string& path, const std::string& query) {
    const auto& req = parser_->get();
    ApiRequest api;
    api.post = req.method() == http::verb::post;
    api.path = path;
    api.query = query.empty() ? query : query.substr(1);
    api.body = req.body();
    api.cookie = std::string(req[http::field::cookie]);
    api.csrf = std::string(req["X-CSRF-Token"]);
    api.content_type = std::string(req[http::field::content_type]);
    api.origin = std::string(req[http::field::origin]);
    api.host = std::string(req[http::field::host]);
    api.peer = address_;
    api.forwarded_proto = std::string(req["X-Forwarded-Proto"]);
    for (auto [it, end] = req.equal_range("X-Forwarded-For"); it != end; ++it)
      api.forwarded_for += (api.forwarded_for.empty() ? "" : ",") + std::string(it->value());
    api.background = req["X-Background"] == "1";
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    // A sign-in runs Argon2id: on its own thread, a few queued at most, never in the way of
    // the dashboard's reads.
    const bool login = api.post && path == "/api/login";
    if (login && !admit_login(*shared_.web)) {
      auto res = std::make_shared<http::response<http::string_body>>(
          http::status::service_unavailable, version);
      set_web_headers(*res, kTls, "no-store");
      res->set(http::field::content_type, "application/json");
      res->set(http::field::retry_after, "1");
      res->keep_alive(keep_alive);
      res->body() = R"({"error":"the server is busy signing others in; try again in a moment"})";
      return send(res);
    }
    auto run = login ? shared_.run_login : shared_.run_blocking;
    run([self = shared_from_this(), api = std::move(api), version, keep_alive, login] {
      ApiResponse out = handle_api(*self->shared_.web, api);
      if (login) release_login(*self->shared_.web);
      net::post(self->executor_, [self, out = std::move(out), version, keep_alive]() mutable {
        auto res = std::make_shared<http::response<http::string_body>>(
            static_cast<http::status>(out.status), version);
        set_web_headers(*res, kTls, "no-store");
        res->set(http::field::content_type, "application/json");
        for (auto& [name, value] : out.headers) res->insert(name, value);
        res->keep_alive(keep_alive);
        res->body() = std::move(out.body);
        self->send(res);
      });
    });
  }

  // The dashboard's live updates (server-sent events): "hello" with the head, then "change"
  // with the new head whenever committed entries concern the user (live_events.hpp;
  // coalesced: one event in flight, the newest head next), and a comment every
  // kEventKeepAlive. Only the head number travels; the page fetches what it shows through
  // the API.
  void start_events() {
    auto session = session_of(*shared_.web, std::string(parser_->get()[http::field::cookie]));
    auto viewer = session ? stream_viewer(*session) : std::nullopt;
    if (!viewer) return respond(http::status::unauthorized, R"({"error":"not logged in"})");
    // Each stream holds a connection open with no timeout: a user has a few at most.
    if (!shared_.web->sessions.open_stream(session->user))
      return respond(http::status::too_many_requests,
                     R"({"error":"too many open event streams for this user; close a tab"})");
    stream_user_ = session->user;
    viewer_ = std::move(*viewer);
    token_cookie_ = std::string(parser_->get()[http::field::cookie]);
    auto res = std::make_shared<http::response<http::empty_body>>(http::status::ok,
                                                                  parser_->get().version());
    set_web_headers(*res, kTls, "no-store");
    res->set(http::field::content_type, "text/event-stream");
    res->keep_alive(false);  // the body runs until either side closes
    events_ = true;
    writing_ = true;
    // Batches committed before the first scope is in (while the header goes out) are held
    // and judged under it, not under an empty scope that sees nothing.
    scope_loading_ = true;
    tcp().expires_never();
    auto sr = std::make_shared<http::response_serializer<http::empty_body>>(*res);
    http::async_write_header(
        stream_, *sr, [self = shared_from_this(), res, sr](beast::error_code ec, std::size_t) {
          self->writing_ = false;
          if (ec) return self->end_events();
          self->pending_head_ = self->shared_.head.load();
          self->send_event("hello");
          self->watch_close();
          self->arm_keep_alive();
          self->load_scope();
        });
  }

  void deliver(const LiveEntries& entries) override {
    if (entries->empty()) return;
    net::post(executor_, [self = shared_from_this(), entries] {
      if (!self->events_ || self->closed_) return;
      if (self->scope_loading_) {
        // Judged under the scope being loaded; past the bound, the page is simply told.
        if (self->held_.size() < kMaxHeldBatches) return self->held_.push_back(entries);
        self->held_.clear();
        self->notify_after_load_ = true;
        return;
      }
      self->judge(*entries);
    });
  }

  // The stream's user as the directory knows them now, while `session` holds: none when the
  // user is gone, their password changed, or the directory cannot be read (the page asks
  // again through the API, which tells these apart).
  std::optional<Viewer> stream_viewer(const WebSession& session) {
    auto user = shared_.directory->user(session.user);
    auto hash = shared_.directory->password_hash(session.user);
    if (!user || !hash || !*hash || **hash != session.password_hash) return std::nullopt;
    return Viewer{user->name, user->role, user->team};
  }

  // What the stream's user sees, read on a dashboard thread (a store read), judged here.
  void load_scope() {
    scope_loading_ = true;
    shared_.run_blocking([self = shared_from_this()] {
      auto scope = self->shared_.store.scope_of(self->viewer_);
      net::post(self->executor_,
                [self, scope = std::move(scope)]() mutable { self->on_scope(std::move(scope)); });
    });
  }

  void on_scope(Result<ScopeSet> scope) {
    scope_loading_ = false;
    if (closed_) return;
    if (!scope) {
      // The page reconnects and loads it again.
      shared_.log->warn("dashboard event stream of '{}': the scope could not be read: {}",
                        viewer_.user, scope.status().to_string());
      return end_events();
    }
    scope_ = std::move(*scope);
    auto held = std::move(held_);
    held_.clear();
    if (notify_after_load_) {
      // Batches were dropped unjudged: one may have changed the scope after it was read
      // (a case assigned into it), so it is read again; what comes meanwhile is held.
      notify_after_load_ = false;
      notify(shared_.head.load());
      load_scope();
    }
    for (const auto& entries : held) {
      if (scope_loading_ || closed_) {
        held_.push_back(entries);  // a held batch changed the scope again: judged after
        continue;
      }
      judge(*entries);
    }
  }

  void judge(const std::vector<sync::LogEntry>& entries) {
    const LiveVerdict v = judge_live(scope_, viewer_.user, entries);
    if (v.notify) notify(entries.back().seq);
    if (v.reload) load_scope();
  }

  void notify(std::uint64_t head) {
    pending_head_ = std::max(pending_head_.value_or(0), head);
    if (!writing_) send_event("change");
  }

  void send_event(const char* name) {
    if (closed_) return;
    if (pending_head_) {
      event_out_ = std::string("event: ") + name +
                   "\ndata: {\"head\":" + std::to_string(*pending_head_) + "}\n\n";
      pending_head_.reset();
    } else {
      event_out_ = ":\n\n";
    }
    writing_ = true;
    net::async_write(stream_, net::buffer(event_out_),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->writing_ = false;
                       if (ec) return self->end_events();
                       if (self->pending_head_) self->send_event("change");
                     });
  }

  void arm_keep_alive() {
    keep_alive_.expires_after(kEventKeepAlive);
    keep_alive_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      // A session that ended (logout, expiry, a new password) ends its stream, and so does a
      // change of the user's role or team (the page reconnects under the new scope).
      auto session = session_of(*self->shared_.web, self->token_cookie_);
      auto viewer = session ? self->stream_viewer(*session) : std::nullopt;
      if (!viewer || viewer->role != self->viewer_.role || viewer->team != self->viewer_.team)
        return self->end_events();
      if (!self->writing_) self->send_event("change");
      self->arm_keep_alive();
    });
  }

  // The browser sends nothing on the stream: a read that ends means it went away.
  void watch_close() {
    stream_.async_read_some(net::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->end_events();
                              self->watch_close();
                            });
  }

  void end_events() {
    if (closed_) return;
    closed_ = true;
    release_stream();
    keep_alive_.cancel();
    beast::error_code ignored;
    tcp().socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    tcp().close();
  }

  // Gives back the stream's place among its user's (WebSessions::open_stream), once.
  void release_stream() {
    if (stream_user_) shared_.web->sessions.close_stream(*stream_user_);
    stream_user_.reset();
  }

  void on_write(bool keep_alive, beast::error_code ec) {
    if (ec) return;
    if (!keep_alive) return do_eof();
    do_read();
  }

  void do_eof() {
    if constexpr (kTls) {
      // close_notify, then the socket closes with the session.
      tcp().expires_after(kTlsShutdownTimeout);
      stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
    } else {
      beast::error_code ec;
      tcp().socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
    }
  }

  Stream stream_;
  net::any_io_executor executor_;  // the connection's strand; stays valid after the upgrade
  SharedState& shared_;
  std::string peer_;
  std::string address_;  // the peer's address without the port
  std::chrono::milliseconds handshake_timeout_;
  // The event stream (start_events): its state lives on the strand.
  net::steady_timer keep_alive_;
  bool events_ = false;
  bool writing_ = false;
  bool closed_ = false;
  std::optional<std::uint64_t> pending_head_;
  std::string event_out_;
  std::string token_cookie_;
  std::optional<std::string> stream_user_;  // set while the stream counts for its user
  // The event stream's user and what they see (live_events.hpp). While the scope loads,
  // committed batches wait in held_ (at most kMaxHeldBatches, beyond which the page is told
  // of a change and the scope is read again once it is in).
  static constexpr std::size_t kMaxHeldBatches = 256;
  Viewer viewer_;
  ScopeSet scope_;
  bool scope_loading_ = false;
  bool notify_after_load_ = false;
  std::vector<LiveEntries> held_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool upgraded_ = false;
  std::array<char, 1024> scratch_{};  // drain()'s discarded bytes
};

}  // namespace

void start_http_session(net::ip::tcp::socket&& socket, SharedState& shared) {
  std::make_shared<HttpSession<PlainStream>>(PlainStream(std::move(socket)), shared,
                                             std::chrono::milliseconds(0))
      ->run();
}

void start_https_session(net::ip::tcp::socket&& socket, const TlsSettings& tls,
                         SharedState& shared) {
  std::make_shared<HttpSession<TlsStream>>(TlsStream(std::move(socket), *tls.context), shared,
                                           tls.handshake_timeout)
      ->run();
}

}  // namespace fieldsync::server
