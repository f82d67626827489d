// fieldsync-audit-bench: what the audit trail costs the server's ingest, side by side.
//
// The same seeded pushes (case edits of one device, --batch ops each, one durable commit per
// push) go into fresh stores, alternating per repetition:
//   unsigned   apply_push without a chain: each op still gets its audit entry (hash-chained)
//   signed     what an authenticated session and the writer do: each op's digest and chain
//              link, ONE Ed25519 verification per push, then apply_push with the chain (op
//              entries, the batch entry with the device's signature, the device's chain head)
// and beside them, on the same machine and run: Ed25519 verifications per second (the cost
// a signature per op would put on every op), BLAKE2b op digests per second, and audit verify
// over the signed store (entries per second). Medians of --reps; docs/PERFORMANCE.md.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "common/guarded_main.hpp"
#include "fieldsync/crypto/database.hpp"
#include "fieldsync/server/apply.hpp"
#include "fieldsync/server/audit.hpp"
#include "fieldsync/server/sqlite_store.hpp"
#include "fieldsync/sync/op_chain.hpp"

namespace {

namespace fs = std::filesystem;
namespace crypto = fieldsync::crypto;
namespace server = fieldsync::server;
namespace sync = fieldsync::sync;
using Clock = std::chrono::steady_clock;

struct Config {
  int reps = 5;
  int ops = 20'000;
  int batch = 500;
  std::string dir = ".";
  std::uint64_t seed = 42;
  bool json = false;
};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// One device's edits of the status and programme of one of 500 cases, each based on the
// device's previous write of that case (as the replica makes them), so states stay small.
std::vector<sync::Op> make_ops(const Config& cfg, const std::string& device) {
  std::map<std::string, std::string> last;  // case -> the op that last wrote it
  std::mt19937_64 rng(cfg.seed);
  auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  const std::vector<std::string> statuses{"assessment", "planning", "implementation", "evaluation"};
  std::vector<sync::Op> ops;
  ops.reserve(static_cast<std::size_t>(cfg.ops));
  for (int i = 0; i < cfg.ops; ++i) {
    sync::Op op;
    op.id = device + "." + std::to_string(i + 1);
    op.device = device;
    op.user = "ana";
    op.hlc = sync::Hlc{1'700'000'000'000 + i, 0};
    op.collection = "cases";
    op.record = "case-" + std::to_string(pick(500));
    std::vector<std::string> base;
    if (auto it = last.find(op.record); it != last.end()) base.push_back(it->second);
    op.writes.push_back({"status", sync::WriteKind::set,
                         boost::json::value(statuses[static_cast<std::size_t>(pick(4))]), base});
    op.writes.push_back({"programme", sync::WriteKind::set,
                         boost::json::value("programme " + std::to_string(pick(20))), base});
    last[op.record] = op.id;
    ops.push_back(std::move(op));
  }
  return ops;
}

struct Store {
  fs::path dir;
  std::unique_ptr<server::SqliteStore> store;
};

Store open_store(const fs::path& root, const std::string& name,
                 const std::shared_ptr<const crypto::SigningKey>& key) {
  Store s{root / name, nullptr};
  fs::create_directories(s.dir);
  server::SqliteStoreOptions o;
  o.audit_key = key;
  auto opened = server::SqliteStore::open((s.dir / "fieldsync.db").string(), o);
  if (!opened) throw std::runtime_error(opened.status().to_string());
  s.store = std::move(*opened);
  return s;
}

void commit(server::SqliteStore& store, const sync::SubmittedPush& push) {
  auto tx = store.begin();
  if (!tx) throw std::runtime_error(tx.status().to_string());
  auto r = server::apply_push(**tx, push, sync::default_schema(), {1'700'000'000'000, 1000});
  if (!r) throw std::runtime_error(r.status().to_string());
  if (auto c = (*tx)->commit(); !c) throw std::runtime_error(c.to_string());
}

// The device's key in the audit log, as enrolment records it.
void enrol(server::SqliteStore& store, const std::string& device, const crypto::SigningKey& key) {
  auto tx = store.begin();
  if (!tx) throw std::runtime_error(tx.status().to_string());
  boost::json::object detail{{"event", "enrolled"}, {"key", crypto::to_hex(key.public_key())}};
  auto seq = (*tx)->append_audit(server::audit::Event{"device", 1'700'000'000'000, "ana", device,
                                                      "", boost::json::serialize(detail)});
  if (!seq) throw std::runtime_error(seq.status().to_string());
  if (auto c = (*tx)->commit(); !c) throw std::runtime_error(c.to_string());
}

// Ops per second through apply_push, one push per transaction. `device_key`: sign and check.
double ingest(server::SqliteStore& store, const std::vector<sync::Op>& ops, int batch,
              const crypto::SigningKey* device_key) {
  crypto::Digest link = sync::chain_genesis(ops.front().device);
  double total = 0;
  for (std::size_t first = 0; first < ops.size(); first += static_cast<std::size_t>(batch)) {
    const std::size_t last = std::min(ops.size(), first + static_cast<std::size_t>(batch));
    sync::SubmittedPush push;
    push.ops.assign(ops.begin() + static_cast<std::ptrdiff_t>(first),
                    ops.begin() + static_cast<std::ptrdiff_t>(last));
    crypto::Signature sig{};
    std::string message;
    if (device_key) {  // the device's side, not timed: digests, links, one signature
      crypto::Digest l = link;
      for (const auto& op : push.ops) l = sync::chain_next(l, sync::op_digest(op));
      message = sync::push_message(push.ops.front().device, push.ops.back().id, l);
      sig =
          device_key->sign({reinterpret_cast<const std::uint8_t*>(message.data()), message.size()});
    }
    const auto t0 = Clock::now();
    if (device_key) {  // the server's side: what ServerSession::check_chain does
      sync::SignedChain c;
      c.device = push.ops.front().device;
      c.user = "ana";
      c.prev = link;
      crypto::Digest l = link;
      for (const auto& op : push.ops) {
        c.digests.push_back(sync::op_digest(op));
        l = sync::chain_next(l, c.digests.back());
      }
      c.verified = crypto::verify(
          device_key->public_key(),
          {reinterpret_cast<const std::uint8_t*>(message.data()), message.size()}, sig);
      c.signature = crypto::to_hex(sig);
      link = l;
      push.chain = std::move(c);
    }
    commit(store, push);
    total += seconds_since(t0);
  }
  return static_cast<double>(ops.size()) / total;
}

double verifications_per_second(const crypto::SigningKey& key) {
  const std::string m = "fieldsync push v1\ndevice\nop\n" + std::string(64, 'a');
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(m.data()),
                                            m.size());
  const crypto::Signature sig = key.sign(bytes);
  constexpr int kN = 4000;
  int good = 0;
  const auto t0 = Clock::now();
  for (int i = 0; i < kN; ++i) good += crypto::verify(key.public_key(), bytes, sig) ? 1 : 0;
  const double s = seconds_since(t0);
  if (good != kN) throw std::runtime_error("verification failed");
  return kN / s;
}

