// Server: the listener, the writer and the shutdown sequence around the sessions.
#include "fieldsync/server/server.hpp"

#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include "fieldsync/crypto/sign.hpp"
#include "fieldsync/server/audit.hpp"
#include "fieldsync/server/directory.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "fieldsync/server/writer.hpp"
#include "http_session.hpp"
#include "shared_state.hpp"
#include "tls_context.hpp"
#include "web_api.hpp"

namespace fieldsync::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

// Threads for the dashboard's API reads and writes; sign-ins (Argon2id: 64 MiB and a
// fraction of a second each) have one thread of their own.
constexpr int kWebThreads = 2;

std::int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::shared_ptr<spdlog::logger> stderr_logger(const std::string& level) {
  constexpr const char* kName = "fieldsync-server";
  auto log = spdlog::get(kName);
  if (!log) {
    try {
      log = spdlog::stderr_color_mt(kName);
    } catch (const spdlog::spdlog_ex&) {
      log = spdlog::get(kName);  // another thread created it first
    }
  }
  log->set_level(spdlog::level::from_str(level));
  return log;
}

}  // namespace

// Members are destroyed in reverse order: the dashboard's worker threads are joined first,
// then the io_context (and with it any session still held by a handler) goes before the
// shared state and the store those sessions borrow.
struct Server::Impl {
  explicit Impl(ServerConfig c) : config(std::move(c)), ioc(std::max(1, config.io_threads)) {}
  ~Impl() {
    try {
      stop();
      if (shared) shared->set_on_empty(nullptr);
    } catch (...) {  // NOLINT(bugprone-empty-catch): nothing to do for it while destroying
    }
  }

  ServerConfig config;
  std::shared_ptr<spdlog::logger> log;
  std::unique_ptr<SqliteStore> store;
  std::unique_ptr<Directory> directory;
  std::unique_ptr<SharedState> shared;
  std::unique_ptr<WebContext> web;
  std::unique_ptr<Writer> writer;
  net::io_context ioc;
  net::strand<net::io_context::executor_type> ctl = net::make_strand(ioc);  // acceptor, timer
  tcp::acceptor acceptor{ctl};
  net::steady_timer grace{ctl};
  std::optional<net::signal_set> signals;
  std::unique_ptr<net::ssl::context> tls;  // null: plain ws
  TlsSettings tls_settings;
  tcp::endpoint endpoint;  // to listen on
  std::uint16_t port = 0;
  std::once_flag stop_once;
  // The dashboard API's blocking work and its sign-ins (web_api.hpp); last, so that they are
  // joined first.
  net::thread_pool web_pool{kWebThreads};
  net::thread_pool login_pool{1};

  Status load_tls();
  Status resolve();
  Status listen();
  void do_accept();
  void on_accept(boost::system::error_code ec, tcp::socket socket);
  void stop();
};

// Both TLS files or neither; with them every connection is TLS.
Status Server::Impl::load_tls() {
  if (config.tls_cert_file.empty() && config.tls_key_file.empty()) return Status::ok();
  if (config.tls_cert_file.empty() || config.tls_key_file.empty())
    return Status(Code::invalid_argument,
                  "TLS needs both a certificate and its key (--tls-cert and --tls-key)");
  auto context = make_tls_context(config.tls_cert_file, config.tls_key_file);
  if (!context) return context.status();
  tls = std::move(*context);
  tls_settings.context = tls.get();
  tls_settings.handshake_timeout = std::chrono::milliseconds(config.tls_handshake_timeout_ms);
  return Status::ok();
}

// Resolves the listen address; plain ws is for loopback unless a TLS proxy is in front.
Status Server::Impl::resolve() {
  boost::system::error_code ec;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(config.host, std::to_string(config.port),
                                  tcp::resolver::numeric_service, ec);
  if (ec || results.empty())
    return Status(Code::invalid_argument,
                  "cannot resolve listen address '" + config.host + "': " + ec.message());
  endpoint = results.begin()->endpoint();
  const std::string where = config.host + ":" + std::to_string(config.port);
  if (!tls && !endpoint.address().is_loopback()) {
    if (!config.insecure_behind_proxy)
      return Status(Code::invalid_argument,
                    "refusing plain ws on " + where +
                        ", which is not a loopback address: give a TLS certificate and key "
                        "(--tls-cert, --tls-key), or --insecure-behind-proxy when a "
                        "TLS-terminating proxy is in front");
    log->warn("plain ws on {} (insecure behind proxy): traffic is unencrypted up to the proxy",
              where);
  }
  return Status::ok();
}

