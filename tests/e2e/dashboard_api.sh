#!/usr/bin/env bash
# End to end with the real binaries: the dashboard's HTTP API refuses what it must. Logged-out
# requests, logins that are not JSON or come from another site, the login limiter (429 with
# Retry-After), requests without the CSRF token or from another origin, bad decisions (not
# JSON, unknown case, a value the schema refuses, nothing to decide, a worker deciding),
# another team's case, assigned or not (the same 404 as a case that does not exist), the event
# stream without a login, logout, a password change ending a session, an oversized request;
# the server keeps serving throughout and its dashboard files carry a Content-Security-Policy.
# A decision and a reassignment are operations in the lead's name that devices receive, and
# the sign-ins and listings are in the audit trail. Behind a TLS-terminating proxy the
# forwarded https makes the cookie Secure.
# Usage: dashboard_api.sh BIN_DIR
set -euo pipefail
bin=$1
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

data="$work/server"
mkdir -p "$data"
ADMIN() { "$bin/fieldsync-admin" --data "$data" "$@"; }
ADMIN team add north >/dev/null
ADMIN team add south >/dev/null
ADMIN user add lea --role lead --team north >/dev/null
ADMIN user add ana --role worker --team north >/dev/null
ADMIN user add ben --role worker --team north >/dev/null
ADMIN user add sam --role worker --team south >/dev/null
export LEA_PW="lea password 1" ANA_PW="ana password 1" BEN_PW="ben password 1"
ADMIN user passwd lea --password-env LEA_PW --kdf minimum >/dev/null
ADMIN user passwd ana --password-env ANA_PW --kdf minimum >/dev/null
ADMIN user passwd ben --password-env BEN_PW --kdf minimum >/dev/null
start_server server --listen 127.0.0.1:0
base="http://$addr"

export PASS="a long passphrase"
dev() { local name=$1; shift; "$bin/fieldsync" --replica "$work/$name.db" --passphrase-env PASS "$@"; }
sync_ok() { dev "$1" sync --server "ws://$addr" --timeout 20 >/dev/null || fail "$1 could not sync"; }
declare -A user_of=([ana]=ana [ana2]=ana [sam]=sam)
for d in ana ana2 sam; do
  dev "$d" init --kdf minimum >/dev/null
  dev "$d" enroll --server "ws://$addr" --code "$(enroll_code "$data" "${user_of[$d]}")" >/dev/null
done
dev ana put cases case-a1 assigned_to=ana status=assessment risk=low >/dev/null
dev ana put cases case-a2 assigned_to=ana status=assessment risk=low >/dev/null
sync_ok ana
sync_ok ana2
# An open conflict on case-a2's risk, from ana's two devices.
dev ana put cases case-a2 risk=high >/dev/null
dev ana2 put cases case-a2 risk=medium >/dev/null
sync_ok ana
sync_ok ana2
dev sam put cases case-s1 assigned_to=sam status=planning >/dev/null
dev sam put cases case-s2 status=planning >/dev/null  # unassigned: follows sam
sync_ok sam

# call NAME METHOD PATH [CURL_ARGS...]: the status code; body in $work/NAME.body, headers in
# $work/NAME.head.
call() {
  local name=$1 method=$2 path=$3
  shift 3
  curl -s --max-time 20 -X "$method" -o "$work/$name.body" -D "$work/$name.head" \
    -w '%{http_code}' "$@" "$base$path"
}
# expect NAME STATUS PATTERN METHOD PATH [CURL_ARGS...]: that status and PATTERN in the body.
expect() {
  local name=$1 status=$2 pattern=$3
  shift 3
  local got
  got=$(call "$name" "$@")
  [ "$got" = "$status" ] || fail "$name: expected HTTP $status, got $got: $(cat "$work/$name.body")"
  grep -q -- "$pattern" "$work/$name.body" || fail "$name: no '$pattern' in $(cat "$work/$name.body")"
}
json=(-H 'Content-Type: application/json')
# login JAR USER PASSWORD: logs in, keeping the cookie in $work/JAR; sets $csrf.
login() {
  expect "login-$1" 200 '"csrf"' POST /api/login "${json[@]}" -c "$work/$1" \
    -d "{\"user\":\"$2\",\"password\":\"$3\"}"
  csrf=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["csrf"])' "$work/login-$1.body")
}

