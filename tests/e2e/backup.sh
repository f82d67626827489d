#!/usr/bin/env bash
# End to end with the real binaries: `fieldsync-admin backup` beside a running server while a
# device keeps pushing, for a plain and for an encrypted store. Each copy passes `audit
# verify` (its trail sealed as of one commit), and a server started on it serves that head.
# The encrypted copy stays encrypted (no plaintext in it, refused without the key). Refusals:
# an existing destination, a missing folder.
# Usage: backup.sh BIN_DIR
set -euo pipefail
bin=$1
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

export PASS="a long passphrase"
mkdir "$work/keys"
"$bin/fieldsync-server" --new-key-file "$work/keys/store.key" >/dev/null

# run_case NAME [--key-file FILE]: a store, a device pushing in a loop, three backups taken
# meanwhile, each checked.
run_case() {
  local name=$1
  shift
  local data="$work/$name" keyargs=("$@")
  mkdir -p "$data"
  ADMIN() { "$bin/fieldsync-admin" --data "$data" "${keyargs[@]}" "$@"; }
  ADMIN team add north >/dev/null
  ADMIN user add ana --role worker --team north >/dev/null
  start_server "$name" --listen 127.0.0.1:0 "${keyargs[@]}"
  local url="ws://$addr" db="$work/$name-ana.db"
  dev() { "$bin/fieldsync" --replica "$db" --passphrase-env PASS "$@"; }
  dev init --kdf minimum >/dev/null
  dev enroll --server "$url" --code "$(ADMIN device enroll-code ana --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["code"])')" >/dev/null
  # The device pushes batches of edits while the backups run.
  (
    for round in $(seq 1 40); do
      for i in $(seq 1 10); do
        dev put clients "cl-$round-$i" name="Secret Person $round $i" >/dev/null
      done
      dev sync --server "$url" --timeout 20 >/dev/null || exit 1
    done
  ) &
  local pusher=$!
  pids+=("$pusher")
  # The first copy waits for the device's first batch to be in (a slow sanitizer build may
  # take longer than any fixed sleep), so each copy holds operations.
  local tries=0
  until curl -sf --max-time 5 "http://$addr/healthz" | grep -qv '"head":0}'; do
    tries=$((tries + 1))
    [ "$tries" -lt 300 ] || fail "$name: the device's first push never arrived"
    sleep 0.1
  done
  for n in 1 2 3; do
    [ "$n" = 1 ] || sleep 0.5
    mkdir -p "$work/$name-copy$n"
    ADMIN backup "$work/$name-copy$n/fieldsync.db" --json >"$work/$name-backup$n.json" ||
      fail "$name: backup $n failed"
  done
  wait "$pusher" || fail "$name: the device's pushes failed during the backups"
  # The first copy was taken while the device was still pushing (its 400 edits were not all in).
  python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))["head"] < 400 else 1)' \
    "$work/$name-backup1.json" || fail "$name: the first backup was not taken under load"
  kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
  server_pid=""

  for n in 1 2 3; do
    local copy="$work/$name-copy$n" head
    head=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["head"])' "$work/$name-backup$n.json")
    [ "$head" -gt 0 ] || fail "$name: backup $n holds no operations: $(cat "$work/$name-backup$n.json")"
    # The copy's trail verifies with the server's audit key (kept in the data directory here).
    cp "$data/audit.key" "$copy/"
    "$bin/fieldsync-admin" --data "$copy" "${keyargs[@]}" audit verify >"$work/verify.txt" ||
      fail "$name: backup $n does not verify: $(cat "$work/verify.txt")"
    # A server on the copy serves the copy's head.
    start_server "$name-copy$n" --listen 127.0.0.1:0 "${keyargs[@]}"
    curl -sf --max-time 10 "http://$addr/healthz" | grep -q "\"head\":$head}" ||
      fail "$name: a server on backup $n does not serve head $head"
    kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
    server_pid=""
  done
}

run_case plain
run_case sealed --key-file "$work/keys/store.key"

# The encrypted copy holds no plaintext, has its own key envelope, and needs the key.
copy="$work/sealed-copy3/fieldsync.db"
[ -f "$copy.keys" ] || fail "the encrypted copy has no key envelope"
[ "$(stat -c %a "$copy.keys")" = 600 ] || fail "the copy's key envelope is not mode 0600"
if grep -q "Secret Person" "$copy"; then fail "plaintext in the encrypted copy"; fi
grep -q "Secret Person" "$work/plain-copy3/fieldsync.db" || fail "the plain copy lacks its records"
if "$bin/fieldsync-admin" --data "$work/sealed-copy3" team list >/dev/null 2>"$work/err"; then
  fail "the encrypted copy opened without its key"
fi

# Refusals: an existing destination (never overwritten), a missing folder.
expect_error() {  # PATTERN COMMAND...
  local pattern=$1
  shift
  if "$@" >/dev/null 2>"$work/err"; then fail "expected a refusal from: $*"; fi
  grep -q "^error: .*$pattern" "$work/err" || fail "unclear refusal from '$*': $(cat "$work/err")"
}
before=$(sha256sum "$work/plain-copy1/fieldsync.db")
expect_error "exists: a backup never overwrites" \
  "$bin/fieldsync-admin" --data "$work/plain" backup "$work/plain-copy1/fieldsync.db"
[ "$(sha256sum "$work/plain-copy1/fieldsync.db")" = "$before" ] || fail "an existing file was changed"
expect_error "does not exist" "$bin/fieldsync-admin" --data "$work/plain" backup "$work/no/such/x.db"
echo "backup: consistent copies of plain and encrypted stores under load"
