#!/usr/bin/env bash
# Reconnection jitter with real processes: many devices that lose the server at the same
# moment do not come back all at once. 40 devices (eight workers, five devices each), each
# with a few edits offline, start `fieldsync sync` at the same instant against a server that
# is down: fieldsync-proxy in front of it refuses (resets) every connection for the first
# 4 s, and logs each connection it refuses or accepts with its arrival time. Each device
# retries with its own backoff (full jitter: the k-th wait uniform in [0, min(5 s,
# 100 ms * 2^k)]); once the proxy lets connections through, each device's next attempt is
# accepted and its sync completes. From the proxy's log (the server side) and the devices'
# -v output, timestamped as it comes (the device side):
#   - the wave after the outage, at the server: at most 30% of the devices in any 100 ms
#     (about 5 of 40 is typical), its middle 80% spread over at least 1 s (about 3 s);
#   - the devices' waits: within their windows, and spread uniformly over them
#     (Kolmogorov-Smirnov distance to the uniform distribution below 0.2);
#   - for comparison, what the same starts would give without jitter (every device waiting
#     its window's ceiling), computed from the devices' measured first attempts;
#   - every sync exits 0 and every operation is on the server exactly once.
# Timing asserts are on the shape of the spread, with wide margins for a loaded machine.
# SEED=N seeds the proxy (it draws nothing here that matters) and is printed with failures;
# the devices' jitter comes from the system's random source, so each run differs.
# Usage: reconnect_jitter.sh BIN_DIR
set -euo pipefail
bin=$1
seed=${SEED:-$(date +%s)}
echo "seed $seed (replay: SEED=$seed $0 $bin)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
data="$work/server"
# shellcheck source-path=SCRIPTDIR source=crash_lib.sh
source "$(dirname "$0")/crash_lib.sh"

workers=8 per_worker=5 outage_ms=4000

mkdir -p "$data"
ADMIN() { "$bin/fieldsync-admin" --data "$data" "$@"; }
ADMIN team add north >/dev/null
ADMIN user add lee --role lead --team north >/dev/null
declare -A user_of=()
devices=()
for w in $(seq 1 "$workers"); do
  ADMIN user add "w$w" --role worker --team north >/dev/null
  for k in $(seq 1 "$per_worker"); do
    devices+=("d$w-$k")
    user_of[d$w-$k]="w$w"
  done
