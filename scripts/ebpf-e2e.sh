#!/usr/bin/env bash
# End-to-end test of the kernel-side bypass (issue 14), as root: a network namespace holding a
# real nginx that serves a 1 MB file over HTTPS, reached over a veth pair (offloads off, so the
# wire carries MTU-sized packets); real `openssl s_client` downloads with TLS 1.2 and 1.3, each
# new then resumed twice; `stekwatch live --ebpf on` and tcpdump on the same interface, and
# beside them the sensor on two cores (`-j 2`: a fanout group of two sockets) with the kernel
# part on and off.
#
# Checks: the sensor's report equals `read` of tcpdump's capture (services, key names,
# resumptions, alerts; not the packet counters), and so do the reports of `-j 2` (each worker's
# share listed); the packets that reached the sensor's userland
# are at most 10% of those on the wire; the kernel dropped packets as audited and its map is
# empty once the connections closed; `--ebpf on` without privilege is a clear error (status
# 2), and `--ebpf auto` without privilege says so once and runs; on an interface the program
# cannot read (loopback), `--ebpf on` is a clear error and `auto` says so once.
#
# Needs root, clang and libbpf-dev (installed when missing with nginx, openssl, tcpdump, jq,
# ethtool). Usage: scripts/ebpf-e2e.sh   (KEEP_TMP=1 keeps the temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "ebpf-e2e: SKIP: needs root (network namespace, eBPF, nginx)"
  exit 0
fi

need=()
command -v nginx >/dev/null || need+=(nginx)
command -v openssl >/dev/null || need+=(openssl)
command -v tcpdump >/dev/null || need+=(tcpdump)
command -v tcpreplay >/dev/null || need+=(tcpreplay)
command -v jq >/dev/null || need+=(jq)
command -v ethtool >/dev/null || need+=(ethtool)
command -v ip >/dev/null || need+=(iproute2)
command -v setpriv >/dev/null || need+=(util-linux)
command -v clang >/dev/null || need+=(clang llvm)
[[ -e /usr/include/bpf/bpf_helpers.h ]] || need+=(libbpf-dev)
[[ -e /usr/include/pcap.h ]] || need+=(libpcap-dev)
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "ebpf-e2e: building with --features ebpf"
cargo build --quiet --features ebpf
T=$(mktemp -d /tmp/stekwatch-ebpf-e2e.XXXXXX)
chmod 755 "$T"
B=$T/stekwatch
cp "${CARGO_TARGET_DIR:-target}/debug/stekwatch" "$B"
NS=swebpf$$
HOST=swe$$ PEER=swp$$ RA=swra$$ RZ=swrz$$
SRV=10.231.7.2 CLI=10.231.7.1 PORT=9443 SRV6=fd00:7:231::2 CLI6=fd00:7:231::1
PIDS=()
PASSED=0

cleanup() {
  local rc=$?
  set +e
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  [[ -f $T/nginx/nginx.pid ]] && kill -TERM "$(cat "$T/nginx/nginx.pid")" 2>/dev/null
  ip link del "$HOST" 2>/dev/null
  ip link del "$RA" 2>/dev/null
  ip netns del "$NS" 2>/dev/null
  if [[ $rc -ne 0 || -n ${KEEP_TMP:-} ]]; then echo "ebpf-e2e: temp dir kept: $T" >&2
  else rm -rf "$T"; fi
}
trap cleanup EXIT

die() { echo "ebpf-e2e: FAIL: $*" >&2; exit 1; }
ok() { PASSED=$((PASSED + 1)); echo "ebpf-e2e: ok: $*"; }
wait_for() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# --- the server's namespace and the veth pair ------------------------------------------------
ip netns add "$NS"
ip link add "$HOST" type veth peer name "$PEER"
ip link set "$PEER" netns "$NS"
ip addr add "$CLI/24" dev "$HOST"
ip link set "$HOST" up
ip netns exec "$NS" ip addr add "$SRV/24" dev "$PEER"
ip netns exec "$NS" ip link set "$PEER" up
ip netns exec "$NS" ip link set lo up
ip -6 addr add "$CLI6/64" dev "$HOST" nodad
ip netns exec "$NS" ip -6 addr add "$SRV6/64" dev "$PEER" nodad
# Segmentation offloads would hand the capture 64 KB super-packets: the wire is MTU-sized.
ethtool -K "$HOST" tso off gso off gro off >/dev/null 2>&1 || true
ip netns exec "$NS" ethtool -K "$PEER" tso off gso off gro off >/dev/null 2>&1 || true

