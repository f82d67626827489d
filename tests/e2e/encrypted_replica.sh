#!/usr/bin/env bash
# The encrypted replica through the real `fieldsync` binary: no plaintext in its files, a
# wrong passphrase and a tampered page each give their own message and exit code, and
# passwd, rekey and check work. Usage: encrypted_replica.sh BIN_DIR
set -euo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

export GOOD="a long passphrase" OTHER="another passphrase" SHORT="short"
db=$work/r.db
fs() { "$bin/fieldsync" --replica "$db" "$@"; }
# Runs a command expected to fail: its exit code in $rc, its stderr in $err.
expect_fail() { rc=0; err=$("$@" 2>&1 >/dev/null) || rc=$?; }

expect_fail fs --passphrase-env SHORT init --kdf minimum
[ "$rc" = 1 ] && [[ $err == *"at least 8 characters"* ]] || fail "short passphrase: $rc $err"
[ ! -e "$db" ] && [ ! -e "$db.keys" ] || fail "a refused init left files"

fs --passphrase-env GOOD init --kdf minimum >/dev/null
for i in $(seq 1 30); do
  fs --passphrase-env GOOD put clients "cl-$i" name="Zora Quillfeather" contact=555-0199 >/dev/null
  fs --passphrase-env GOOD note "case-$i" "Discussed the eviction notice with Zora" >/dev/null
done
for f in "$db" "$db"-* "$db".*; do
  [ -e "$f" ] || continue
  for secret in "Zora" "eviction notice" "SQLite format 3" "preferred_language" "555-0199"; do
    grep -qa "$secret" "$f" && fail "'$secret' in clear in $f"
  done
done

expect_fail fs --passphrase-env OTHER get clients cl-1
[ "$rc" = 5 ] && [ "$err" = "error: wrong passphrase for the replica $db" ] ||
  fail "wrong passphrase: exit $rc, '$err'"

# No passphrase source at all: a clear error, not a hang (no controlling terminal here).
expect_fail setsid -w "$bin/fieldsync" --replica "$db" get clients cl-1
[ "$rc" = 1 ] && [[ $err == *"--passphrase-env"* ]] || fail "no terminal: exit $rc, '$err'"

out=$(fs --passphrase-env GOOD check)
[[ $out == *"pages and"*"authenticated"* ]] || fail "check: $out"

fs --passphrase-env GOOD passwd --new-passphrase-env OTHER --kdf minimum >/dev/null
expect_fail fs --passphrase-env GOOD list clients
[ "$rc" = 5 ] || fail "old passphrase still opens after passwd"
fs --passphrase-env OTHER rekey --kdf minimum >/dev/null
[ "$(fs --passphrase-env OTHER get clients cl-7 --json)" = \
  '{"collection":"clients","id":"cl-7","fields":{"contact":"555-0199","name":"Zora Quillfeather"}}' ] ||
  fail "data changed by passwd/rekey"

# One flipped bit in page 3: check and an ordinary read both say tampered, and where.
python3 - "$db" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(2 * 4096 + 500)
    b = f.read(1)[0]
    f.seek(2 * 4096 + 500)
    f.write(bytes([b ^ 1]))
PY
expect_fail fs --passphrase-env OTHER check
[ "$rc" = 6 ] && [[ $err == *"tampered"*"page 3 failed authentication"* ]] ||
  fail "check after tampering: exit $rc, '$err'"
echo "ok"
