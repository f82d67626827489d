#!/usr/bin/env bash
# Crash test with real processes: seven workers' devices (six workers, one with two devices)
# edit offline and sync in background loops for about 20 s while the server is killed with
# SIGKILL 3-5 times at seeded random moments and restarted on the same port each time. Then
# the loops stop, the server is killed and restarted once more, every device syncs until up
# to date with an empty outbox. While the server is down after each kill, every device's
# acknowledged operations (those it dropped from its outbox) must be in the log. At the end:
#   - each device's operations are in the server's log exactly once: the ids DEVICE.1 ..
#     DEVICE.N for the N edits its loop made, nothing lost (an acknowledged operation leaves
#     the device's outbox for good), nothing twice, and the same in the audit trail;
#   - the lead's device holds exactly the union of the workers' records, each with the same
#     fields as on the devices that hold it (`list --json`, and `get --json` for a sample);
#   - `fieldsync-admin audit verify` passes, and the last server stops cleanly on SIGTERM.
# SEED=N replays the kill schedule (the first line printed is the seed).
# Usage: crash_server.sh BIN_DIR
set -euo pipefail
bin=$1
seed=${SEED:-$(date +%s)}
echo "seed $seed (replay: SEED=$seed $0 $bin)"
RANDOM=$seed
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
data="$work/server"
# shellcheck source-path=SCRIPTDIR source=crash_lib.sh
source "$(dirname "$0")/crash_lib.sh"

# The kill schedule, drawn first so that it depends on the seed only: the gap before each
# kill, then (once some device's session is open, so that the kill lands inside a sync) a
# few more milliseconds, and how long the server then stays down.
kills=$((3 + RANDOM % 3))
gaps=() jitters=() downs=()
for k in $(seq 1 "$kills"); do
  gaps[k]=$((1500 + RANDOM % 3500))
  jitters[k]=$((RANDOM % 80))
  downs[k]=$((RANDOM % 1500))
done
echo "schedule: $kills kills; gaps ms ${gaps[*]}; then a session open and ms ${jitters[*]}; down ms ${downs[*]}"

loop_pids=()
stop_loops() {
  local pid
  touch "$work/stop"
  for pid in "${loop_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  loop_pids=()
}
trap 'stop_loops; cleanup' EXIT

mkdir -p "$data"
ADMIN() { "$bin/fieldsync-admin" --data "$data" "$@"; }
ADMIN team add north >/dev/null
workers="w1 w2 w3 w4 w5 w6"
for u in $workers; do ADMIN user add "$u" --role worker --team north >/dev/null; done
ADMIN user add lee --role lead --team north >/dev/null
launch_server

devices="d1 d2 d3 d4 d5 d6 d7"
declare -A user_of=([d1]=w1 [d2]=w2 [d3]=w3 [d4]=w4 [d5]=w5 [d6]=w6 [d7]=w1 [lead]=lee)
# shellcheck disable=SC2086  # $devices is a list of names
enrol_devices $devices lead


# A case all workers share: its programme (last writer wins) and needs (a set) are edited
# from every device.
edit d1 put clients cl-shared name="Shared client" preferred_language=en
edit d1 put cases case-shared client_id=cl-shared assigned_to=w1 programme=outreach status=assessment
for u in w2 w3 w4 w5 w6; do edit d1 share case-shared "$u"; done
for d in $devices lead; do dev "$d" sync --server "$url" --timeout 20 >/dev/null || fail "$d: first sync failed"; done
for d in $devices; do dev "$d" get cases case-shared >/dev/null || fail "$d did not receive case-shared"; done

# worker_loop DEV: until $work/stop exists, a few offline edits (a new client, case, visit and
# note with ids unique to the device, an edit of the shared case and one of the device's
# previous case), then a sync; every sync's exit code in $work/rc.DEV (0 or 2 expected).
worker_loop() {
  local d=$1 u=${user_of[$1]} i=0 rc
  while [ ! -e "$work/stop" ]; do
    i=$((i + 1))
    edit "$d" put clients "cl-$d-$i" name="Client $d $i" preferred_language=en || true
    edit "$d" put cases "case-$d-$i" client_id="cl-$d-$i" assigned_to="$u" programme=outreach status=assessment || true
    edit "$d" put visits "visit-$d-$i" case_id="case-$d-$i" time=2024-06-07T10:00:00Z kind=home outcome="Visit $i by $d" || true
    edit "$d" note "case-$d-$i" "Note $i from $d: documents handed over." || true
    edit "$d" put cases case-shared programme="prog-$d-$i" needs+="need-$d-$i" || true
    [ "$i" = 1 ] || edit "$d" put cases "case-$d-$((i - 1))" status=planning || true
    rc=0
    dev "$d" sync --server "$url" --timeout 1.5 >"$work/sync.$d" 2>&1 || rc=$?
    echo "$rc" >>"$work/rc.$d"
    [ "$rc" = 0 ] || [ "$rc" = 2 ] || { echo "sync $i exited $rc:"; cat "$work/sync.$d"; } >>"$work/errors.$d"
    sleep 0.$((RANDOM % 2))
  done
  echo "$i" >"$work/iterations.$d"
}