# --- nginx in the namespace, with a ticket key we choose -------------------------------------
NG=$T/nginx
mkdir -p "$NG/logs" "$NG/www"
head -c 1000000 /dev/urandom > "$NG/www/big.bin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj /CN=ebpf.test -addext "subjectAltName=DNS:ebpf.test" \
  -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
KEY_ASCII='ebpf-e2e-key-01!'
KEY_HEX=$(printf '%s' "$KEY_ASCII" | od -An -tx1 | tr -d ' \n')
{ printf '%s' "$KEY_ASCII"; head -c 32 /dev/urandom; } > "$T/ticket.key"
cat > "$NG/nginx.conf" <<NGINX
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/logs/error.log notice;
events { worker_connections 64; }
http {
    access_log off;
    server {
        listen $SRV:$PORT ssl; listen [$SRV6]:$PORT ssl; server_name ebpf.test;
        ssl_certificate $T/cert.pem; ssl_certificate_key $T/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on; ssl_session_timeout 1d;
        ssl_session_ticket_key $T/ticket.key;
        root $NG/www;
        # Paced like a real network (10 MB/s, 0.1 s per download): unpaced, a veth moves the
        # whole megabyte in a few milliseconds, and the share that reaches userland measures
        # how soon the sensor's thread was scheduled, not the bypass.
        limit_rate 10m;
    }
}
NGINX
ip netns exec "$NS" nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/logs/error.log" -g 'daemon on;'
wait_for "$NG/nginx.pid" . 10 || die "nginx did not start"

# --- capture: tcpdump (the reference) and the sensor with the kernel part on ----------------
tcpdump -i "$HOST" -n -U -s 0 -w "$T/wire.pcap" "tcp port $PORT" 2>"$T/tcpdump.err" &
TCPDUMP=$!
PIDS+=($TCPDUMP)
wait_for "$T/tcpdump.err" "listening on" 10 || die "tcpdump did not start"
"$B" live -i "$HOST" --filter "tcp port $PORT" --ebpf on --immediate --format json \
  --stats-interval 0 >"$T/live.json" 2>"$T/live.err" &
LIVE=$!
PIDS+=($LIVE)
wait_for "$T/live.err" "capturing on $HOST" 10 || { cat "$T/live.err" >&2; die "live did not start"; }
grep -q "dropped in the kernel" "$T/live.err" || { cat "$T/live.err" >&2; die "kernel part not attached"; }
for e in on off; do
  "$B" live -i "$HOST" -j 2 --filter "tcp port $PORT" --ebpf $e --immediate --format json \
    --stats-interval 0 >"$T/live-j2-$e.json" 2>"$T/live-j2-$e.err" &
  PIDS+=($!)
  eval "LIVE_J2_$e=$!"
  wait_for "$T/live-j2-$e.err" "capturing on $HOST with 2 workers" 10 \
    || { cat "$T/live-j2-$e.err" >&2; die "live -j 2 --ebpf $e did not start"; }
done
grep -q "dropped in the kernel" "$T/live-j2-on.err" \
  || { cat "$T/live-j2-on.err" >&2; die "kernel part not attached with -j 2"; }

# get VER EXPECT [s_client options]: downloads the 1 MB file; EXPECT New|Reused. GET_AT: the
# server's address (default $SRV).
get() {
  local ver=$1 expect=$2 at=${GET_AT:-$SRV}; shift 2
  local vflag=-tls1_2 log=$T/s_client.log
  [[ $ver == 1.3 ]] && vflag=-tls1_3
  printf 'GET /big.bin HTTP/1.1\r\nHost: ebpf.test\r\nConnection: close\r\n\r\n' |
    timeout 30 openssl s_client -connect "[$at]:$PORT" -servername ebpf.test $vflag -ign_eof "$@" \
      >"$log" 2>&1 || { tail -5 "$log" >&2; die "s_client failed"; }
  grep -q "^$expect, TLSv$ver," "$log" || { grep -a "TLSv" "$log" | head -3 >&2; die "expected '$expect, TLSv$ver,'"; }
  (( $(stat -c %s "$log") > 1000000 )) || die "the download was cut short"
}
for ver in 1.2 1.3; do
  get $ver New -sess_out "$T/s$ver.pem"
  get $ver Reused -sess_in "$T/s$ver.pem"
  get $ver Reused -sess_in "$T/s$ver.pem"
