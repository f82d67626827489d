#!/usr/bin/env bash
# Crash test with real processes: devices killed mid-sync. Four workers' devices and the
# lead's, against the real server. In each of four rounds every worker's device records a
# large batch offline (100 edits: visits on a case all four share and on their own, notes,
# edits of the shared case's fields), then all five devices sync at once and each `fieldsync
# sync` is killed with SIGKILL at a seeded moment (mostly a few ms after it reports the
# connection: in its push, between the server's commit and the ack, or while pulling the
# others' batches), three times in a row. After every kill the replica must open, and the
# operations the server committed but the device never heard acknowledged are counted (if no
# kill fell there, one device's syncs are killed alone, aimed at that window). Then
# every device syncs until up to date with an empty outbox, and:
#   - `fieldsync check` authenticates every page of every replica;
#   - each device's operations are in the server's log exactly once (DEVICE.1 .. DEVICE.N for
#     the N edits it made), and the same in the audit trail;
#   - the lead's device holds exactly the union of the workers' records, each with the same
#     fields as on the devices that hold it; `fieldsync-admin audit verify` passes.
# SEED=N replays the kill moments (the first line printed is the seed).
# Usage: crash_devices.sh BIN_DIR
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

rounds=4 batch=100 kills_per_round=3

mkdir -p "$data"
ADMIN() { "$bin/fieldsync-admin" --data "$data" "$@"; }
ADMIN team add north >/dev/null
for u in w1 w2 w3 w4; do ADMIN user add "$u" --role worker --team north >/dev/null; done
ADMIN user add lee --role lead --team north >/dev/null
launch_server

devices="d1 d2 d3 d4"
declare -A user_of=([d1]=w1 [d2]=w2 [d3]=w3 [d4]=w4 [lead]=lee)
# shellcheck disable=SC2086  # $devices is a list of names
enrol_devices $devices lead


# The case all four share: everyone's visits on it reach every device.
edit d1 put clients cl-shared name="Shared client" preferred_language=en
edit d1 put cases case-shared client_id=cl-shared assigned_to=w1 programme=outreach status=assessment
for u in w2 w3 w4; do edit d1 share case-shared "$u"; done
for d in $devices lead; do dev "$d" sync --server "$url" --timeout 20 >/dev/null || fail "$d: first sync failed"; done

# offline_batch DEV ROUND: $batch edits, the same for a given device and round.
offline_batch() {
  local d=$1 r=$2 u=${user_of[$1]} j
  local statuses=(assessment planning implementation evaluation)
  edit "$d" put clients "cl-$d-$r" name="Client $d $r" preferred_language=en || return
  edit "$d" put cases "case-$d-$r" client_id="cl-$d-$r" assigned_to="$u" programme=outreach status=assessment || return
  for j in $(seq 3 "$batch"); do
    case $((j % 6)) in
      0) edit "$d" note "case-$d-$r" "Round $r, entry $j from $d: called, documents still missing." ;;
      1) edit "$d" put visits "visit-$d-$r-$j" case_id=case-shared time=2024-06-07T09:00:00Z kind=outreach \
        place="Market $j" outcome="Joint visit $j of round $r by $d" ;;
      2) edit "$d" put visits "visit-$d-$r-$j" case_id="case-$d-$r" kind=home outcome="Home visit $j by $d" ;;
      3) edit "$d" put cases case-shared programme="prog-$d-$r-$j" needs+="need-$d-$r-$j" ;;
      4) edit "$d" put cases "case-$d-$r" status="${statuses[$((j % 4))]}" ;;
      5) edit "$d" put visits "visit-$d-$r-$((j - 4))" outcome="Revised at entry $j" ;;
    esac || return
  done
}

# kill_later PID FILE start|connected MS: kill -9 PID MS ms from now, or MS ms after FILE
# (the sync's -v output) says "connected"; nothing if PID ended first.
kill_later() {
  local pid=$1 file=$2 from=$3 ms=$4
  if [ "$from" = connected ]; then
    for _ in $(seq 1 1000); do
      grep -q '^sync: connected' "$file" && break
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.005
    done
  fi
  ms_sleep "$ms"
  kill -9 "$pid" 2>/dev/null || true
}

# count_in_doubt DEV (after a kill, $work/info.DEV holding its `info`): operations both in
# the log and in the device's outbox were committed but never acknowledged to it.
count_in_doubt() {
  local d=$1 pending logged doubt
  pending=$(sed -n 's/^  outbox \([0-9]*\) pending.*/\1/p' "$work/info.$d")
  logged=$(sqlite3 "file:$data/fieldsync.db?mode=ro" "SELECT count(*) FROM log WHERE device = '${device_id[$d]}'")
  doubt=$((logged + pending - $(cat "$work/made.$d")))
  if [ "$doubt" -gt 0 ]; then
    in_doubt=$((in_doubt + doubt))
    in_doubt_kills=$((in_doubt_kills + 1))
  fi
}

