# shellcheck shell=bash disable=SC2154  # $bin, $work, $data are set by the sourcing script
# Sourced by the crash tests (crash_server.sh, crash_devices.sh) after lib.sh, with $data set
# to the server's data directory. Gives:
#   ms_sleep MS                   sleep MS milliseconds
#   elapsed                       seconds since the script sourced this file, as S.mmm
#   launch_server                 fieldsync-server --data $data on 127.0.0.1:$port (any free
#                                 port while $port is empty, which then sets it), each run's
#                                 output in $work/server.N.out and .err; retries briefly while
#                                 the port is still in use; sets $server_pid, $addr, $url
#   open_sessions                 sessions the server's current run opened and has not closed
#   crash_server                  kill -9 the server and reap it
#   check_exactly_once MANIFEST   the server's log and its audit trail hold, for each line
#                                 "NAME DEVICE_ID MADE" of MANIFEST, exactly the operations
#                                 DEVICE_ID.1 .. DEVICE_ID.MADE, each once, and nothing else
#                                 from those devices
#   check_converged LEAD NAME...  for each collection, every record in $work/list.NAME.COLL
#                                 is in $work/list.LEAD.COLL with the same fields, and the lead
#                                 holds nothing the workers do not (lists from `list --json`)
#   fail MESSAGE                  as lib.sh's, with the seed and the line that replays the run
#   dev NAME ARGS...              the fieldsync client on replica $work/NAME.db
#   enrol_devices NAME...         a replica for each NAME, enrolled for ${user_of[NAME]} at
#                                 $url; sets device_id[NAME] and a zero edit count
#   edit DEV ARGS...              one offline write (one operation) on DEV, counted in
#                                 $work/made.DEV; a failure is logged in $work/errors.DEV and
#                                 returns 1
#   live, stop_live               the script's background jobs (live+=($!)); stop_live kills
#                                 and reaps them, and runs at exit (before lib.sh's cleanup)
#   wait_live                     waits for every job in $live, whatever its exit, and empties it
#   check_no_errors DEV...        fails with the first DEV whose $work/errors.DEV is not empty
#   settle TIMEOUT LEAD DEV...    each DEV syncs until it is up to date with an empty outbox (at
#                                 most 6 syncs), then every DEV and LEAD once more, so that all
#                                 pull everyone's last edits; fails naming the device that did not
t_start=$(date +%s%3N)
port=""
server_run=0

export PASS="a long passphrase"
declare -gA device_id=()

fail() {
  echo "FAIL: $*" >&2
  echo "  seed $seed (replay: SEED=$seed $0 $bin)" >&2
  exit 1
}

dev() {
  local name=$1
  shift
  "$bin/fieldsync" --replica "$work/$name.db" --passphrase-env PASS "$@"
}

enrol_devices() {
  local d
  for d in "$@"; do
    dev "$d" init --kdf minimum >/dev/null
    dev "$d" enroll --server "$url" --code "$(enroll_code "$data" "${user_of[$d]}")" >/dev/null
    device_id[$d]=$(dev "$d" info | sed -n 's/^  device //p')
    [ -n "${device_id[$d]}" ] || fail "no device id for $d"
    echo 0 >"$work/made.$d"
  done
}

edit() {
  local d=$1
  shift
  if ! dev "$d" "$@" >>"$work/edits.$d" 2>>"$work/errors.$d"; then
    echo "edit failed: $*" >>"$work/errors.$d"
    return 1
  fi
  echo $(($(cat "$work/made.$d") + 1)) >"$work/made.$d"
}

