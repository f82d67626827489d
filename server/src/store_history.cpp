// Reading a record's operation log for its history (history.hpp). One query over the index
// log_by_record(collection, record, seq), on a read-only connection of its own.
#include "fieldsync/server/history.hpp"

#include <cstdint>
#include <utility>

#include <boost/json/parse.hpp>

#include "fieldsync/crypto/database.hpp"

namespace fieldsync::server {
namespace {

Result<sync::Op> parse_op(const std::string& text, std::int64_t seq) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  auto op = ec ? Result<sync::Op>(Status(Code::storage, "")) : sync::op_from_json(v);
  if (!op)
    return Status(Code::storage,
                  "store holds an unreadable operation at log seq " + std::to_string(seq));
  return op;
}

}  // namespace

Result<std::vector<sync::HistoryEntry>> read_history(crypto::Database& db,
                                                     const std::string& collection,
                                                     const std::string& id, std::size_t limit) {
  auto st = db.prepare(
      "SELECT seq, op_json, received_ms FROM log WHERE collection=?1 AND record=?2 ORDER BY seq "
      "LIMIT ?3");
  if (!st) return st.status();
  st->bind(1, collection).bind(2, id).bind(3, static_cast<std::int64_t>(limit));
  std::vector<sync::HistoryEntry> out;
  for (;;) {
    auto row = st->step();
    if (!row) return row.status();
    if (!*row) break;
    const std::int64_t seq = st->column_int(0);
    auto op = parse_op(st->column_text(1), seq);
    if (!op) return op.status();
    out.push_back({static_cast<std::uint64_t>(seq), std::move(*op), st->column_int(2)});
  }
  return out;
}

Result<std::vector<sync::HistoryEntry>> read_history(const StoreFile& file,
                                                     const std::string& collection,
                                                     const std::string& id) {
  auto db = file.connect(/*writable=*/false);
  if (!db) return db.status();
  auto out = read_history(**db, collection, id, static_cast<std::size_t>(INT64_MAX));
  if (!out) return file.annotate(out.status());
  return out;
}

}  // namespace fieldsync::server