double digests_per_second(const std::vector<sync::Op>& ops) {
  const auto t0 = Clock::now();
  crypto::Digest acc{};
  for (const auto& op : ops) acc = sync::chain_next(acc, sync::op_digest(op));
  const double s = seconds_since(t0);
  if (acc == crypto::Digest{}) throw std::runtime_error("no digest");
  return static_cast<double>(ops.size()) / s;
}

int run_main(int argc, char** argv) {
  Config cfg;
  CLI::App app{"Times the audit trail's cost on the server's ingest (docs/PERFORMANCE.md)"};
  app.add_option("--reps", cfg.reps, "repetitions of each variant (median reported)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--ops", cfg.ops, "operations per run")->check(CLI::Range(1, 10'000'000));
  app.add_option("--batch", cfg.batch, "operations per push (one commit each)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--dir", cfg.dir, "where to make the temporary directory (the disk measured)");
  app.add_option("--seed", cfg.seed, "seed of the workload");
  app.add_flag("--json", cfg.json, "print one JSON line instead of the table");
  CLI11_PARSE(app, argc, argv);

  const fs::path root = fs::path(cfg.dir) / ("fieldsync-audit-bench-" + std::to_string(::getpid()));
  fs::create_directories(root);
  const auto server_key =
      std::make_shared<const crypto::SigningKey>(crypto::SigningKey::generate());
  const crypto::SigningKey device_key = crypto::SigningKey::generate();
  const std::string device = "0123456789abcdef0123456789abcdef";
  const auto ops = make_ops(cfg, device);

  std::vector<double> plain, signed_rate, verify_rate, ed25519, digests;
  for (int rep = 0; rep < cfg.reps; ++rep) {
    {
      Store s = open_store(root, "unsigned-" + std::to_string(rep), server_key);
      plain.push_back(ingest(*s.store, ops, cfg.batch, nullptr));
    }
    {
      Store s = open_store(root, "signed-" + std::to_string(rep), server_key);
      enrol(*s.store, device, device_key);
      signed_rate.push_back(ingest(*s.store, ops, cfg.batch, &device_key));
      auto db = crypto::Database::open((s.dir / "fieldsync.db").string(), {});
      if (!db) throw std::runtime_error(db.status().to_string());
      const auto t0 = Clock::now();
      auto r = server::audit::verify(**db, server_key->public_key());
      const double secs = seconds_since(t0);
      if (!r) throw std::runtime_error(r.status().to_string());
      if (r->problem)
        throw std::runtime_error("the bench's own log does not verify: " + r->problem->what);
      verify_rate.push_back(static_cast<double>(r->entries) / secs);
    }
    ed25519.push_back(verifications_per_second(device_key));
    digests.push_back(digests_per_second(ops));
    fs::remove_all(root / ("unsigned-" + std::to_string(rep)));
    fs::remove_all(root / ("signed-" + std::to_string(rep)));
  }
  fs::remove_all(root);

  const double p = median(plain), s = median(signed_rate);
  std::vector<double> ratios;  // per repetition, signed / unsigned
  for (std::size_t i = 0; i < plain.size(); ++i) ratios.push_back(signed_rate[i] / plain[i]);
  const double ratio = median(ratios);
  const auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
  if (cfg.json) {
    std::printf(
        "{\"ops\":%d,\"batch\":%d,\"reps\":%d,\"unsigned_ops_per_s\":%.0f,"
        "\"signed_ops_per_s\":%.0f,\"signed_over_unsigned\":%.3f,\"ratio_min\":%.3f,"
        "\"ratio_max\":%.3f,\"ed25519_verify_per_s\":%.0f,"
        "\"op_digests_per_s\":%.0f,\"audit_verify_entries_per_s\":%.0f}\n",
        cfg.ops, cfg.batch, cfg.reps, p, s, ratio, *lo, *hi, median(ed25519), median(digests),
        median(verify_rate));
    return 0;
  }
  std::printf(
      "fieldsync-audit-bench: %d ops in pushes of %d, one durable commit per push, "
      "median of %d\n\n",
      cfg.ops, cfg.batch, cfg.reps);
  std::printf("  ingest, unsigned pushes       %10.0f ops/s\n", p);
  std::printf(
      "  ingest, signed pushes         %10.0f ops/s   (%.2f of unsigned per repetition, "
      "median; %.2f-%.2f)\n",
      s, ratio, *lo, *hi);
  std::printf(
      "  Ed25519 verifications         %10.0f /s      (a signature per op would cap "
      "ingest here)\n",
      median(ed25519));
  std::printf("  op digest + chain link        %10.0f ops/s\n", median(digests));
  std::printf("  audit verify                  %10.0f entries/s\n", median(verify_rate));
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return fieldsync::tools::guarded_main(run_main, argc, argv); }
