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
# After the backup: more edits, acknowledged by the server that will be lost, and one edit of
# ana's the server refuses (ben's client is outside her scope): her chain runs through it.
edits ana 6 7
dev ana put clients ben-1 name="Not in ana's caseload" >/dev/null
edits ana 8 10
edits ben 4 6
rc=0
dev ana sync --server "ws://$addr" --timeout 20 >/dev/null || rc=$?
[ "$rc" = 4 ] || fail "ana's sync with a refused edit exited $rc, not 4"
for d in ben ana lea; do dev "$d" sync --server "ws://$addr" --timeout 20 >/dev/null || true; done
[ "$(dev ana outbox --json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')" = 1 ] ||
  fail "ana's outbox should hold just the refused edit: $(dev ana outbox --json)"

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

# Ben syncs first and edits again, so the restored log grows before ana and the lead come
# back: what they put back and pull from is the backup's head, not the server's head now.
# Everyone syncs twice (the second round pulls what the others pushed again).
dev ben put clients ben-2 name="Client ben 2, edited after the restore" >/dev/null
sync_ok ben
sync_ok ben
for d in ana lea ben ana lea; do dev "$d" sync --server "ws://$addr" --timeout 20 >/dev/null || true; done
[ "$(dev ben outbox --json)" = "[]" ] || fail "ben's outbox is not empty: $(dev ben outbox --json)"
dev ana outbox --json | python3 -c '
import json, sys
out = json.load(sys.stdin)
assert len(out) == 1 and out[0]["op"]["r"] == "ben-1" and out[0]["code"] == "out_of_scope", out
' || fail "ana's outbox should hold only the refused edit, refused again: $(dev ana outbox --json)"
# Workers hold their own clients (a client follows its creator); the lead holds both, the same,
# with ben-2 as ben edited it after the restore.
lead=$(dev lea list clients --json)
for d in ana ben; do
  mine=$(python3 -c 'import json, sys; print(json.dumps([r for r in json.loads(sys.argv[1]) if r["id"].startswith(sys.argv[2] + "-")], separators=(",", ":")))' "$lead" "$d")
  # (ana also shows her refused edit of ben-1: a refused change stays visible where it was made)
  held=$(dev "$d" list clients --json | python3 -c 'import json, sys; print(json.dumps([r for r in json.load(sys.stdin) if r["id"].startswith(sys.argv[1] + "-")], separators=(",", ":")))' "$d")
  [ "$held" = "$mine" ] || fail "$d and the lead differ after the restore: $held VS $mine"
done
python3 - "$lead" <<'PY' || fail "the lead does not hold all 16 clients: $lead"
import json, sys
ids = sorted(r["id"] for r in json.loads(sys.argv[1]))
want = sorted([f"ana-{i}" for i in range(1, 11)] + [f"ben-{i}" for i in range(1, 7)])
assert ids == want, ids
names = {r["id"]: r["fields"]["name"] for r in json.loads(sys.argv[1])}
assert names["ben-2"].endswith("edited after the restore"), names["ben-2"]
PY
ADMIN audit export --since 1970-01-01 --as lea >"$work/export.jsonl"
python3 - "$work/export.jsonl" <<'PY' || fail "the log does not hold every op exactly once"
import json, sys
ops = [e["subject"] for e in map(json.loads, open(sys.argv[1])) if e["kind"] == "op"]
assert len(ops) == 17 and len(set(ops)) == 17, ops
PY
ADMIN audit verify >"$work/verify.txt" || fail "audit verify failed: $(cat "$work/verify.txt")"

# A second restore of the same backup is noticed too (a new epoch again).
kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
server_pid=""
rm -f "$data"/fieldsync.db "$data"/fieldsync.db-wal "$data"/fieldsync.db-shm
cp "$work/backup/fieldsync.db" "$data/fieldsync.db"
start_server server --listen 127.0.0.1:0
for d in ana ben lea ana ben lea; do dev "$d" sync --server "ws://$addr" --timeout 20 >/dev/null || true; done
[ "$(dev lea list clients --json)" = "$lead" ] || fail "the lead lost clients after a second restore"
for d in ana ben; do
  dev "$d" outbox --json | python3 -c 'import json, sys; sys.exit(0 if all(o["status"] == "rejected" for o in json.load(sys.stdin)) else 1)' ||
    fail "$d has ops still pending after the second restore: $(dev "$d" outbox --json)"
done
echo "restore: nothing a device held was lost"
