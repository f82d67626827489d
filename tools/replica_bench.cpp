// fieldsync-replica-bench: what the encrypting VFS costs a worker's replica.
//
// One seeded workload (the replica's tables, its one-transaction-per-write pattern, its reads)
// runs on plain SQLite and on the encrypted VFS, both opened through crypto::Database, side by
// side: plain, encrypted, plain, encrypted ... for --reps repetitions, each on fresh files in
// one temporary directory. Prints the median time per phase and the ratio encrypted/plain.
// What the phases are and how to read the figures: docs/PERFORMANCE.md.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <sqlite3.h>
#include <CLI/CLI.hpp>

#include "common/guarded_main.hpp"
#include "fieldsync/client/replica.hpp"  // kReplicaPageCacheKib
#include "fieldsync/crypto/database.hpp"
#include "fieldsync/crypto/keys.hpp"
#include "fieldsync/crypto/secure_buffer.hpp"
#include "fieldsync/status.hpp"

namespace {

using fieldsync::Code;
using fieldsync::Result;
using fieldsync::Status;
using fieldsync::crypto::Database;
namespace crypto = fieldsync::crypto;
namespace fs = std::filesystem;

// The page cache the client core configures for a replica (OpenOptions::cache_kib).
constexpr int kReplicaCacheKib = fieldsync::client::kReplicaPageCacheKib;
// The cold phase's cache: small, so that nearly every read goes to the file.
constexpr int kColdCacheKib = 256;
constexpr int kScanPasses = 20;
constexpr double kTarget = 1.2;

// The replica's tables (client_core/src/replica.cpp, kCreateTables) plus a case_id column and
// index for the caseload query, identical in both variants. --records-table=without-rowid
// swaps the replica's rowid records table (key as a UNIQUE index) for the WITHOUT ROWID table
// the replica had before, to show what that layout cost (docs/PERFORMANCE.md); everything
// else stays the same.
constexpr std::string_view kRecordsColumns = R"sql(
  collection TEXT NOT NULL,
  id TEXT NOT NULL,
  state_json TEXT NOT NULL,
  fields_json TEXT NOT NULL,
  deleted INTEGER NOT NULL DEFAULT 0,
  open_conflicts INTEGER NOT NULL DEFAULT 0,
  conflicts INTEGER NOT NULL DEFAULT 0,
  case_id TEXT,)sql";
constexpr std::string_view kOtherTables = R"sql(
CREATE INDEX records_with_conflicts ON records(collection, id) WHERE conflicts > 0;
CREATE INDEX records_by_case ON records(case_id, collection);
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE outbox(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  op_id TEXT NOT NULL UNIQUE,
  op_json TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK(status IN ('pending', 'rejected')),
  code TEXT,
  reason TEXT);
INSERT INTO meta(key, value) VALUES('format', '1'), ('device', '0123456789abcdef0123456789abcdef'),
  ('user', 'worker17'), ('counter', '0'), ('hlc', '0000000000000000-00000000'), ('cursor', '0'),
  ('schema', '1');
)sql";

std::string create_tables(bool rowid_records) {
  return "CREATE TABLE records(" + std::string(kRecordsColumns) +
         (rowid_records ? "\n  UNIQUE(collection, id));"
                        : "\n  PRIMARY KEY(collection, id)) WITHOUT ROWID;") +
         std::string(kOtherTables);
}

struct Config {
  int reps = 7;
  std::string dir = ".";
  std::uint64_t seed = 42;
  bool json = false;
  double scale = 1.0;
  int cache_kib = kReplicaCacheKib;  // phases 1-4
  bool rowid_records = true;         // --records-table=without-rowid makes it false
};

struct Counts {
  int clients, cases, visits, notes, updates, point_reads, cold_reads;
};

Counts scaled(double s) {
  auto n = [s](int base) { return std::max(1, static_cast<int>(std::lround(base * s))); };
  return {n(100), n(100), n(1000), n(3000), n(2000), n(20000), n(2000)};
}

// ---- The workload: every byte is generated before timing, the same for both variants. ----

// One local write: the record row as it is after the write, and its outbox entry.
struct Write {
  std::string collection, id, case_id, state_json, fields_json, op_id, op_json, counter, hlc;
  bool creates = false;
};

struct RecordRef {
  std::string collection, id;
};

