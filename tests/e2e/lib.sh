# shellcheck shell=bash disable=SC2154  # $bin is set by the script that sources this file
# Sourced by the end-to-end scripts, after `set -euo pipefail` and with $bin set to the folder
# of the built binaries. Gives:
#   $work                      a scratch directory, removed at exit
#   fail MESSAGE               prints FAIL: MESSAGE and exits 1
#   start_server NAME ARGS...  fieldsync-server --data $work/NAME ARGS in the background, its
#                              output in $work/NAME.out and .err; waits for "listening on",
#                              sets $server_pid and $addr (fails with the server's stderr)
#   enroll_code DATA_DIR USER  a fresh one-time enrolment code for USER from the store in
#                              DATA_DIR (fieldsync-admin device enroll-code)
# At exit every server in $server_pid and in the array $pids is stopped.
work=$(mktemp -d)
server_pid=""
pids=()
cleanup() {
  local pid
  for pid in ${server_pid:+"$server_pid"} "${pids[@]}"; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

start_server() {
  local name=$1
  shift
  : >"$work/$name.out"  # exists before the server writes it: the wait below reads it at once
  "$bin/fieldsync-server" --data "$work/$name" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  server_pid=$!
  addr=""
  for _ in $(seq 1 100); do
    addr=$(sed -n 's/^listening on //p' "$work/$name.out")
    [ -n "$addr" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  fail "server $name did not start: $(cat "$work/$name.err")"
}

enroll_code() {
  "$bin/fieldsync-admin" --data "$1" device enroll-code "$2" --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["code"])'
}
