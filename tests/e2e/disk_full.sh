#!/usr/bin/env bash
# The server's disk fills up, with the real binaries: the server's data directory is a small
# tmpfs mounted in a private mount namespace of this script (it re-runs itself under
# `unshare -m`, so nothing is mounted on the host and the mount goes away with the script).
# A worker's device keeps editing and syncing while a filler file takes the last free space;
# then, without restarting the server:
#   1. pushes are refused with a clear error: `fieldsync sync` exits 2 saying the server's
#      disk is full, its operations stay pending in its outbox (none rejected, none in the
#      log), the server keeps running and its log says once that its disk is full;
#   2. reads go on: the lead's device, enrolled before but never synced, pulls every record
#      stored before the disk filled (its sync exits 0), and /healthz answers "disk_full"
#      with the head;
#   3. once the filler is removed, the worker's next sync is accepted, the lead pulls it,
#      every operation is in the log and the audit trail exactly once, `fieldsync-admin audit
#      verify` and SQLite's integrity check pass, and both replicas pass `fieldsync check`.
# Needs root and mount namespaces; otherwise it is skipped (exit 77). SEED=N replays the
# moment the filler starts (the first line printed is the seed).
# Usage: disk_full.sh BIN_DIR
set -euo pipefail
bin=$1

if [ -z "${FIELDSYNC_DISK_FULL_NS:-}" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "SKIP: e2e:disk_full mounts a small tmpfs and needs root (id -u is $(id -u))"
    exit 77
  fi
  if ! unshare -m --propagation private true 2>/dev/null; then
    echo "SKIP: e2e:disk_full needs mount namespaces (unshare -m failed)"
    exit 77
  fi
  export FIELDSYNC_DISK_FULL_NS=1
  exec unshare -m --propagation private "$0" "$@"
fi

seed=${SEED:-$(date +%s)}
echo "seed $seed (replay: SEED=$seed $0 $bin)"
RANDOM=$seed
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
data="$work/data"
# shellcheck source-path=SCRIPTDIR source=crash_lib.sh
source "$(dirname "$0")/crash_lib.sh"

mkdir "$data"
if ! mount -t tmpfs -o size=8m,mode=0700 fieldsync-disk-full "$data"; then
  echo "SKIP: e2e:disk_full could not mount a tmpfs in its mount namespace"
  exit 77
fi
finish() {
  touch "$work/stop"
  [ -z "${loop_pid:-}" ] || wait "$loop_pid" 2>/dev/null || true
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
  umount "$data" 2>/dev/null || umount -l "$data" 2>/dev/null || true
  cleanup
}
trap finish EXIT

ADMIN() { "$bin/fieldsync-admin" --data "$data" "$@"; }
ADMIN team add north >/dev/null
ADMIN user add ana --role worker --team north >/dev/null
ADMIN user add lee --role lead --team north >/dev/null
launch_server
first_pid=$server_pid
declare -A user_of=([ana]=ana [lee]=lee)
enrol_devices ana lee
log_err="$work/server.1.err"
free_kib() { df -k --output=avail "$data" | tail -n 1 | tr -d ' '; }
in_log() {  # the number of log rows of ana's device
  sqlite3 "file:$data/fieldsync.db?mode=ro" "SELECT count(*) FROM log WHERE device = '${device_id[ana]}'"
}

# Before: a client, a case and a few visits and notes, stored while there is space.
edit ana put clients cl-1 name="First client" preferred_language=en
edit ana put cases case-1 client_id=cl-1 assigned_to=ana programme=outreach status=assessment
for i in $(seq 1 8); do
  edit ana put visits "visit-$i" case_id=case-1 time=2024-06-07T10:00:00Z kind=home outcome="Visit $i"
  edit ana note case-1 "Note $i: documents handed over."
done
dev ana sync --server "$url" --timeout 20 >/dev/null || fail "the first sync failed"
echo "+$(elapsed) s: $(cat "$work/made.ana") operations stored; $(free_kib) KiB free on the server's disk"

# The device keeps editing (notes of 2 KB) and syncing while the disk fills.
long_text=$(printf 'x%.0s' $(seq 1 2000))
(
  i=0
  while [ ! -e "$work/stop" ]; do
    i=$((i + 1))
    edit ana note case-1 "Loop note $i $long_text" || true
    edit ana put visits "loop-visit-$i" case_id=case-1 time=2024-06-07T11:00:00Z kind=home outcome="Loop $i" || true
    rc=0
    dev ana sync --server "$url" --timeout 1.5 >"$work/loop.sync" 2>&1 || rc=$?
    [ "$rc" = 0 ] || [ "$rc" = 2 ] || { echo "loop sync $i exited $rc: $(cat "$work/loop.sync")"; } >>"$work/errors.ana"
  done
) &
loop_pid=$!
ms_sleep $((300 + RANDOM % 1200))
# The filler takes every free block (dd stops on ENOSPC).
dd if=/dev/zero of="$data/filler" bs=64k status=none 2>/dev/null || true
echo "+$(elapsed) s: filler written ($(du -k "$data/filler" | cut -f1) KiB); $(free_kib) KiB free"
for _ in $(seq 1 100); do
  grep -q "the disk under store .* is full" "$log_err" && break
  sleep 0.1
done
touch "$work/stop"
wait "$loop_pid"
loop_pid=""
[ ! -s "$work/errors.ana" ] || fail "ana: $(head -c 1500 "$work/errors.ana")"

# 1. Pushes are refused with a clear error. What little room the store had left may take a
# batch or two more: the device edits and syncs until one sync is refused (bounded).
refused=""
for round in $(seq 1 10); do
  for i in $(seq 1 10); do
    edit ana note case-1 "Full-disk note $round.$i $long_text" || fail "an offline edit failed: $(tail -n 2 "$work/errors.ana")"
  done
  rc=0
  dev ana sync --server "$url" --timeout 3 >"$work/full.out" 2>"$work/full.err" || rc=$?
  if [ "$rc" != 0 ]; then
    refused=$round
    break
  fi
done
[ -n "$refused" ] || fail "the server took every push with its disk full"
[ "$rc" = 2 ] || fail "sync on a full disk exited $rc, expected 2: $(cat "$work/full.err")"
grep -q "the server's disk is full" "$work/full.err" || fail "unclear error on a full disk: $(cat "$work/full.err")"
echo "+$(elapsed) s: sync refused in round $refused, exit 2: $(cat "$work/full.err")"
made=$(cat "$work/made.ana")
outbox=$(dev ana info | sed -n 's/^  outbox \([0-9]*\) pending, \([0-9]*\) rejected$/\1 \2/p')
pending=${outbox% *}
[ "${outbox#* }" = 0 ] || fail "operations were rejected for the full disk: $(dev ana outbox | tail -n 3)"
[ "$pending" -ge 10 ] || fail "only $pending operations pending after a refused sync"
logged=$(in_log)
[ "$logged" = $((made - pending)) ] ||
  fail "made $made, $pending pending, but $logged in the log: pending ones were stored, or acked ones lost"
kill -0 "$server_pid" 2>/dev/null || fail "the server exited when its disk filled: $(tail -n 5 "$log_err")"
[ "$(grep -c "the disk under store .* is full" "$log_err")" = 1 ] ||
  fail "the server did not say once that its disk is full: $(grep "full" "$log_err" | head -n 5)"
echo "  outbox: $pending pending, 0 rejected; $logged of $made operations in the log"
echo "  server log: $(grep "the disk under store .* is full" "$log_err" | sed 's/^\[[^]]*\] //')"

# 2. Reads go on: the lead's empty replica pulls everything stored before the disk filled.
head=$(sqlite3 "file:$data/fieldsync.db?mode=ro" 'SELECT count(*) FROM log')
health=$(curl -sf --max-time 10 "http://$addr/healthz") || fail "/healthz did not answer with the disk full"
[ "$health" = "{\"status\":\"disk_full\",\"head\":$head}" ] || fail "/healthz with the disk full: $health (head $head)"
dev lee sync --server "$url" --timeout 20 >"$work/lee.out" 2>&1 || fail "the lead could not pull with the disk full: $(cat "$work/lee.out")"
stored_visits=$(sqlite3 "file:$data/fieldsync.db?mode=ro" "SELECT count(*) FROM records WHERE collection = 'visits'")
stored_notes=$(sqlite3 "file:$data/fieldsync.db?mode=ro" "SELECT count(*) FROM records WHERE collection = 'notes'")
[ "$(dev lee list visits --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')" = "$stored_visits" ] ||
  fail "the lead holds other visits than the $stored_visits stored"
[ "$(dev lee list notes --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')" = "$stored_notes" ] ||
  fail "the lead holds other notes than the $stored_notes stored"
echo "+$(elapsed) s: disk full: /healthz $health; the lead pulled $stored_visits visits and $stored_notes notes: $(cat "$work/lee.out")"

# 3. Space returns: the same server takes the pending operations, exactly once.
rm "$data/filler"
echo "+$(elapsed) s: filler removed; $(free_kib) KiB free"
dev ana sync --server "$url" --timeout 20 >"$work/ana.out" 2>&1 || fail "ana's sync after space returned: $(cat "$work/ana.out")"
[ "$(dev ana outbox --json)" = "[]" ] || fail "ana's outbox is not empty: $(dev ana outbox | head -n 3)"
dev lee sync --server "$url" --timeout 20 >"$work/lee.out" 2>&1 || fail "the lead's sync after space returned: $(cat "$work/lee.out")"
echo "+$(elapsed) s: ana: $(cat "$work/ana.out"); lee: $(cat "$work/lee.out")"
if ! { [ "$server_pid" = "$first_pid" ] && [ "$server_run" = 1 ] && kill -0 "$server_pid" 2>/dev/null; }; then
  fail "the server did not keep running through the full disk"
fi
grep -q "writes succeed again" "$log_err" || fail "the server did not log that writes resumed"
[ "$(curl -sf --max-time 10 "http://$addr/healthz" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')" = ok ] ||
  fail "/healthz does not say ok once space returned"

echo "ana ${device_id[ana]} $(cat "$work/made.ana")" >"$work/manifest"
check_exactly_once "$work/manifest"
for c in clients cases visits notes; do
  dev ana list "$c" --json >"$work/list.ana.$c"
  dev lee list "$c" --json >"$work/list.lee.$c"
done
check_converged lee ana
[ "$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$work/list.lee.notes")" = \
  "$(sqlite3 "file:$data/fieldsync.db?mode=ro" "SELECT count(*) FROM records WHERE collection = 'notes'")" ] ||
  fail "the lead does not hold every note"
out=$(ADMIN audit verify) || fail "audit verify failed: $out"
echo "audit verify: $out"
[ "$(sqlite3 "file:$data/fieldsync.db?mode=ro" 'PRAGMA integrity_check')" = ok ] || fail "the store fails SQLite's integrity check"
for d in ana lee; do dev "$d" check >/dev/null || fail "$d's replica fails check"; done
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=""
[ "$rc" = 0 ] || fail "the server exited $rc on SIGTERM"
echo "disk_full passed in $(elapsed) s: seed $seed"