done
sleep 1
kill -TERM $LIVE "$LIVE_J2_on" "$LIVE_J2_off"
for run in "$LIVE:live" "$LIVE_J2_on:live-j2-on" "$LIVE_J2_off:live-j2-off"; do
  rc=0; wait "${run%%:*}" || rc=$?
  [[ $rc -eq 0 ]] || { cat "$T/${run#*:}.err" >&2; die "${run#*:} exited with $rc"; }
done
sleep 0.5
kill -INT $TCPDUMP; wait $TCPDUMP || true
ok "6 downloads of 1 MB (TLS 1.2 and 1.3, new and resumed) with the sensor's eBPF on"

# --- the same report as read of tcpdump's capture --------------------------------------------
"$B" read --format json "$T/wire.pcap" >"$T/read.json" || true
# Each socket stamps a packet itself (a few microseconds apart): times compare to the second;
# the packet counters differ by design (the sensor saw only the handshakes).
norm='walk(if type == "string" and test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[.][0-9]+Z$")
  then .[0:19] else . end) | del(.statistics, .capture, .observation.packets, .observation.files)'
jq -S "$norm" "$T/live.json" >"$T/live.norm"
jq -S "$norm" "$T/read.json" >"$T/read.norm"
diff -u "$T/read.norm" "$T/live.norm" >&2 || die "the live report differs from read of the capture"
[[ $(jq '.observation.connections' "$T/live.json") -eq 6 ]] || die "expected 6 connections"
grep -q "\"key_name\": \"$KEY_HEX\"" "$T/live.norm" || die "key $KEY_HEX missing from the report"
jq -e '[.services[] | .. | objects | select(has("resumed_ticket")) | .resumed_ticket] | add == 2' \
  "$T/live.json" >/dev/null || die "expected 2 TLS 1.2 ticket resumptions"
jq -e '[.services[] | .. | objects | select(has("resumed_psk")) | .resumed_psk] | add == 2' \
  "$T/live.json" >/dev/null || die "expected 2 TLS 1.3 PSK resumptions"
ok "the sensor's report equals read of tcpdump's capture (key $KEY_HEX, 2 ticket and 2 PSK resumptions)"
for e in on off; do
  jq -S "$norm" "$T/live-j2-$e.json" >"$T/live-j2-$e.norm"
  diff -u "$T/read.norm" "$T/live-j2-$e.norm" >&2 || die "the report of -j 2 --ebpf $e differs from read"
  [[ $(jq '.capture.workers | length' "$T/live-j2-$e.json") -eq 2 ]] || die "-j 2: expected 2 workers"
  [[ $(jq '[.capture.workers[].packets] | add' "$T/live-j2-$e.json") -eq \
     $(jq '.capture.received' "$T/live-j2-$e.json") ]] || die "-j 2: the workers' packets do not add up"
  echo "ebpf-e2e: -j 2 --ebpf $e: packets per worker $(jq -c '[.capture.workers[].packets]' "$T/live-j2-$e.json"), received $(jq '.capture.received' "$T/live-j2-$e.json")"
done
ok "live -j 2 (kernel part on and off) reports the same as read of tcpdump's capture"

