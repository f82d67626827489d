# shellcheck shell=bash disable=SC2154  # $bin is set by the script that sources this file
# Sourced by the end-to-end scripts, after `set -euo pipefail` and with $bin set to the folder
# of the built binaries. Gives:
#   $work                      a scratch directory, removed at exit
#   fail MESSAGE               prints FAIL: MESSAGE and exits 1
#   start_server NAME ARGS...  fieldsync-server --data $work/NAME ARGS in the background, its
#                              output in $work/NAME.out and .err; waits for "listening on",
#                              sets $server_pid and $addr (fails with the server's stderr)
#   wait_listening FILE PID    prints the address a server or proxy (process PID) wrote as
#                              "listening on ADDR" in FILE, once it does (up to 10 s);
#                              fails (status 1, prints nothing) if PID exits first or time runs out
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
  # shellcheck disable=SC2034  # used by the sourcing script
  addr=$(wait_listening "$work/$name.out" "$server_pid") ||
    fail "server $name did not start: $(cat "$work/$name.err")"
}

wait_listening() {
  local file=$1 pid=$2 found
  for _ in $(seq 1 500); do
    found=$(sed -n 's/^listening on //p' "$file" 2>/dev/null)
    if [ -n "$found" ]; then
      echo "$found"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.02
  done
  return 1
}

enroll_code() {
  "$bin/fieldsync-admin" --data "$1" device enroll-code "$2" --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["code"])'
}