done
n=${#devices[@]}
launch_server
# Enrolment as crash_lib.sh's enrol_devices, the workers in parallel.
for w in $(seq 1 "$workers"); do
  (
    for k in $(seq 1 "$per_worker"); do
      d="d$w-$k"
      dev "$d" init --kdf minimum >/dev/null
      dev "$d" enroll --server "$url" --code "$(enroll_code "$data" "w$w")" >/dev/null
      dev "$d" info | sed -n 's/^  device //p' >"$work/id.$d"
      echo 0 >"$work/made.$d"
    done
  ) >"$work/enrol.$w" 2>&1 &
  live+=($!)
done
for i in "${!live[@]}"; do wait "${live[$i]}" || fail "enrolment of w$((i + 1))'s devices failed: $(cat "$work/enrol.$((i + 1))")"; done
live=()
for d in "${devices[@]}"; do
  device_id[$d]=$(cat "$work/id.$d")
  [ -n "${device_id[$d]}" ] || fail "no device id for $d"
done
echo "+$(elapsed) s: $n devices enrolled"

# A few edits offline on each device (devices of one worker in turn, workers in parallel).
for w in $(seq 1 "$workers"); do
  (
    for k in $(seq 1 "$per_worker"); do
      d="d$w-$k"
      edit "$d" put clients "cl-$d" name="Client of $d" preferred_language=en || exit 1
      edit "$d" put cases "case-$d" client_id="cl-$d" assigned_to="w$w" programme=outreach status=assessment || exit 1
      edit "$d" put visits "visit-$d" case_id="case-$d" kind=home outcome="Visited, plan agreed" || exit 1
    done
  ) &
  live+=($!)
done
wait_live
check_no_errors "${devices[@]}"
echo "+$(elapsed) s: 3 edits offline on each device"

# The outage: the proxy resets every connection for its first $outage_ms ms, logging each.
"$bin/fieldsync-proxy" --listen 127.0.0.1:0 --target "$addr" --seed "$seed" \
  --refuse-for-ms "$outage_ms" --log-connections >"$work/proxy.out" 2>"$work/proxy.err" &
proxy_pid=$!
pids+=("$proxy_pid")
paddr=$(wait_listening "$work/proxy.out" "$proxy_pid") ||
  fail "the proxy did not start: $(cat "$work/proxy.err")"

# stamp: each line read, prefixed with the time it arrived (epoch seconds, microseconds).
stamp() {
  local line
  while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done
}
# All devices start together: each waits on a FIFO for its line, written in one go.
mkfifo "$work/go"
exec 9<>"$work/go"
for d in "${devices[@]}"; do
  (
    read -r _ <"$work/go"
    dev "$d" -v sync --server "ws://$paddr" --timeout 40 2>&1 >"$work/out.$d" | stamp >"$work/attempts.$d"
  ) &
  live+=($!)
done
printf '%*s' "$n" '' | tr ' ' '\n' >&9
echo "+$(elapsed) s: $n devices started at once against a server refusing connections for $outage_ms ms"
failed="" first_failed=""
for i in "${!devices[@]}"; do
  rc=0
  wait "${live[$i]}" || rc=$?
  [ "$rc" = 0 ] && continue
  failed+=" ${devices[$i]} (exit $rc)"
  first_failed=${first_failed:-${devices[$i]}}
done
live=()
exec 9>&-
[ -z "$failed" ] || fail "syncs failed:$failed; $first_failed's last lines: $(tail -n 3 "$work/attempts.$first_failed")"
echo "+$(elapsed) s: every device synced"
kill -TERM "$proxy_pid"
wait "$proxy_pid" || fail "the proxy exited $? on SIGTERM"
grep '^summary' "$work/proxy.err" | sed 's/^/  proxy: /'

python3 - "$work" "$outage_ms" "${devices[@]}" <<'EOF' || fail "the reconnections were not spread out (seed $seed)"
import re, statistics, sys
work, outage_ms, devices = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
n = len(devices)
INITIAL, MAX = 100, 5000  # SyncClientOptions' defaults

def densest(times, width=100):
    times = sorted(times)
    j, best = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - width:
            j += 1
        best = max(best, i - j + 1)
    return best

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]

# The server side: the proxy's log, in ms since the proxy started.
refused, accepted = [], []
for line in open(f"{work}/proxy.err"):
    m = re.match(r"(refused|accepted) conn \d+ .*at \+([0-9.]+) s", line)
    if m:
        (refused if m[1] == "refused" else accepted).append(float(m[2]) * 1000)
wave = sorted(t - outage_ms for t in accepted)
bad = []
if len(accepted) != n:
    bad.append(f"{len(accepted)} connections accepted for {n} devices (one each expected)")
if len(refused) < 4 * n:
    bad.append(f"only {len(refused)} connections refused during the outage (at least 4 per device expected)")
if any(t < 0 for t in wave):
    bad.append("a connection was accepted during the outage")

# The device side: each device's attempts ("connecting"), the failure that ended each, and
# the wait before the next; the first attempts, mapped onto the proxy's clock.
firsts, waits, failures = [], [], []
for d in devices:
    lines = [l.rstrip("\n").split(" ", 1) for l in open(f"{work}/attempts.{d}")]
    lines = [(float(t) * 1000, text) for t, text in lines]
    starts = [i for i, (_, text) in enumerate(lines) if text.startswith("sync: connecting to")]
    firsts.append(lines[starts[0]][0])
    for k, (i, j) in enumerate(zip(starts, starts[1:])):
        failed_at = lines[i + 1][0]  # the line after "connecting": why it failed
        failures.append(failed_at - lines[i][0])
        waits.append((k, lines[j][0] - failed_at, min(MAX, INITIAL << k)))
offset = min(firsts) - min(refused)  # device clock minus proxy clock, at the first attempt
firsts = [t - offset for t in firsts]
fail_ms = statistics.median(failures)

