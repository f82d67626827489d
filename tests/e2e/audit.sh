#!/usr/bin/env bash
# End to end with the real binaries: the audit trail. Two workers edit one case offline from
# three devices (ana has two) with a conflict on risk; `fieldsync-admin audit history` shows
# every change with its user, device, server time and device time, and the conflict; `audit
# verify` passes; `audit export` gives the case's entries as JSON lines, and every history and
# export is itself recorded as a read. A worker's device refuses to decide the conflict; the
# lead's device decides it (`fieldsync resolve`) and ana's device then shows the decision.
# Then, with the server stopped, a one-byte edit of one operation in the log (its append-only
# trigger dropped first, as an attacker would) makes `audit verify` fail at that operation's
# audit entry.
# Usage: audit.sh BIN_DIR
set -euo pipefail
bin=$1
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

data="$work/server"
mkdir -p "$data"
ADMIN() { "$bin/fieldsync-admin" --data "$data" "$@"; }
# json_lines_check FILE PYTHON_EXPR [ARG...]: the expression must hold for d = the list of
# the file's lines, each parsed as JSON (the ARGs are sys.argv[3:]).
json_lines_check() {
  python3 -c 'import json, sys; d = [json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if eval(sys.argv[2]) else 1)' "$@" ||
    fail "JSON lines check failed: $2 on $(cat "$1")"
}
# expect_error OUTPUT_FILE PATTERN COMMAND...: the command exits 1 with "error: " and PATTERN
# on stderr.
expect_error() {
  local out=$1 pattern=$2
  shift 2
  local rc=0
  "$@" >/dev/null 2>"$out" || rc=$?
  [ "$rc" = 1 ] || fail "expected exit 1 from '$*', got $rc"
  grep -q "^error: .*$pattern" "$out" || fail "no 'error: ...$pattern' from '$*': $(cat "$out")"
}

ADMIN team add north >/dev/null
for u in ana ben; do ADMIN user add "$u" --role worker --team north >/dev/null; done
ADMIN user add lee --role lead --team north >/dev/null
start_server server --listen 127.0.0.1:0 --log-level debug
url="ws://$addr"

export PASS="a long passphrase"
dev() { local name=$1; shift; "$bin/fieldsync" --replica "$work/$name.db" --passphrase-env PASS "$@"; }
sync_ok() { dev "$1" sync --server "$url" --timeout 20 >/dev/null || fail "$1 could not sync"; }
declare -A user_of=([ana]=ana [ana2]=ana [ben]=ben) device_id=()
for d in ana ana2 ben; do
  dev "$d" init --kdf minimum >/dev/null
  dev "$d" enroll --server "$url" --code "$(enroll_code "$data" "${user_of[$d]}")" >/dev/null
  device_id[$d]=$(dev "$d" info | sed -n 's/^  device //p')
  [ -n "${device_id[$d]}" ] || fail "no device id for $d: $(dev "$d" info)"
done

# Ana creates the case and shares it with Ben; all three devices receive it.
dev ana put clients cl-1 name="Amina Y" >/dev/null
dev ana put cases case-1 client_id=cl-1 assigned_to=ana status=assessment risk=low >/dev/null
dev ana share case-1 ben >/dev/null
for d in ana ben ana2; do sync_ok "$d"; done
dev ben get cases case-1 >/dev/null || fail "ben did not receive the shared case"

# Offline on all three: ana sets status and risk, ben sets risk otherwise (a field kept for
# review: an open conflict) and the programme, ana's second device adds a need.
dev ana put cases case-1 status=planning risk=high >/dev/null
dev ben put cases case-1 risk=medium programme=housing-first >/dev/null
dev ana2 put cases case-1 needs+=housing >/dev/null
for d in ana ben ana2 ana; do sync_ok "$d"; done

# A worker may not read the trail; nor may someone unnamed; a bad --since is refused.
expect_error "$work/err" "lead or an admin" ADMIN audit history cases case-1 --as ana
expect_error "$work/err" "unknown user" ADMIN audit history cases case-1 --as nobody
if ! [[ " ana ben lee " == *" $(id -un) "* ]]; then
  expect_error "$work/err" "say who reads with --as USER" ADMIN audit history cases case-1
fi
expect_error "$work/err" "--since must be" ADMIN audit export --since yesterday --as lee
expect_error "$work/err" "--since must be" ADMIN audit export --since 2026-02-30 --as lee

# The case's history: every change, both users, all three devices, both clocks, the conflict.
ADMIN audit history cases case-1 --as lee >"$work/history" || fail "audit history failed"
hist() { grep -qE -- "$1" "$work/history" || fail "history lacks /$1/: $(cat "$work/history")"; }
stamp='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
hist '^cases/case-1$'
for d in ana ana2 ben; do
  hist "^#[0-9]+  server $stamp  device $stamp(\+[0-9]+)?  user ${user_of[$d]}  device ${device_id[$d]}  op "