Status Server::Impl::listen() {
  boost::system::error_code ec;
  const tcp::endpoint& ep = endpoint;
  const std::string where = config.host + ":" + std::to_string(config.port);
  if (acceptor.open(ep.protocol(), ec); ec)
    return Status(Code::invalid_argument, "cannot listen on " + where + ": " + ec.message());
  (void)acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (acceptor.bind(ep, ec); ec)
    return Status(Code::invalid_argument, "cannot listen on " + where + ": " + ec.message());
  if (acceptor.listen(net::socket_base::max_listen_connections, ec); ec)
    return Status(Code::invalid_argument, "cannot listen on " + where + ": " + ec.message());
  port = acceptor.local_endpoint().port();
  return Status::ok();
}

void Server::Impl::do_accept() {
  // Each connection gets its own strand.
  acceptor.async_accept(net::make_strand(ioc),
                        [this](boost::system::error_code ec, tcp::socket socket) {
                          on_accept(ec, std::move(socket));
                        });
}

void Server::Impl::on_accept(boost::system::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
  if (ec) {
    log->warn("accept failed: {}", ec.message());
  } else if (!shared->stopping.load()) {
    // Frames go out whole at once: without this, Nagle's algorithm holds a small frame back
    // until the device's delayed ACK (~40 ms) of the previous one, on every round trip.
    boost::system::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    if (tls)
      start_https_session(std::move(socket), tls_settings, *shared);
    else
      start_http_session(std::move(socket), *shared);
  }
  do_accept();
}

