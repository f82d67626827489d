// fieldsync-admin's output helpers (see output.hpp).
#include "admin/output.hpp"

#include <time.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>

#include <boost/json/serialize.hpp>

namespace fieldsync::admin {

std::string iso_utc(std::int64_t unix_ms) {
  const std::int64_t secs = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  const auto t = static_cast<time_t>(secs);
  struct tm tm {};
  if (gmtime_r(&t, &tm) == nullptr) return "?";
  std::array<char, 32> buf{};
  if (std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return "?";
  return buf.data();
}

std::string iso_utc_ms(std::int64_t unix_ms) {
  const std::int64_t secs = unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000;
  std::string text = iso_utc(secs * 1000);
  if (text == "?") return text;
  std::array<char, 8> ms{};
  std::snprintf(ms.data(), ms.size(), ".%03dZ", static_cast<int>(unix_ms - secs * 1000));
  text.pop_back();  // the 'Z'
  return text + ms.data();
}

boost::json::value iso_or_null(const std::optional<std::int64_t>& unix_ms) {
  if (!unix_ms) return nullptr;
  return boost::json::value(iso_utc(*unix_ms));
}

void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c)
      width[c] = std::max(width[c], row[c].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      text += cells[c];
      if (c + 1 < cells.size()) text += std::string(width[c] - cells[c].size() + 2, ' ');
    }
    out << text << "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
}

void print_json(std::ostream& out, const boost::json::value& v) {
  out << boost::json::serialize(v) << "\n";
}

}  // namespace fieldsync::admin