# --- what reached userland ---------------------------------------------------------------------
wire=$(tcpdump -r "$T/wire.pcap" -n 2>/dev/null | wc -l)
recv=$(jq '.capture.received' "$T/live.json")
seen=$(jq '.capture.kernel_bypass.packets_seen' "$T/live.json")
byp=$(jq '.capture.kernel_bypass.packets_bypassed' "$T/live.json")
ent=$(jq '.capture.kernel_bypass.map_entries' "$T/live.json")
echo "ebpf-e2e: packets on the wire (tcpdump) $wire; seen by the program $seen; bypassed in the kernel $byp; delivered to the sensor $recv"
(( recv * 10 <= wire )) || die "more than 10% of the packets reached userland ($recv of $wire)"
(( byp > 0 && seen >= wire )) || die "kernel counters: seen $seen, bypassed $byp, wire $wire"
[[ $ent -eq 0 ]] || die "$ent map entries left after every connection closed"
(( seen == recv + byp )) || die "seen $seen is not delivered $recv + bypassed $byp"
ok "at most 10% of the wire's packets reached userland ($recv of $wire); the map emptied at FIN"

# --- the default filter `tcp`, applied by the program; an IPv6 connection bypassed ----------
# tcpdump beside the sensor with the same filter is the oracle for what `tcp` takes.
tcpdump -i "$HOST" -n -U -s 0 -w "$T/dflt-wire.pcap" tcp 2>"$T/dflt-tcpdump.err" &
DTCPDUMP=$!
PIDS+=($DTCPDUMP)
wait_for "$T/dflt-tcpdump.err" "listening on" 10 || die "tcpdump did not start"
"$B" live -i "$HOST" --ebpf on --immediate --format json --stats-interval 0 \
  >"$T/dflt.json" 2>"$T/dflt.err" &
LIVE=$!
PIDS+=($LIVE)
wait_for "$T/dflt.err" "capturing on $HOST" 10 || { cat "$T/dflt.err" >&2; die "live did not start"; }
for ((i = 0; i < 200; i++)); do
  echo "not tcp $i" >/dev/udp/$SRV/9
  echo "not tcp $i" >/dev/udp/$SRV6/9
done
get 1.3 Reused -sess_in "$T/s1.3.pem"
GET_AT=$SRV6 get 1.3 New
sleep 1
kill -TERM $LIVE; wait $LIVE || die "live (default filter) failed"
sleep 0.5
kill -INT $DTCPDUMP; wait $DTCPDUMP || true
pre=$(jq '.capture.kernel_bypass.packets_prefiltered' "$T/dflt.json")
seen=$(jq '.capture.kernel_bypass.packets_seen' "$T/dflt.json")
byp=$(jq '.capture.kernel_bypass.packets_bypassed' "$T/dflt.json")
recv=$(jq '.capture.received' "$T/dflt.json")
fus=$(jq '.capture.kernel_bypass.filtered_in_userspace' "$T/dflt.json")
v6=$(tcpdump -r "$T/dflt-wire.pcap" -n ip6 2>/dev/null | wc -l)
tcp=$(tcpdump -r "$T/dflt-wire.pcap" -n 2>/dev/null | wc -l)
echo "ebpf-e2e: filter tcp: seen $seen, prefiltered $pre, bypassed $byp, delivered $recv; tcpdump 'tcp' took $tcp ($v6 IPv6)"
(( pre >= 400 )) || die "only $pre packets other than TCP dropped in the kernel (200 UDP over IPv4 and 200 over IPv6 sent)"
(( seen == recv + byp + pre )) || die "seen $seen is not delivered $recv + bypassed $byp + prefiltered $pre"
[[ $fus -eq 0 ]] || die "$fus packets filtered in userspace: the program should have applied 'tcp'"
# What the program passed or bypassed is what libpcap's `tcp` took (tcpdump started earlier and
# stopped later, so it may have a few more).
(( recv + byp <= tcp && tcp - (recv + byp) <= 20 )) \
  || die "the program took $((recv + byp)) packets as 'tcp', tcpdump's libpcap filter $tcp"
[[ $(jq '.statistics.tls_connections' "$T/dflt.json") -eq 2 ]] || die "expected 2 TLS connections"
[[ $(jq '.statistics.skipped_not_tcp' "$T/dflt.json") -eq 0 ]] || die "UDP reached the pipeline"
[[ $(jq '[.services[].addresses[] | select(. == "[fd00:7:231::2]:'"$PORT"'")] | length' "$T/dflt.json") -eq 1 ]] \
  || { jq -c '[.services[] | .addresses]' "$T/dflt.json" >&2; die "the IPv6 server is missing"; }