void Server::Impl::stop() {
  std::call_once(stop_once, [this] {
    if (!writer) return;  // never started
    log->info("stopping: finishing commits in flight");
    shared->stopping.store(true);
    net::post(ctl, [this] {
      boost::system::error_code ignored;
      acceptor.close(ignored);
      if (signals) signals->cancel(ignored);
    });
    writer->stop();  // the acks of everything committed are now posted to their sessions
    log->info("writer stopped after {} commits, {} ops", writer->commits(), writer->ops_applied());
    shared->set_on_empty([this] { net::post(ctl, [this] { grace.cancel(); }); });
    for (const auto& c : shared->connections()) c->shutdown();
    net::post(ctl, [this] {
      if (shared->count() == 0) return;
      grace.expires_after(std::chrono::milliseconds(config.shutdown_grace_ms));
      grace.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        log->warn("{} connections did not close in time; cutting them off", shared->count());
        ioc.stop();
      });
    });
  });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::start(ServerConfig config) {
  auto impl = std::make_unique<Impl>(std::move(config));
  ServerConfig& c = impl->config;
  impl->log = c.logger ? c.logger : stderr_logger(c.log_level);
  if (!c.now_ms) c.now_ms = system_now_ms;
  const sync::Schema& schema = c.schema ? *c.schema : sync::default_schema();

  std::error_code fec;
  if (c.data_dir.empty() || !std::filesystem::is_directory(c.data_dir, fec))
    return Status(Code::invalid_argument, "data directory '" + c.data_dir + "' does not exist");
  if (Status s = impl->load_tls(); !s) return s;
  if (Status s = impl->resolve(); !s) return s;
  const std::string path = (std::filesystem::path(c.data_dir) / kStoreFileName).string();
  const std::string key_path =
      c.audit_key_file.empty()
          ? (std::filesystem::path(c.data_dir) / audit::kAuditKeyFileName).string()
          : c.audit_key_file;
  auto file = StoreFile::open(path, c.key_file);
  if (!file) return file.status();
  auto audit_key = audit::open_key(*file, key_path);
  if (!audit_key) return audit_key.status();
  auto epoch = file->serving_epoch();
  if (!epoch) return epoch.status();
  if (epoch->renewed)
    impl->log->warn(
        "store {} is a restored backup: new epoch {} from log entry {}; devices will push again "
        "the operations it lost",
        path, epoch->id, epoch->base);
  SqliteStoreOptions store_options;
  store_options.key_file = c.key_file;
  store_options.audit_key = *audit_key;
  const std::string audit_public = crypto::to_hex(store_options.audit_key->public_key());
  auto store = SqliteStore::open(path, std::move(store_options));
  if (!store) return store.status();
  impl->store = std::move(*store);
  auto head = impl->store->head();
  if (!head) return head.status();

  impl->shared = std::make_unique<SharedState>(schema, *impl->store, impl->log, c.now_ms);
  impl->shared->max_queued_frames = c.max_queued_frames;
  impl->shared->max_queued_bytes = c.max_queued_bytes;
  impl->shared->head.store(*head);
  impl->shared->epoch = epoch->id;
  impl->shared->epoch_base = epoch->base;
  DirectoryOptions directory_options;
  directory_options.audit_key = *audit_key;
  auto directory = Directory::open(impl->store->file(), directory_options);
  if (!directory) return directory.status();
  impl->directory = std::move(*directory);
  impl->shared->directory = impl->directory.get();
  impl->shared->require_auth = c.require_auth;
  impl->web.reset(new WebContext{
      *impl->shared, *audit_key, impl->tls != nullptr, c.insecure_behind_proxy, {}, {}, {}});
  impl->shared->web = impl->web.get();
  impl->shared->run_blocking = [raw = impl.get()](std::function<void()> work) {
    net::post(raw->web_pool, std::move(work));
  };
  impl->shared->run_login = [raw = impl.get()](std::function<void()> work) {
    net::post(raw->login_pool, std::move(work));
  };
  if (Status s = impl->listen(); !s) return s;

  WriterConfig wc;
  wc.enforce_scopes = c.require_auth;
  wc.now_ms = c.now_ms;
  wc.max_ahead_ms = c.max_ahead_ms;
  wc.max_group_ops = c.max_group_ops;
  wc.on_disk_full = [log = impl->log, path](const Status& s) {
    if (!s)
      log->error(
          "the disk under store {} is full ({}): pushes and other writes are refused until "
          "space is freed there; reads go on, and devices keep their operations and send them "
          "again",
          path, s.message());
    else
      log->info("store {}: writes succeed again, the disk has space", path);
  };
  SharedState* shared = impl->shared.get();
  impl->writer = std::make_unique<Writer>(
      *impl->store, schema, std::move(wc),
      [shared](const std::vector<sync::LogEntry>& entries) { shared->fan_out(entries); });
  shared->writer = impl->writer.get();

  if (c.handle_signals) {
    impl->signals.emplace(impl->ctl, SIGINT, SIGTERM);
    Impl* raw = impl.get();
    impl->signals->async_wait([raw](boost::system::error_code ec, int sig) {
      if (ec) return;
      raw->log->info("signal {} received", sig);
      raw->stop();
    });
  }
  net::post(impl->ctl, [raw = impl.get()] { raw->do_accept(); });
  impl->log->info("store {} ({}) opened at head {}; listening on {}:{} ({})", path,
                  c.key_file.empty() ? "plain" : "encrypted", *head, c.host, impl->port,
                  impl->tls ? "tls" : "plain ws");
  impl->log->info("audit key {} (public)", audit_public);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

std::uint16_t Server::port() const { return impl_->port; }
const std::string& Server::host() const { return impl_->config.host; }

void Server::run() {
  std::vector<std::thread> extra;
  for (int i = 1; i < impl_->config.io_threads; ++i)
    extra.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : extra) t.join();
}

void Server::stop() { impl_->stop(); }

ServerCounters Server::counters() const {
  ServerCounters out;
  if (impl_->writer) {
    out.commits = impl_->writer->commits();
    out.ops_applied = impl_->writer->ops_applied();
  }
  out.sessions = impl_->shared ? impl_->shared->ws_sessions.load() : 0;
  return out;
}

}  // namespace fieldsync::server
