#!/usr/bin/env bash
# End to end over a bad network: the real server, a worker's device and their lead's device,
# with fieldsync-proxy (docs/TESTING.md) between the worker and the server.
#   a. a 2G-like link (300 ms, 50 kbit/s, stalls): a day of visits recorded offline syncs in
#      under 30 s, and the lead then holds exactly the same records;
#   b. a link that cuts connections about every 2 s at seeded byte offsets: 50 more edits get
#      through by running `sync` again until it exits 0, each operation once on the server;
#   c. a partition that heals: sync exits 2 (unreachable) during it and 0 after, nothing lost.
# The proxy's faults come from seeds: FIELDSYNC_PROXY_SEED=N replays a run (scenario a uses
# N, b N+1, c N+2); every failure prints the seed and the proxy's last fault lines.
# Usage: network_faults.sh BIN_DIR
set -euo pipefail
bin=$1
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

base_seed=${FIELDSYNC_PROXY_SEED:-20240607}
seed=""
proxy_pid=""
proxy_name=""
fail() {
  echo "FAIL: $*" >&2
  echo "  proxy seed ${seed:-none} (replay: FIELDSYNC_PROXY_SEED=$base_seed)" >&2
  if [ -n "$proxy_name" ] && [ -f "$work/$proxy_name.err" ]; then
    # A sanitizer's report, whole up to its summary; else the last fault lines.
    if grep -q '^==[0-9]*==ERROR' "$work/$proxy_name.err"; then
      echo "  the proxy's sanitizer report:" >&2
      sed -n '/^==[0-9]*==ERROR/,/^SUMMARY/p' "$work/$proxy_name.err" | head -n 80 | sed 's/^/    /' >&2
    else
      echo "  last lines of the proxy's log:" >&2
      tail -n 15 "$work/$proxy_name.err" | sed 's/^/    /' >&2
    fi
  fi
  exit 1
}
now_ms() { date +%s%3N; }

# start_proxy NAME SEED ARGS...: fieldsync-proxy in front of the server; sets $proxy_url.
start_proxy() {
  proxy_name=$1
  seed=$2
  shift 2
  : >"$work/$proxy_name.out"
  "$bin/fieldsync-proxy" --listen 127.0.0.1:0 --target "$addr" --seed "$seed" "$@" \
    >"$work/$proxy_name.out" 2>"$work/$proxy_name.err" &
  proxy_pid=$!
  pids+=("$proxy_pid")
  local paddr
  paddr=$(wait_listening "$work/$proxy_name.out" "$proxy_pid") ||
    fail "proxy $proxy_name did not start: $(cat "$work/$proxy_name.err")"
  proxy_url="ws://$paddr"
}

# stop_proxy: SIGTERM, then print its summary line.
stop_proxy() {
  kill -TERM "$proxy_pid"
  wait "$proxy_pid" || fail "the proxy exited $? on SIGTERM"
  grep '^summary' "$work/$proxy_name.err" || fail "the proxy printed no summary"
}

# wait_for_log PATTERN SECONDS: until the proxy's log has a line matching PATTERN.
wait_for_log() {
  for _ in $(seq 1 $(($2 * 10))); do
    grep -q "$1" "$work/$proxy_name.err" && return 0
    sleep 0.1
  done
  fail "the proxy never logged /$1/"
}

data="$work/server"
mkdir -p "$data"
ADMIN() { "$bin/fieldsync-admin" --data "$data" "$@"; }
ADMIN team add north >/dev/null
ADMIN user add ana --role worker --team north >/dev/null
ADMIN user add lee --role lead --team north >/dev/null
start_server server --listen 127.0.0.1:0
url="ws://$addr"