# --- files and routes -----------------------------------------------------------------------
expect index 200 '<html' GET /
grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" "$work/index.head" ||
  fail "the page has no Content-Security-Policy: $(cat "$work/index.head")"
grep -qi '^x-frame-options: DENY' "$work/index.head" || fail "the page may be framed"
expect missing 404 'not found' GET /no-such-file
expect method 405 'use GET or POST' PUT /api/me
expect nopage 401 'not logged in' GET /api/no-such-page

# --- logged out ---------------------------------------------------------------------------
for path in /api/me /api/caseload "/api/case?id=case-a1" /api/conflicts /api/events; do
  expect "out$RANDOM" 401 'not logged in' GET "$path"
done
expect out-resolve 401 'not logged in' POST /api/resolve "${json[@]}" -d '{}'

# --- logins -------------------------------------------------------------------------------
expect form 400 'application/json' POST /api/login -d 'user=lea&password=x'
expect notjson 400 'application/json' POST /api/login "${json[@]}" -d '{"user":'
expect cross 403 'another site' POST /api/login "${json[@]}" -H 'Origin: http://evil.example' \
  -d "{\"user\":\"lea\",\"password\":\"$LEA_PW\"}"
expect unknown 401 'wrong user name or password' POST /api/login "${json[@]}" \
  -d '{"user":"nobody","password":"whatever1"}'
# Five wrong passwords lock ben's name: even the right one is refused, with Retry-After.
for i in 1 2 3 4 5; do
  expect "wrong$i" 401 'wrong user name or password' POST /api/login "${json[@]}" \
    -d '{"user":"ben","password":"not his"}'
done
expect locked 429 'too many failed logins' POST /api/login "${json[@]}" \
  -d "{\"user\":\"ben\",\"password\":\"$BEN_PW\"}"
grep -qi '^retry-after: [1-9]' "$work/locked.head" || fail "no Retry-After: $(cat "$work/locked.head")"
grep -q "refused: too many failures" "$work/server.err" || fail "the lock was not logged"

login lea lea "$LEA_PW"
grep -qi '^set-cookie: fieldsync_session=[0-9a-f]\{64\}; Path=/; HttpOnly; SameSite=Strict' "$work/login-lea.head" ||
  fail "the session cookie is not HttpOnly and SameSite=Strict: $(cat "$work/login-lea.head")"
if grep -qi '^set-cookie:.*Secure' "$work/login-lea.head"; then fail "a Secure cookie over plain http"; fi
lea_csrf=$csrf
expect me 200 '"role":"lead"' GET /api/me -b "$work/lea"
expect caseload 200 '"case-a1"' GET /api/caseload -b "$work/lea"
if grep -q 'case-s1' "$work/caseload.body"; then fail "lea's caseload holds team south's case"; fi

# --- CSRF and origin on state changes ---------------------------------------------------------
decision='{"collection":"cases","id":"case-a1","field":"risk","value":"high"}'
expect nocsrf 403 'CSRF' POST /api/resolve -b "$work/lea" "${json[@]}" -d "$decision"
# The token with its last digit changed (to 0, or to 1 when it is 0).
bad_csrf=${lea_csrf%?}$([ "${lea_csrf: -1}" = 0 ] && echo 1 || echo 0)
expect badcsrf 403 'CSRF' POST /api/resolve -b "$work/lea" "${json[@]}" -H "X-CSRF-Token: $bad_csrf" -d "$decision"
expect origin 403 'another site' POST /api/resolve -b "$work/lea" "${json[@]}" \
  -H "X-CSRF-Token: $lea_csrf" -H 'Origin: http://evil.example' -d "$decision"