# Without jitter: every device waits its window's ceiling, so the devices keep the offsets
# of their first attempts at every retry and come back as tightly as they started.
def without_jitter(start):
    t, k = start, 0
    while t < outage_ms:
        t += fail_ms + min(MAX, INITIAL << k)
        k += 1
    return t - outage_ms
fixed = [without_jitter(t) for t in firsts]

# The waits, each over its window's ceiling: within [0, 1] and uniform (pooled over the
# windows of 400 ms and more, where a few ms of timestamping noise do not matter).
over = [(k, w, c) for k, w, c in waits if w > c + 100]
u = sorted(min(1.0, max(0.0, w / c)) for k, w, c in waits if c >= 400)
ks = max(max(abs((i + 1) / len(u) - x), abs(i / len(u) - x)) for i, x in enumerate(u)) if u else 1
quarters = [sum(1 for x in u if q / 4 <= x < (q + 1) / 4 or (q == 3 and x == 1)) for q in range(4)]

burst, burst_start, burst_fixed = densest(wave), densest(firsts), densest(fixed)
print(f"  the devices' first attempts: {n} within {max(firsts) - min(firsts):.0f} ms, "
      f"at most {burst_start} in one 100 ms")
print(f"  during the outage: {len(refused)} attempts refused, {len(refused) / n:.1f} per device; "
      f"a refused attempt failed after {fail_ms:.1f} ms (median, device side)")
print(f"  after it (server side, ms after the outage ended): {len(wave)} accepted, first {wave[0]:.0f}, "
      f"p10 {pct(wave, .1):.0f}, median {pct(wave, .5):.0f}, p90 {pct(wave, .9):.0f}, last {wave[-1]:.0f}; "
      f"at most {burst} ({100 * burst / n:.0f}%) in any 100 ms")
print(f"  without jitter, from the same first attempts: {n} back within "
      f"{max(fixed) - min(fixed):.0f} ms of each other, {burst_fixed} ({100 * burst_fixed / n:.0f}%) in one 100 ms")
print(f"  the devices' waits: {len(waits)} measured; {len(over)} over their window by more than 100 ms; "
      f"over windows of 400 ms and more ({len(u)}): mean {statistics.mean(u):.2f} of the window, "
      f"quarters {quarters}, Kolmogorov-Smirnov distance to uniform {ks:.3f}")

if len(wave) == n:
    if burst > 0.3 * n:
        bad.append(f"{burst} of {n} devices came back within 100 ms: a stampede")
    if pct(wave, .9) - pct(wave, .1) < 1000:
        bad.append(f"the middle 80% of the comeback spans only {pct(wave, .9) - pct(wave, .1):.0f} ms")
if len(over) > 0.05 * len(waits):
    bad.append(f"{len(over)} of {len(waits)} waits exceed their window by more than 100 ms: {over[:5]}")
if len(u) < 2 * n:
    bad.append(f"only {len(u)} waits of 400 ms windows or more measured")
elif ks > 0.2 or not 0.35 <= statistics.mean(u) <= 0.65:
    bad.append(f"the waits are not uniform over their windows (KS {ks:.3f}, mean {statistics.mean(u):.2f})")
for b in bad:
    print("  " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF

: >"$work/manifest"
for d in "${devices[@]}"; do echo "$d ${device_id[$d]} $(cat "$work/made.$d")" >>"$work/manifest"; done
# (the 40 lines of devices with their 3 operations logged once each are left out)
rc=0
(check_exactly_once "$work/manifest") >"$work/exactly_once" 2>&1 || rc=$?
grep -v ': made 3, logged 3 (3 distinct), audit op entries 3$' "$work/exactly_once" || true
[ "$rc" = 0 ] || exit 1
for d in "${devices[@]}"; do
  [ "$(dev "$d" outbox --json)" = "[]" ] || fail "$d: outbox not empty: $(dev "$d" outbox)"
done
echo "every device's 3 operations are on the server exactly once, every outbox is empty"
echo "reconnect_jitter passed in $(elapsed) s"
