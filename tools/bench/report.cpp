// fieldsync-bench's report (see report.hpp): the figure list, medians, the table and the JSON.
#include "bench/report.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

namespace fieldsync::bench {
namespace {

constexpr double kEditWireTarget = 1.5;       // x the edit's encoded size
constexpr double kPullTargetSeconds = 3.0;    // for a 10,000-case caseload
constexpr double kLiveP99TargetMs = 50.0;     // with 200 devices, an edit a second each
constexpr double kIdleTargetBytes = 65536.0;  // per idle connection, at 2,000
constexpr std::size_t kPullTargetCases = 10'000;

std::string key_of(const FigureSpec& f) { return std::string(f.phase) + "." + std::string(f.key); }

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// 12345.678 with 1 decimal -> "12,345.7".
std::string number(double v, int decimals) {
  std::array<char, 64> b{};
  std::snprintf(b.data(), b.size(), "%.*f", decimals, std::fabs(v));
  std::string digits = b.data();
  const auto dot = digits.find('.');
  std::string whole = digits.substr(0, dot);
  const std::string rest = dot == std::string::npos ? "" : digits.substr(dot);
  for (int i = static_cast<int>(whole.size()) - 3; i > 0; i -= 3) whole.insert(i, ",");
  return (v < 0 ? "-" : "") + whole + rest;
}

std::optional<double> find(const Values& v, const std::string& key) {
  auto it = v.find(key);
  if (it == v.end()) return std::nullopt;
  return it->second;
}

// `text` padded with spaces to `width` characters (UTF-8 aware, for "—"), on the left when
// `right` (numbers) or on the right.
std::string cell(std::string_view text, std::size_t width, bool right = false) {
  std::size_t chars = 0;
  for (const char c : text) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  const std::string fill(width > chars ? width - chars : 0, ' ');
  return right ? fill + std::string(text) : std::string(text) + fill;
}

std::string row(std::string_view phase, std::string_view label, std::string_view value,
                std::string_view unit, std::string_view limit, std::string_view fraction) {
  std::string line = cell(phase, 7) + " " + cell(label, 44) + " " + cell(value, 14, true) + " " +
                     cell(unit, 9) + " " + cell(limit, 16) + " " + cell(fraction, 8, true);
  line.erase(line.find_last_not_of(' ') + 1);
  return line;
}

// A one-line JSON writer: numbers as plain decimals (whole numbers without a fraction, others
// with up to 6 significant digits after the point), strings escaped by Boost.JSON.
class JsonWriter {
 public:
  JsonWriter& open() {
    comma();
    out_ += '{';
    first_ = true;
    return *this;
  }
  JsonWriter& close() {
    out_ += '}';
    first_ = false;
    return *this;
  }
  JsonWriter& key(std::string_view k) {
    comma();
    out_ += boost::json::serialize(boost::json::string(k)) + ":";
    first_ = true;  // the value follows without a comma
    return *this;
  }
  JsonWriter& text(std::string_view v) {
    comma();
    out_ += boost::json::serialize(boost::json::string(v));
    return *this;
  }
  JsonWriter& number(double v) {
    comma();
    std::array<char, 64> b{};
    if (!std::isfinite(v))
      out_ += "null";
    else if (v == std::floor(v) && std::fabs(v) < 1e15)
      out_ += std::to_string(static_cast<long long>(v));
    else {
      std::snprintf(b.data(), b.size(), "%.6g", v);
      out_ += b.data();
    }
    return *this;
  }
  JsonWriter& maybe(const std::optional<double>& v) {
    if (v) return number(*v);
    comma();
    out_ += "null";
    return *this;
  }
  // Text written as is, with no comma handling (array brackets).
  JsonWriter& raw(std::string_view t) {
    out_ += t;
    first_ = t == "[";
    return *this;
  }
  const std::string& str() const { return out_; }

