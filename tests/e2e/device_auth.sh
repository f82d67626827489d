#!/usr/bin/env bash
# End to end with the real binaries and a server started with --require-auth: devices enrol
# with one-time codes and prove their keys on every sync; an unenrolled device and a reused
# code are refused; a revoked device uploads what it had not sent, is told to wipe, and its
# replica and keys are gone. Usage: device_auth.sh BIN_DIR
set -euo pipefail
bin=$1
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

mkdir -p "$work/server"
ADMIN() { "$bin/fieldsync-admin" --data "$work/server" "$@"; }
ADMIN team add north >/dev/null
ADMIN user add ana --role worker --team north >/dev/null
ADMIN user add lee --role lead --team north >/dev/null
start_server server --listen 127.0.0.1:0 --require-auth
url="ws://$addr"

export PASS="a long passphrase"
dev() { local name=$1; shift; "$bin/fieldsync" --replica "$work/$name.db" --passphrase-env PASS "$@"; }
expect_fail() { rc=0; err=$("$@" 2>&1 >/dev/null) || rc=$?; }

dev phone init --kdf minimum >/dev/null
dev tablet init --kdf minimum >/dev/null
dev stranger init --kdf minimum >/dev/null

code=$(enroll_code "$work/server" ana)
dev phone enroll --server "$url" --code "$code" | grep -q "for user ana" || fail "enrol failed"
expect_fail dev tablet enroll --server "$url" --code "$code"
[ "$rc" = 1 ] && [[ $err == *"code_used"* || $err == *"already"* ]] || fail "reused code: $rc $err"
dev tablet enroll --server "$url" --code "$(enroll_code "$work/server" lee)" >/dev/null

dev phone put clients cl-1 name="Amina Y" >/dev/null
dev phone sync --server "$url" --timeout 20 >/dev/null || fail "enrolled device could not sync"
dev tablet sync --server "$url" --timeout 20 >/dev/null
dev tablet get clients cl-1 >/dev/null || fail "the lead's device did not receive the record"

expect_fail dev stranger sync --server "$url" --timeout 20
[ "$rc" = 3 ] && [[ $err == *"not enrolled"* ]] || fail "unenrolled device: exit $rc, $err"

# Revoked (lost, may upload): the write made offline reaches the server, then the phone wipes.
phone_id=$(dev phone info | sed -n 's/^  device //p')
ADMIN device revoke "$phone_id" >/dev/null
dev phone put clients cl-2 name="Last visit" >/dev/null
expect_fail dev phone sync --server "$url" --timeout 20
[ "$rc" = 3 ] && [[ $err == *"revoked"* ]] || fail "revoked device: exit $rc, $err"
[ ! -e "$work/phone.db" ] && [ ! -e "$work/phone.db.keys" ] || fail "the revoked replica was not wiped"
dev tablet sync --server "$url" --timeout 20 >/dev/null
dev tablet get clients cl-2 >/dev/null || fail "the revoked device's last upload was lost"
ADMIN device list --json | python3 -c '
import json, sys
states = {d["user"]: d["state"] for d in json.load(sys.stdin)}
assert states == {"ana": "revoked", "lee": "active"}, states' || fail "device list states"
echo ok