struct Workload {
  std::vector<Write> inserts, updates;
  std::vector<RecordRef> point_reads, cold_reads;
  std::vector<std::string> case_ids;
  std::size_t records = 0;
};

// A field of a record as the replica's state holds it: the value and the write that set it.
struct Field {
  std::string name, value_json, op, hlc, base;
};

struct Record {
  std::string collection, id, case_id;
  std::vector<Field> fields;
};

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}

  int between(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(between(0, static_cast<int>(v.size()) - 1))];
  }
  std::mt19937_64& rng() { return rng_; }

  std::string hex(int chars) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s;
    for (int i = 0; i < chars; ++i) s.push_back(kDigits[between(0, 15)]);
    return s;
  }
  std::string date() {
    char buf[16];
    std::snprintf(buf, sizeof buf, "20%02d-%02d-%02d", between(23, 25), between(1, 12),
                  between(1, 28));
    return buf;
  }
  std::string first_name() { return pick(first_); }
  std::string last_name() { return pick(last_); }
  std::string address() {
    return std::to_string(between(1, 4999)) + " " + pick(streets_) + ", Apt " +
           std::to_string(between(1, 40)) + ", " + pick(cities_);
  }
  std::string phone() { return "+1 555 " + std::to_string(between(1000000, 9999999)); }
  // Case-note prose of lo..hi characters.
  std::string text(int lo, int hi) {
    const auto target = static_cast<std::size_t>(between(lo, hi));
    std::string s;
    while (s.size() < target) {
      if (!s.empty()) s += between(0, 9) == 0 ? ". " : " ";
      s += pick(words_);
    }
    s.resize(target);
    s.back() = '.';
    return s;
  }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> first_{"Maria",  "James", "Aisha",  "Chen",  "Olga",  "Dmitri",
                                  "Fatima", "Lucas", "Priya",  "Kwame", "Sofia", "Tomasz",
                                  "Amara",  "Diego", "Hannah", "Yusuf", "Ines",  "Marcus"};
  std::vector<std::string> last_{"Okafor", "Nguyen",    "Kowalski", "Hernandez", "Schmidt",
                                 "Haddad", "Johansson", "Mensah",   "Rossi",     "Petrova",
                                 "Silva",  "Abdullah",  "Brennan",  "Takahashi", "Dubois"};
  std::vector<std::string> streets_{"Elm Street",     "Harbor Road",   "Mill Lane",
                                    "Station Avenue", "Riverside Way", "Church Street",
                                    "Kingsway",       "Orchard Close", "Canal Walk"};
  std::vector<std::string> cities_{"Springfield", "Riverton", "Lakeside", "Eastbrook", "Millbrook"};
  std::vector<std::string> words_{
      "client",   "reported", "housing",  "shelter",    "appointment", "referral", "benefits",
      "clinic",   "follow",   "up",       "medication", "discussed",   "agreed",   "plan",
      "support",  "worker",   "visited",  "seemed",     "well",        "anxious",  "family",
      "contact",  "food",     "bank",     "voucher",    "application", "pending",  "outreach",
      "safety",   "needs",    "assessed", "the",        "and",         "with",     "for",
      "next",     "week",     "phone",    "lost",       "replacement", "arranged", "caseworker",
      "landlord", "rent",     "arrears",  "GP",         "registered",  "declined", "consent"};
};

// The fields of a new record; field 0 is never edited (a reference or a name).
std::vector<std::pair<std::string, std::string>> make_fields(Generator& g,
                                                             const std::string& collection,
                                                             const std::string& parent) {
  if (collection == "clients")
    return {{"first_name", json_string(g.first_name())},
            {"last_name", json_string(g.last_name())},
            {"dob", json_string(g.date())},
            {"phone", json_string(g.phone())},
            {"address", json_string(g.address())},
            {"housing", json_string(g.between(0, 1) ? "street" : "shelter")},
            {"background", json_string(g.text(40, 160))}};
  if (collection == "cases")
    return {{"client", json_string(parent)},
            {"status", json_string(g.between(0, 3) ? "open" : "monitoring")},
            {"opened", json_string(g.date())},
            {"programme", json_string(g.between(0, 1) ? "housing first" : "outreach")},
            {"priority", std::to_string(g.between(1, 3))},
            {"summary", json_string(g.text(80, 220))}};
  if (collection == "visits")
    return {{"case", json_string(parent)},
            {"date", json_string(g.date())},
            {"location", json_string(g.address())},
            {"kind", json_string(g.between(0, 2) ? "home" : "clinic")},
            {"outcome", json_string(g.text(60, 200))},
            {"follow_up", json_string(g.date())}};
  return {{"case", json_string(parent)},
          {"author", json_string("worker17")},
          {"created", json_string(g.date())},
          {"text", json_string(g.text(100, 600))}};
}