done
hist '^  status: "assessment" -> "planning"$'
hist '^  programme: \(none\) -> "housing-first"$'
hist '^  needs: \(none\) -> \["housing"\]$'
hist '^  risk: \(none\) -> "low"$'
hist '"high"'
hist '"medium"'
hist '^  conflict on risk$'
hist '^  risk \(concurrent_edit\): open for review$'
hist "^    user ana  device ${device_id[ana]}  value \"high\""
hist "^    user ben  device ${device_id[ben]}  value \"medium\""

# The trail verifies, against the key file and against the public key the server logged.
out=$(ADMIN audit verify) || fail "audit verify failed: $out"
[[ $out == "ok: "*" checkpoint"*"; audit key "* ]] || fail "audit verify: $out"
public=$(sed -n 's/.*audit key \([0-9a-f]\{64\}\) (public).*/\1/p' "$work/server.out" "$work/server.err" | head -n 1)
[ -n "$public" ] || fail "the server did not log its public audit key"
[[ $out == *"audit key $public"* ]] || fail "verify used another key than the server's: $out"
ADMIN --audit-key "$work/none.key" audit verify --public-key "$public" --json >"$work/verify.json" ||
  fail "audit verify --public-key failed: $(cat "$work/verify.json")"
json_lines_check "$work/verify.json" \
  'd[0]["ok"] and d[0]["problem"] is None and d[0]["ops"] >= 6 and d[0]["checkpoints"] >= 1 and d[0]["audit_key"] == sys.argv[3]' "$public"
expect_error "$work/err" "--public-key" ADMIN --audit-key "$work/none.key" audit verify
rc=0; out=$(ADMIN audit verify --public-key "$(printf '%064d' 0)") || rc=$?
[ "$rc" = 1 ] || fail "a wrong key verified: exit $rc, $out"
[[ $out == "FAILED at entry #"*"checkpoint"* ]] || fail "a wrong key: $out"

# The case's entries as JSON lines: its operations (not the client's) and the history read.
ADMIN audit export --since 2000-01-01 --case case-1 --as lee >"$work/export1" || fail "audit export failed"
json_lines_check "$work/export1" 'len(d) > 0 and [e["seq"] for e in d] == sorted(e["seq"] for e in d)'
json_lines_check "$work/export1" \
  'all(e["collection"] == "cases" and e["record"] == "case-1" and e["op"]["id"] == e["subject"] for e in d if e["kind"] == "op")'
json_lines_check "$work/export1" \
  'len([e for e in d if e["kind"] == "op"]) == 5 and {e["user"] for e in d if e["kind"] == "op"} == {"ana", "ben"}'
json_lines_check "$work/export1" \
  'any(e["kind"] == "op" and e["device"] == sys.argv[3] for e in d) and any(e["kind"] == "op" and e["device"] == sys.argv[4] for e in d)' \
  "${device_id[ana2]}" "${device_id[ben]}"
json_lines_check "$work/export1" \
  '[(e["user"], e["subject"], e["detail"]) for e in d if e["kind"] == "read" and e["device"] == ""] == [("lee", "cases/case-1", {"what": "history"})]'
# Ben opened the case on his device right after it arrived (fieldsync get): reported at sync.
json_lines_check "$work/export1" \
  'any(e["kind"] == "read" and e["user"] == "ben" and e["device"] == sys.argv[3] and e["detail"]["what"] == "opened" for e in d)' \
  "${device_id[ben]}"
json_lines_check "$work/export1" \
  'all(len(e["hash"]) == 64 and e["at"].endswith("Z") and e["at_ms"] > 0 for e in d)'
# A second export shows the first one's read, with what it selected and how many entries.
ADMIN audit export --since 2000-01-01T00:00:00Z --user lee --as lee >"$work/export2" || fail "audit export failed"
json_lines_check "$work/export2" \
  '[e["detail"] for e in d if e["kind"] == "read"] == [{"what": "history"}, {"what": "export", "since": "2000-01-01T00:00:00.000Z", "user": None, "case": "case-1", "entries": int(sys.argv[3])}]' \
  "$(wc -l <"$work/export1")"
json_lines_check "$work/export2" 'all(e["user"] == "lee" for e in d)'
ADMIN audit export --since 0 --case case-1 --as lee >"$work/export3"
json_lines_check "$work/export3" \
  'sum(1 for e in d if e["kind"] == "read" and e["detail"]["what"] == "export") == 1'
out=$(ADMIN audit verify) || fail "audit verify after the reads failed: $out"