ms_sleep() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }
elapsed() {
  local ms=$(($(date +%s%3N) - t_start))
  printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

launch_server() {
  local try out err
  for try in $(seq 1 40); do
    server_run=$((server_run + 1))
    out="$work/server.$server_run.out"
    err="$work/server.$server_run.err"
    : >"$out"
    "$bin/fieldsync-server" --data "$data" --listen "127.0.0.1:${port:-0}" >"$out" 2>"$err" &
    server_pid=$!
    addr=""
    for _ in $(seq 1 300); do
      addr=$(sed -n 's/^listening on //p' "$out")
      if [ -n "$addr" ]; then
        port=${addr##*:}
        # shellcheck disable=SC2034  # used by the sourcing script
        url="ws://$addr"
        return 0
      fi
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.05
    done
    kill -0 "$server_pid" 2>/dev/null && fail "server run $server_run not listening after 15 s"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    grep -q "in use" "$err" || fail "server run $server_run did not start: $(cat "$err")"
    echo "  port $port still in use (try $try), retrying"
    sleep 0.25
  done
  fail "port $port stayed in use"
}

# open_sessions: how many sessions the current server run opened and has not closed.
open_sessions() {
  awk '/session opened/ { o++ } /session closed/ { c++ } END { print o - c }' "$work/server.$server_run.err"
}

crash_server() {
  kill -9 "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

check_exactly_once() {
  "$bin/fieldsync-admin" --data "$data" audit export --since 2000-01-01 --as lee \
    >"$work/export" || fail "audit export failed"
  python3 - "$data/fieldsync.db" "$work/export" "$1" <<'EOF' || fail "operations not on the server exactly once (seed $seed)"
import collections, json, sqlite3, sys
db, export, manifest = sys.argv[1:4]
con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
log = collections.defaultdict(list)
for op_id, device in con.execute("SELECT op_id, device FROM log ORDER BY seq"):
    log[device].append(op_id)
audit = collections.defaultdict(list)
kinds = collections.Counter()
for line in open(export):
    e = json.loads(line)
    kinds[e["kind"]] += 1
    if e["kind"] == "op":
        audit[e["device"]].append(e["subject"])
bad = []
for line in open(manifest):
    name, device, made = line.split()
    made = int(made)
    want = {f"{device}.{n}" for n in range(1, made + 1)}
    got = log.get(device, [])
    dups = sorted({i for i, c in collections.Counter(got).items() if c > 1})
    audit_dups = sorted({i for i, c in collections.Counter(audit.get(device, [])).items() if c > 1})
    missing = sorted(want - set(got), key=lambda i: int(i.rsplit(".", 1)[1]))
    extra = sorted(set(got) - want, key=lambda i: int(i.rsplit(".", 1)[1]))
    audit_diff = set(audit.get(device, [])) ^ set(got)
    ok = not (dups or audit_dups or missing or extra or audit_diff or len(got) != made)
    print(f"  {name}: made {made}, logged {len(got)} ({len(set(got))} distinct), "
          f"audit op entries {len(audit.get(device, []))}" + ("" if ok else "  <-- WRONG"))
    if not ok:
        bad.append(f"{name} ({device}): missing {missing[:10]} (of {len(missing)}), extra {extra[:10]}, "
                   f"duplicated in log {dups[:10]}, in audit {audit_dups[:10]}, "
                   f"log vs audit differ on {sorted(audit_diff)[:10]}")
print(f"  audit entries by kind: {dict(sorted(kinds.items()))}")
if kinds.get("alarm"):
    bad.append(f"{kinds['alarm']} alarm entries in the audit trail")
for b in bad:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

check_converged() {
  python3 - "$work" "$@" <<'EOF' || fail "devices did not converge (seed $seed)"
import json, sys
work, lead, names = sys.argv[1], sys.argv[2], sys.argv[3:]
bad = []
for coll in ("clients", "cases", "visits", "notes"):
    def load(n):
        return {r["id"]: r for r in json.load(open(f"{work}/list.{n}.{coll}"))}
    on_lead = load(lead)
    seen = set()
    before = len(bad)
    for n in names:
        mine = load(n)
        seen |= mine.keys()
        for rid, rec in mine.items():
            if rid not in on_lead:
                bad.append(f"{coll}/{rid} on {n} is missing on {lead}")
            elif on_lead[rid] != rec:
                bad.append(f"{coll}/{rid} differs: {n} {json.dumps(rec)} vs {lead} {json.dumps(on_lead[rid])}")
    for rid in sorted(on_lead.keys() - seen):
        bad.append(f"{coll}/{rid} is on {lead} but on no worker's device")
    print(f"  {coll}: {len(on_lead)} on {lead}" + (", every copy on the workers' devices identical" if len(bad) == before else "  <-- WRONG"))
for b in bad[:20]:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
}

live=()
stop_live() {
  local pid
  for pid in "${live[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  live=()
}
trap 'stop_live; cleanup' EXIT

wait_live() {
  local pid
  for pid in "${live[@]}"; do wait "$pid" || true; done
  live=()
}

check_no_errors() {
  local d
  for d in "$@"; do
    [ ! -s "$work/errors.$d" ] || fail "$d: $(head -c 1500 "$work/errors.$d")"
  done
}

settle() {
  local timeout=$1 lead=$2 d attempt rc
  shift 2
  for d in "$@"; do
    for attempt in $(seq 1 6); do
      rc=0
      dev "$d" sync --server "$url" --timeout "$timeout" >"$work/sync.$d" 2>&1 || rc=$?
      [ "$rc" = 0 ] && [ "$(dev "$d" outbox --json)" = "[]" ] && break
      [ "$attempt" -lt 6 ] || fail "$d not up to date after 6 syncs: exit $rc, $(cat "$work/sync.$d"); outbox $(dev "$d" outbox)"
    done
  done
  for d in "$@" "$lead"; do
    dev "$d" sync --server "$url" --timeout "$timeout" >"$work/sync.$d" 2>&1 || fail "$d: last sync: $(cat "$work/sync.$d")"
    [ "$(dev "$d" outbox --json)" = "[]" ] || fail "$d: outbox not empty: $(dev "$d" outbox)"
  done
}