LEA=(-b "$work/lea" -H "X-CSRF-Token: $lea_csrf" -H "Origin: $base")

# --- bad decisions --------------------------------------------------------------------------
expect body 400 'collection, id, field, value' POST /api/resolve "${LEA[@]}" "${json[@]}" -d '[1,2]'
expect nocase 404 'no record cases/nope in your scope' POST /api/resolve "${LEA[@]}" "${json[@]}" \
  -d '{"collection":"cases","id":"nope","field":"risk","value":"high"}'
expect other-decide 404 'no record cases/case-s1 in your scope' POST /api/resolve "${LEA[@]}" \
  "${json[@]}" -d '{"collection":"cases","id":"case-s1","field":"risk","value":"high"}'
expect value 400 'takes one of' POST /api/resolve "${LEA[@]}" "${json[@]}" \
  -d '{"collection":"cases","id":"case-a1","field":"risk","value":"purple"}'
expect field 400 'no field' POST /api/resolve "${LEA[@]}" "${json[@]}" \
  -d '{"collection":"cases","id":"case-a1","field":"colour","value":"x"}'
expect noconflict 404 'no conflict' POST /api/resolve "${LEA[@]}" "${json[@]}" -d "$decision"
expect other-team 404 "no case 'case-s1' in your caseload" GET "/api/case?id=case-s1" -b "$work/lea"
expect no-case 404 "no case 'nope' in your caseload" GET "/api/case?id=nope" -b "$work/lea"
expect no-id 400 'which case' GET "/api/case" -b "$work/lea"
# An id no case could have (here not even UTF-8) is refused as such, and never echoed.
expect bad-id 400 'a case id is 1-64 characters' GET "/api/case?id=%ff%fe" -b "$work/lea"
expect assign-out 404 'no case case-s1 in your scope' POST /api/assign "${LEA[@]}" "${json[@]}" \
  -d '{"case":"case-s1","user":"ana"}'
expect assign-unassigned 404 'no case case-s2 in your scope' POST /api/assign "${LEA[@]}" \
  "${json[@]}" -d '{"case":"case-s2","user":"ana"}'
expect still-hidden 404 "no case 'case-s2' in your caseload" GET "/api/case?id=case-s2" -b "$work/lea"

# --- a worker -------------------------------------------------------------------------------
login ana ana "$ANA_PW"
ANA=(-b "$work/ana" -H "X-CSRF-Token: $csrf")
expect worker-case 200 '"can_resolve":false' GET "/api/case?id=case-a1" -b "$work/ana"
expect worker-decide 403 'only leads and admins' POST /api/resolve "${ANA[@]}" "${json[@]}" -d "$decision"
expect worker-assign 403 'only leads and admins' POST /api/assign "${ANA[@]}" "${json[@]}" \
  -d '{"case":"case-a1","user":"ben"}'
# The lead decides case-a2's risk conflict; ana's devices get the decision at their next sync.
expect conflicts 200 '"case-a2"' GET /api/conflicts -b "$work/lea"
# The values the lead was shown: a decision whose base is not them (a value arrived since) is
# refused rather than overriding a value nobody saw.
seen=$(python3 -c 'import json,sys; c=[c for c in json.load(open(sys.argv[1]))["conflicts"] if c["id"]=="case-a2"][0]; print(json.dumps([v["op"] for v in c["values"]]))' "$work/conflicts.body")
expect stale-base 409 'changed since it was shown' POST /api/resolve "${LEA[@]}" "${json[@]}" \
  -d '{"collection":"cases","id":"case-a2","field":"risk","value":"critical","base":["x.1"]}'
expect bad-base 400 'base is the list' POST /api/resolve "${LEA[@]}" "${json[@]}" \
  -d '{"collection":"cases","id":"case-a2","field":"risk","value":"critical","base":"x.1"}'
