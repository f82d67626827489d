#!/usr/bin/env bash
# End to end with the real binaries over loopback: two devices edit one case offline
# (different fields, the same field, a note each), sync through fieldsync-server, and end
# with identical records, both notes, and one visible conflict.
# Usage: two_devices.sh BIN_DIR
set -euo pipefail
bin=$1
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

# Two workers of one team; the server on a port of its choosing (it prints the port once
# ready), serving enrolled devices only (the default).
ADMIN() { "$bin/fieldsync-admin" --data "$work/server" "$@"; }
mkdir -p "$work/server"
ADMIN team add north >/dev/null
ADMIN user add ana --role worker --team north >/dev/null
ADMIN user add ben --role worker --team north >/dev/null
start_server server --listen 127.0.0.1:0
url="ws://$addr"

export PASS_A="ana's passphrase" PASS_B="ben's passphrase"
A() { "$bin/fieldsync" --replica "$work/a.db" --passphrase-env PASS_A "$@"; }
B() { "$bin/fieldsync" --replica "$work/b.db" --passphrase-env PASS_B "$@"; }

A init --kdf minimum >/dev/null
B init --kdf minimum >/dev/null
A enroll --server "$url" --code "$(enroll_code "$work/server" ana)" >/dev/null
B enroll --server "$url" --code "$(enroll_code "$work/server" ben)" >/dev/null

# Device A creates the case, shares it with Ben, and syncs; B gets it.
A put clients cl-1 name="Amina Y" preferred_language=so >/dev/null
A put cases case-1 client_id=cl-1 assigned_to=ana programme=outreach status=assessment risk=low needs+=housing >/dev/null
A share case-1 ben >/dev/null
A sync --server "$url" --timeout 20
B sync --server "$url" --timeout 20
[ "$(B get cases case-1 --json)" = "$(A get cases case-1 --json)" ] || fail "B did not receive the case"

# Offline on both: different fields, the same review field, a note each.
A put cases case-1 status=planning risk=high >/dev/null
B put cases case-1 programme=housing-first risk=medium needs+=food >/dev/null
A note case-1 "Met at the shelter; wants help with housing forms." >/dev/null
B note case-1 "Phone call: food bank referral agreed." >/dev/null

A sync --server "$url" --timeout 20
B sync --server "$url" --timeout 20
A sync --server "$url" --timeout 20

a_case=$(A get cases case-1 --json)
b_case=$(B get cases case-1 --json)
[ "$a_case" = "$b_case" ] || fail "records differ: $a_case vs $b_case"
echo "$a_case" | grep -q '"status":"planning"' || fail "A's status edit lost: $a_case"
echo "$a_case" | grep -q '"programme":"housing-first"' || fail "B's programme edit lost: $a_case"
echo "$a_case" | grep -q '"needs":\["food","housing"\]' || fail "set merge wrong: $a_case"

[ "$(A list notes --json)" = "$(B list notes --json)" ] || fail "notes differ"
for text in "Met at the shelter" "food bank referral"; do
  A list notes --json | grep -q "$text" || fail "note '$text' missing on A"
done
[ "$(A list notes --json | grep -o '"collection"' | wc -l)" = 2 ] || fail "expected two notes"

a_conf=$(A conflicts --json)
b_conf=$(B conflicts --json)
[ "$a_conf" = "$b_conf" ] || fail "conflicts differ: $a_conf vs $b_conf"
[ "$(echo "$a_conf" | grep -o '"field":"risk"' | wc -l)" = 1 ] || fail "expected one risk conflict: $a_conf"
[ "$(echo "$a_conf" | grep -o '"field":' | wc -l)" = 1 ] || fail "expected exactly one conflict: $a_conf"
echo "$a_conf" | grep -q '"status":"open"' || fail "risk conflict should await review: $a_conf"
echo "$a_conf" | grep -q '"high"' && echo "$a_conf" | grep -q '"medium"' || fail "both values kept: $a_conf"

# A server that cannot be reached: exit 2 after the timeout, the edit kept in the outbox.
A put cases case-1 programme=outreach >/dev/null
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
set +e
A sync --server "$url" --timeout 2 >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 2 ] || fail "sync to a dead server exited $rc, expected 2"
A get cases case-1 --json | grep -q '"programme":"outreach"' || fail "offline edit lost"

# No record content in the server's logs.
if grep -q -e "Amina" -e "shelter" -e "food bank" "$work/server.out" "$work/server.err"; then
  fail "record content appeared in the server log"
fi
echo "two devices converged: identical records, both notes, one open conflict"
