#!/usr/bin/env bash
# End to end over a real (virtual) network link: the devices run in a network namespace of
# the test's own, joined to the host by a veth pair whose both ends are shaped by a tbf qdisc
# (256 kbit/s each way: the kernel's own bandwidth limit, with its queue and drops), and
# fieldsync-proxy on the host end of the link adds latency and stalls (this kernel has tbf
# but no netem). The server listens on 127.0.0.1, which the namespace cannot reach: every
# byte a device exchanges with it crosses the shaped link and the proxy.
#   - four workers' devices and their lead's enrol and sync from inside the namespace;
#   - each worker records two days of edits offline (visits and notes on a case all of them
#     share, their own clients, cases, visits and notes), then all four sync at once over the
#     one link, and again so that each pulls what the others pushed, then the lead;
#   - every operation is in the server's log and audit trail exactly once, the lead's device
#     holds exactly the union of the workers' records, and each sync round took at least the
#     time the bytes tbf sent need at its rate (and not several times more).
# Needs root (ip netns, tc): exits 77 (skipped) when not root or when a namespace cannot be
# made. The namespace, the veth pair and their qdiscs are removed at exit, whatever happens.
# SEED=N replays the proxy's stalls (the first line printed is the seed).
# Usage: netns.sh BIN_DIR
set -euo pipefail
bin=$1
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: e2e:netns needs root to make a network namespace and shape a veth with tc (uid $(id -u))"
  exit 77
fi
seed=${SEED:-$(date +%s)}
echo "seed $seed (replay: SEED=$seed $0 $bin)"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
data="$work/server"
# shellcheck source-path=SCRIPTDIR source=crash_lib.sh
source "$(dirname "$0")/crash_lib.sh"

rate_kbit=256
burst_bytes=4096
ns="fieldsync-e2e-$$"
veth_host="fsh$$"  # interface names: at most 15 characters
veth_ns="fsn$$"
ns_made=""
teardown() {
  stop_live  # background syncs, inside the namespace
  # Deleting the host end deletes the pair, and the qdiscs with it.
  ip link del "$veth_host" 2>/dev/null || true
  [ -z "$ns_made" ] || ip netns del "$ns" 2>/dev/null || true
}
trap 'teardown; cleanup' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

if ! err=$(ip netns add "$ns" 2>&1); then
  echo "SKIP: e2e:netns cannot make a network namespace here: $err"
  exit 77
fi
ns_made=1

# A /30 in 10.213.0.0/16 picked from the process id, skipping any that an interface here
# already uses: host end .1, namespace end .2.
subnet=""
for k in $(seq 0 63); do
  idx=$((($$ + k * 257) % 16384))
  candidate="10.213.$((idx / 64)).$((idx % 64 * 4))"
  if [ -z "$(ip -o -4 addr show to "$candidate/30")" ] && [ -z "$(ip -4 route show exact "$candidate/30")" ]; then
    subnet=$candidate
    break
  fi