# Both 1 MB downloads (about 700 packets each) were mostly dropped in the kernel: the IPv6 one
# found its connection under the same key as the sensor wrote.
(( byp >= 2 * 500 && v6 >= 600 )) || die "bypassed $byp (IPv6 packets on the wire $v6): the IPv6 connection was not bypassed"
[[ $(jq '.capture.kernel_bypass.map_entries' "$T/dflt.json") -eq 0 ]] || die "map entries left"
ok "the program applied 'tcp' as libpcap does ($((recv + byp)) vs $tcp packets, $pre UDP dropped, none filtered in userspace); the IPv6 download was bypassed too ($recv of $seen reached userland)"

# --- without privilege -----------------------------------------------------------------------
# Capture privilege without eBPF's: CAP_NET_RAW only.
# An array, not a function: a function run in the background is a subshell, and $! would
# name it rather than the sensor (which then outlived the script).
UNPRIV=(setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=+net_raw
  --ambient-caps=+net_raw)
rc=0; "${UNPRIV[@]}" "$B" live -i "$HOST" --ebpf on 2>"$T/on.err" </dev/null || rc=$?
[[ $rc -eq 2 ]] && grep -q -- "--ebpf on: cannot drop audited connections in the kernel" "$T/on.err" \
  || { cat "$T/on.err" >&2; die "--ebpf on without privilege: expected a clear error and status 2 (rc $rc)"; }
ok "--ebpf on without privilege: $(head -c 200 "$T/on.err")"
"${UNPRIV[@]}" "$B" live -i "$HOST" --ebpf auto --format json >"$T/auto.json" 2>"$T/auto.err" &
AUTO=$!
PIDS+=($AUTO)
wait_for "$T/auto.err" "capturing on $HOST" 10 || { cat "$T/auto.err" >&2; die "--ebpf auto did not start"; }
kill -TERM $AUTO; wait $AUTO || true
[[ $(grep -c "running without the kernel-side bypass" "$T/auto.err") -eq 1 ]] \
  || { cat "$T/auto.err" >&2; die "--ebpf auto without privilege should say so once"; }
ok "--ebpf auto without privilege says so once and captures"

# --- tunnels on several cores: two VXLAN tenants replayed into a veth --------------------------
# The kernel's own fanout hash reads the outer headers (this kernel looks inside VXLAN on its
# IANA port, not on others), so a tunnelled connection's two directions may reach different
# rings. The capture is moved to UDP port 8472 (Linux's old VXLAN port; --vxlan-port) so the
# kernel cannot look inside, and each direction keeps its own outer source port. The same
# replay is captured at once by -j 1, by -j 4 (the steering program places packets by their
# inner connection: the report must equal -j 1's and no packet may need handing on) and by
# -j 4 --ebpf off (the kernel's hash; packets meet again in the worker of their inner flow).
ip link add "$RA" type veth peer name "$RZ"
ip link set "$RA" up
ip link set "$RZ" up
for run in 1 4 4off; do
  opts=(-j "${run%off}")
  [[ $run == *off ]] && opts+=(--ebpf off)
  "$B" live -i "$RZ" "${opts[@]}" --filter udp --vxlan-port 8472 --format json --stats-interval 0 \
    >"$T/vx-j$run.json" 2>"$T/vx-j$run.err" &
  PIDS+=($!)
  eval "VX_$run=$!"
  wait_for "$T/vx-j$run.err" "capturing on $RZ" 10 || { cat "$T/vx-j$run.err" >&2; die "live -j $run on $RZ did not start"; }
done
tcprewrite --portmap=4789:8472 -i tunnel-captures/vxlan-tenants.pcap -o "$T/vx8472.pcap" 2>/dev/null
tcpreplay -q -i "$RA" --pps 2000 "$T/vx8472.pcap" >/dev/null 2>&1
sleep 1
kill -TERM "$VX_1" "$VX_4" "$VX_4off"
for run in 1 4 4off; do
  eval "wait \$VX_$run" || die "live -j $run (tunnels) failed"
done
vnorm='walk(if type == "string" and test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}[.][0-9]+Z$")
  then "T" else . end) | del(.statistics, .capture, .observation.packets, .observation.files)'
