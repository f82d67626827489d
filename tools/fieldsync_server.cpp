// fieldsync-server: serves the sync protocol for a programme's devices from one data
// directory. main() only parses the command line and wires the server library together.
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "common/guarded_main.hpp"
#include "common/host_port.hpp"
#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/server/server.hpp"

namespace {

using fieldsync::tools::parse_host_port;

// True when `file` lies inside `dir`: a copy of the directory would then carry its key along.
bool is_inside(const std::string& file, const std::string& dir) {
  std::error_code file_ec;
  std::error_code dir_ec;
  const auto f = std::filesystem::weakly_canonical(file, file_ec);
  const auto d = std::filesystem::weakly_canonical(dir, dir_ec);
  if (file_ec || dir_ec) return false;
  const auto rel = f.lexically_relative(d);
  return !rel.empty() && *rel.begin() != "..";
}

// --new-key-file: a fresh random key, mode 0600, never over an existing file.
int write_new_key_file(const std::string& path) {
  if (auto s = fieldsync::crypto::write_key_file(path); !s) {
    std::cerr << "fieldsync-server: " << s.message() << "\n";
    return 1;
  }
  std::cout << "wrote a new key to " << path
            << " (mode 0600); keep it apart from the data directory and its backups\n";
  return 0;
}

bool prepare_data_dir(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec || !std::filesystem::is_directory(data_dir)) {
    std::cerr << "fieldsync-server: cannot use data directory '" << data_dir
              << "': " << (ec ? ec.message() : "not a directory") << "\n";
    return false;
  }
  return true;
}

void warn_about(const std::string& data_dir, const std::string& key_file) {
  if (!key_file.empty() && is_inside(key_file, data_dir))
    std::cerr << "fieldsync-server: warning: the key file " << key_file
              << " is inside the data directory; a copy of the directory then unlocks the "
                 "store. Keep it on another mount or in a secret store.\n";
}

}  // namespace

static int run_main(int argc, char** argv) {
  CLI::App app{
      "fieldsync-server: the fieldsync sync server. Devices connect over WebSocket at "
      "wss://HOST:PORT/sync (with --tls-cert and --tls-key) or ws://HOST:PORT/sync; GET "
      "/healthz reports the server's state. Plain ws is served on loopback addresses only, "
      "unless --insecure-behind-proxy. Stops cleanly on SIGINT or SIGTERM."};
  std::string data_dir;
  std::string listen = "127.0.0.1:8700";
  std::string key_file;
  std::string new_key_file;
  std::string audit_key;
  std::string log_level = "info";
  std::string tls_cert;
  std::string tls_key;
  bool insecure_behind_proxy = false;
  bool require_auth = false;  // the default already; the flag is kept for scripts
  bool no_auth = false;
  auto* data_opt = app.add_option("--data", data_dir,
                                  "data directory, created if missing; the store is "
                                  "DIR/fieldsync.db (required to serve)")
                       ->type_name("DIR");
  auto* listen_opt =
      app.add_option("--listen", listen, "HOST:PORT to listen on; port 0 picks a free port")
          ->type_name("HOST:PORT")
          ->capture_default_str();
  auto* key_opt = app.add_option("--key-file", key_file,
                                 "encrypt the store under the key in FILE (32 raw bytes or 64 hex "
                                 "digits, mode 0600): a new store is created encrypted, an "
                                 "existing one must be encrypted under FILE. Keep FILE off the "
                                 "data directory's disk")
                      ->type_name("FILE");
  app.add_option("--new-key-file", new_key_file,
                 "write a new random key to FILE (mode 0600, never overwrites one) and exit")
      ->type_name("FILE")
      ->excludes(data_opt)
      ->excludes(listen_opt)
      ->excludes(key_opt);
  app.add_option("--audit-key", audit_key,
                 "the server's Ed25519 key that signs the audit log's checkpoints and its own "
                 "operations (default DIR/audit.key, made on first start, mode 0600); keep a "
                 "copy of its public half, logged at start, where the store cannot change it")
      ->type_name("FILE");
  app.add_option("--log-level", log_level,
                 "how much to log on stderr/stdout: ids, counts and states only, never record "
                 "content, at every level")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  app.add_option("--tls-cert", tls_cert,
                 "serve TLS only (wss://, https://) with the PEM certificate chain in FILE, leaf "
                 "first; needs --tls-key")
      ->type_name("FILE");
  app.add_option("--tls-key", tls_key, "the unencrypted PEM private key of --tls-cert")
      ->type_name("FILE");
  app.add_flag("--insecure-behind-proxy", insecure_behind_proxy,
               "without TLS, listen on a non-loopback address anyway: for a deployment where a "
               "TLS-terminating proxy is in front (devices use wss:// to the proxy)");
  auto* auth_flag = app.add_flag(
      "--require-auth", require_auth,
      "the default: serve enrolled devices only (fieldsync-admin device enroll-code; fieldsync "
      "enroll); each proves its key on every connection and holds its user's caseload only");
  app.add_flag("--insecure-no-auth", no_auth,
               "development only: serve any device, trusting the user it names, with no "
               "scopes (every device receives every record)")
      ->excludes(auth_flag);
  CLI11_PARSE(app, argc, argv);
  if (app.count("--new-key-file") > 0) return write_new_key_file(new_key_file);
  if (data_dir.empty()) return app.exit(CLI::RequiredError("--data"));

  auto addr = parse_host_port(listen);
  if (!addr) {
    std::cerr << "fieldsync-server: bad --listen '" << listen
              << "': expected HOST:PORT (an IPv6 host in brackets), port 0-65535\n";
    return 1;
  }
  if (!prepare_data_dir(data_dir)) return 1;
  warn_about(data_dir, key_file);

  fieldsync::server::ServerConfig config;
  config.data_dir = data_dir;
  config.key_file = key_file;
  config.audit_key_file = audit_key;
  config.log_level = log_level;
  config.host = addr->host;
  config.port = addr->port;
  config.tls_cert_file = tls_cert;
  config.tls_key_file = tls_key;
  config.insecure_behind_proxy = insecure_behind_proxy;
  config.require_auth = !no_auth;
  if (no_auth)
    std::cerr << "fieldsync-server: warning: --insecure-no-auth: devices are not "
                 "authenticated and every device receives every record\n";
  config.handle_signals = true;
  auto server = fieldsync::server::Server::start(std::move(config));
  if (!server) {
    std::cerr << "fieldsync-server: " << server.status().message() << "\n";
    return 1;
  }
  std::cout << "listening on " << addr->display << ":" << (*server)->port() << std::endl;
  (*server)->run();
  return 0;
}

int main(int argc, char** argv) { return fieldsync::tools::guarded_main(run_main, argc, argv); }
