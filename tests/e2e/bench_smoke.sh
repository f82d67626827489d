#!/usr/bin/env bash
# fieldsync-bench with tiny flags: it starts the fieldsync-server beside it on a temporary
# store, enrols its devices, pushes, pulls, reads the lead's dashboard caseload, measures live
# latency, idle connections (on a fresh server) and the machine's limits, stops the servers
# and removes its folder. With --json it prints one JSON line holding every section; every
# operation the devices wrote is acknowledged, the lead's device holds every record and her
# dashboard lists every case. Without --json the table comes first and the same JSON line
# last.
# Usage: bench_smoke.sh BIN_DIR
set -euo pipefail
bin=$1
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

flags=(--devices 3 --cases 3 --edits 3 --live-writers 3 --live-seconds 2 --idle 5 --dir "$work")
"$bin/fieldsync-bench" "${flags[@]}" --json >"$work/json.out" 2>"$work/json.err" ||
  fail "fieldsync-bench --json failed: $(cat "$work/json.err")"
"$bin/fieldsync-bench" "${flags[@]}" >"$work/table.out" 2>"$work/table.err" ||
  fail "fieldsync-bench failed: $(cat "$work/table.err")"
if compgen -G "$work/fieldsync-bench-*" >/dev/null; then
  fail "fieldsync-bench left its temporary folder behind"
fi

python3 - "$work/json.out" "$work/table.out" <<'PY'
import json, sys

def check(ok, what):
    if not ok:
        sys.exit("FAIL: " + what)

lines = open(sys.argv[1]).read().splitlines()
check(len(lines) == 1, "--json printed %d lines, not 1" % len(lines))
report = json.loads(lines[0])
for section in ["config", "setup", "push", "edits", "pull", "dash", "live", "idle", "server",
                "limits", "bounds"]:
    check(section in report, "no '%s' in the JSON line" % section)
setup, push, edits, pull = report["setup"], report["push"], report["edits"], report["pull"]
check(report["config"]["devices"] == 3, "config.devices is not 3")
check(setup["ops"] > 0 and push["acked"] == setup["ops"],
      "acknowledged %s of %s operations" % (push["acked"], setup["ops"]))
check(push["ops_per_s"] > 0 and push["bytes_per_op"] > 0, "no push throughput or bytes")
check(edits["edits"] == 9, "edits.edits is %s, not 9" % edits["edits"])
check(edits["mean_edit_bytes"] > 0 and edits["bytes_per_edit"] > 0, "no bytes per edit")
check(pull["records"] == setup["records"],
      "the lead holds %s of %s records" % (pull["records"], setup["records"]))
check(pull["pulled"] + pull["snapshot_records"] > 0, "the lead received nothing")
check(report["server"]["peak_rss_mib"] > 0, "no server memory")
dash = report["dash"]
check(dash["cases"] == 9, "the lead's dashboard caseload holds %s cases, not 9" % dash["cases"])
check(0 < dash["median_ms"] <= dash["max_ms"] and dash["kib"] > 0, "dashboard reads: %s" % dash)
live, idle, limits = report["live"], report["idle"], report["limits"]
check(live["writers"] == 3 and live["edits"] >= 3, "live: %s" % live)
check(0 < live["p50_ms"] <= live["p99_ms"] <= live["max_ms"], "live latency out of order: %s" % live)
check(live["bytes_per_edit"] > live["encoded_edit_bytes"] > 0, "live bytes: %s" % live)
check(idle["connections"] == 5 and idle["bytes_per_connection"] >= 0, "idle: %s" % idle)
for key in ["sqlite_ops_per_s", "sqlite_rows_per_op", "ed25519_verify_per_s", "aead_mib_per_s",
            "echo_round_trips_per_s", "echo_messages_per_s"]:
    check(limits[key] is not None and limits[key] > 0, "limits.%s is %s" % (key, limits[key]))
check("push.ops_per_s" in report["bounds"], "push throughput is not held against raw SQLite")

table = open(sys.argv[2]).read().splitlines()
check(len(table) > 10 and "push" in "\n".join(table[:-1]), "no table before the JSON line")
last = json.loads(table[-1])
check(last["push"]["acked"] == last["setup"]["ops"], "the table run lost operations")
PY
echo "ok: fieldsync-bench smoke"
