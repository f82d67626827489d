// The dashboard phase of fieldsync-bench (dashboard_reads.hpp).
#include "bench/dashboard_reads.hpp"

#include <algorithm>
#include <chrono>
#include <span>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "fieldsync/crypto/password.hpp"

namespace fieldsync::bench {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

constexpr const char* kPassword = "bench lead password";

struct Answer {
  unsigned status = 0;
  std::string body;
  std::string cookie;  // the session cookie from Set-Cookie, name=value
};

// One request on a fresh connection.
Result<Answer> request(const std::string& host, std::uint16_t port, http::verb method,
                       const std::string& target, const std::string& cookie,
                       const std::string& body) {
  try {
    net::io_context ioc;
    net::ip::tcp::socket socket(ioc);
    net::ip::tcp::resolver resolver(ioc);
    net::connect(socket, resolver.resolve(host, std::to_string(port)));
    http::request<http::string_body> req(method, target, 11);
    const std::string origin = "http://" + host + ":" + std::to_string(port);
    req.set(http::field::host, host + ":" + std::to_string(port));
    req.set(http::field::origin, origin);
    req.set(http::field::accept, "application/json");
    req.keep_alive(false);
    if (!cookie.empty()) req.set(http::field::cookie, cookie);
    if (method == http::verb::post) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    http::write(socket, req);
    // The whole answer until the server closes (Connection: close), then parsed at once.
    std::string raw;
    boost::system::error_code ec;
    net::read(socket, net::dynamic_buffer(raw), ec);
    if (ec && ec != net::error::eof)
      return Status(Code::unreachable, "dashboard " + target + ": " + ec.message());
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ULL << 30);
    parser.eager(true);
    ec = {};
    net::const_buffer rest = net::buffer(raw);
    while (!ec && !parser.is_done() && rest.size() > 0) {
      const std::size_t used = parser.put(rest, ec);
      if (ec == http::error::need_more) ec = {};
      if (used == 0) break;
      rest += used;
    }
    if (!ec && !parser.is_done()) parser.put_eof(ec);
    if (ec || !parser.is_done())
      return Status(Code::internal, "dashboard " + target + ": the answer is not whole HTTP (" +
                                        std::to_string(raw.size()) + " bytes)");
    auto& res = parser.get();
    Answer a{res.result_int(), std::move(res.body()), {}};
    const std::string set_cookie(res[http::field::set_cookie]);
    a.cookie = set_cookie.substr(0, set_cookie.find(';'));
    return a;
  } catch (const boost::system::system_error& e) {
    return Status(Code::unreachable, "dashboard " + target + ": " + e.code().message());
  }
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

Result<DashboardReads> dashboard_reads(server::Directory& directory, const std::string& lead,
                                       const std::string& host, std::uint16_t port, int reads) {
  const std::string pw = kPassword;
  auto hash =
      crypto::hash_password(std::span(reinterpret_cast<const std::uint8_t*>(pw.data()), pw.size()),
                            crypto::KdfLimits::minimum());
  if (!hash) return hash.status();
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  if (Status s = directory.set_password(lead, *hash, now); !s) return s;
  const std::string login =
      boost::json::serialize(boost::json::object{{"user", lead}, {"password", pw}});
  auto in = request(host, port, http::verb::post, "/api/login", "", login);
  if (!in) return in.status();
  if (in->status != 200 || in->cookie.empty())
    return Status(Code::internal,
                  "dashboard sign-in answered " + std::to_string(in->status) + ": " + in->body);
  DashboardReads out;
  std::vector<double> later;
  for (int i = 0; i <= reads; ++i) {
    const auto t0 = Clock::now();
    auto got = request(host, port, http::verb::get, "/api/caseload", in->cookie, "");
    const double ms = ms_since(t0);
    if (!got) return got.status();
    if (got->status != 200)
      return Status(Code::internal, "the caseload read answered " + std::to_string(got->status) +
                                        ": " + got->body.substr(0, 200));
    if (i == 0) {
      out.first_ms = ms;
      out.bytes = got->body.size();
      boost::system::error_code ec;
      auto doc = boost::json::parse(got->body, ec);
      const auto* cases = !ec && doc.is_object() ? doc.as_object().if_contains("cases") : nullptr;
      if (cases == nullptr || !cases->is_array())
        return Status(Code::internal, "the caseload answer holds no cases");
      out.cases = cases->as_array().size();
    } else {
      later.push_back(ms);
    }
  }
  if (!later.empty()) {
    std::sort(later.begin(), later.end());
    const std::size_t n = later.size();
    out.median_ms = n % 2 ? later[n / 2] : (later[n / 2 - 1] + later[n / 2]) / 2;
    out.max_ms = later.back();
  }
  return out;
}

}  // namespace fieldsync::bench