expect decide 200 '"op"' POST /api/resolve "${LEA[@]}" "${json[@]}" \
  -d "{\"collection\":\"cases\",\"id\":\"case-a2\",\"field\":\"risk\",\"value\":\"critical\",\"base\":$seen}"
expect decided 404 'no conflict' POST /api/resolve "${LEA[@]}" "${json[@]}" \
  -d '{"collection":"cases","id":"case-a2","field":"risk","value":"low"}'
sync_ok ana2
dev ana2 get cases case-a2 --json | grep -q '"risk":"critical"' || fail "ana2 did not receive the decision"
dev ana2 conflicts --json | grep -q 'case-a2' && fail "ana2 still shows the conflict as open"

# --- the event stream -----------------------------------------------------------------------
curl -s -N --max-time 2 -D "$work/events.head" -b "$work/lea" "$base/api/events" >"$work/events.body" || true
grep -qi '^content-type: text/event-stream' "$work/events.head" || fail "no event stream: $(cat "$work/events.head")"
grep -q '^event: hello' "$work/events.body" || fail "no hello event: $(cat "$work/events.body")"
# Each stream holds a connection open: a user has at most 16 at once; a closed one frees its place.
streams=()
for i in $(seq 1 16); do
  curl -s -N --max-time 30 -b "$work/lea" "$base/api/events" >"$work/stream$i.body" &
  streams+=($!)
  pids+=($!)
done
for i in $(seq 1 16); do
  for _ in $(seq 1 50); do grep -q '^event: hello' "$work/stream$i.body" && break; sleep 0.1; done
done
expect stream-17 429 'too many open event streams' GET /api/events -b "$work/lea"
kill "${streams[0]}"
wait "${streams[0]}" 2>/dev/null || true
ok=""
for _ in $(seq 1 50); do
  got=$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' -b "$work/lea" "$base/api/events" || true)
  [ "$got" = 200 ] && ok=1 && break
  sleep 0.1
done
[ -n "$ok" ] || fail "a closed event stream did not give its place back"
for pid in "${streams[@]:1}"; do kill "$pid" 2>/dev/null || true; done
# The stream tells lea of her team's commits, never of another team's: sam's edit of his own
# case sends no event, ana's then does (a change event carries the head it saw).
curl -s -N --max-time 60 -b "$work/lea" "$base/api/events" >"$work/scoped.body" &
scoped=$!
pids+=("$scoped")
for _ in $(seq 1 50); do grep -q '^event: hello' "$work/scoped.body" && break; sleep 0.1; done
grep -q '^event: hello' "$work/scoped.body" || fail "no hello on the scoped stream"
dev sam put cases case-s1 status=implementation >/dev/null
sync_ok sam
expect head-after-sam 200 '"head"' GET /api/caseload -b "$work/lea"
sam_head=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["head"])' "$work/head-after-sam.body")
dev ana put cases case-a1 status=planning >/dev/null
sync_ok ana
for _ in $(seq 1 100); do grep -q '^event: change' "$work/scoped.body" && break; sleep 0.1; done
kill "$scoped" 2>/dev/null || true
python3 - "$work/scoped.body" "$sam_head" <<'PY' || fail "the stream told lea of team south's commit: $(cat "$work/scoped.body")"
import re, sys
heads = [int(h) for h in re.findall(r'^event: change\ndata: \{"head":(\d+)\}', open(sys.argv[1]).read(), re.M)]
assert heads, "no change event after ana's sync"
assert all(h > int(sys.argv[2]) for h in heads), f"a change at or before sam's commit {sys.argv[2]}: {heads}"
PY

# --- a reassignment by the lead is an operation the worker's device receives ---------------------
expect assign-same 200 '"changed":false' POST /api/assign "${LEA[@]}" "${json[@]}" -d '{"case":"case-a1","user":"ana"}'
expect assign-ben 200 '"changed":true' POST /api/assign "${LEA[@]}" "${json[@]}" -d '{"case":"case-a1","user":"ben"}'
sync_ok ana
if dev ana get cases case-a1 >/dev/null 2>&1; then fail "ana still holds case-a1 after its reassignment to ben"; fi