# On a device: the same history, fetched from the server (the replica holds only the current
# state); a record outside the device's scope is not found. Opening a record with `get` is a
# read the server hears of at the next sync.
dev ben history cases case-1 --server "$url" >"$work/dev_history" || fail "fieldsync history failed"
grep -qE "^#[0-9]+  server $stamp  device $stamp(\+[0-9]+)?  user ana  device ${device_id[ana2]}  op " \
  "$work/dev_history" || fail "device history lacks ana's second device: $(cat "$work/dev_history")"
grep -q '^  risk (concurrent_edit): open for review$' "$work/dev_history" ||
  fail "device history lacks the conflict: $(cat "$work/dev_history")"
dev ana put clients cl-2 name="Only Ana" >/dev/null
dev ana note case-1 "spoke about the eviction notice" >/dev/null
sync_ok ana
dev ana history clients cl-2 --server "$url" >/dev/null || fail "ana cannot see her own client"
set +e
dev ben history clients cl-2 --server "$url" >/dev/null 2>"$work/err"
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "ben read the history of a record he does not hold"
dev ben get cases case-1 >/dev/null
sync_ok ben
reads=$(sqlite3 "$data/fieldsync.db" "SELECT count(*) FROM audit_log WHERE kind = 'read' AND user = 'ben' AND device = '${device_id[ben]}' AND subject = 'cases/case-1'")
[ "$reads" -ge 2 ] || fail "ben's history fetch and record opening were not both audited ($reads)"

# Deciding the conflict: a worker's device refuses to; the lead's device (enrolled now)
# decides with a third value, and after a sync ana's device shows it with no open conflict.
expect_error "$work/err" "only leads and admins decide conflicts" dev ben resolve cases case-1 risk low
dev lee init --kdf minimum >/dev/null
dev lee enroll --server "$url" --code "$(enroll_code "$data" lee)" >/dev/null
sync_ok lee
dev lee conflicts | grep -q '^cases/case-1 risk: OPEN' || fail "the lead's device lacks the open conflict: $(dev lee conflicts)"
out=$(dev lee resolve cases case-1 risk critical) || fail "the lead could not decide: $out"
[[ $out == "decided cases/case-1 risk (op "*")"* ]] || fail "resolve printed: $out"
sync_ok lee
sync_ok ana
dev ana get cases case-1 | grep -q '^  risk: critical$' || fail "ana's device lacks the decision: $(dev ana get cases case-1)"
[ "$(dev ana conflicts)" = "no open conflicts" ] || fail "the conflict is still open on ana's device: $(dev ana conflicts)"
dev ana conflicts --all | grep -q '^cases/case-1 risk: resolved' || fail "the decided conflict is not listed as resolved: $(dev ana conflicts --all)"
expect_error "$work/err" "no conflict to decide" dev lee resolve cases case-1 risk low

# The server's own log, at debug level, names ids only: no client name, no note text.
for text in "Amina" "Only Ana" "eviction notice" "housing-first"; do
  ! grep -q "$text" "$work/server.out" "$work/server.err" || fail "the server logged record content: $text"
done

# Stop the server and change one byte of one operation in the log.
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
db="$data/fieldsync.db"
log_seq=$(sqlite3 "$db" "SELECT MIN(seq) FROM log WHERE op_json LIKE '%\"high\"%'")
[ -n "$log_seq" ] || fail "no operation in the log writes \"high\""
entry=$(sqlite3 "$db" "SELECT seq FROM audit_log WHERE kind = 'op' AND json_extract(detail, '\$.log') = $log_seq")
[ -n "$entry" ] || fail "log row $log_seq has no audit entry"
sqlite3 "$db" "UPDATE log SET op_json = 'x' WHERE seq = $log_seq" 2>"$work/err" &&
  fail "the log took an update with its trigger in place"
grep -q "append-only" "$work/err" || fail "the trigger's refusal: $(cat "$work/err")"
sqlite3 "$db" "DROP TRIGGER log_append_only_update; UPDATE log SET op_json = replace(op_json, '\"high\"', '\"higi\"') WHERE seq = $log_seq"
[ "$(sqlite3 "$db" "SELECT count(*) FROM log WHERE op_json LIKE '%\"higi\"%'")" = 1 ] || fail "the edit did not land"
rc=0; out=$(ADMIN audit verify) || rc=$?
[ "$rc" = 1 ] || fail "audit verify exited $rc after the edit: $out"
[[ $out == "FAILED at entry #$entry: "* ]] || fail "audit verify should fail at entry #$entry: $out"
grep -q "log row #$log_seq" <<<"$out" || fail "audit verify does not name log row #$log_seq: $out"
rc=0; ADMIN audit verify --json >"$work/verify.json" || rc=$?
[ "$rc" = 1 ] || fail "audit verify --json exited $rc after the edit"
json_lines_check "$work/verify.json" \
  'not d[0]["ok"] and d[0]["problem"]["seq"] == int(sys.argv[3]) and d[0]["entries"] == int(sys.argv[3]) - 1' "$entry"
echo ok
