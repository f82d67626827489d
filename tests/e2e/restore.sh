#!/usr/bin/env bash
# End to end with the real binaries: a restore from an older backup loses nothing that a
# device still holds. Two workers sync, a backup is taken, both go on editing and syncing,
# then the server is stopped and its store replaced by the backup. The restarted server
# announces a new epoch; each device notices it at its next sync and pushes again what the
# server acknowledged after the backup (kept in its replica for that), and moves its cursor
# back. Afterwards every operation is in the log exactly once, every replica agrees with the
# lead's, no outbox holds anything, and the audit trail verifies.
# Usage: restore.sh BIN_DIR
set -euo pipefail
bin=$1
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

data="$work/server"
mkdir -p "$data"
ADMIN() { "$bin/fieldsync-admin" --data "$data" "$@"; }
ADMIN team add north >/dev/null
ADMIN user add lea --role lead --team north >/dev/null
for u in ana ben; do ADMIN user add "$u" --role worker --team north >/dev/null; done
start_server server --listen 127.0.0.1:0
export PASS="a long passphrase"
dev() { local name=$1; shift; "$bin/fieldsync" --replica "$work/$name.db" --passphrase-env PASS "$@"; }
sync_ok() { dev "$1" sync --server "ws://$addr" --timeout 20 >/dev/null || fail "$1 could not sync"; }
for d in ana ben lea; do
  dev "$d" init --kdf minimum >/dev/null
  dev "$d" enroll --server "ws://$addr" --code "$(enroll_code "$data" "$d")" >/dev/null
done
# edits DEVICE FROM TO: clients DEVICE-FROM..DEVICE-TO, offline.
edits() {
  for i in $(seq "$2" "$3"); do dev "$1" put clients "$1-$i" name="Client $1 $i" >/dev/null; done
}

edits ana 1 5
edits ben 1 3
for d in ana ben lea; do sync_ok "$d"; done
mkdir -p "$work/backup"
ADMIN backup "$work/backup/fieldsync.db" >/dev/null
# After the backup: more edits, acknowledged by the server that will be lost.
edits ana 6 10
edits ben 4 6
for d in ana ben ana lea; do sync_ok "$d"; done
[ "$(dev ana outbox --json)" = "[]" ] || fail "ana's outbox is not empty before the restore"

# The restore: stop, put the copy in place, start again.
kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
server_pid=""
rm -f "$data"/fieldsync.db "$data"/fieldsync.db-wal "$data"/fieldsync.db-shm
cp "$work/backup/fieldsync.db" "$data/fieldsync.db"
start_server server --listen 127.0.0.1:0
for _ in $(seq 1 50); do grep -q "restored backup" "$work/server.err" && break; sleep 0.1; done
grep -q "is a restored backup: new epoch" "$work/server.err" ||
  fail "the server did not say it serves a restored backup: $(cat "$work/server.err")"
head_after=$(curl -sf --max-time 10 "http://$addr/healthz" | python3 -c 'import json, sys; print(json.load(sys.stdin)["head"])')
[ "$head_after" -lt 16 ] || fail "the restored store already holds every op (head $head_after)"

# Everyone syncs twice (the second round pulls what the others pushed again).
for d in ana ben lea ana ben lea; do sync_ok "$d"; done
for d in ana ben; do
  [ "$(dev "$d" outbox --json)" = "[]" ] || fail "$d's outbox is not empty: $(dev "$d" outbox --json)"
done
# Workers hold their own clients (a client follows its creator); the lead holds both, the same.
lead=$(dev lea list clients --json)
for d in ana ben; do
  mine=$(python3 -c 'import json, sys; print(json.dumps([r for r in json.loads(sys.argv[1]) if r["id"].startswith(sys.argv[2] + "-")], separators=(",", ":")))' "$lead" "$d")
  [ "$(dev "$d" list clients --json)" = "$mine" ] ||
    fail "$d and the lead differ after the restore: $(dev "$d" list clients --json) VS $mine"
done
python3 - "$lead" <<'PY' || fail "the lead does not hold all 16 clients: $lead"
import json, sys
ids = sorted(r["id"] for r in json.loads(sys.argv[1]))
want = sorted([f"ana-{i}" for i in range(1, 11)] + [f"ben-{i}" for i in range(1, 7)])
assert ids == want, ids
PY
ADMIN audit export --since 1970-01-01 --as lea >"$work/export.jsonl"
python3 - "$work/export.jsonl" <<'PY' || fail "the log does not hold every op exactly once"
import json, sys
ops = [e["subject"] for e in map(json.loads, open(sys.argv[1])) if e["kind"] == "op"]
assert len(ops) == 16 and len(set(ops)) == 16, ops
PY
ADMIN audit verify >"$work/verify.txt" || fail "audit verify failed: $(cat "$work/verify.txt")"

# A second restore of the same backup is noticed too (a new epoch again).
kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
server_pid=""
rm -f "$data"/fieldsync.db "$data"/fieldsync.db-wal "$data"/fieldsync.db-shm
cp "$work/backup/fieldsync.db" "$data/fieldsync.db"
start_server server --listen 127.0.0.1:0
for d in ana ben lea ana ben lea; do sync_ok "$d"; done
[ "$(dev lea list clients --json)" = "$lead" ] || fail "the lead lost clients after a second restore"
echo "restore: nothing a device held was lost"