export PASS="a long passphrase"
W() { "$bin/fieldsync" --replica "$work/worker.db" --passphrase-env PASS "$@"; }
L() { "$bin/fieldsync" --replica "$work/lead.db" --passphrase-env PASS "$@"; }
ops_made=0
# w_write ARGS...: one offline write on the worker's device (one operation).
w_write() {
  W "$@" >/dev/null || fail "worker: '$*' failed"
  ops_made=$((ops_made + 1))
}
W init --kdf minimum >/dev/null
L init --kdf minimum >/dev/null
W enroll --server "$url" --code "$(enroll_code "$data" ana)" >/dev/null
L enroll --server "$url" --code "$(enroll_code "$data" lee)" >/dev/null
worker_device=$(W info | sed -n 's/^  device //p')

# same_records WHEN: the lead (synced directly) holds exactly the worker's records, and the
# worker's outbox is empty.
collections="clients cases visits notes tasks"
same_records() {
  L sync --server "$url" --timeout 20 >/dev/null || fail "the lead could not sync ($1)"
  local c
  for c in $collections; do
    W list "$c" --json >"$work/w.$c"
    L list "$c" --json >"$work/l.$c"
    cmp -s "$work/w.$c" "$work/l.$c" ||
      fail "$c differ between worker and lead $1: $(diff "$work/w.$c" "$work/l.$c" | head -c 600)"
  done
  [ "$(W outbox --json)" = "[]" ] || fail "the worker's outbox is not empty $1: $(W outbox)"
}

# every_op_once WHEN: the server's log holds each of the worker's operations exactly once
# (the audit trail lists one "op" entry per logged operation).
every_op_once() {
  ADMIN audit export --since 2000-01-01 --as lee >"$work/export" || fail "audit export failed"
  python3 - "$work/export" "$worker_device" "$ops_made" <<'EOF' || fail "operations not logged exactly once $1"
import json, sys
path, device, made = sys.argv[1], sys.argv[2], int(sys.argv[3])
ids = [e["op"]["id"] for e in map(json.loads, open(path)) if e["kind"] == "op" and e["device"] == device]
dups = sorted({i for i in ids if ids.count(i) > 1})
counters = sorted(int(i.rsplit(".", 1)[1]) for i in set(ids))
if dups or len(ids) != made or counters != list(range(counters[0], counters[0] + made)):
    print(f"{len(ids)} op entries for {made} operations made; duplicates: {dups[:10]}; "
          f"counters {counters[:3]}..{counters[-3:]}", file=sys.stderr)
    sys.exit(1)
EOF
}

# --- a. A day of visits over a 2G-like link ------------------------------------------------
for k in 1 2 3; do
  w_write put clients "cl-$k" name="Client $k" preferred_language=en
  w_write put cases "case-$k" client_id="cl-$k" assigned_to=ana programme=outreach status=assessment
done
for v in $(seq 1 10); do
  k=$(((v - 1) % 3 + 1))
  w_write put visits "visit-$v" case_id="case-$k" time="2024-06-07T0$((v % 10)):30:00Z" \
    place="Market stall $v" kind=home outcome="Talked through the plan, step $v"
  w_write note "case-$k" "Visit $v: follow-up agreed; documents still missing."
  w_write put tasks "task-$v" case_id="case-$k" title="Bring form $v" due_date=2024-06-1$((v % 10)) status=open
done

start_proxy slow "$base_seed" --latency-ms 300 --bandwidth-kbit 50 --stall-every-ms 3000 --stall-ms 800
t0=$(now_ms)
W sync --server "$proxy_url" --timeout 60 >"$work/sync_a" ||
  fail "the 2G-like sync failed: $(cat "$work/sync_a")"
elapsed=$(($(now_ms) - t0))
echo "2G-like link: $ops_made operations synced in $((elapsed / 1000)).$(printf '%03d' $((elapsed % 1000))) s ($(cat "$work/sync_a"); seed $seed)"
grep -E '^stall|^cut' "$work/slow.err" | sed 's/^/  proxy: /' || true
stop_proxy
[ "$elapsed" -lt 30000 ] || fail "the 2G-like sync took ${elapsed} ms (limit 30 s)"
same_records "after the 2G-like sync"
every_op_once "after the 2G-like sync"

