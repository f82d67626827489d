// fieldsync-bench's report: every figure the bench prints, in one list (phase, key, label,
// unit), the medians over repetitions with their range, the limit or target each figure is
// held against, and the two outputs: a readable table and one JSON line. A figure that was
// not measured in this run (a phase not wired yet, server memory of a targeted server) is
// absent from the values and printed as "—" in the table and null in the JSON.
//
// Ownership: plain values. Threading: none.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fieldsync::bench {

struct FigureSpec {
  std::string_view phase;  // JSON object and table group: setup, push, edits, pull, ...
  std::string_view key;    // JSON key within the phase
  std::string_view label;  // the table's text
  std::string_view unit;
  int decimals = 0;
};
// Every figure, in table order, including the slots not filled yet: live.p50_ms,
// live.p99_ms, live.bytes_per_edit, idle.connections, idle.bytes_per_connection and
// limits.* (machine limits measured beside the run).
const std::vector<FigureSpec>& figure_specs();

// "phase.key" -> value; a figure not measured is absent.
using Values = std::map<std::string, double>;

// What a figure is held against: a target it must stay within, or a limit of the machine
// it cannot pass. fraction = value / bound.
struct Bound {
  enum class Kind { target_at_most, target_at_least, limit };
  Kind kind = Kind::limit;
  double value = 0;
  std::string note;  // e.g. "raw SQLite, same disk"
};

struct RunInfo {
  std::size_t devices = 0, cases = 0, edits = 0;  // per device
  std::uint64_t seed = 0;
  int reps = 0;
  std::string server;  // "started" (beside the bench or --server-bin) or "target"
  std::string url;     // of the last repetition's server
  std::uint64_t nofile_limit = 0;
  double wall_seconds = 0;  // the whole run
};

struct Report {
  RunInfo info;
  Values median;    // per figure, over the repetitions that measured it
  Values min, max;  // their range
  std::map<std::string, Bound> bounds;
};

// Medians and ranges of the figures every repetition measured. A key that figure_specs()
// does not list is a programming error: std::logic_error.
void summarize(const std::vector<Values>& reps, Report& report);
// The targets from the docs: bytes on the wire per field edit at most 1.5x the edit's
// encoded size; a fresh lead device's pull of a 10,000-case caseload in under 3 s (held
// against only when the run has at least 10,000 cases).
void add_doc_targets(Report& report);

void print_table(const Report& report);
std::string json_line(const Report& report);

}  // namespace fieldsync::bench