// The replica's two JSON columns and the outbox entry (shapes of sync/src/*_json.cpp).
class Device {
 public:
  explicit Device(Generator& g) : id_(g.hex(32)), wall_ms_(1714521600000) {}

  Write write(const Record& r, const std::vector<std::size_t>& changed, bool creates) {
    Write w;
    w.collection = r.collection;
    w.id = r.id;
    w.case_id = r.case_id;
    w.creates = creates;
    w.counter = std::to_string(counter_);
    w.op_id = id_ + "." + w.counter;
    w.hlc = last_hlc_;
    std::string fields = "{", state = R"({"r":{)", writes = "{";
    for (std::size_t i = 0; i < r.fields.size(); ++i) {
      const Field& f = r.fields[i];
      std::string sep = i ? "," : "";
      fields += sep + json_string(f.name) + ":" + f.value_json;
      state += sep + json_string(f.name) + ":[[" + json_string(f.op) + "," + json_string(f.hlc) +
               "," + json_string(id_) + R"(,"worker17",)" + f.value_json + ",[" +
               (f.base.empty() ? "" : json_string(f.base)) + "]]]";
    }
    for (std::size_t i : changed)
      writes += std::string(writes.size() > 1 ? "," : "") + json_string(r.fields[i].name) + ":" +
                r.fields[i].value_json;
    w.fields_json = fields + "}";
    w.state_json = state + R"(},"s":{},"d":[]})";
    w.op_json = R"({"v":1,"id":)" + json_string(w.op_id) + R"(,"device":)" + json_string(id_) +
                R"(,"user":"worker17","collection":)" + json_string(r.collection) +
                R"(,"record":)" + json_string(r.id) + R"(,"hlc":)" + json_string(w.hlc) +
                R"(,"kind":)" + (creates ? R"("create")" : R"("put")") + R"(,"writes":)" + writes +
                "}}";
    return w;
  }

  // Gives the next write its op id and clock (call before filling in the fields).
  std::pair<std::string, std::string> next(Generator& g) {
    ++counter_;
    wall_ms_ += static_cast<std::uint64_t>(g.between(1000, 600000));
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016" PRIx64 "-%08x", wall_ms_, 0u);
    last_hlc_ = buf;
    return {id_ + "." + std::to_string(counter_), last_hlc_};
  }

 private:
  std::string id_;
  std::uint64_t wall_ms_;
  std::uint64_t counter_ = 0;
  std::string last_hlc_;
};

