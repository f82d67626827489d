#!/usr/bin/env bash
# Device actions for the browser test (run.sh, dashboard_test.mjs), with the real `fieldsync`
# client. Needs FS_BIN, FS_WORK, FS_SYNC_URL and PASS in the environment.
#   init DEVICE CODE            a new replica, enrolled with the one-time code
#   put DEVICE COLLECTION ID FIELD=VALUE...
#   note DEVICE CASE TEXT
#   sync DEVICE
#   get DEVICE COLLECTION ID    {"collection","id","fields"} as JSON
#   conflicts DEVICE            the open conflicts as a JSON array
set -euo pipefail
action=$1
device=$2
shift 2
dev() { "$FS_BIN/fieldsync" --replica "$FS_WORK/$device.db" --passphrase-env PASS "$@"; }
case $action in
  init) dev init --kdf minimum && dev enroll --server "$FS_SYNC_URL" --code "$1" ;;
  put) dev put "$@" ;;
  note) dev note "$@" ;;
  sync) dev sync --server "$FS_SYNC_URL" --timeout 20 ;;
  get) dev get "$1" "$2" --json ;;
  conflicts) dev conflicts --json ;;
  *) echo "hook: unknown action $action" >&2; exit 2 ;;
esac