for run in 1 4 4off; do
  jq -S "$vnorm" "$T/vx-j$run.json" >"$T/vx-j$run.norm"
done
for run in 4 4off; do
  for vni in 100 200; do
    jq -e --arg s "tunnel.test vxlan $vni" '[.services[] | select(.service == $s)] | length == 1' \
      "$T/vx-j$run.json" >/dev/null || { jq -c '[.services[].service]' "$T/vx-j$run.json" >&2; die "-j $run: service 'tunnel.test vxlan $vni' missing"; }
  done
  for k in "tenant-A-key-100" "tenant-B-key-200"; do
    hex=$(printf '%s' "$k" | od -An -tx1 | tr -d ' \n')
    grep -q "\"key_name\": \"$hex\"" "$T/vx-j$run.norm" || die "-j $run: key $k ($hex) missing"
  done
  lost=$(jq '[.capture.workers[].forward_dropped] | add' "$T/vx-j$run.json")
  [[ $lost -eq 0 ]] || die "-j $run: $lost tunnelled packets lost between workers"
done
diff -u "$T/vx-j1.norm" "$T/vx-j4.norm" >&2 || die "-j 4 (steered by the inner connection): the report differs from -j 1's"
fwd=$(jq '[.capture.workers[].forwarded] | add' "$T/vx-j4.json")
[[ $fwd -eq 0 ]] || die "-j 4: the steering program should have put every packet in its inner connection's ring ($fwd handed on)"
per=$(jq -c '[.capture.workers[].packets]' "$T/vx-j4.json")
ok "two VXLAN tenants on 4 workers steered by their inner connection: the whole report equals -j 1's, no packet handed on (packets per worker $per)"
# Without the program the halves come from two rings, whose blocks are handed over up to 1 ms
# apart: a ServerHello can be read before its ClientHello and a resumption go uncounted
# (README, live -j). Services and keys must agree; the rest is reported.
fwd=$(jq '[.capture.workers[].forwarded] | add' "$T/vx-j4off.json")
[[ $fwd -gt 0 ]] || die "-j 4 --ebpf off: the kernel's hash split no tunnelled connection (expected some handed on)"
same=same
diff -u "$T/vx-j1.norm" "$T/vx-j4off.norm" >"$T/vx.diff" || same="NOT the same (diff in $T/vx.diff; known limit, see README)"
ok "-j 4 --ebpf off on the tunnels: the same 2 services and 2 keys, $fwd packets handed to their inner flow's worker; report $same as -j 1"

# --- --xdp on a dedicated port: the recorded downloads replayed into a veth ------------------
# XDP drops reach every consumer of the interface: tcpdump beside the sensor misses them too,
# which is what the warning says. Once the sensor exits, the program is gone from the link.
tcpdump -i "$RZ" -n -U -s 0 -w "$T/xdp-wire.pcap" "tcp port $PORT" 2>"$T/xdp-tcpdump.err" &
XT=$!
PIDS+=($XT)
wait_for "$T/xdp-tcpdump.err" "listening on" 10 || die "tcpdump on $RZ did not start"
"$B" live -i "$RZ" --xdp --filter "tcp port $PORT" --format json --stats-interval 0 \
  >"$T/xdp.json" 2>"$T/xdp.err" &
XS=$!
PIDS+=($XS)
wait_for "$T/xdp.err" "capturing on $RZ" 10 || { cat "$T/xdp.err" >&2; die "live --xdp did not start"; }
[[ $(grep -c "warning: --xdp: .* for every consumer of the interface" "$T/xdp.err") -eq 1 ]] \
  || { cat "$T/xdp.err" >&2; die "--xdp: expected its warning once"; }