# acked_on_server WHEN (the server down, so nothing is being acknowledged): every operation
# a device dropped from its outbox is in the log. A device made at least MADE operations
# (read before its outbox) and PENDING are in its outbox, so at least MADE - PENDING were
# acknowledged; the log must hold at least that many of its operations.
acked_on_server() {
  local d made pending logged
  for d in $devices; do
    made=$(cat "$work/made.$d")
    pending=$(dev "$d" info | sed -n 's/^  outbox \([0-9]*\) pending, \([0-9]*\) rejected$/\1 \2/p')
    [ -n "$pending" ] || fail "$d: no outbox size from info $1"
    [ "${pending#* }" = 0 ] || fail "$d: operations rejected $1: $(dev "$d" outbox)"
    pending=${pending% *}
    logged=$(sqlite3 "file:$data/fieldsync.db?mode=ro" "SELECT count(*) FROM log WHERE device = '${device_id[$d]}'")
    [ "$logged" -ge $((made - pending)) ] ||
      fail "$d: $((made - pending)) or more operations acknowledged but only $logged in the log $1; server run $server_run's log ends: $(tail -n 5 "$work/server.$server_run.err")"
  done
  echo "  every acknowledged operation is in the log $1"
}

echo "+$(elapsed) s: $(echo "$devices" | wc -w) device loops start; server run 1 on port $port"
for d in $devices; do
  worker_loop "$d" &
  loop_pids+=($!)
done
cut_total=0
for k in $(seq 1 "$kills"); do
  ms_sleep "${gaps[k]}"
  for _ in $(seq 1 100); do
    [ "$(open_sessions)" -gt 0 ] && break
    sleep 0.01
  done
  ms_sleep "${jitters[k]}"
  crash_server
  head=$(sqlite3 "file:$data/fieldsync.db?mode=ro" 'SELECT count(*) FROM log' 2>/dev/null || echo '?')
  cut=$(open_sessions)
  cut_total=$((cut_total + cut))
  echo "+$(elapsed) s: kill -9 #$k (server run $server_run; $head ops in the log; $cut sessions cut)"
  acked_on_server "after kill #$k"
  ms_sleep "${downs[k]}"
  launch_server
  echo "+$(elapsed) s: restarted after ${downs[k]} ms down: server run $server_run on port $port"
done
sleep 2
stop_loops
echo "+$(elapsed) s: loops stopped"
# shellcheck disable=SC2086
check_no_errors $devices

crash_server
launch_server
echo "+$(elapsed) s: server killed and restarted once more: run $server_run"
# Every device syncs until it is up to date with an empty outbox; then the lead.
# shellcheck disable=SC2086
settle 10 lead $devices
echo "+$(elapsed) s: every device up to date, every outbox empty"

syncs=0 unreachable=0
for d in $devices; do
  syncs=$((syncs + $(wc -l <"$work/rc.$d")))
  unreachable=$((unreachable + $(grep -c '^2$' "$work/rc.$d" || true)))
done
echo "loops: $syncs syncs ($unreachable exited 2, unreachable; $cut_total sessions cut by the kills); iterations $(for d in $devices; do printf '%s=%s ' "$d" "$(cat "$work/iterations.$d")"; done)"

# Exactly once: each device's operations DEVICE.1 .. DEVICE.N, in the log and the audit trail.
: >"$work/manifest"
for d in $devices; do echo "$d ${device_id[$d]} $(cat "$work/made.$d")" >>"$work/manifest"; done
check_exactly_once "$work/manifest"
echo "every operation a device made is on the server exactly once"

# Convergence: the lead holds the union of the workers' records, each as its holders have it.
for d in $devices lead; do
  for c in clients cases visits notes; do dev "$d" list "$c" --json >"$work/list.$d.$c"; done
done
# shellcheck disable=SC2086
check_converged lead $devices
# Every record each loop wrote is there (the lists could agree on too little).
for d in $devices; do
  n=$(cat "$work/iterations.$d")
  for c in clients cases visits; do
    got=$(grep -o "\"id\":\"[a-z]*-$d-[0-9]*\"" "$work/list.lead.$c" | wc -l)
    [ "$got" = "$n" ] || fail "the lead holds $got $c of $d, expected $n"
  done
  [ "$(python3 -c 'import json,sys; print(sum(1 for r in json.load(open(sys.argv[1])) if r["fields"].get("case_id", "").startswith(sys.argv[2])))' \
    "$work/list.lead.notes" "case-$d-")" = "$n" ] || fail "the lead lacks notes of $d"
done
# get --json, byte for byte, on the author's device and the lead: the shared case and, per
# device, its last case, visit and client, and one earlier case (seeded choice).
for d in $devices; do
  n=$(cat "$work/iterations.$d")
  k=$((1 + RANDOM % n))
  for rec in "cases case-shared" "clients cl-$d-$n" "cases case-$d-$n" "visits visit-$d-$n" "cases case-$d-$k"; do
    # shellcheck disable=SC2086
    [ "$(dev "$d" get $rec --json)" = "$(dev lead get $rec --json)" ] ||
      fail "$rec differs between $d and the lead: $(dev "$d" get $rec --json) vs $(dev lead get $rec --json)"
  done
done
echo "converged: the lead holds every worker's records with the same fields"

out=$(ADMIN audit verify) || fail "audit verify failed: $out"
echo "audit verify: $out"
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=""
[ "$rc" = 0 ] || fail "the last server exited $rc on SIGTERM"
echo "crash_server passed in $(elapsed) s: $kills kills, seed $seed"
