#!/usr/bin/env bash
# End to end over TLS with the real binaries and certificates made here with the openssl
# command (a throwaway CA, never committed): two devices sync through wss:// with --ca-file;
# a client that does not trust the server's certificate (no CA file, another CA, a certificate
# for another host name) fails at once with exit 1; a plain ws client and garbage on the TLS
# port fail clearly while the server keeps serving; bad TLS files are refused with one line;
# plain ws on a non-loopback address needs --insecure-behind-proxy; the dashboard's cookie is
# Secure over https.
# Usage: tls.sh BIN_DIR
set -euo pipefail
bin=$1
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || fail "the openssl command is needed (scripts/setup.sh installs it)"

# --- certificates ---------------------------------------------------------------------------
ec_key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
make_ca() {  # NAME
  openssl req -x509 "${ec_key[@]}" -keyout "$work/$1.key" -out "$work/$1.pem" -days 2 \
    -subj "/CN=fieldsync test $1" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
make_cert() {  # NAME CA SUBJECT_ALT_NAMES
  openssl req -new "${ec_key[@]}" -keyout "$work/$1.key" -out "$work/$1.csr" -subj "/CN=$1" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$3" >"$work/$1.ext"
  openssl x509 -req -in "$work/$1.csr" -CA "$work/$2.pem" -CAkey "$work/$2.key" -CAcreateserial \
    -days 2 -extfile "$work/$1.ext" -out "$work/$1.pem" 2>/dev/null
}
make_ca ca
make_ca other-ca
make_cert server ca "IP:127.0.0.1,DNS:localhost"
make_cert wrong-host ca "DNS:wrong.example"

# --- servers --------------------------------------------------------------------------------
# start NAME ARGS...: the server on a free port; sets $addr; its output in $work/NAME.{out,err}.
start() {
  start_server "$@"
  pids+=("$server_pid")  # several servers at once: all stopped at exit
  server_pid=""
}
mkdir -p "$work/tls"
"$bin/fieldsync-admin" --data "$work/tls" team add north >/dev/null
"$bin/fieldsync-admin" --data "$work/tls" user add ana --role worker --team north >/dev/null
"$bin/fieldsync-admin" --data "$work/tls" user add lee --role lead --team north >/dev/null
start tls --listen 127.0.0.1:0 --tls-cert "$work/server.pem" --tls-key "$work/server.key"
tls_addr=$addr
port=${tls_addr##*:}
grep -q "(tls)" "$work/tls.err" || fail "the log does not say the server is on TLS: $(cat "$work/tls.err")"
curl -sf --max-time 10 --cacert "$work/ca.pem" "https://$tls_addr/healthz" | grep -q '"status":"ok"' ||
  fail "https /healthz did not answer"

# --- two devices over wss:// ----------------------------------------------------------------
export PASS_A="ana's passphrase" PASS_B="ben's passphrase"
A() { "$bin/fieldsync" --replica "$work/a.db" --passphrase-env PASS_A "$@"; }
B() { "$bin/fieldsync" --replica "$work/b.db" --passphrase-env PASS_B "$@"; }
A init --kdf minimum >/dev/null
B init --kdf minimum >/dev/null
# Ana (a worker) and her lead Lee, enrolled over wss://: the lead receives her records.
A enroll --server "wss://$tls_addr" --ca-file "$work/ca.pem" --code "$(enroll_code "$work/tls" ana)" >/dev/null ||
  fail "A could not enrol over wss://"
B enroll --server "wss://$tls_addr" --ca-file "$work/ca.pem" --code "$(enroll_code "$work/tls" lee)" >/dev/null
A put clients cl-1 name="Amina Y" preferred_language=so >/dev/null
A sync --server "wss://$tls_addr" --ca-file "$work/ca.pem" --timeout 20 >/dev/null ||
  fail "A could not sync over wss://"
B sync --server "wss://localhost:$port/sync" --ca-file "$work/ca.pem" --timeout 20 >/dev/null ||
  fail "B could not sync over wss:// by host name"
[ "$(B get clients cl-1 --json)" = "$(A get clients cl-1 --json)" ] || fail "B did not receive A's record"

# The dashboard over https: its session cookie is Secure (and HttpOnly, SameSite=Strict), and
# browsers are told to keep to https.
LEE_PW="lead password 7" "$bin/fieldsync-admin" --data "$work/tls" user passwd lee --password-env LEE_PW >/dev/null
curl -s --max-time 20 --cacert "$work/ca.pem" -D "$work/login.h" -o /dev/null \
  -H 'Content-Type: application/json' -d '{"user":"lee","password":"lead password 7"}' \
  "https://$tls_addr/api/login"
grep -qi '^set-cookie: fieldsync_session=[0-9a-f]\{64\}; Path=/; HttpOnly; SameSite=Strict; Max-Age=[0-9]*; Secure' \
  "$work/login.h" || fail "no Secure session cookie over https: $(cat "$work/login.h")"
grep -qi '^strict-transport-security: max-age=' "$work/login.h" || fail "no HSTS header over https"

# expect_untrusted PATTERN SYNC_ARGS...: exit 1 at once, the reason on stderr.
expect_untrusted() {
  local pattern=$1
  shift
  A put clients cl-1 preferred_language=en >/dev/null
  local started=$SECONDS rc=0
  A sync --timeout 20 "$@" >/dev/null 2>"$work/sync.err" || rc=$?
  [ "$rc" = 1 ] || fail "expected exit 1, got $rc ($*): $(cat "$work/sync.err")"
  [ $((SECONDS - started)) -le 5 ] || fail "an untrusted server took $((SECONDS - started)) s to refuse ($*)"
  grep -q "server certificate not trusted" "$work/sync.err" || fail "unclear message ($*): $(cat "$work/sync.err")"
  grep -q -- "$pattern" "$work/sync.err" || fail "expected '$pattern' ($*): $(cat "$work/sync.err")"
}
expect_untrusted "certificate verify failed" --server "wss://$tls_addr"  # the system's store only
expect_untrusted "certificate verify failed" --server "wss://$tls_addr" --ca-file "$work/other-ca.pem"

start wrong --listen 127.0.0.1:0 --tls-cert "$work/wrong-host.pem" --tls-key "$work/wrong-host.key"
expect_untrusted "mismatch" --server "wss://$addr" --ca-file "$work/ca.pem"
kill -TERM "${pids[-1]}"

# --- plain clients and garbage on the TLS port ----------------------------------------------
rc=0
A sync --server "ws://$tls_addr" --timeout 2 >/dev/null 2>"$work/sync.err" || rc=$?
[ "$rc" = 2 ] || fail "a ws:// client on the TLS port exited $rc: $(cat "$work/sync.err")"
grep -q "wss://" "$work/sync.err" || fail "the ws:// client was not told to use wss://: $(cat "$work/sync.err")"
curl -s --max-time 10 "http://$tls_addr/healthz" | grep -q "TLS only" || fail "plain http got no clear answer"
# A TLS record header followed by garbage, and a client that sends nothing and leaves.
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf '\x16\x03\x01\x00\x05garbage-garbage' >&3
timeout 5 cat <&3 >/dev/null || true
exec 3>&-
exec 3<>"/dev/tcp/127.0.0.1/$port"
exec 3>&-
for _ in $(seq 1 50); do
  grep -q "TLS handshake failed" "$work/tls.err" && break
  sleep 0.1
done
grep -q "TLS handshake failed" "$work/tls.err" || fail "a failed handshake was not logged: $(cat "$work/tls.err")"
A put clients cl-1 preferred_language=ar >/dev/null
A sync --server "wss://$tls_addr" --ca-file "$work/ca.pem" --timeout 20 >/dev/null ||
  fail "the server stopped serving after bad clients"
B sync --server "wss://$tls_addr" --ca-file "$work/ca.pem" --timeout 20 >/dev/null
[ "$(B get clients cl-1 --json)" = "$(A get clients cl-1 --json)" ] || fail "B did not receive the last edit"
B get clients cl-1 --json | grep -q '"preferred_language":"ar"' || fail "wrong value on B"
kill -TERM "${pids[0]}"
rc=0
wait "${pids[0]}" || rc=$?
[ "$rc" = 0 ] || fail "the TLS server exited $rc after SIGTERM"
if grep -q -e "Amina" "$work/tls.out" "$work/tls.err"; then fail "record content in the server log"; fi

# --- refusals at start-up -------------------------------------------------------------------
# expect_refusal PATTERN ARGS...: exit 1 and one line on stderr matching PATTERN.
expect_refusal() {
  local pattern=$1
  shift
  local rc=0
  timeout 20 "$bin/fieldsync-server" --data "$work/refused" "$@" >"$work/out" 2>"$work/err" || rc=$?
  [ "$rc" = 1 ] || fail "expected exit 1, got $rc ($*): $(cat "$work/err")"
  [ "$(wc -l <"$work/err")" = 1 ] || fail "expected one line on stderr ($*): $(cat "$work/err")"
  grep -q -- "$pattern" "$work/err" || fail "expected '$pattern' ($*): $(cat "$work/err")"
}
loopback=(--listen 127.0.0.1:0)
expect_refusal "both a certificate and its key" "${loopback[@]}" --tls-cert "$work/server.pem"
expect_refusal "both a certificate and its key" "${loopback[@]}" --tls-key "$work/server.key"
expect_refusal "does not exist" "${loopback[@]}" --tls-cert "$work/missing.pem" --tls-key "$work/server.key"
expect_refusal "not a PEM certificate" "${loopback[@]}" --tls-cert "$work/server.ext" --tls-key "$work/server.key"
expect_refusal "not an unencrypted PEM private key" "${loopback[@]}" --tls-cert "$work/server.pem" --tls-key "$work/server.pem"
expect_refusal "does not match" "${loopback[@]}" --tls-cert "$work/server.pem" --tls-key "$work/wrong-host.key"
if [ "$(id -u)" != 0 ]; then
  cp "$work/server.key" "$work/unreadable.key"
  chmod 000 "$work/unreadable.key"
  expect_refusal "cannot read TLS key" "${loopback[@]}" --tls-cert "$work/server.pem" --tls-key "$work/unreadable.key"
fi
expect_refusal "refusing plain ws on 0.0.0.0:0" --listen 0.0.0.0:0
[ ! -e "$work/refused/fieldsync.db" ] || fail "a refused server created its store"

# With the flag it starts, says why it is insecure, and stops on SIGTERM.
start proxied --listen 0.0.0.0:0 --insecure-behind-proxy
grep -q "insecure behind proxy" "$work/proxied.err" || fail "no warning: $(cat "$work/proxied.err")"
kill -TERM "${pids[-1]}"
rc=0
wait "${pids[-1]}" || rc=$?
[ "$rc" = 0 ] || fail "the server behind a proxy exited $rc after SIGTERM"
echo "tls: wss sync with a CA file, untrusted and misnamed certificates refused at once, bad clients survived, bad files and plain non-loopback refused"
