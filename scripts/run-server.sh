#!/usr/bin/env bash
# Sets up, builds, and starts fieldsync-server on its embedded default: SQLite in ./data,
# listening on 127.0.0.1:8700. Extra arguments go to fieldsync-server (e.g. --listen).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec build/release/tools/fieldsync-server --data data "$@"
