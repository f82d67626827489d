#!/usr/bin/env bash
# End to end with the real binaries: fieldsync-admin manages teams, users, enrolment codes,
# the lease and case assignments in the data directory of a running fieldsync-server; its
# --json outputs parse; the running server notices the assignment it wrote (its /healthz head
# moves within a second or two), and a syncing device receives it.
# Usage: admin.sh BIN_DIR
set -euo pipefail
bin=$1
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

data="$work/server"
mkdir -p "$data"
ADMIN() { "$bin/fieldsync-admin" --data "$data" "$@"; }
# json_check JSON PYTHON_EXPR: the expression must hold for d = the parsed JSON.
json_check() {
  python3 -c 'import json, re, sys; d = json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' "$1" "$2" ||
    fail "JSON check failed: $2 on $1"
}
# expect_error OUTPUT_FILE COMMAND...: the command exits 1 with "error: " on stderr.
expect_error() {
  local out=$1
  shift
  set +e
  "$@" >/dev/null 2>"$out"
  local rc=$?
  set -e
  [ "$rc" = 1 ] || fail "expected exit 1 from '$*', got $rc"
  grep -q '^error: ' "$out" || fail "no 'error:' line from '$*': $(cat "$out")"
}

start_server server --listen 127.0.0.1:0  # its data directory is $data
health_head() {
  python3 -c 'import json, sys, urllib.request; print(json.load(urllib.request.urlopen("http://" + sys.argv[1] + "/healthz", timeout=5))["head"])' "$addr"
}

# Teams and users, beside the running server.
json_check "$(ADMIN team add north --json)" 'd == {"name": "north"}'
ADMIN team add south >/dev/null
json_check "$(ADMIN user add ana --role worker --team north --json)" \
  'd == {"name": "ana", "role": "worker", "team": "north"}'
ADMIN user add ben --role worker --team north >/dev/null
ADMIN user add lee --role lead --team north >/dev/null
ADMIN user add sam --role lead --team south >/dev/null
json_check "$(ADMIN user add admin1 --role admin --json)" 'd["team"] is None'
expect_error "$work/err" ADMIN user add ana --role worker --team north
expect_error "$work/err" ADMIN user add zed --role admin --team north
expect_error "$work/err" ADMIN user add zed --role worker
json_check "$(ADMIN user list --json)" \
  '[u["name"] for u in d] == ["admin1", "ana", "ben", "lee", "sam"] and d[3]["role"] == "lead"'
json_check "$(ADMIN team list --json)" '[(t["name"], t["users"]) for t in d] == [("north", 3), ("south", 1)]'
ADMIN user list | grep -q '^lee  *lead  *north' || fail "user list table: $(ADMIN user list)"

# Login passwords: from the environment here, stored as an Argon2id hash only, audited
# without it; too short or for an unknown user is refused.
export LEE_PW="lee's long password"
json_check "$(ADMIN user passwd lee --password-env LEE_PW --kdf minimum --json)" 'd["password"] == "set"'
hash=$(sqlite3 "$data/fieldsync.db" "SELECT hash FROM passwords WHERE user = 'lee'")
[[ $hash == '$argon2id$'* ]] || fail "the stored password is not an Argon2id hash: $hash"
if grep -qa "lee's long password" "$data"/fieldsync.db*; then fail "the plain password is in the store"; fi
events=$(sqlite3 "$data/fieldsync.db" "SELECT detail FROM audit_log WHERE detail LIKE '%password_set%'")
[[ $events == *'"user":"lee"'* && $events != *argon2* ]] || fail "password audit entry: $events"
export SHORT_PW="short"
expect_error "$work/err" ADMIN user passwd lee --password-env SHORT_PW --kdf minimum
expect_error "$work/err" ADMIN user passwd nobody --password-env LEE_PW --kdf minimum

# Enrolment codes: short, grouped, with an ISO-8601 UTC expiry.
code_json=$(ADMIN device enroll-code ana --json --ttl 2)
json_check "$code_json" \
  're.fullmatch(r"[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}", d["code"]) and d["user"] == "ana" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", d["expires"])'
code=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["code"])' "$code_json")
if grep -qa -e "$code" -e "${code//-/}" "$data"/fieldsync.db*; then fail "the plain code is in the store"; fi
expect_error "$work/err" ADMIN device enroll-code nobody
expect_error "$work/err" ADMIN device enroll-code ana --ttl 1000
json_check "$(ADMIN device list --json)" 'd == []'
expect_error "$work/err" ADMIN device revoke 0123456789abcdef0123456789abcdef
grep -q 'no enrolled device' "$work/err" || fail "revoke of an unknown device: $(cat "$work/err")"

# The lease.
json_check "$(ADMIN lease show --json)" 'd == {"sync_within_days": 14, "wipe_after_days": 30}'
json_check "$(ADMIN lease set --sync-within 7 --wipe-after 21 --json)" \
  'd == {"sync_within_days": 7, "wipe_after_days": 21}'