# --- b. Connections cut about every 2 s, mid-frame ------------------------------------------
# 50 more edits offline, then `sync` runs until one exits 0. The link is slow enough that the
# sync spans the cuts, which land at seeded byte offsets: in the handshake, mid-batch, or in
# the ack after the server took the batch (the device then sends it again). All 50 are more
# than this link carries between two cuts in one push: the device halves its push batch after
# each cut with a push unanswered until a batch gets through (docs/TESTING.md).
start_proxy cutting $((base_seed + 1)) --latency-ms 100 --bandwidth-kbit 64 --cut-every-ms 2000 \
  --cut-after-bytes-min 300 --cut-after-bytes-max 9000
runs=0
for e in $(seq 1 50); do
  k=$((e % 3 + 1))
  case $((e % 5)) in
    0) w_write note "case-$k" "Edit $e: called, no answer; will try again tomorrow." ;;
    1) w_write put tasks "task-b$e" case_id="case-$k" title="Call back ($e)" status=open ;;
    2) w_write put visits "visit-$((e % 10 + 1))" outcome="Revised after call $e" ;;
    3) w_write put cases "case-$k" needs+="need-$e" ;;
    4) w_write put tasks "task-b$((e - 3))" status=done ;;
  esac
done
attempt=0
while :; do
  attempt=$((attempt + 1))
  runs=$((runs + 1))
  kill -0 "$proxy_pid" 2>/dev/null || fail "the proxy exited during the cutting link's syncs"
  [ "$attempt" -le 15 ] ||
    fail "could not sync through the cutting link in 15 runs; the last said: $(tail -n 3 "$work/sync_b")"
  rc=0
  W sync --server "$proxy_url" --timeout 4 >"$work/sync_b" 2>&1 || rc=$?
  [ "$rc" = 0 ] && break
  [ "$rc" = 2 ] || fail "sync through the cutting link exited $rc: $(cat "$work/sync_b")"
done
cuts=$(grep -c '^cut conn' "$work/cutting.err" || true)
acks_cut=$(grep -c '^cut conn.* to client' "$work/cutting.err" || true)
echo "cutting link: 50 edits up to date after $runs sync run(s); $cuts cut(s), $acks_cut of them on the way to the device (seed $seed)"
stop_proxy
[ "$cuts" -gt 0 ] || fail "the proxy cut no connection: the scenario tested nothing"
same_records "after the cutting link"
every_op_once "after the cutting link"

# --- c. A partition that heals ---------------------------------------------------------------
for e in $(seq 1 5); do w_write put tasks "task-c$e" case_id=case-1 title="During the outage $e" status=open; done
start_proxy partition $((base_seed + 2)) --latency-ms 50 --partition-at-ms 1000 --partition-ms 8000
wait_for_log '^partition for' 5
rc=0
W sync --server "$proxy_url" --timeout 3 >"$work/sync_c" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "sync during the partition exited $rc, expected 2: $(cat "$work/sync_c")"
grep -q '^refused conn' "$work/partition.err" || fail "the proxy refused no connection"
[ "$(W outbox --json | grep -o '"status":"pending"' | wc -l)" = 5 ] ||
  fail "the outbox should hold the 5 edits during the partition: $(W outbox)"
wait_for_log '^partition healed' 15
W sync --server "$proxy_url" --timeout 20 >"$work/sync_c" 2>&1 ||
  fail "sync after the partition healed failed: $(cat "$work/sync_c")"
echo "partition: sync exited 2 during it and 0 after it healed (seed $seed)"
stop_proxy
same_records "after the partition"
every_op_once "after the partition"

echo "network faults: 2G-like sync in $((elapsed / 1000)).$(printf '%03d' $((elapsed % 1000))) s, $cuts cuts survived, a partition healed; $ops_made operations each logged once"
