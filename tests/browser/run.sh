#!/usr/bin/env bash
# The dashboard in a real browser (issue 6's browser test). Starts the real server, seeds it
# through the real devices (a conflict, an overdue follow-up, a note holding markup, a case of
# another team), then runs dashboard_test.mjs: Debian's chromium driven by playwright-core.
# Afterwards the audit trail must verify and hold the lead's decision and dashboard reads.
# Usage: run.sh BIN_DIR NODE_DIR   (NODE_DIR: where `npm ci` installed playwright-core and
# dashboard_test.mjs was copied). FS_SCREENSHOTS=DIR keeps screenshots of the main pages.
set -euo pipefail
bin=$1
node_dir=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../e2e/lib.sh
source "$here/../e2e/lib.sh"

chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || fail "chromium not found at $chromium: install it with scripts/setup.sh --deps-only (Debian package chromium)"
[ -d "$node_dir/node_modules/playwright-core" ] ||
  fail "playwright-core is not installed in $node_dir: the CTest fixture browser:npm_ci runs npm ci there"

data="$work/server"
mkdir -p "$data"
ADMIN() { "$bin/fieldsync-admin" --data "$data" "$@"; }
ADMIN team add north >/dev/null
ADMIN team add south >/dev/null
ADMIN user add lea --role lead --team north >/dev/null
for u in ana ben; do ADMIN user add "$u" --role worker --team north >/dev/null; done
ADMIN user add sam --role worker --team south >/dev/null
export FS_PASSWORD="lead password 7"
ADMIN user passwd lea --password-env FS_PASSWORD >/dev/null
ADMIN user passwd ana --password-env FS_PASSWORD >/dev/null  # a worker: the read-only view
start_server server --listen 127.0.0.1:0

export FS_BIN=$bin FS_WORK=$work FS_SYNC_URL="ws://$addr" PASS="a long passphrase"
hook="$here/hook.sh"
declare -A user_of=([ana1]=ana [ana2]=ana [ben1]=ben [sam1]=sam [lea1]=lea)
for d in ana1 ana2 ben1 sam1 lea1; do
  bash "$hook" init "$d" "$(enroll_code "$data" "${user_of[$d]}")" >/dev/null
done
day() { date -u -d "$1" +%F; }
H() { bash "$hook" "$@" >/dev/null || fail "hook $* failed"; }

# Ana's case: a visit last week, a follow-up three days overdue, then an open conflict on risk
# from her two devices.
H put ana1 clients cl-a1 name="Alice Archer"
H put ana1 cases case-a1 client_id=cl-a1 programme=housing status=implementation assigned_to=ana risk=low
H put ana1 visits v-a1 case_id=case-a1 time="$(day '7 days ago')T10:00Z" kind=home outcome="Checked in"
H put ana1 tasks t-a1 case_id=case-a1 title="Renew ID" due_date="$(day '3 days ago')" status=open
H sync ana1
H sync ana2
H put ana1 cases case-a1 risk=high
H put ana2 cases case-a1 risk=medium
H sync ana1
H sync ana2
# Ben's case, with a note that holds markup and script.
H put ben1 clients cl-b1 name="Bob Baker"
H put ben1 cases case-b1 client_id=cl-b1 programme=outreach status=assessment risk=low assigned_to=ben
H put ben1 visits v-b1 case_id=case-b1 time="$(day '2 days ago')T09:30Z" kind=outreach outcome="Met at the shelter"
H put ben1 tasks t-b1 case_id=case-b1 title="Call the clinic" due_date="$(day '10 days')" status=open
H note ben1 case-b1 '<script>window.__fsInjected=1</script><img src=x onerror="window.__fsInjected=2"><b>not bold</b>'
H sync ben1
# Sam's case in team south: the lead of north must never see it.
H put sam1 clients cl-s1 name="Sara South"
H put sam1 cases case-s1 client_id=cl-s1 programme=housing status=planning assigned_to=sam risk=low
H sync sam1
for d in ana1 ana2 ben1 lea1; do H sync "$d"; done
[ "$(bash "$hook" conflicts ana1 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] ||
  fail "the seed did not make one open conflict on ana1"

FS_URL="http://$addr" FS_USER=lea FS_WORKER=ana FS_HOOK="$hook" CHROMIUM="$chromium" \
  node "$node_dir/dashboard_test.mjs" || fail "the browser test failed (server log: $(tail -5 "$work/server.err"))"

# The decision is in the audit trail under the lead's name, the trail verifies, and the
# dashboard's login and reads were recorded.
ADMIN audit verify >"$work/verify.txt" || fail "audit verify failed: $(cat "$work/verify.txt")"
ADMIN audit history cases case-a1 --as lea >"$work/history.txt"
grep -q "resolved by op" "$work/history.txt" || fail "the history shows no decision: $(cat "$work/history.txt")"
grep -q "risk: .* -> \"critical\"" "$work/history.txt" ||
  fail "the history shows no change of risk to critical: $(cat "$work/history.txt")"
ADMIN audit export --since 1970-01-01 --user lea --as lea >"$work/export.jsonl"
python3 - "$work/export.jsonl" <<'PY' || fail "the export lacks the dashboard's entries: $(cat "$work/export.jsonl")"
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1])]
def has(pred):
    return any(pred(e) for e in entries)
assert has(lambda e: e["kind"] == "login"), "no login entry"
assert has(lambda e: e["kind"] == "read" and e["subject"] == "cases/case-b1"
           and "dashboard" in json.dumps(e)), "no read of case-b1 from the dashboard"
assert has(lambda e: e["kind"] == "op" and e.get("user") == "lea"), "no op by lea"
PY
echo "browser: dashboard test and its audit checks passed"
