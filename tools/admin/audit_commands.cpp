// fieldsync-admin audit verify and audit export: re-checking the audit trail (server/audit.hpp)
// and writing it out as JSON lines, one entry a line, for an auditor's own tools.
//
// `audit export` shows record content (the operations in the log) to a lead or an
// administrator on purpose, like `audit history`; it records the read in the audit log before
// printing. `audit verify` shows no record content and records nothing.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "admin/commands.hpp"
#include "admin/open_store.hpp"
#include "admin/output.hpp"
#include "fieldsync/crypto/database.hpp"
#include "fieldsync/server/audit.hpp"

namespace fieldsync::admin {
namespace json = boost::json;
namespace {

// ---- audit verify ----

Result<crypto::PublicKey> parse_public_key(const std::string& hex) {
  auto bytes = crypto::from_hex(hex);
  if (!bytes || bytes->size() != crypto::kPublicKeyBytes)
    return Status(Code::invalid_argument, "--public-key must be 64 hex digits");
  crypto::PublicKey key{};
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

// The server's public key: `given`, else the public half of the audit key file (never made
// here: verifying against a key made just now would prove nothing).
Result<crypto::PublicKey> server_public_key(const Context& ctx, const std::string& given) {
  if (!given.empty()) return parse_public_key(given);
  const std::string path = audit_key_path(ctx);
  auto key = crypto::load_signing_key_file(path);
  if (!key) {
    if (key.status().code() == Code::not_found)
      return Status(Code::not_found, "no audit key file at '" + path +
                                         "': pass the server's public audit key with "
                                         "--public-key HEX (the server logs it when it starts)");
    return key.status();
  }
  return key->public_key();
}

std::string plural(std::uint64_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// "N entries, M operations, B device batches, C checkpoints (newest at entry #X); audit key K"
std::string summary(const server::audit::VerifyReport& r, const std::string& key_hex) {
  std::string text = plural(r.entries, "entry", "entries") + ", " +
                     plural(r.ops, "operation", "operations") + ", " +
                     plural(r.batches, "device batch", "device batches") + ", " +
                     plural(r.checkpoints, "checkpoint", "checkpoints");
  text += r.checkpoints == 0 ? " (none yet)"
                             : " (newest at entry #" + std::to_string(r.last_checkpoint) + ")";
  return text + "; audit key " + key_hex;
}

// After a trail that verified: what to keep elsewhere, and the ops no device signed.
std::string sealed_note(const server::audit::VerifyReport& r) {
  std::string text = r.checkpoints == 0 ? std::string("no checkpoint yet")
                                        : "sealed through entry #" + std::to_string(r.entries) +
                                              ", hash " + r.head_hash +
                                              " (keep this line elsewhere: a log cut short "
                                              "shows against it)";
  if (r.unsigned_ops > 0)
    text += "\n" + plural(r.unsigned_ops, "operation carries", "operations carry") +
            " no device signature (accepted before the audit trail began, or by a server "
            "without device authentication)";
  return text;
}

void print_verify(const Context& ctx, const server::audit::VerifyReport& r,
                  const std::string& key_hex) {
  if (ctx.json) {
    json::value problem = nullptr;
    if (r.problem) problem = json::object{{"seq", r.problem->seq}, {"what", r.problem->what}};
    json::value last = nullptr;
    if (r.checkpoints != 0) last = r.last_checkpoint;
    print_json(std::cout, json::object{{"ok", !r.problem},
                                       {"entries", r.entries},
                                       {"ops", r.ops},
                                       {"unsigned_ops", r.unsigned_ops},
                                       {"head", r.head_hash},
                                       {"batches", r.batches},
                                       {"checkpoints", r.checkpoints},
                                       {"last_checkpoint", last},
                                       {"audit_key", key_hex},
                                       {"problem", problem}});
    return;
  }
  if (!r.problem) {
    std::cout << "ok: " << summary(r, key_hex) << "\n" << sealed_note(r) << "\n";
    return;
  }
  if (r.problem->seq != 0) {
    std::cout << "FAILED at entry #" << r.problem->seq << ": " << r.problem->what << "\n";
  } else {
    std::cout << "FAILED: " << r.problem->what << "\n";
  }
  std::cout << "checked before it: " << summary(r, key_hex) << "\n";
}

// ---- audit export ----

// Unix milliseconds of midnight UTC on a valid date, or nullopt.
std::optional<std::int64_t> day_ms(int y, unsigned m, unsigned d) {
  using namespace std::chrono;
  const year_month_day ymd{year{y}, month{m}, day{d}};
  if (!ymd.ok()) return std::nullopt;
  return duration_cast<milliseconds>(sys_days{ymd}.time_since_epoch()).count();
}

// --since: "2026-11-30", "2026-11-30T12:00:00Z" (optionally with .mmm), or Unix milliseconds.
Result<std::int64_t> parse_since(const std::string& text) {
  static const std::regex kMillis(R"(\d{1,15})");
  static const std::regex kTime(
      R"((\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?Z)?)");
  if (std::regex_match(text, kMillis)) return std::stoll(text);
  std::smatch m;
  if (std::regex_match(text, m, kTime)) {
    auto num = [&](int i) { return m[i].matched ? std::stoi(m[i].str()) : 0; };
    auto day = day_ms(num(1), static_cast<unsigned>(num(2)), static_cast<unsigned>(num(3)));
    if (day && num(4) < 24 && num(5) < 60 && num(6) < 60) {
      std::string frac = m[7].matched ? m[7].str() : "";
      frac.resize(3, '0');
      return *day + ((num(4) * 60LL + num(5)) * 60 + num(6)) * 1000 + std::stoi(frac);
    }
  }
  return Status(Code::invalid_argument,
                "--since must be a date (2026-11-30), a UTC time (2026-11-30T12:00:00Z) or Unix "
                "milliseconds, not '" +
                    text + "'");
}

// The entries from the first one at or after ?1, with the log row of each op (and repeat)
// entry, optionally only user ?2's (?2 = '': everyone) and only those about case ?3 (?3 = '':
// every case). An entry is about the case when its record (an op's or a repeat's log row; a
// refused op's detail.collection and detail.record, when given) is the case or lies in it
// (records.scope_item), or it is a read of such a record ("collection/id"), of the case, or an
// export filtered by the case.
constexpr const char* kExportSql = R"sql(
WITH entries AS (
  SELECT a.seq, a.at_ms, a.kind, a.user, a.device, a.subject, a.detail, a.hash,
         l.collection AS log_collection, l.record AS log_record, l.op_json,
         CASE WHEN a.kind IN ('op', 'repeat') THEN l.collection
              WHEN a.kind = 'refused' THEN json_extract(a.detail, '$.collection') END
           AS r_collection,
         CASE WHEN a.kind IN ('op', 'repeat') THEN l.record
              WHEN a.kind = 'refused' THEN json_extract(a.detail, '$.record') END AS r_id
  FROM audit_log a
  LEFT JOIN log l ON a.kind IN ('op', 'repeat') AND l.seq = json_extract(a.detail, '$.log')
  WHERE a.seq >= (SELECT MIN(seq) FROM audit_log WHERE at_ms >= ?1))
SELECT seq, at_ms, kind, user, device, subject, detail, hash, log_collection, log_record, op_json
FROM entries e
WHERE (?2 = '' OR e.user = ?2)
  AND (?3 = ''
       OR (e.r_collection = 'cases' AND e.r_id = ?3)
       OR EXISTS (SELECT 1 FROM records r WHERE r.collection = e.r_collection AND r.id = e.r_id
                  AND r.scope_item = 'c:' || ?3)
       OR (e.kind = 'read'
           AND (e.subject = 'cases/' || ?3 OR json_extract(e.detail, '$.case') = ?3
                OR EXISTS (SELECT 1 FROM records r WHERE r.scope_item = 'c:' || ?3
                           AND e.subject = r.collection || '/' || r.id))))
ORDER BY seq
)sql";

// A JSON text as a value; a text that does not parse stays a string.
json::value parsed_or_text(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return json::value(text);
  return v;
}

json::object export_line(const crypto::Statement& row) {
  const std::int64_t at_ms = row.column_int(1);
  const std::string kind = row.column_text(2);
  json::object o{{"seq", row.column_int(0)},
                 {"at", iso_utc_ms(at_ms)},
                 {"at_ms", at_ms},
                 {"kind", kind},
                 {"user", row.column_text(3)},
                 {"device", row.column_text(4)},
                 {"subject", row.column_text(5)},
                 {"detail", parsed_or_text(row.column_text(6))},
                 {"hash", crypto::to_hex(row.column_blob(7))}};
  if (kind == "op" || kind == "repeat") {  // entries that name a log row
    const bool has_row = !row.column_is_null(10);
    o["collection"] = has_row ? json::value(row.column_text(8)) : json::value(nullptr);
    o["record"] = has_row ? json::value(row.column_text(9)) : json::value(nullptr);
    o["op"] = has_row ? parsed_or_text(row.column_text(10)) : json::value(nullptr);
  }
  return o;
}

// Every selected entry, serialized, in sequence order (one read transaction).
Result<std::vector<std::string>> export_lines(const server::StoreFile& file, std::int64_t since_ms,
                                              const std::string& user, const std::string& case_id) {
  auto db = file.connect(false);
  if (!db) return db.status();
  auto st = (*db)->prepare(kExportSql);
  if (!st) return file.annotate(st.status());
  st->bind(1, since_ms).bind(2, user).bind(3, case_id);
  std::vector<std::string> lines;
  for (;;) {
    auto more = st->step();
    if (!more) return file.annotate(more.status());
    if (!*more) break;
    lines.push_back(json::serialize(export_line(*st)));
  }
  return lines;
}

json::value text_or_null(const std::string& text) {
  if (text.empty()) return nullptr;
  return json::value(text);
}

}  // namespace

int audit_verify(const Context& ctx, const std::string& public_key) {
  auto key = server_public_key(ctx, public_key);
  if (!key) return fail(key.status());
  auto file = open_store_file(ctx);
  if (!file) return fail(file.status());
  auto db = file->connect(false);
  if (!db) return fail(db.status());
  auto report = server::audit::verify(**db, *key);
  if (!report) return fail(file->annotate(report.status()));
  print_verify(ctx, *report, crypto::to_hex(*key));
  return report->problem ? 1 : 0;
}

int audit_export(const Context& ctx, const std::string& since, const std::string& user,
                 const std::string& case_id) {
  auto since_ms = parse_since(since);
  if (!since_ms) return fail(since_ms.status());
  auto opened = open_store(ctx);
  if (!opened) return fail(opened.status());
  auto reader = reading_user(*opened->directory, ctx.actor);
  if (!reader) return fail(reader.status());
  const server::StoreFile& file = opened->store->file();
  auto lines = export_lines(file, *since_ms, user, case_id);
  if (!lines) return fail(lines.status());
  // A read of records by a person: recorded before anything is shown.
  const json::object detail{{"what", "export"},
                            {"since", iso_utc_ms(*since_ms)},
                            {"user", text_or_null(user)},
                            {"case", text_or_null(case_id)},
                            {"entries", lines->size()}};
  if (Status s = record_read(file, opened->audit_key, *reader, "export", detail, ctx.now_ms()); !s)
    return fail(s);
  for (const auto& line : *lines) std::cout << line << "\n";
  return 0;
}

}  // namespace fieldsync::admin