Workload make_workload(std::uint64_t seed, const Counts& n) {
  Generator g(seed);
  Device device(g);
  std::vector<Record> records;
  auto add = [&](const std::string& collection, const std::string& parent,
                 const std::string& case_id) {
    records.push_back({collection, g.hex(20), case_id, {}});
    for (auto& [name, value] : make_fields(g, collection, parent))
      records.back().fields.push_back({name, value, "", "", ""});
  };
  for (int i = 0; i < n.clients; ++i) add("clients", "", "");
  for (int i = 0; i < n.cases; ++i) {
    const std::string client = records[static_cast<std::size_t>(i % n.clients)].id;
    const std::string id = g.hex(20);
    records.push_back({"cases", id, id, {}});
    for (auto& [name, value] : make_fields(g, "cases", client))
      records.back().fields.push_back({name, value, "", "", ""});
  }
  const std::size_t first_case = static_cast<std::size_t>(n.clients);
  auto random_case = [&]() -> const Record& {
    return records[first_case + static_cast<std::size_t>(g.between(0, n.cases - 1))];
  };
  for (int i = 0; i < n.visits + n.notes; ++i) {
    const std::string case_id = random_case().id;  // a copy: add() may reallocate
    add(i < n.visits ? "visits" : "notes", case_id, case_id);
  }
  // Visits and notes are written in the order a worker's days produce them.
  std::shuffle(records.begin() + static_cast<std::ptrdiff_t>(first_case + n.cases), records.end(),
               g.rng());

  Workload w;
  w.records = records.size();
  for (Record& r : records) {
    auto [op, hlc] = device.next(g);
    std::vector<std::size_t> all;
    for (std::size_t i = 0; i < r.fields.size(); ++i) {
      r.fields[i].op = op;
      r.fields[i].hlc = hlc;
      all.push_back(i);
    }
    w.inserts.push_back(device.write(r, all, /*creates=*/true));
    if (r.collection == "cases") w.case_ids.push_back(r.id);
  }
  std::vector<std::size_t> editable;  // cases and visits
  for (std::size_t i = 0; i < records.size(); ++i)
    if (records[i].collection == "cases" || records[i].collection == "visits")
      editable.push_back(i);
  for (int i = 0; i < n.updates; ++i) {
    Record& r = records[g.pick(editable)];
    auto fresh = make_fields(g, r.collection, "");
    std::size_t k = static_cast<std::size_t>(g.between(1, static_cast<int>(fresh.size()) - 1));
    auto [op, hlc] = device.next(g);
    Field& f = r.fields[k];
    f = {f.name, fresh[k].second, op, hlc, f.op};
    w.updates.push_back(device.write(r, {k}, /*creates=*/false));
  }
  auto random_ref = [&]() {
    const Record& r =
        records[static_cast<std::size_t>(g.between(0, static_cast<int>(records.size()) - 1))];
    return RecordRef{r.collection, r.id};
  };
  for (int i = 0; i < n.point_reads; ++i) w.point_reads.push_back(random_ref());
  for (int i = 0; i < n.cold_reads; ++i) w.cold_reads.push_back(random_ref());
  return w;
}

// ---- The replica's statements (as client_core/src/replica.cpp issues them). ----

Result<std::optional<std::string>> get_value(Database& db, std::string_view sql, std::string_view a,
                                             std::string_view b = {}) {
  auto st = db.prepare(sql);
  if (!st) return st.status();
  st->bind(1, a);
  if (!b.empty()) st->bind(2, b);
  auto row = st->step();
  if (!row) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(st->column_text(0));
}