 private:
  void comma() {
    if (!first_ && !out_.empty()) out_ += ',';
    first_ = false;
  }
  std::string out_;
  bool first_ = true;
};

std::string bound_text(const Bound& b, int decimals) {
  switch (b.kind) {
    case Bound::Kind::target_at_most:
      return "<= " + number(b.value, decimals);
    case Bound::Kind::target_at_least:
      return ">= " + number(b.value, decimals);
    case Bound::Kind::limit:
      return "limit " + number(b.value, decimals);
  }
  return "";
}

}  // namespace

const std::vector<FigureSpec>& figure_specs() {
  static const std::vector<FigureSpec> specs = {
      {"setup", "records", "records written offline (all devices)", "records", 0},
      {"setup", "ops", "operations in the outboxes", "ops", 0},
      {"setup", "mean_op_bytes", "mean operation, as encoded in a push", "B", 0},
      {"push", "ops_per_s", "throughput until all durably acknowledged", "ops/s", 0},
      {"push", "seconds", "start to the last ack", "s", 3},
      {"push", "sync_seconds", "start to the last device up to date", "s", 3},
      {"push", "client_cpu_seconds", "  the devices' CPU time (clients, replicas)", "s", 3},
      {"push", "server_cpu_seconds", "  the server's CPU time", "s", 3},
      {"push", "acked", "operations acknowledged", "ops", 0},
      {"push", "bytes_per_op", "bytes on the wire per op, both ways", "B", 0},
      {"push", "up_per_op", "  of which device -> server", "B", 0},
      {"push", "down_per_op", "  of which server -> device", "B", 0},
      {"push", "pulled_back", "log entries the devices pulled back", "entries", 0},
      {"edits", "edits", "field edits (second round)", "edits", 0},
      {"edits", "per_s", "throughput until all durably acknowledged", "edits/s", 0},
      {"edits", "seconds", "start to the last ack", "s", 3},
      {"edits", "client_cpu_seconds", "  the devices' CPU time (clients, replicas)", "s", 3},
      {"edits", "server_cpu_seconds", "  the server's CPU time", "s", 3},
      {"edits", "bytes_per_edit", "bytes on the wire per edit, whole sync", "B", 0},
      {"edits", "push_ack_bytes_per_edit", "  of which push and ack frames", "B", 0},
      {"edits", "snapshot_bytes_per_sync", "  snapshot frames, per device's sync", "B", 0},
      {"edits", "other_bytes_per_sync", "  the rest (hello, auth, scope...), per sync", "B", 0},
      {"edits", "mean_edit_bytes", "mean edit, as encoded in a push", "B", 0},
      {"edits", "wire_ratio", "wire / encoded bytes per edit, whole sync", "x", 2},
      {"edits", "push_ack_ratio", "wire / encoded bytes per edit, push and ack", "x", 2},
      {"pull", "seconds", "fresh lead device's first sync", "s", 3},
      {"pull", "client_cpu_seconds", "  its CPU time (sync client, replica)", "s", 3},
      {"pull", "server_cpu_seconds", "  the server's CPU time in that time", "s", 3},
      {"pull", "records", "records it holds afterwards", "records", 0},
      {"pull", "records_per_s", "initial pull rate", "records/s", 0},
      {"pull", "pulled", "log entries replayed (pulled)", "entries", 0},
      {"pull", "snapshot_records", "records received whole (snapshot)", "records", 0},
      {"pull", "snapshot_frames", "  in snapshot frames (one transaction each)", "frames", 0},
      {"pull", "bytes_per_record", "bytes received per record", "B", 0},
      {"dash", "cases", "the lead's caseload on the dashboard", "cases", 0},
      {"dash", "first_ms", "  its first read (also audits the listing)", "ms", 1},
      {"dash", "median_ms", "caseload read, median of the next 9", "ms", 1},
      {"dash", "max_ms", "  the slowest of those 9", "ms", 1},
      {"dash", "kib", "  the answer (JSON)", "KiB", 0},
      {"live", "writers", "connected writers, one edit per interval each", "devices", 0},
      {"live", "edits", "edits in the window, all seen by the lead", "edits", 0},
      {"live", "p50_ms", "write to another device seeing it, p50", "ms", 1},
      {"live", "p99_ms", "write to another device seeing it, p99", "ms", 1},
      {"live", "max_ms", "write to another device seeing it, max", "ms", 1},
      {"live", "bytes_per_edit", "bytes on the wire per live edit", "B", 0},
      {"live", "encoded_edit_bytes", "  the edit's op as encoded", "B", 0},
      {"live", "wire_ratio", "wire / encoded bytes per live edit", "x", 2},
      {"idle", "connections", "idle connections held open (fresh server)", "conns", 0},
      {"idle", "connect_seconds", "  time to open and authenticate them", "s", 1},
      {"idle", "server_rss_mib", "  that server's memory with them (VmRSS)", "MiB", 1},
      {"idle", "bytes_per_connection", "server memory per idle connection", "B", 0},
      {"server", "peak_rss_mib", "server peak memory (VmHWM)", "MiB", 1},
      {"server", "rss_mib", "server memory at the end (VmRSS)", "MiB", 1},
      {"limits", "sqlite_ops_per_s", "raw SQLite, the server's rows per op", "ops/s", 0},
      {"limits", "sqlite_rows_per_op", "  rows it writes per op", "rows", 2},
      {"limits", "ed25519_verify_per_s", "Ed25519 verifications, one core", "/s", 0},
      {"limits", "aead_mib_per_s", "XChaCha20-Poly1305 sealing, 4 KiB", "MiB/s", 0},
      {"limits", "echo_round_trips_per_s", "bare WebSocket echo, one in flight", "/s", 0},
      {"limits", "echo_rtt_p50_ms", "  its round trip, p50", "ms", 3},
      {"limits", "echo_rtt_p99_ms", "  its round trip, p99", "ms", 3},
      {"limits", "echo_messages_per_s", "bare WebSocket echo, pipelined", "msgs/s", 0},
  };
  return specs;
}

void summarize(const std::vector<Values>& reps, Report& report) {
  if (reps.empty()) return;
  for (const Values& r : reps)
    for (const auto& entry : r)
      if (std::none_of(figure_specs().begin(), figure_specs().end(),
                       [&](const FigureSpec& f) { return key_of(f) == entry.first; }))
        throw std::logic_error("fieldsync-bench: figure " + entry.first +
                               " is not in figure_specs()");
  for (const auto& [key, first] : reps.front()) {
    std::vector<double> v;
    for (const Values& r : reps)
      if (auto x = find(r, key)) v.push_back(*x);
    if (v.size() != reps.size()) continue;  // not measured in every repetition
    report.median[key] = median_of(v);
    report.min[key] = *std::min_element(v.begin(), v.end());
    report.max[key] = *std::max_element(v.begin(), v.end());
  }
}

void add_doc_targets(Report& report) {
  if (auto encoded = find(report.median, "edits.mean_edit_bytes")) {
    report.bounds["edits.wire_ratio"] = {Bound::Kind::target_at_most, kEditWireTarget,
                                         "docs: <= 1.5x the edit's encoded size"};
    report.bounds["edits.push_ack_ratio"] = {Bound::Kind::target_at_most, kEditWireTarget,
                                             "docs: <= 1.5x the edit's encoded size"};
    report.bounds["edits.bytes_per_edit"] = {Bound::Kind::target_at_most,
                                             kEditWireTarget * *encoded, "1.5x the encoded edit"};
  }
  if (auto sqlite = find(report.median, "limits.sqlite_ops_per_s"))
    report.bounds["push.ops_per_s"] = {Bound::Kind::limit, *sqlite,
                                       "raw SQLite, same rows; target >= 0.5"};
  if (find(report.median, "live.p99_ms"))
    report.bounds["live.p99_ms"] = {Bound::Kind::target_at_most, kLiveP99TargetMs,
                                    "docs: < 50 ms with 200 devices"};
  if (auto echo = find(report.median, "limits.echo_rtt_p50_ms"))
    report.bounds["live.p50_ms"] = {Bound::Kind::limit, *echo, "bare echo round trip, p50"};
  if (find(report.median, "live.wire_ratio"))
    report.bounds["live.wire_ratio"] = {Bound::Kind::target_at_most, kEditWireTarget,
                                        "docs: <= 1.5x the edit's encoded size"};
  if (find(report.median, "idle.bytes_per_connection"))
    report.bounds["idle.bytes_per_connection"] = {Bound::Kind::target_at_most, kIdleTargetBytes,
                                                  "docs: <= 64 KB at 2,000 connections"};
  if (report.info.devices * report.info.cases >= kPullTargetCases)
    report.bounds["pull.seconds"] = {Bound::Kind::target_at_most, kPullTargetSeconds,
                                     "docs: 10,000 cases in under 3 s"};
}

void print_table(const Report& report) {
  const RunInfo& i = report.info;
  std::printf(
      "fieldsync-bench: %zu devices x %zu cases, %zu edits each; seed %llu; %d repetition%s"
      " (medians%s); server %s; open files limit %llu; %.1f s in all\n\n",
      i.devices, i.cases, i.edits, static_cast<unsigned long long>(i.seed), i.reps,
      i.reps == 1 ? "" : "s", i.reps > 1 ? ", range min-max" : "", i.server.c_str(),
      static_cast<unsigned long long>(i.nofile_limit), i.wall_seconds);
  std::printf("%s\n%s\n",
              row("phase", "figure", "value", "unit", "limit/target", "fraction").c_str(),
              std::string(103, '-').c_str());
  std::string_view last_phase;
  for (const FigureSpec& f : figure_specs()) {
    const std::string key = key_of(f);
    const auto value = find(report.median, key);
    std::string shown = value ? number(*value, f.decimals) : "—";
    std::string limit = "—", fraction = "—";
    if (auto b = report.bounds.find(key); b != report.bounds.end()) {
      limit = bound_text(b->second, f.decimals);
      if (value && b->second.value != 0) fraction = number(*value / b->second.value, 2);
    }
    std::printf(
        "%s\n",
        row(f.phase == last_phase ? "" : f.phase, f.label, shown, f.unit, limit, fraction).c_str());
    if (value && i.reps > 1 && report.min.count(key) && report.min.at(key) != report.max.at(key))
      std::printf("%s\n", row("", "    range",
                              number(report.min.at(key), f.decimals) + "-" +
                                  number(report.max.at(key), f.decimals),
                              "", "", "")
                              .c_str());
    last_phase = f.phase;
  }
  std::printf(
      "\nbytes on the wire: WebSocket payloads plus estimated frame headers (no TCP/IP, no HTTP "
      "upgrade); fraction = value / limit or target; — = not measured in this run\n");
}

std::string json_line(const Report& report) {
  const RunInfo& i = report.info;
  JsonWriter w;
  w.open();
  w.key("tool").text("fieldsync-bench");
  w.key("config").open();
  w.key("devices").number(static_cast<double>(i.devices));
  w.key("cases_per_device").number(static_cast<double>(i.cases));
  w.key("edits_per_device").number(static_cast<double>(i.edits));
  w.key("seed").number(static_cast<double>(i.seed));
  w.key("reps").number(i.reps);
  w.key("server").text(i.server);
  w.key("nofile_limit").number(static_cast<double>(i.nofile_limit));
  w.key("wall_seconds").number(i.wall_seconds);
  w.close();
  std::string_view phase;
  for (const FigureSpec& f : figure_specs()) {
    if (f.phase != phase) {
      if (!phase.empty()) w.close();
      w.key(f.phase).open();
      phase = f.phase;
    }
    w.key(f.key).maybe(find(report.median, key_of(f)));
  }
  if (!phase.empty()) w.close();
  w.key("bounds").open();
  for (const auto& [key, b] : report.bounds) {
    w.key(key).open();
    w.key("bound").number(b.value);
    w.key("kind").text(b.kind == Bound::Kind::limit            ? "limit"
                       : b.kind == Bound::Kind::target_at_most ? "target_at_most"
                                                               : "target_at_least");
    w.key("note").text(b.note);
    const auto value = find(report.median, key);
    w.key("fraction").maybe(value && b.value != 0 ? std::optional(*value / b.value) : std::nullopt);
    w.close();
  }
  w.close();
  if (i.reps > 1) {
    w.key("range").open();
    for (const auto& [key, lo] : report.min) {
      w.key(key).raw("[");
      w.number(lo).number(report.max.at(key)).raw("]");
    }
    w.close();
  }
  w.close();
  return w.str();
}

}  // namespace fieldsync::bench
