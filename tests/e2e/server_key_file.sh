#!/usr/bin/env bash
# End to end with the real fieldsync-server and an encrypted store: a new key file, a store
# created under it that answers /healthz, a clean stop on SIGTERM, and then clear refusals
# (exit 1, one line on stderr) for a wrong key and for no key at all.
# Usage: server_key_file.sh BIN_DIR
set -euo pipefail
bin=$1
server=$bin/fieldsync-server
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

# Keys live apart from the data directory, as they should in a deployment.
mkdir "$work/keys"
"$server" --new-key-file "$work/keys/server.key" >/dev/null || fail "could not make a key file"
[ "$(stat -c %a "$work/keys/server.key")" = 600 ] || fail "key file is not mode 0600"
if "$server" --new-key-file "$work/keys/server.key" >/dev/null 2>&1; then
  fail "--new-key-file overwrote an existing key"
fi

# Starts the server on a free port with the given options; sets server_pid and addr.
start() { start_server data --listen 127.0.0.1:0 "$@"; }

# Runs the server expecting a refusal: exit 1 and one line on stderr matching $1.
expect_refusal() {
  local pattern=$1
  shift
  set +e
  timeout 20 "$server" --data "$work/data" --listen 127.0.0.1:0 "$@" >"$work/out" 2>"$work/err"
  local rc=$?
  set -e
  [ "$rc" = 1 ] || fail "expected exit 1, got $rc ($*): $(cat "$work/err")"
  [ "$(wc -l <"$work/err")" = 1 ] || fail "expected one line on stderr: $(cat "$work/err")"
  grep -q -- "$pattern" "$work/err" || fail "expected '$pattern' on stderr: $(cat "$work/err")"
  if grep -q -i "disk I/O error" "$work/err"; then fail "unhelpful message: $(cat "$work/err")"; fi
}

start --key-file "$work/keys/server.key"
curl -sf --max-time 10 "http://$addr/healthz" | grep -q '"status":"ok"' || fail "/healthz did not answer"
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=""
[ "$rc" = 0 ] || fail "server exited $rc after SIGTERM"
[ -f "$work/data/fieldsync.db.keys" ] || fail "no key envelope next to the store"
if grep -q "SQLite format 3" "$work/data/fieldsync.db"; then fail "the store is not encrypted"; fi

"$server" --new-key-file "$work/keys/other.key" >/dev/null
expect_refusal "the key file does not unlock" --key-file "$work/keys/other.key"
expect_refusal "is encrypted" # no --key-file at all
expect_refusal "does not exist" --key-file "$work/keys/missing.key"

# The right key still opens it.
start --key-file "$work/keys/server.key"
curl -sf --max-time 10 "http://$addr/healthz" | grep -q '"status":"ok"' || fail "/healthz after restart"
kill -TERM "$server_pid"
rc=0
wait "$server_pid" || rc=$?
server_pid=""
[ "$rc" = 0 ] || fail "server exited $rc after the second SIGTERM"
echo "encrypted server store: created, served, stopped, and refused with a wrong or no key"