Status set_meta(Database& db, std::string_view key, std::string_view value) {
  auto st = db.prepare(
      "INSERT INTO meta(key, value) VALUES(?1, ?2) "
      "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  if (!st) return st.status();
  st->bind(1, key).bind(2, value);
  return st->run();
}

// Replica::write_op: in one BEGIN IMMEDIATE transaction, load the record's state and the
// counter and clock, append the op to the outbox, upsert the record, store counter and clock.
Status local_write(Database& db, const Write& w) {
  return crypto::in_transaction(db, [&]() -> Status {
    auto state = get_value(db, "SELECT state_json FROM records WHERE collection = ?1 AND id = ?2",
                           w.collection, w.id);
    if (!state) return state.status();
    if (state->has_value() == w.creates)
      return Status(Code::internal, "workload out of step at " + w.collection + "/" + w.id);
    for (const char* key : {"counter", "hlc"}) {
      auto v = get_value(db, "SELECT value FROM meta WHERE key = ?1", key);
      if (!v) return v.status();
    }
    auto ins = db.prepare("INSERT INTO outbox(op_id, op_json) VALUES(?1, ?2)");
    if (!ins) return ins.status();
    ins->bind(1, w.op_id).bind(2, w.op_json);
    if (Status s = ins->run(); !s) return s;
    auto up = db.prepare(
        "INSERT INTO records(collection, id, state_json, fields_json, deleted, open_conflicts, "
        "conflicts, case_id) VALUES(?1, ?2, ?3, ?4, 0, 0, 0, ?5) "
        "ON CONFLICT(collection, id) DO UPDATE SET state_json = excluded.state_json, "
        "fields_json = excluded.fields_json, deleted = excluded.deleted, "
        "open_conflicts = excluded.open_conflicts, conflicts = excluded.conflicts");
    if (!up) return up.status();
    up->bind(1, w.collection).bind(2, w.id).bind(3, w.state_json).bind(4, w.fields_json);
    if (w.case_id.empty())
      up->bind_null(5);
    else
      up->bind(5, w.case_id);
    if (Status s = up->run(); !s) return s;
    if (Status s = set_meta(db, "counter", w.counter); !s) return s;
    return set_meta(db, "hlc", w.hlc);
  });
}

// Replica::get.
Status point_reads(Database& db, const std::vector<RecordRef>& refs) {
  for (const RecordRef& r : refs) {
    auto v =
        get_value(db, "SELECT fields_json, deleted FROM records WHERE collection = ?1 AND id = ?2",
                  r.collection, r.id);
    if (!v) return v.status();
    if (!v->has_value()) return Status(Code::internal, "missing record " + r.id);
  }
  return Status::ok();
}

// Rows of `sql` (binding a and b) that have an id and fields_json; both are read out.
Result<std::size_t> count_rows(Database& db, std::string_view sql, std::string_view a,
                               std::string_view b = {}) {
  auto st = db.prepare(sql);
  if (!st) return st.status();
  st->bind(1, a);
  if (!b.empty()) st->bind(2, b);
  std::size_t rows = 0;
  for (;;) {
    auto row = st->step();
    if (!row) return row.status();
    if (!*row) break;
    std::string id = st->column_text(0), fields = st->column_text(1);
    rows += id.empty() || fields.empty() ? 0 : 1;
  }
  return rows;
}

// The caseload view: every client, every case, and for each case its visits and notes.
// INDEXED BY: without ANALYZE, SQLite 3.40 answers case_id = ? AND collection = ? ORDER BY id
// on this WITHOUT ROWID table from the primary key (collection = ?), reading every row of
// the collection, state_json's overflow page included, to test case_id.
Status caseload_scan(Database& db, const Workload& w) {
  constexpr std::string_view kList =
      "SELECT id, fields_json FROM records WHERE collection = ?1 AND deleted = 0 ORDER BY id";
  constexpr std::string_view kOfCase =
      "SELECT id, fields_json FROM records INDEXED BY records_by_case "
      "WHERE case_id = ?1 AND collection = ?2 "
      "AND deleted = 0 ORDER BY id";
  for (int pass = 0; pass < kScanPasses; ++pass) {
    std::size_t seen = 0;
    for (const char* collection : {"clients", "cases"}) {
      auto n = count_rows(db, kList, collection);
      if (!n) return n.status();
      seen += *n;
    }
    for (const std::string& c : w.case_ids)
      for (const char* collection : {"visits", "notes"}) {
        auto n = count_rows(db, kOfCase, c, collection);
        if (!n) return n.status();
        seen += *n;
      }
    if (seen != w.records)
      return Status(Code::internal, "caseload scan saw " + std::to_string(seen) + " records");
  }
  return Status::ok();
}

// ---- Running one variant once. ----

constexpr int kPhases = 5;
constexpr std::array<const char*, kPhases> kPhaseNames = {"inserts", "updates", "point_reads",
                                                          "caseload_scan", "cold_random_reads"};

// One phase's elapsed (steady_clock) and CPU time of the process, in milliseconds. Elapsed
// time includes waiting for fsync; CPU time shows the AEAD work that the waiting can hide.
// Pages: SQLite's page cache misses (pages read from the file or the WAL, each one opened by
// the AEAD when encrypted) and pages written at commits (each one sealed). Checkpoints copy
// pages outside these counts.
struct Sample {
  double wall_ms = 0, cpu_ms = 0;
  double pages_read = 0, pages_written = 0;
};

struct RunResult {
  std::array<Sample, kPhases> phases{};
  std::uint64_t db_bytes = 0;
};

double cpu_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Reads and resets one of the connection's counters (sqlite3_db_status).
double take_counter(Database& db, int op) {
  int current = 0, highwater = 0;
  sqlite3_db_status(db.handle(), op, &current, &highwater, /*reset=*/1);
  return current;
}

template <typename F>
Status timed(Sample& out, Database& db, F&& body) {
  take_counter(db, SQLITE_DBSTATUS_CACHE_MISS);
  take_counter(db, SQLITE_DBSTATUS_CACHE_WRITE);
  const double cpu_start = cpu_ms();
  const auto start = std::chrono::steady_clock::now();
  Status s = body();
  const auto end = std::chrono::steady_clock::now();
  out = {std::chrono::duration<double, std::milli>(end - start).count(), cpu_ms() - cpu_start,
         take_counter(db, SQLITE_DBSTATUS_CACHE_MISS),
         take_counter(db, SQLITE_DBSTATUS_CACHE_WRITE)};
  return s;
}

// Best effort: asks the kernel to drop its cached pages of the file (after syncing it, since
// only clean pages can be dropped). False when the file does not exist or the call fails.
bool drop_os_cache(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fdatasync(fd) == 0 && ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0;
  ::close(fd);
  return ok;
}

Result<std::unique_ptr<Database>> open_db(const std::string& path, const crypto::DatabaseKey* key,
                                          int cache_kib) {
  crypto::OpenOptions o;  // WAL, synchronous=FULL: the replica's settings
  o.wal = true;
  o.synchronous = "FULL";
  o.cache_kib = cache_kib;
  o.key = key;
  return Database::open(path, o);
}

Result<RunResult> run_once(const Config& cfg, const Workload& w, const std::string& path,
                           bool encrypted) {
  std::optional<crypto::DatabaseKey> key;
  if (encrypted) {
    std::string pass = "correct horse battery staple";
    auto k =
        crypto::create_key(path, crypto::Credential::passphrase(crypto::SecureBuffer::take(pass),
                                                                crypto::KdfLimits::minimum()));
    if (!k) return k.status();
    key = *k;
  }
  const crypto::DatabaseKey* kp = key ? &*key : nullptr;
  auto db = open_db(path, kp, cfg.cache_kib);
  if (!db) return db.status();
  if (Status s = (*db)->exec(create_tables(cfg.rowid_records)); !s) return s;

  RunResult r;
  auto writes = [&](const std::vector<Write>& ws) {
    return [&]() -> Status {
      for (const Write& x : ws)
        if (Status s = local_write(**db, x); !s) return s;
      return Status::ok();
    };
  };
  Database& d = **db;
  if (Status s = timed(r.phases[0], d, writes(w.inserts)); !s) return s;
  if (Status s = timed(r.phases[1], d, writes(w.updates)); !s) return s;
  if (Status s = timed(r.phases[2], d, [&] { return point_reads(d, w.point_reads); }); !s) return s;
  if (Status s = timed(r.phases[3], d, [&] { return caseload_scan(d, w); }); !s) return s;

  // Cold: the last connection's close checkpoints the WAL into the database and deletes it.
  db->reset();
  for (const char* suffix : {"", "-wal"}) drop_os_cache(path + suffix);
  std::error_code ec;
  r.db_bytes = fs::file_size(path, ec);
  auto cold_db = open_db(path, kp, kColdCacheKib);
  if (!cold_db) return cold_db.status();
  Database& cd = **cold_db;
  if (Status s = timed(r.phases[4], cd, [&] { return point_reads(cd, w.cold_reads); }); !s)
    return s;
  return r;
}

void remove_db(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal", ".keys"})
    fs::remove(path + suffix, ec);
}

// ---- Statistics and output. ----

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Per variant, per repetition.
struct Series {
  std::vector<double> wall, cpu, read, written;
  void add(const Sample& s) {
    wall.push_back(s.wall_ms);
    cpu.push_back(s.cpu_ms);
    read.push_back(s.pages_read);
    written.push_back(s.pages_written);
  }
};

struct Row {
  std::string name;
  double plain, encrypted, ratio;
  double lo, hi;  // the range of the per-repetition (paired) ratios of elapsed time
  double cpu_plain, cpu_encrypted;
  double read_plain, read_encrypted, written_plain, written_encrypted;  // pages
};

Row summarize(std::string name, const Series& plain, const Series& encrypted) {
  std::vector<double> paired;
  for (std::size_t i = 0; i < plain.wall.size(); ++i)
    paired.push_back(encrypted.wall[i] / plain.wall[i]);
  const double p = median(plain.wall), e = median(encrypted.wall);
  return {std::move(name),
          p,
          e,
          e / p,
          *std::min_element(paired.begin(), paired.end()),
          *std::max_element(paired.begin(), paired.end()),
          median(plain.cpu),
          median(encrypted.cpu),
          median(plain.read),
          median(encrypted.read),
          median(plain.written),
          median(encrypted.written)};
}

void print_table(const Config& cfg, const Counts& n, const Workload& w,
                 const std::vector<Row>& rows, double plain_kib, double enc_kib,
                 const std::string& dir) {
  auto avg = [](const std::vector<Write>& ws, std::string Write::*field) {
    std::size_t total = 0;
    for (const Write& x : ws) total += (x.*field).size();
    return ws.empty() ? 0.0 : static_cast<double>(total) / static_cast<double>(ws.size());
  };
  std::printf(
      "fieldsync-replica-bench: %d repetitions (plain, encrypted interleaved), seed %" PRIu64
      ", scale %g\n",
      cfg.reps, cfg.seed, cfg.scale);
  std::printf(
      "workload: %d clients, %d cases, %d visits, %d notes; %d updates, %d point reads, "
      "%d caseload passes, %d cold reads\n",
      n.clients, n.cases, n.visits, n.notes, n.updates, n.point_reads, kScanPasses, n.cold_reads);
  std::printf("row sizes (mean bytes): fields_json %.0f, state_json %.0f, op_json %.0f\n",
              avg(w.inserts, &Write::fields_json), avg(w.inserts, &Write::state_json),
              avg(w.inserts, &Write::op_json));
  std::printf("page cache %d KiB%s; cold phase %d KiB; WAL, synchronous=FULL; records %s\n",
              cfg.cache_kib, cfg.cache_kib == kReplicaCacheKib ? " (the client core's)" : "",
              kColdCacheKib,
              cfg.rowid_records ? "as a rowid table (the replica's)"
                                : "WITHOUT ROWID (--records-table=without-rowid)");
  std::printf(
      "database after phase 4 (median): plain %.0f KiB, encrypted %.0f KiB; files in %s\n\n",
      plain_kib, enc_kib, dir.c_str());
  std::printf("%-19s %10s %10s %7s %15s %10s %10s %7s\n", "median ms", "plain", "encrypted",
              "ratio", "per-rep ratios", "CPU plain", "CPU enc", "ratio");
  for (const Row& r : rows) {
    if (r.name == "total_1_to_4" || r.name == "cold_random_reads")
      std::printf("%s\n", std::string(96, '-').c_str());
    std::printf("%-19s %10.1f %10.1f %6.3fx %7.3f-%.3fx %10.1f %10.1f %6.3fx\n", r.name.c_str(),
                r.plain, r.encrypted, r.ratio, r.lo, r.hi, r.cpu_plain, r.cpu_encrypted,
                r.cpu_encrypted / r.cpu_plain);
  }
  std::printf("\n%-19s %12s %12s %12s %12s %16s\n", "pages (median)", "read plain", "read enc",
              "written pl.", "written enc", "extra CPU/page");
  for (const Row& r : rows) {
    const double pages = r.read_encrypted + r.written_encrypted;
    std::printf("%-19s %12.0f %12.0f %12.0f %12.0f %13.1f us\n", r.name.c_str(), r.read_plain,
                r.read_encrypted, r.written_plain, r.written_encrypted,
                pages > 0 ? (r.cpu_encrypted - r.cpu_plain) * 1e3 / pages : 0.0);
  }
  const Row& total = rows[kPhases - 1];
  std::printf("\ntarget: total of phases 1-4 at most %.2fx plain: %s (%.3fx)\n", kTarget,
              total.ratio <= kTarget ? "met" : "NOT met", total.ratio);
  std::printf(
      "cold_random_reads is the worst case (OS cache dropped, best effort; small "
      "cache), not part of the target\nCPU: the process's CPU time in the phase (elapsed time "
      "also waits for fsync)\n");
}

void print_json(const Config& cfg, const std::vector<Row>& rows, double plain_kib, double enc_kib) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "%g", cfg.scale);
  std::string out = "{\"reps\":" + std::to_string(cfg.reps) +
                    ",\"seed\":" + std::to_string(cfg.seed) + ",\"scale\":" + buf +
                    ",\"cache_kib\":" + std::to_string(cfg.cache_kib) + ",\"records_table\":\"" +
                    (cfg.rowid_records ? "rowid" : "replica") + "\",\"phases\":[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::snprintf(buf, sizeof buf,
                  "%s{\"name\":\"%s\",\"plain_ms\":%.3f,\"encrypted_ms\":%.3f,\"ratio\":%.4f,"
                  "\"ratio_min\":%.4f,\"ratio_max\":%.4f,\"cpu_plain_ms\":%.3f,"
                  "\"cpu_encrypted_ms\":%.3f,\"pages_read_plain\":%.0f,"
                  "\"pages_read_encrypted\":%.0f,\"pages_written_plain\":%.0f,"
                  "\"pages_written_encrypted\":%.0f}",
                  i ? "," : "", r.name.c_str(), r.plain, r.encrypted, r.ratio, r.lo, r.hi,
                  r.cpu_plain, r.cpu_encrypted, r.read_plain, r.read_encrypted, r.written_plain,
                  r.written_encrypted);
    out += buf;
  }
  const Row& total = rows[kPhases - 1];
  std::snprintf(
      buf, sizeof buf,
      "],\"target\":%.2f,\"target_met\":%s,\"db_kib\":{\"plain\":%.0f,\"encrypted\":%.0f}}",
      kTarget, total.ratio <= kTarget ? "true" : "false", plain_kib, enc_kib);
  std::printf("%s%s\n", out.c_str(), buf);
}