killed=0 finished=0 attempts=0 in_doubt=0 in_doubt_kills=0
echo "+$(elapsed) s: $rounds rounds of $batch offline edits per device, each followed by $kills_per_round killed syncs of all five devices"
for r in $(seq 1 "$rounds"); do
  for d in $devices; do
    offline_batch "$d" "$r" &
    live+=($!)
  done
  wait_live
  # shellcheck disable=SC2086
  check_no_errors $devices
  for k in $(seq 1 "$kills_per_round"); do
    # All five sync at once; each is killed at its own seeded moment: most a few ms after
    # the device reports its connection (a worker's push and its ack come first, the pulls
    # take longer: the lead pulls everyone's batches), some blindly.
    declare -A pid_of=() when=() killer_of=()
    for d in $devices lead; do
      if [ $((RANDOM % 4)) = 0 ]; then
        when[$d]="start $((RANDOM % 300))"
      elif [ "$d" = lead ]; then
        when[$d]="connected $((RANDOM % 150))"
      else
        when[$d]="connected $((RANDOM % 60))"
      fi
    done
    for d in $devices lead; do
      dev "$d" -v sync --server "$url" --timeout 20 >"$work/sync.$d" 2>&1 &
      pid_of[$d]=$!
      live+=($!)
    done
    for d in $devices lead; do
      # shellcheck disable=SC2086
      kill_later "${pid_of[$d]}" "$work/sync.$d" ${when[$d]} &
      killer_of[$d]=$!
      live+=($!)
    done
    # (stderr: bash reports each killed job; the lines below say which were killed)
    for d in $devices lead; do wait "${killer_of[$d]}" 2>/dev/null; done
    line=""
    for d in $devices lead; do
      rc=0
      wait "${pid_of[$d]}" 2>/dev/null || rc=$?
      attempts=$((attempts + 1))
      if [ "$rc" = 137 ]; then
        killed=$((killed + 1))
        line+=" $d killed (${when[$d]} ms);"
      elif [ "$rc" = 0 ]; then
        finished=$((finished + 1))
        line+=" $d done first (${when[$d]} ms);"
      else
        fail "round $r: $d's sync exited $rc: $(cat "$work/sync.$d")"
      fi
    done
    live=()
    echo "+$(elapsed) s: round $r, kill $k:$line"
    # Each replica opens. Operations both in the server's log and still pending on the
    # device were committed by the server but never acknowledged to the device (the kill
    # came between): the next sync sends them again and they must count once.
    for d in $devices lead; do
      rc=0
      dev "$d" info >"$work/info.$d" 2>&1 || rc=$?
      [ "$rc" = 0 ] || fail "round $r: $d's replica does not open after the kill (exit $rc): $(cat "$work/info.$d")"
      [ "$d" = lead ] || count_in_doubt "$d"
    done
  done
done
# If no kill fell between a commit and its ack, aim for that window: d1 alone, 50 more edits
# and a sync killed 0-40 ms after it connects, until one does (at most 10 tries).
extra=0
while [ "$in_doubt_kills" = 0 ] && [ "$extra" -lt 10 ]; do
  extra=$((extra + 1))
  for j in $(seq 1 50); do
    edit d1 put visits "visit-d1-x$extra-$j" case_id=case-d1-1 kind=phone outcome="Extra call $j" ||
      fail "d1: $(cat "$work/errors.d1")"
  done
  dev d1 -v sync --server "$url" --timeout 20 >"$work/sync.d1" 2>&1 &
  pid=$!
  live=("$pid")
  kill_later "$pid" "$work/sync.d1" connected $((RANDOM % 40))
  rc=0
  wait "$pid" 2>/dev/null || rc=$?
  live=()
  attempts=$((attempts + 1))
  if [ "$rc" = 137 ]; then killed=$((killed + 1)); else finished=$((finished + 1)); fi
  dev d1 info >"$work/info.d1" 2>&1 || fail "d1's replica does not open after the kill: $(cat "$work/info.d1")"
  count_in_doubt d1
done
[ "$extra" = 0 ] || echo "+$(elapsed) s: $extra more kill(s) of d1 alone, aimed at the window between commit and ack"
echo "kills: $killed syncs killed, $finished finished first, of $attempts; $in_doubt_kills kills between the server's commit and the device's ack ($in_doubt operations to send again)"
[ "$killed" -gt 0 ] || fail "no sync was killed mid-way: the test tested nothing"

# Every device syncs until it is up to date with an empty outbox; then the lead.
# shellcheck disable=SC2086
settle 20 lead $devices
echo "+$(elapsed) s: every device up to date, every outbox empty"

for d in $devices lead; do
  out=$(dev "$d" check 2>&1) || fail "$d: fieldsync check failed: $out"
done
echo "every replica passes fieldsync check"

: >"$work/manifest"
for d in $devices; do echo "$d ${device_id[$d]} $(cat "$work/made.$d")" >>"$work/manifest"; done
check_exactly_once "$work/manifest"
echo "every operation a device made is on the server exactly once"

for d in $devices lead; do
  for c in clients cases visits notes; do dev "$d" list "$c" --json >"$work/list.$d.$c"; done
done
# shellcheck disable=SC2086
check_converged lead $devices
# The shared case's visits: every device holds all of them (the lists could agree on too little).
want=$((4 * rounds * $(seq 3 "$batch" | awk '$1 % 6 == 1' | wc -l)))
for d in $devices lead; do
  got=$(grep -o '"case_id":"case-shared"' "$work/list.$d.visits" | wc -l)
  [ "$got" = "$want" ] || fail "$d holds $got visits of the shared case, expected $want"
done
for rec in "cases case-shared" "clients cl-shared"; do
  # shellcheck disable=SC2086
  for d in $devices; do
    [ "$(dev "$d" get $rec --json)" = "$(dev lead get $rec --json)" ] || fail "$rec differs between $d and the lead"
  done
done
echo "converged: the lead holds every worker's records with the same fields; $want shared visits everywhere"

out=$(ADMIN audit verify) || fail "audit verify failed: $out"
echo "audit verify: $out"
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=""
[ "$rc" = 0 ] || fail "the server exited $rc on SIGTERM"
echo "crash_devices passed in $(elapsed) s: $killed syncs killed mid-way, seed $seed"