expect_error "$work/err" ADMIN lease set --sync-within 30
json_check "$(ADMIN lease show --json)" 'd["sync_within_days"] == 7'

# Devices (enrolled): ana's creates a case assigned to her; ben's syncs and does not get it.
export PASS_A="ana's passphrase" PASS_B="ben's passphrase"
A() { "$bin/fieldsync" --replica "$work/a.db" --passphrase-env PASS_A "$@"; }
B() { "$bin/fieldsync" --replica "$work/b.db" --passphrase-env PASS_B "$@"; }
A init --kdf minimum >/dev/null
B init --kdf minimum >/dev/null
A enroll --server "ws://$addr" --code "$(enroll_code "$data" ana)" >/dev/null
B enroll --server "ws://$addr" --code "$(enroll_code "$data" ben)" >/dev/null
A put cases case-1 status=assessment assigned_to=ana needs+=housing >/dev/null
A sync --server "ws://$addr" --timeout 20 >/dev/null
B sync --server "ws://$addr" --timeout 20 >/dev/null
head_before=$(health_head)

# Only leads of the team and admins; the acting user defaults to the system user.
expect_error "$work/err" ADMIN case assign case-1 ben --as ana
grep -q 'worker' "$work/err" || fail "a worker's assignment: $(cat "$work/err")"
expect_error "$work/err" ADMIN case assign case-1 ben --as sam
expect_error "$work/err" ADMIN case assign case-9 ben --as lee
expect_error "$work/err" ADMIN case assign case-1 nobody --as lee
if ! ADMIN user list --json | python3 -c 'import json, sys; sys.exit(0 if sys.argv[1] in [u["name"] for u in json.load(sys.stdin)] else 1)' "$(id -un)"; then
  expect_error "$work/err" ADMIN case assign case-1 ben
  grep -q -- '--as' "$work/err" || fail "no --as hint: $(cat "$work/err")"
fi

# The lead reassigns the case to ben and shares it with sam (a lead of another team).
assign_json=$(ADMIN case assign case-1 ben --as lee --json)
json_check "$assign_json" 'd["changed"] is True and d["seq"] > 0 and d["by"] == "lee" and d["action"] == "assign"'
seq=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["seq"])' "$assign_json")
[ "$seq" -gt "$head_before" ] || fail "assignment seq $seq not after head $head_before"
json_check "$(ADMIN case assign case-1 ben --as lee --json)" 'd["changed"] is False and d["seq"] is None'
json_check "$(ADMIN case share case-1 sam --as lee --json)" 'd["changed"] is True'
ADMIN case share case-1 lee --as admin1 | grep -q 'shared with lee' || fail "share text"
ADMIN case unshare case-1 lee --as admin1 >/dev/null

# The running server notices the entries written beside it.
head_after=""
for _ in $(seq 1 30); do
  head_after=$(health_head)
  [ "$head_after" -ge $((seq + 3)) ] && break
  sleep 0.1
done
[ "$head_after" -ge $((seq + 3)) ] || fail "server head $head_after did not reach $((seq + 3))"

# Ben's device receives the case whole by syncing; Ana's, which lost it, removes it.
B sync --server "ws://$addr" --timeout 20 >/dev/null
A sync --server "ws://$addr" --timeout 20 >/dev/null
b_case=$(B get cases case-1 --json)
json_check "$b_case" 'd["fields"]["assigned_to"] == "ben" and d["fields"]["shared_with"] == ["sam"] and d["fields"]["needs"] == ["housing"]'
if A get cases case-1 >/dev/null 2>&1; then fail "the reassigned case is still on ana's device"; fi

# The server stops cleanly on SIGTERM.
kill -TERM "$server_pid"
wait "$server_pid" || fail "server exited $? on SIGTERM"
server_pid=""
if grep -q -e "housing" -e "assessment" "$work/server.out" "$work/server.err"; then
  fail "record content in the server log"
fi
# An encrypted store: the admin tool opens it with the server's key file, and only with it.
mkdir -p "$work/enc"
"$bin/fieldsync-server" --new-key-file "$work/server.key" >/dev/null
"$bin/fieldsync-admin" --data "$work/enc" --key-file "$work/server.key" team add outreach-east >/dev/null
json_check "$("$bin/fieldsync-admin" --data "$work/enc" --key-file "$work/server.key" team list --json)" \
  '[t["name"] for t in d] == ["outreach-east"]'
expect_error "$work/err" "$bin/fieldsync-admin" --data "$work/enc" team list
if grep -qa outreach-east "$work/enc"/fieldsync.db*; then fail "team name in plain text in an encrypted store"; fi
expect_error "$work/err" "$bin/fieldsync-admin" --data "$work/missing" team list
echo "admin: teams, users, codes, lease and assignments work beside a running server"