int run(const Config& cfg) {
  const Counts n = scaled(cfg.scale);
  const Workload w = make_workload(cfg.seed, n);
  std::string pattern = (fs::path(cfg.dir) / "replica-bench-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) {
    std::fprintf(stderr, "error: cannot make a directory under %s\n", cfg.dir.c_str());
    return 1;
  }
  const std::string dir = pattern;
  // series[variant][phase]; phase kPhases holds the total of phases 1-4.
  std::array<std::array<Series, kPhases + 1>, 2> series;
  std::array<std::vector<double>, 2> sizes;
  int rc = 0;
  for (int rep = 0; rep < cfg.reps && rc == 0; ++rep)
    for (int v = 0; v < 2 && rc == 0; ++v) {
      const std::string path =
          dir + "/rep" + std::to_string(rep) + (v ? "-encrypted.db" : "-plain.db");
      auto r = run_once(cfg, w, path, v == 1);
      remove_db(path);
      if (!r) {
        std::fprintf(stderr, "error: %s\n", r.status().message().c_str());
        rc = 1;
        break;
      }
      Sample total;
      for (int p = 0; p < kPhases; ++p) series[v][p].add(r->phases[p]);
      for (int p = 0; p < 4; ++p) {
        total.wall_ms += r->phases[p].wall_ms;
        total.cpu_ms += r->phases[p].cpu_ms;
        total.pages_read += r->phases[p].pages_read;
        total.pages_written += r->phases[p].pages_written;
      }
      series[v][kPhases].add(total);
      sizes[v].push_back(static_cast<double>(r->db_bytes) / 1024.0);
      if (!cfg.json)
        std::fprintf(stderr, "rep %d %-9s total 1-4 %8.1f ms, cold %6.1f ms\n", rep + 1,
                     v ? "encrypted" : "plain", total.wall_ms, r->phases[4].wall_ms);
    }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (rc != 0) return rc;

  std::vector<Row> rows;
  rows.reserve(kPhases + 1);
  for (int p = 0; p < 4; ++p) rows.push_back(summarize(kPhaseNames[p], series[0][p], series[1][p]));
  rows.push_back(summarize("total_1_to_4", series[0][kPhases], series[1][kPhases]));
  rows.push_back(summarize(kPhaseNames[4], series[0][4], series[1][4]));
  const double plain_kib = median(sizes[0]), enc_kib = median(sizes[1]);
  if (cfg.json)
    print_json(cfg, rows, plain_kib, enc_kib);
  else
    print_table(cfg, n, w, rows, plain_kib, enc_kib, dir);
  return 0;
}

}  // namespace

static int run_main(int argc, char** argv) {
  Config cfg;
  CLI::App app{"Times the encrypted replica against plain SQLite (docs/PERFORMANCE.md)"};
  app.add_option("--reps", cfg.reps, "repetitions of each variant (median reported)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--dir", cfg.dir, "where to make the temporary directory (same disk as used)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--seed", cfg.seed, "seed of the workload generator");
  app.add_option("--scale", cfg.scale, "multiplies every count of the workload")
      ->check(CLI::Range(0.01, 100.0));
  app.add_option("--cache-kib", cfg.cache_kib,
                 "page cache of phases 1-4 in KiB, for investigation (default: the client core's)")
      ->check(CLI::Range(64, 1 << 20));
  std::string records_table = "rowid";
  app.add_option("--records-table", records_table,
                 "rowid: as client_core has it; without-rowid: the earlier layout, for comparison")
      ->check(CLI::IsMember({"rowid", "without-rowid"}));
  app.add_flag("--json", cfg.json, "print one JSON line instead of the table");
  CLI11_PARSE(app, argc, argv);
  cfg.rowid_records = records_table == "rowid";
  return run(cfg);
}

int main(int argc, char** argv) { return fieldsync::tools::guarded_main(run_main, argc, argv); }
