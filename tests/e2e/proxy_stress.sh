#!/usr/bin/env bash
# fieldsync-proxy itself under heavy faults: cuts every ~150 ms at 20-3000 bytes, stalls,
# latency and a bandwidth limit, while 6 clients fetch the dashboard's script through it for
# 10 s. Many connections are cut mid-transfer in both directions at once. The proxy must
# stay up, cut connections, and end cleanly with its summary on SIGTERM. In the sanitizer
# build this catches its memory errors (a cut point passed by the other direction's write
# once made it send from beyond its buffer).
# Usage: proxy_stress.sh BIN_DIR
set -euo pipefail
bin=$1
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

start_server server --listen 127.0.0.1:0
: >"$work/proxy.out"
"$bin/fieldsync-proxy" --listen 127.0.0.1:0 --target "$addr" --seed 1001 --latency-ms 3 \
  --bandwidth-kbit 256 --cut-every-ms 150 --cut-after-bytes-min 20 --cut-after-bytes-max 3000 \
  --stall-every-ms 300 --stall-ms 50 >"$work/proxy.out" 2>"$work/proxy.err" &
proxy_pid=$!
pids+=("$proxy_pid")
paddr=$(wait_listening "$work/proxy.out" "$proxy_pid") ||
  fail "the proxy did not start: $(cat "$work/proxy.err")"

proxy_died() {
  fail "the proxy died under the faults: $(sed -n '/^==[0-9]*==ERROR/,/^SUMMARY/p' "$work/proxy.err" |
    head -n 40) $(tail -n 5 "$work/proxy.err")"
}
fetches=0
end=$((SECONDS + 10))
while [ "$SECONDS" -lt "$end" ]; do
  clients=()
  for _ in 1 2 3 4 5 6; do
    curl -s --max-time 2 -o /dev/null "http://$paddr/app.js" &
    clients+=($!)
  done
  for pid in "${clients[@]}"; do wait "$pid" || true; done
  fetches=$((fetches + 6))
  kill -0 "$proxy_pid" 2>/dev/null || proxy_died
done
kill -TERM "$proxy_pid"
rc=0
wait "$proxy_pid" || rc=$?
[ "$rc" = 0 ] || proxy_died
grep -q '^summary' "$work/proxy.err" || fail "no summary from the proxy: $(tail -n 5 "$work/proxy.err")"
cuts=$(grep -c '^cut conn' "$work/proxy.err" || true)
[ "$cuts" -gt 10 ] || fail "only $cuts cut(s) in $fetches fetches: the faults did not happen"
echo "proxy stress: $fetches fetches, $cuts cuts, the proxy stayed up and stopped cleanly"
