// The audit trail for a store that had none (contract in audit_backfill.hpp).
#include "audit_backfill.hpp"

#include <chrono>

#include <cctype>

#include <boost/json.hpp>

#include "audit_writer.hpp"

namespace fieldsync::server::audit {
namespace {

std::int64_t system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

Status backfill(crypto::Database& db) {
  auto writer = AuditWriter::prepare(db);
  if (!writer) return writer.status();
  writer->begin();
  auto rows = db.prepare(
      "SELECT seq, op_id, device, json_extract(op_json, '$.user'), op_json, skewed, received_ms "
      "FROM log ORDER BY seq");
  if (!rows) return rows.status();
  std::uint64_t ops = 0;
  for (;;) {
    auto row = rows->step();
    if (!row) return row.status();
    if (!*row) break;
    auto seq = writer->append(op_event(static_cast<std::uint64_t>(rows->column_int(0)),
                                       rows->column_text(1), rows->column_text(2),
                                       rows->column_text(3), rows->column_text(4),
                                       rows->column_int(5) != 0, rows->column_int(6), false));
    if (!seq) return seq.status();
    ++ops;
  }
  const std::int64_t now = system_now_ms();
  auto devices = db.prepare("SELECT id, user, hex(public_key), state FROM devices ORDER BY id");
  if (!devices) return devices.status();
  for (;;) {
    auto row = devices->step();
    if (!row) return row.status();
    if (!*row) break;
    boost::json::object detail;
    detail["event"] = "known";
    detail["key"] = boost::json::string(devices->column_text(2));
    detail["state"] = boost::json::string(devices->column_text(3));
    // hex() is upper case; keys are written in lower case everywhere else.
    for (auto& c : detail["key"].as_string()) c = static_cast<char>(std::tolower(c));
    auto seq = writer->append(Event{"device", now, devices->column_text(1), devices->column_text(0),
                                    "", boost::json::serialize(detail)});
    if (!seq) return seq.status();
  }
  boost::json::object detail;
  detail["event"] = "audit_started";
  detail["earlier_ops"] = ops;
  auto seq = writer->append(Event{"admin", now, "", "", "", boost::json::serialize(detail)});
  return seq ? Status::ok() : seq.status();
}

}  // namespace fieldsync::server::audit
