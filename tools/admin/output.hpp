// How fieldsync-admin prints: aligned text tables for people, JSON for scripts, and times as
// ISO-8601 UTC. Record content passes through here only in `audit history` and `audit export`
// (audit_history.cpp, audit_commands.cpp), which show records' values to a lead or an admin on
// purpose and record that read first; every other command prints names, ids, states and
// times only.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

namespace fieldsync::admin {

// "2024-05-01T12:34:56Z" (seconds precision).
std::string iso_utc(std::int64_t unix_ms);
// "2024-05-01T12:34:56.789Z" (milliseconds precision).
std::string iso_utc_ms(std::int64_t unix_ms);
// iso_utc, or null when absent.
boost::json::value iso_or_null(const std::optional<std::int64_t>& unix_ms);

// Rows of text under a header, columns padded to their widest cell.
void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);

// One JSON value on a line.
void print_json(std::ostream& out, const boost::json::value& v);

}  // namespace fieldsync::admin