done
[ -n "$subnet" ] || fail "no free /30 in 10.213.0.0/16"
prefix=${subnet%.*}
last=${subnet##*.}
host_ip="$prefix.$((last + 1))"
ns_ip="$prefix.$((last + 2))"

ip link add "$veth_host" type veth peer name "$veth_ns" netns "$ns" || fail "cannot make a veth pair"
ip addr add "$host_ip/30" dev "$veth_host"
ip link set "$veth_host" up
ip -n "$ns" addr add "$ns_ip/30" dev "$veth_ns"
ip -n "$ns" link set "$veth_ns" up
ip -n "$ns" link set lo up
# The same shaping on both ends: the host's end sends to the devices, theirs to the host.
tbf=(root tbf rate "${rate_kbit}kbit" burst "$burst_bytes" latency 400ms)
tc qdisc add dev "$veth_host" "${tbf[@]}" || fail "tc tbf on $veth_host failed"
ip netns exec "$ns" tc qdisc add dev "$veth_ns" "${tbf[@]}" || fail "tc tbf in the namespace failed"
echo "namespace $ns: $veth_ns $ns_ip/30 <-> $veth_host $host_ip/30 on the host, tbf ${rate_kbit} kbit/s each way"

# tbf_sent WHERE: bytes the tbf qdisc on one end has sent (host: to the devices; ns: from them).
tbf_sent() {
  local out
  if [ "$1" = host ]; then
    out=$(tc -s qdisc show dev "$veth_host")
  else
    out=$(ip netns exec "$ns" tc -s qdisc show dev "$veth_ns")
  fi
  sed -n 's/^ *Sent \([0-9]*\) bytes.*/\1/p' <<<"$out" | head -n 1
}
tbf_drops() {
  tc -s qdisc show dev "$veth_host" | sed -n 's/.*(dropped \([0-9]*\),.*/\1/p' | head -n 1
}

# Every device command runs inside the namespace.
dev() {
  local name=$1
  shift
  ip netns exec "$ns" "$bin/fieldsync" --replica "$work/$name.db" --passphrase-env PASS "$@"
}

mkdir -p "$data"
ADMIN() { "$bin/fieldsync-admin" --data "$data" "$@"; }
ADMIN team add north >/dev/null
for u in w1 w2 w3 w4; do ADMIN user add "$u" --role worker --team north >/dev/null; done
ADMIN user add lee --role lead --team north >/dev/null
launch_server
server_url=$url

# fieldsync-proxy on the host end of the link, in front of the server: latency and stalls.
"$bin/fieldsync-proxy" --listen "$host_ip:0" --target "$addr" --seed "$seed" \
  --latency-ms 60 --stall-every-ms 4000 --stall-ms 300 >"$work/proxy.out" 2>"$work/proxy.err" &
proxy_pid=$!
pids+=("$proxy_pid")
paddr=$(wait_listening "$work/proxy.out" "$proxy_pid") ||
  fail "the proxy did not start: $(cat "$work/proxy.err")"
url="ws://$paddr"

devices="d1 d2 d3 d4"
declare -A user_of=([d1]=w1 [d2]=w2 [d3]=w3 [d4]=w4 [lead]=lee)
# shellcheck disable=SC2086  # $devices is a list of names
enrol_devices $devices lead
echo "+$(elapsed) s: five devices enrolled from inside the namespace through $url"

# Inside the namespace the server's own address is nobody's: the link is the only way.
rc=0
dev d1 sync --server "$server_url" --timeout 1 >"$work/direct" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "a device in the namespace reached the server's loopback address (exit $rc): $(cat "$work/direct")"

# The case all four share: everyone's visits on it reach every device.
edit d1 put clients cl-shared name="Shared client" preferred_language=en
edit d1 put cases case-shared client_id=cl-shared assigned_to=w1 programme=outreach status=assessment
for u in w2 w3 w4; do edit d1 share case-shared "$u"; done
for d in $devices lead; do
  dev "$d" sync --server "$url" --timeout 20 >"$work/sync.$d" 2>&1 || fail "$d: first sync failed: $(cat "$work/sync.$d")"
done

# days DEV: two days of a worker's visits recorded offline: 3 clients and cases, 24 visits
# (half on the shared case) with a note each, and the cases' progress: 58 operations.
days() {
  local d=$1 u=${user_of[$1]} k v
  for k in 1 2 3; do
    edit "$d" put clients "cl-$d-$k" name="Client $k of $d" preferred_language=en contact="+44 7700 900$k$k$k" || return
    edit "$d" put cases "case-$d-$k" client_id="cl-$d-$k" assigned_to="$u" programme=outreach status=assessment || return
  done
  for v in $(seq 1 24); do
    if [ $((v % 2)) = 0 ]; then
      edit "$d" put visits "visit-$d-$v" case_id=case-shared time="2024-06-07T$((10 + v / 2)):15:00Z" kind=outreach \
        place="Community centre, room $v" outcome="Joint session $v with $d: forms reviewed, next steps agreed" || return
      edit "$d" note case-shared "Visit $v by $d: attended, brought the housing letter; follow up on benefits claim." || return
    else
      k=$((v % 3 + 1))
      edit "$d" put visits "visit-$d-$v" case_id="case-$d-$k" time="2024-06-07T$((10 + v / 2)):45:00Z" kind=home \
        place="Flat $v, Market Street" outcome="Home visit $v by $d: talked through the plan, documents still missing" || return
      edit "$d" note "case-$d-$k" "Visit $v by $d: client at home, discussed the budget and school enrolment." || return
    fi
  done
  for k in 1 2 3; do edit "$d" put cases "case-$d-$k" status=planning needs+="housing-$k" || return; done
  edit "$d" put cases case-shared needs+="need-from-$d" || return
}
for d in $devices; do
  days "$d" &
  live+=($!)
done
wait_live
# shellcheck disable=SC2086
check_no_errors $devices
echo "+$(elapsed) s: each worker recorded $(cat "$work/made.d2") operations offline"

# round NAME DEV...: the devices sync at once; prints and records the wall time and the
# bytes tbf sent each way, and checks that the time fits the rate.
rounds_summary="" total_ms=0 total_up=0 total_down=0
round() {
  local name=$1 d pid rc
  shift
  local up0 down0 t0 ms up down
  up0=$(tbf_sent ns)
  down0=$(tbf_sent host)
  t0=$(date +%s%3N)
  declare -A pid_of=()
  for d in "$@"; do
    dev "$d" sync --server "$url" --timeout 60 >"$work/sync.$d" 2>&1 &
    pid_of[$d]=$!
    live+=($!)
  done
  for d in "$@"; do
    rc=0
    wait "${pid_of[$d]}" || rc=$?
    [ "$rc" = 0 ] || fail "$name: $d's sync exited $rc: $(cat "$work/sync.$d")"
  done
  live=()
  ms=$(($(date +%s%3N) - t0))
  up=$(($(tbf_sent ns) - up0))
  down=$(($(tbf_sent host) - down0))
  # The time the bytes need at the rate, each way (tbf may send one burst ahead of it).
  local need_up=$(((up > burst_bytes ? up - burst_bytes : 0) * 8 / rate_kbit))
  local need_down=$(((down > burst_bytes ? down - burst_bytes : 0) * 8 / rate_kbit))
  local need=$((need_up > need_down ? need_up : need_down))
  local big=$((up > down ? up : down))
  printf '  %s: %d ms for %d bytes up and %d bytes down over the link: %d ms at %d kbit/s for the busier way; %d kbit/s achieved that way\n' \
    "$name" "$ms" "$up" "$down" "$need" "$rate_kbit" "$((big * 8 / (ms > 0 ? ms : 1)))"
  # No faster than the rate allows (10% for clock reads and counters), and not so slow that
  # the link was not what limited it (3x the time, plus 6 s of latency, stalls, process
  # starts and the server's work on a loaded machine).
  [ "$ms" -ge $((need * 9 / 10)) ] || fail "$name took $ms ms, less than the $need ms its $big bytes need at $rate_kbit kbit/s: is tbf shaping?"
  [ "$ms" -le $((need * 3 + 6000)) ] || fail "$name took $ms ms, far more than the $need ms its bytes need at $rate_kbit kbit/s"
  rounds_summary+="${rounds_summary:+, }$name ${ms} ms"
  total_ms=$((total_ms + ms)) total_up=$((total_up + up)) total_down=$((total_down + down))
}

echo "+$(elapsed) s: the four workers sync at once over the link, twice, then the lead"
# shellcheck disable=SC2086
round "all four at once" $devices
# shellcheck disable=SC2086
round "all four again (each pulls the others')" $devices
round "the lead" lead
echo "  in all: $total_ms ms for $total_up bytes up and $total_down bytes down; tbf on the host end dropped $(tbf_drops) packet(s) (its queue is 400 ms deep)"
for d in $devices lead; do
  [ "$(dev "$d" outbox --json)" = "[]" ] || fail "$d: outbox not empty: $(dev "$d" outbox)"
done

: >"$work/manifest"
for d in $devices; do echo "$d ${device_id[$d]} $(cat "$work/made.$d")" >>"$work/manifest"; done
check_exactly_once "$work/manifest"
for d in $devices lead; do
  for c in clients cases visits notes; do dev "$d" list "$c" --json >"$work/list.$d.$c"; done
done
# shellcheck disable=SC2086
check_converged lead $devices
want=$((4 * 12))
for d in $devices lead; do
  got=$(grep -o '"case_id":"case-shared"' "$work/list.$d.visits" | wc -l)
  [ "$got" = "$want" ] || fail "$d holds $got visits of the shared case, expected $want"
  [ "$(dev "$d" get cases case-shared --json)" = "$(dev lead get cases case-shared --json)" ] ||
    fail "the shared case differs between $d and the lead"
done
echo "converged: every device holds the $want shared visits and the same shared case"

kill -TERM "$proxy_pid"
wait "$proxy_pid" || fail "the proxy exited $? on SIGTERM"
grep '^summary' "$work/proxy.err" | sed 's/^/  proxy: /'
out=$(ADMIN audit verify) || fail "audit verify failed: $out"
echo "netns passed in $(elapsed) s: syncs at $rate_kbit kbit/s: $rounds_summary (seed $seed)"
