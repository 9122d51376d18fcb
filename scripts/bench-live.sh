#!/usr/bin/env bash
# Live-capture benchmark (issue 14), as root: replays a large capture from examples/gencap with
# tcpreplay at top speed into one end of a veth pair and captures on the other end with
# tcpdump (reference), `stekwatch live --ebpf off` and `--ebpf on`, then both with `-j 2` (two
# capture sockets in a fanout group, a worker each), one at a time. Prints for each: packets
# on the wire (tcpreplay), packets the capture saw (kernel program) and delivered to userland,
# kernel drops, sensor CPU seconds (every thread's time on a CPU, from /proc, counted from
# the moment the replay starts, so start-up and the eBPF program's load are left out), CPU
# seconds per replayed GiB, TLS connections audited, and each worker's packets per second;
# last, `--ebpf on --xdp` (the bypass at XDP on the capture's veth end).
#
# Needs root, tcpreplay, tcpdump, jq, clang, libbpf-dev, libpcap-dev (installed when missing).
# Usage: scripts/bench-live.sh [SIZE]   (SIZE for gencap, default 1G of 1 MiB downloads as on
# a busy web front end; GENCAP_OPTS overrides the traffic shape; BENCH_PCAP=FILE to
# replay an existing capture instead; BENCH_LIVE_OPTS: extra options of every sensor run,
# default none, i.e. the sensor as a user runs it: 1 ms blocks, not --immediate, which wakes
# the sensor per packet; KEEP_TMP=1 keeps the temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || { echo "bench-live: needs root (veth, capture, eBPF)"; exit 1; }
SIZE=${1:-1G}
GENCAP_OPTS=${GENCAP_OPTS:---down-kib 1024 --up-kib 16}

need=()
command -v tcpreplay >/dev/null || need+=(tcpreplay)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v jq >/dev/null || need+=(jq)
command -v ethtool >/dev/null || need+=(ethtool)
command -v clang >/dev/null || need+=(clang llvm)
[[ -e /usr/include/bpf/bpf_helpers.h ]] || need+=(libbpf-dev)
[[ -e /usr/include/pcap.h ]] || need+=(libpcap-dev)
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

TD=${CARGO_TARGET_DIR:-target}
cargo build --quiet --release --features ebpf --bin stekwatch --example gencap
T=$(mktemp -d /tmp/stekwatch-bench-live.XXXXXX)
A=swba$$ Z=swbz$$
cleanup() {
  local rc=$?
  set +e
  ip link del "$A" 2>/dev/null
  if [[ $rc -ne 0 || -n ${KEEP_TMP:-} ]]; then echo "bench-live: temp dir kept: $T" >&2
  else rm -rf "$T"; fi
}
trap cleanup EXIT

PCAP=${BENCH_PCAP:-}
if [[ -z $PCAP ]]; then
  PCAP=$TD/bench/bench-live-$SIZE-$(echo "$GENCAP_OPTS" | tr -cd '0-9a-z').pcap
  mkdir -p "$TD/bench"
  # shellcheck disable=SC2086
  [[ -s $PCAP ]] || "$TD/release/examples/gencap" --size "$SIZE" $GENCAP_OPTS --out "$PCAP" >/dev/null
fi
BYTES=$(stat -c %s "$PCAP")
GIB=$(awk -v b="$BYTES" 'BEGIN { printf "%.3f", b / 2^30 }')

ip link add "$A" type veth peer name "$Z"
ip link set "$A" up mtu 9000
ip link set "$Z" up mtu 9000
ethtool -K "$A" tso off gso off gro off >/dev/null 2>&1 || true
ethtool -K "$Z" tso off gso off gro off >/dev/null 2>&1 || true
sleep 1

cpu_secs() { # PID: CPU seconds of all its threads so far (schedstat: nanoseconds, not ticks)
  cat /proc/"$1"/task/*/schedstat | awk '{ ns += $1 } END { printf "%.3f", ns / 1e9 }'
}
replay() { # prints the packets tcpreplay sent
  tcpreplay --topspeed -i "$A" "$PCAP" 2>&1 | awk '/Actual:/ { print $2; exit }'
}

printf '%-17s %10s %10s %10s %10s %8s %8s %8s  %s\n' run wire seen userland kdrops cpu_s "s/GiB" tls \
  "per worker (packets/s)"
run_sensor() { # MODE [J [XDP]]
  local mode=$1 j=${2:-1} name=$1 xdp=()
  ((j > 1)) && name=$1-j$j
  [[ -n ${3:-} ]] && { name=xdp; xdp=(--xdp); }
  local out=$T/live-$name.json
  "$TD/release/stekwatch" live -i "$Z" -j "$j" --ebpf "$mode" "${xdp[@]}" --buffer-mib 256 --format json \
    --stats-interval 0 --max-flows 1000000 ${BENCH_LIVE_OPTS:-} >"$out" 2>"$T/live-$name.err" &
  local pid=$!
  local i; for ((i = 0; i < 100; i++)); do grep -qs "capturing on" "$T/live-$name.err" && break; sleep 0.1; done
  local cpu0; cpu0=$(cpu_secs $pid)
  local wire; wire=$(replay)
  sleep 3
  local cpu; cpu=$(awk -v a="$cpu0" -v b="$(cpu_secs $pid)" 'BEGIN { printf "%.3f", b - a }')
  kill -TERM $pid; wait $pid || true
  local recv drops tls seen
  recv=$(jq '.capture.received' "$out")
  drops=$(jq '.capture.dropped_by_kernel' "$out")
  tls=$(jq '.statistics.tls_connections' "$out")
  seen=$(jq -r '.capture.kernel_bypass.xdp.packets_seen // .capture.kernel_bypass.packets_seen // "-"' "$out")
  local per; per=$(jq -r '[.capture.workers[]? | .packets_per_second] | map(tostring) | join(" + ")' "$out")
  printf '%-17s %10s %10s %10s %10s %8s %8s %8s  %s\n' "stekwatch-$name" "$wire" "$seen" "$recv" \
    "$drops" "$cpu" "$(awk -v c="$cpu" -v g="$GIB" 'BEGIN { printf "%.2f", c / g }')" "$tls" "${per:--}"
}

tcpdump -i "$Z" -n -B 262144 -w /dev/null 2>"$T/tcpdump.err" &
TPID=$!
for ((i = 0; i < 100; i++)); do grep -qs "listening on" "$T/tcpdump.err" && break; sleep 0.1; done
cpu0=$(cpu_secs $TPID)
wire=$(replay)
sleep 2
cpu=$(awk -v a="$cpu0" -v b="$(cpu_secs $TPID)" 'BEGIN { printf "%.3f", b - a }')
kill -INT $TPID; wait $TPID || true
got=$(awk '/packets captured/ { print $1 }' "$T/tcpdump.err")
kd=$(awk '/dropped by kernel/ { print $1 }' "$T/tcpdump.err")
printf '%-17s %10s %10s %10s %10s %8s %8s %8s  %s\n' tcpdump "$wire" - "$got" "$kd" "$cpu" \
  "$(awk -v c="$cpu" -v g="$GIB" 'BEGIN { printf "%.2f", c / g }')" - -

run_sensor off
run_sensor on
run_sensor off 2
run_sensor on 2
run_sensor on 1 xdp
echo "bench-live: replayed $PCAP ($GIB GiB) at top speed into $A, captured on $Z"