# --- an oversized request, then the server still serves ---------------------------------------
head -c 40000 /dev/zero | tr '\0' 'x' >"$work/big"
expect big 413 'the request body is over 16 KiB' POST /api/login "${json[@]}" --data-binary @"$work/big"
expect big-headers 431 'headers are over 16 KiB' GET /api/me -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' y)"
expect alive 200 '"role":"lead"' GET /api/me -b "$work/lea"

# --- a new password ends the sessions made with the old one; logout ends a session --------------
expect ana-in 200 '"role":"worker"' GET /api/me -b "$work/ana"
ANA_PW="ana password 2" ADMIN user passwd ana --password-env ANA_PW --kdf minimum >/dev/null
expect ana-out 401 'not logged in' GET /api/me -b "$work/ana"
expect logout 200 '{}' POST /api/logout "${LEA[@]}"
expect after 401 'not logged in' GET /api/me -b "$work/lea"

# The dashboard's sign-ins, reads and reassignment are in the audit trail, which verifies.
ADMIN audit verify >"$work/verify.txt" || fail "audit verify failed: $(cat "$work/verify.txt")"
ADMIN audit export --since 1970-01-01 --user lea --as lea >"$work/export.jsonl"
python3 - "$work/export.jsonl" <<'PY' || fail "missing dashboard entries: $(cat "$work/export.jsonl")"
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1])]
kinds = [(e["kind"], e["detail"].get("event")) for e in entries]
assert ("login", "login") in kinds and ("login", "logout") in kinds, kinds
for what in ("dashboard caseload", "dashboard conflicts"):
    assert any(e["kind"] == "read" and e["subject"] == "cases/*" and e["detail"]["what"] == what
               for e in entries), "no read entry for the " + what
ops = [e for e in entries if e["kind"] == "op" and e.get("user") == "lea"]
assert len(ops) == 2, "expected the decision and the reassignment by lea: %r" % ops
PY
if grep -q "case-a1.*risk\|lea password" "$work/server.out" "$work/server.err"; then
  fail "record content or a password in the server log"
fi
# --- behind a TLS-terminating proxy ------------------------------------------------------------
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=""
start_server server --listen 127.0.0.1:0 --insecure-behind-proxy
base="http://$addr"
proxied=(-H 'X-Forwarded-Proto: https' -H "Origin: https://$addr" -H 'X-Forwarded-For: 203.0.113.9')
expect proxied 200 '"csrf"' POST /api/login "${json[@]}" "${proxied[@]}" \
  -d "{\"user\":\"lea\",\"password\":\"$LEA_PW\"}"
grep -qi '^set-cookie: fieldsync_session=.*; Secure' "$work/proxied.head" ||
  fail "no Secure cookie behind an https proxy: $(cat "$work/proxied.head")"
expect proxied-plain 403 'another site' POST /api/login "${json[@]}" -H "Origin: https://$addr" \
  -d "{\"user\":\"lea\",\"password\":\"$LEA_PW\"}"
grep -q "dashboard login: 'lea' (lead) from 203.0.113.9" "$work/server.err" ||
  fail "the client's forwarded address was not used: $(tail -3 "$work/server.err")"
# A client's own X-Forwarded-For line comes first; the proxy's own line, last, is the one used.
expect proxied-two 200 '"csrf"' POST /api/login "${json[@]}" -H 'X-Forwarded-Proto: https' \
  -H "Origin: https://$addr" -H 'X-Forwarded-For: 9.9.9.1' -H 'X-Forwarded-For: 203.0.113.7' \
  -d "{\"user\":\"lea\",\"password\":\"$LEA_PW\"}"
grep -q "dashboard login: 'lea' (lead) from 203.0.113.7" "$work/server.err" ||
  fail "a client's forged X-Forwarded-For line was used: $(tail -3 "$work/server.err")"
echo "dashboard API: refusals, CSRF, limiter, scopes and audit checked"
