#!/usr/bin/env bash
# End to end with the real binaries: caseload scopes. Two workers of one team never receive
# each other's cases; their lead receives both; an out-of-scope write is rejected and stays
# in the outbox; `fieldsync share`/`unshare` from the owner's device and `fieldsync-admin case
# assign` move a case whole onto a device and purge it from the one that lost it.
# Usage: scopes.sh BIN_DIR
set -euo pipefail
bin=$1
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

mkdir -p "$work/server"
ADMIN() { "$bin/fieldsync-admin" --data "$work/server" "$@"; }
ADMIN team add north >/dev/null
for u in ana ben; do ADMIN user add "$u" --role worker --team north >/dev/null; done
ADMIN user add lee --role lead --team north >/dev/null
start_server server --listen 127.0.0.1:0 --require-auth
url="ws://$addr"

export PASS="a long passphrase"
dev() { local name=$1; shift; "$bin/fieldsync" --replica "$work/$name.db" --passphrase-env PASS "$@"; }
sync_ok() { dev "$1" sync --server "$url" --timeout 20 || fail "$1 could not sync"; }
for d in ana ben lee; do
  dev "$d" init --kdf minimum >/dev/null
  dev "$d" enroll --server "$url" --code "$(enroll_code "$work/server" "$d")" >/dev/null
done

dev ana put clients cl-a name="Amina Y" >/dev/null
dev ana put cases case-a client_id=cl-a assigned_to=ana status=assessment >/dev/null
dev ana note case-a "seen at the shelter, ana only" >/dev/null
dev ben put clients cl-b name="Bashir K" >/dev/null
dev ben put cases case-b client_id=cl-b assigned_to=ben status=assessment >/dev/null
dev ben note case-b "seen at the clinic, ben only" >/dev/null
for d in ana ben ana lee; do sync_ok "$d" >/dev/null; done

dev ana list cases | grep -q case-a || fail "ana lost her own case"
! dev ana get cases case-b >/dev/null 2>&1 || fail "ana received ben's case"
! dev ana get clients cl-b >/dev/null 2>&1 || fail "ana received ben's client"
! dev ana list notes | grep -q "ben only" || fail "ana received ben's note"
dev lee get cases case-a >/dev/null && dev lee get cases case-b >/dev/null || fail "the lead lacks a case"
dev lee list notes | grep -q "ben only" || fail "the lead lacks ben's note"

# Out of scope: refused per operation, kept in the outbox with the reason.
dev ana put cases case-b status=closed >/dev/null
rc=0; out=$(dev ana sync --server "$url" --timeout 20 2>&1) || rc=$?
[ "$rc" = 4 ] && [[ $out == *out_of_scope* ]] || fail "out-of-scope write: exit $rc, $out"
dev ana outbox | grep -q out_of_scope || fail "the refused write left the outbox"

# Ben shares his case from his device: it reaches ana whole; unsharing purges it again.
dev ben share case-b ana >/dev/null
sync_ok ben >/dev/null
out=$(dev ana sync --server "$url" --timeout 20 2>&1 || true)
[[ $out == *"received whole"* ]] || fail "share: $out"
dev ana list notes | grep -q "ben only" || fail "the shared case came without its note"
dev ben unshare case-b ana >/dev/null
sync_ok ben >/dev/null
out=$(dev ana sync --server "$url" --timeout 20 2>&1 || true)
[[ $out == *"removed"* ]] || fail "unshare: $out"
! dev ana get cases case-b >/dev/null 2>&1 || fail "the unshared case is still on ana's device"
! dev ana list notes | grep -q "ben only" || fail "the unshared case's note is still on ana's device"

# The lead reassigns ana's case to ben beside the running server.
ADMIN case assign case-a ben --as lee >/dev/null
sync_ok ana >/dev/null
! dev ana get cases case-a >/dev/null 2>&1 || fail "the reassigned case is still on ana's device"
sync_ok ben >/dev/null
dev ben get cases case-a >/dev/null || fail "the new owner did not receive the case"
dev ben list notes | grep -q "ana only" || fail "the reassigned case came without its note"
sync_ok lee >/dev/null
echo ok