ip link show dev "$RZ" | grep -q "xdp" || die "--xdp: no XDP program on $RZ"
sent=$(tcpreplay -i "$RA" --pps 20000 "$T/wire.pcap" 2>&1 | awk '/Actual:/ { print $2; exit }')
sleep 1
kill -TERM $XS; wait $XS || { cat "$T/xdp.err" >&2; die "live --xdp failed"; }
sleep 0.5
kill -INT $XT; wait $XT || true
! ip link show dev "$RZ" | grep -q "xdp" || die "--xdp: the XDP program stayed on $RZ after exit"
xseen=$(jq '.capture.kernel_bypass.xdp.packets_seen' "$T/xdp.json")
xdrop=$(jq '.capture.kernel_bypass.xdp.packets_dropped' "$T/xdp.json")
xrecv=$(jq '.capture.received' "$T/xdp.json")
tdgot=$(tcpdump -r "$T/xdp-wire.pcap" -n 2>/dev/null | wc -l)
echo "ebpf-e2e: --xdp ($(jq -r '.capture.kernel_bypass.xdp.mode' "$T/xdp.json")): replayed $sent; XDP saw $xseen, dropped $xdrop; the sensor received $xrecv; tcpdump beside it captured $tdgot"
[[ $(jq '.observation.connections' "$T/xdp.json") -eq 6 ]] || die "--xdp: expected 6 connections"
grep -q "\"key_name\": \"$KEY_HEX\"" "$T/xdp.json" || die "--xdp: key $KEY_HEX missing from the report"
jq -e '[.services[] | .. | objects | select(has("resumed_ticket")) | .resumed_ticket] | add == 2' \
  "$T/xdp.json" >/dev/null || die "--xdp: expected 2 TLS 1.2 ticket resumptions"
jq -e '[.services[] | .. | objects | select(has("resumed_psk")) | .resumed_psk] | add == 2' \
  "$T/xdp.json" >/dev/null || die "--xdp: expected 2 TLS 1.3 PSK resumptions"
(( xseen >= sent && xdrop > 0 )) || die "--xdp: XDP saw $xseen of $sent, dropped $xdrop"
(( xrecv * 10 <= sent )) || die "--xdp: more than 10% reached the sensor ($xrecv of $sent)"
(( tdgot <= sent - xdrop )) || die "--xdp: tcpdump captured $tdgot, more than $sent - $xdrop"
ok "--xdp: the same findings (6 connections, key, 2 + 2 resumptions), $xdrop of $xseen packets dropped at XDP for every consumer (tcpdump got $tdgot of $sent), the program gone at exit"
rc=0; "$B" live -i lo --xdp 2>"$T/xdp-lo.err" </dev/null || rc=$?
[[ $rc -eq 2 ]] && grep -q -- "--xdp: cannot drop audited connections at XDP on 'lo'" "$T/xdp-lo.err" \
  || { cat "$T/xdp-lo.err" >&2; die "--xdp on lo: expected a clear error and status 2 (rc $rc)"; }
rc=0; "$B" live -i "$RZ" --xdp --ebpf off 2>"$T/xdp-off.err" </dev/null || rc=$?
[[ $rc -eq 2 ]] && grep -q -- "--xdp needs the kernel part" "$T/xdp-off.err" \
  || { cat "$T/xdp-off.err" >&2; die "--xdp --ebpf off: expected a clear error and status 2 (rc $rc)"; }
ok "--xdp where it cannot work is refused with status 2 ($(head -c 140 "$T/xdp-lo.err"))"

# --- an interface the program cannot read ----------------------------------------------------
rc=0; "$B" live -i lo --ebpf on 2>"$T/lo.err" </dev/null || rc=$?
[[ $rc -eq 2 ]] && grep -q "not an Ethernet interface" "$T/lo.err" \
  || { cat "$T/lo.err" >&2; die "--ebpf on on lo: expected a clear error and status 2 (rc $rc)"; }
"$B" live -i lo --ebpf auto --format json >"$T/lo.json" 2>"$T/lo-auto.err" &
AUTO=$!
PIDS+=($AUTO)
wait_for "$T/lo-auto.err" "capturing on lo" 10 || { cat "$T/lo-auto.err" >&2; die "--ebpf auto on lo did not start"; }
kill -TERM $AUTO; wait $AUTO || true
[[ $(grep -c "running without the kernel-side bypass" "$T/lo-auto.err") -eq 1 ]] \
  || { cat "$T/lo-auto.err" >&2; die "--ebpf auto on lo should say so once"; }
ok "on lo, --ebpf on is refused with status 2 ($(head -c 160 "$T/lo.err")) and auto says so once"

echo "ebpf-e2e: $PASSED passed, 0 failed"
