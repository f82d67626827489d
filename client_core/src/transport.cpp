// Server URLs: ws:// and wss://HOST:PORT[/PATH] parsed into an Endpoint (no networking here).
#include "fieldsync/client/transport.hpp"

#include <cctype>
#include <charconv>

namespace fieldsync::client {
namespace {

Status bad_url(std::string_view url, std::string_view why) {
  return {Code::invalid_argument,
          "invalid server URL '" + std::string(url) + "': " + std::string(why) +
              " (expected ws://HOST:PORT[/PATH] or wss://HOST:PORT[/PATH])"};
}

bool host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

}  // namespace

std::string Endpoint::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (tls ? "wss://" : "ws://") + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) +
         path;
}

Result<Endpoint> parse_ws_url(std::string_view url) {
  constexpr std::string_view kPlain = "ws://";
  constexpr std::string_view kTls = "wss://";
  const bool tls = url.starts_with(kTls);
  if (!tls && !url.starts_with(kPlain)) return bad_url(url, "it must start with ws:// or wss://");
  std::string_view rest = url.substr(tls ? kTls.size() : kPlain.size());
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);

  Endpoint ep;
  ep.tls = tls;
  std::string_view port_text;
  if (authority.starts_with('[')) {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return bad_url(url, "unterminated [IPv6 address]");
    ep.host = std::string(authority.substr(1, close - 1));
    for (char c : ep.host)
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.')
        return bad_url(url, "bad IPv6 address");
    std::string_view after = authority.substr(close + 1);
    if (!after.starts_with(':')) return bad_url(url, "a port is required");
    port_text = after.substr(1);
  } else {
    std::size_t colon = authority.rfind(':');
    if (colon == std::string_view::npos) return bad_url(url, "a port is required");
    ep.host = std::string(authority.substr(0, colon));
    port_text = authority.substr(colon + 1);
    for (char c : ep.host)
      if (!host_char(c)) return bad_url(url, "bad host name");
  }
  if (ep.host.empty()) return bad_url(url, "a host is required");

  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port == 0 || port > 65535)
    return bad_url(url, "the port must be a number from 1 to 65535");
  ep.port = static_cast<std::uint16_t>(port);

  if (!path.empty() && path != "/") {
    for (char c : path)
      if (static_cast<unsigned char>(c) <= ' ' || c == '#') return bad_url(url, "bad path");
    ep.path = std::string(path);
  }
  return ep;
}

}  // namespace fieldsync::client
