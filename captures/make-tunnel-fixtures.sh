#!/usr/bin/env bash
# make-tunnel-fixtures.sh — tunnelled TLS made by the Linux kernel's own tunnel devices.
#
# Network namespaces joined by veth pairs to a bridge in an "underlay" namespace; in each case a
# client and a server namespace get a real kernel tunnel device to each other (vxlan, geneve,
# gretap with key, erspan II and III, ip6gretap, ipip, sit, ip6tnl ip6ip6/ipip6, MPLS routes),
# a real nginx (Debian package) listens in the server namespace on the inner address with an
# `ssl_session_ticket_key` file whose first 16 bytes are a chosen ASCII key name, and
# `openssl s_client -tls1_2` in the client namespace makes one full handshake (-sess_out) and one
# resumption (-sess_in) through the overlay; tcpdump captures on the underlay bridge, so the
# captures hold the encapsulated packets exactly as the kernel sent them.
#
# A device type this kernel lacks is reported ("SKIP ...") and skipped, never faked; PPPoE and
# GTP-U have no kernel device at all: tests/tunnels.rs wraps the packets of a real capture in
# those headers instead (see captures/README.md).
#
# Needs: root, iproute2, nginx, openssl, tcpdump. Everything stays inside namespaces created
# here (deleted at exit, also on failure).
#
# Usage: ./make-tunnel-fixtures.sh [CASE...]   (default: every case; see CASES below)
set -euo pipefail

OUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TUN=$(cd "$OUT/.." && pwd)/tunnel-captures
mkdir -p "$TUN"
CASES=(vxlan vxlan-tenants vxlan-ipv6 geneve gretap erspan2 erspan3 ip6gretap ipip sit
       ip6ip6 ipip6 mpls)
TAG=swt$$
T=$(mktemp -d /tmp/tunnel-fixtures.XXXXXX)
chmod 755 "$T"
NAMESPACES=()
PIDS=()

die() { echo "make-tunnel-fixtures: ERROR: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

cleanup() {
  local p n
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for n in "${NAMESPACES[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  [[ -n ${KEEP_TMP:-} ]] && echo "temp dir kept: $T" >&2 || rm -rf "$T"
}
trap cleanup EXIT

[[ $(id -u) == 0 ]] || die "run as root (network namespaces)"
for c in ip nginx openssl tcpdump timeout; do command -v "$c" >/dev/null || die "missing $c"; done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
  -subj /CN=tunnel.test -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null || die "openssl req"

in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ns NAME — a namespace with lo up
ns() { ip netns add "$1"; NAMESPACES+=("$1"); in_ns "$1" ip link set lo up; }

# underlay — the underlay namespace "$TAG-u" with bridge br0 (addresses of the hosts below)
underlay() {
  ns "$TAG-u"
  in_ns "$TAG-u" ip link add br0 type bridge
  in_ns "$TAG-u" ip link set br0 up
  in_ns "$TAG-u" sysctl -qw net.ipv6.conf.br0.disable_ipv6=1
}

# host NAME N — namespace "$TAG-NAME" on the underlay as 192.168.77.N / fd77::N
host() {
  local n=$TAG-$1 i=$2
  ns "$n"
  ip link add "v$i-$TAG" type veth peer name "b$i-$TAG"
  ip link set "v$i-$TAG" netns "$n"
  ip link set "b$i-$TAG" netns "$TAG-u"
  in_ns "$TAG-u" ip link set "b$i-$TAG" master br0 up
  in_ns "$n" ip link set "v$i-$TAG" name u0
  in_ns "$n" ip addr add "192.168.77.$i/24" dev u0
  in_ns "$n" ip -6 addr add "fd77::$i/64" dev u0 nodad
  in_ns "$n" ip link set u0 up
}

# tunnel NS NAME ME PEER KIND ID INNER_ME — a kernel tunnel device NAME in namespace NS; returns 1
# (after saying SKIP) when this kernel has no such device.
tunnel() {
  local ns=$1 dev=$2 me=$3 peer=$4 kind=$5 id=$6 inner=$7 spec
  case $kind in
    vxlan)     spec=(type vxlan id "$id" local "$me" remote "$peer" dstport 4789) ;;
    geneve)    spec=(type geneve id "$id" remote "$peer") ;;
    gretap)    spec=(type gretap key "$id" local "$me" remote "$peer") ;;
    erspan2)   spec=(type erspan seq key "$id" local "$me" remote "$peer" erspan_ver 1 erspan "$id") ;;
    erspan3)   spec=(type erspan seq key "$id" local "$me" remote "$peer" erspan_ver 2
                     erspan_dir ingress erspan_hwid 7) ;;
    ip6gretap) spec=(type ip6gretap key "$id" local "$me" remote "$peer") ;;
    ipip)      spec=(type ipip local "$me" remote "$peer") ;;
    sit)       spec=(type sit local "$me" remote "$peer") ;;
    ip6ip6)    spec=(type ip6tnl mode ip6ip6 local "$me" remote "$peer") ;;
    ipip6)     spec=(type ip6tnl mode ipip6 local "$me" remote "$peer") ;;
    *) die "unknown tunnel kind $kind" ;;
  esac
  if ! in_ns "$ns" ip link add "$dev" "${spec[@]}" 2>"$T/err"; then
    echo "SKIP $kind: this kernel has no such device ($(cat "$T/err"))" >&2
    return 1
  fi
  in_ns "$ns" ip link set "$dev" mtu 1400 up
  in_ns "$ns" ip addr add "$inner" dev "$dev" nodad 2>/dev/null || in_ns "$ns" ip addr add "$inner" dev "$dev"
}

# nginx_in NS KEYNAME LISTEN — nginx in NS whose ticket key's name is KEYNAME (16 ASCII bytes)
nginx_in() {
  local ns=$1 name=$2 listen=$3 d=$T/nginx-$1
  [[ ${#name} == 16 ]] || die "key name '$name' is not 16 bytes"
  mkdir -p "$d/logs"
  { printf '%s' "$name"; head -c 32 /dev/urandom; } > "$d/ticket.key"
  cat > "$d/nginx.conf" <<EOF
worker_processes 1;
pid $d/nginx.pid;
error_log $d/logs/error.log notice;
events { worker_connections 64; }
http {
    access_log off;
    server {
        listen $listen ssl;
        server_name tunnel.test;
        ssl_certificate     $T/cert.pem;
        ssl_certificate_key $T/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;
        ssl_session_ticket_key $d/ticket.key;
        location / { return 200 "ok\n"; }
    }
}
EOF
  in_ns "$ns" nginx -p "$d" -c "$d/nginx.conf" -e "$d/logs/error.log" -g 'daemon off;' &
  PIDS+=($!)
  local i; for i in $(seq 50); do [[ -s $d/nginx.pid ]] && return 0; sleep 0.1; done
  die "nginx in $ns did not start: $(tail -3 "$d/logs/error.log")"
}

# reachable NS ADDR — wait (before capturing) until nginx answers through the overlay
reachable() {
  local ns=$1 addr=$2 host port i
  host=${2%:*}; host=${host#[}; host=${host%]}; port=${2##*:}
  for i in $(seq 50); do
    in_ns "$ns" timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null && return 0
    sleep 0.2
  done
  die "$addr not reachable from $ns through the tunnel"
}

# handshakes NS ADDR — one full TLS 1.2 handshake that stores the session, then one resumption
handshakes() {
  local ns=$1 addr=$2 sess=$T/sess-$1-$RANDOM
  (sleep 0.5; echo Q) | in_ns "$ns" timeout 10 openssl s_client -connect "$addr" -tls1_2 \
      -servername tunnel.test -sess_out "$sess" >"$T/full.log" 2>&1 || true
  grep -q "New, TLSv1.2" "$T/full.log" || { cat "$T/full.log" >&2; die "full handshake to $addr failed"; }
  (sleep 0.5; echo Q) | in_ns "$ns" timeout 10 openssl s_client -connect "$addr" -tls1_2 \
      -servername tunnel.test -sess_in "$sess" >"$T/resumed.log" 2>&1 || true
  grep -q "Reused, TLSv1.2" "$T/resumed.log" || { cat "$T/resumed.log" >&2; die "resumption to $addr failed"; }
}

capture_start() {   # capture_start FILE — tcpdump on the underlay bridge
  in_ns "$TAG-u" tcpdump -i br0 -s 0 -U -w "$1" 2>"$T/tcpdump.log" &
  CAP_PID=$!
  local i; for i in $(seq 50); do grep -q listening "$T/tcpdump.log" && break; sleep 0.1; done
}
capture_stop() { sleep 0.5; kill "$CAP_PID"; wait "$CAP_PID" 2>/dev/null || true; }

reset() {   # delete every namespace of the previous case
  local p n
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  PIDS=()
  for n in "${NAMESPACES[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  NAMESPACES=()
}

# pair CASE KIND ID UNDER INNER KEYNAME — one client/server pair through a KIND tunnel.
# UNDER 4|6: the underlay family; INNER 4|6: the inner family.
pair() {
  local case=$1 kind=$2 id=$3 under=$4 inner=$5 name=$6
  reset; underlay; host c 1; host s 2
  local cme=192.168.77.1 sme=192.168.77.2 cin=10.0.0.1/24 sin=10.0.0.5/24 saddr=10.0.0.5:443
  [[ $under == 6 ]] && { cme=fd77::1; sme=fd77::2; }
  [[ $inner == 6 ]] && { cin=fd10::1/64; sin=fd10::5/64; saddr='[fd10::5]:443'; }
  tunnel "$TAG-c" t0 "$cme" "$sme" "$kind" "$id" "$cin" || return 0
  tunnel "$TAG-s" t0 "$sme" "$cme" "$kind" "$id" "$sin" || return 0
  nginx_in "$TAG-s" "$name" "$saddr"
  log "$case: $kind id $id, IPv$inner in IPv$under"
  reachable "$TAG-c" "$saddr"
  capture_start "$T/$case.pcap"
  handshakes "$TAG-c" "$saddr"
  capture_stop
  cp "$T/$case.pcap" "$TUN/$case.pcap"
}

# Two tenants: the same inner addresses (10.0.0.1 → 10.0.0.5:443) behind VNIs 100 and 200, two
# nginx with different keys, one capture.
tenants() {
  reset; underlay; host ca 11; host sa 12; host cb 21; host sb 22
  tunnel "$TAG-ca" t0 192.168.77.11 192.168.77.12 vxlan 100 10.0.0.1/24 || return 0
  tunnel "$TAG-sa" t0 192.168.77.12 192.168.77.11 vxlan 100 10.0.0.5/24
  tunnel "$TAG-cb" t0 192.168.77.21 192.168.77.22 vxlan 200 10.0.0.1/24
  tunnel "$TAG-sb" t0 192.168.77.22 192.168.77.21 vxlan 200 10.0.0.5/24
  nginx_in "$TAG-sa" "tenant-A-key-100" 10.0.0.5:443
  nginx_in "$TAG-sb" "tenant-B-key-200" 10.0.0.5:443
  log "vxlan-tenants: VNI 100 and 200, same inner addresses"
  reachable "$TAG-ca" 10.0.0.5:443
  reachable "$TAG-cb" 10.0.0.5:443
  capture_start "$T/tenants.pcap"
  handshakes "$TAG-ca" 10.0.0.5:443
  handshakes "$TAG-cb" 10.0.0.5:443
  capture_stop
  cp "$T/tenants.pcap" "$TUN/vxlan-tenants.pcap"
}

# MPLS: label-switched IPv4 between the two hosts (static routes with `encap mpls`).
mpls() {
  if ! modprobe mpls_router 2>/dev/null && [[ ! -d /proc/sys/net/mpls ]]; then
    echo "SKIP mpls: this kernel has no mpls_router (no /proc/sys/net/mpls)" >&2
    return 0
  fi
  reset; underlay; host c 1; host s 2
  local n
  for n in c s; do
    in_ns "$TAG-$n" sysctl -qw net.mpls.platform_labels=1000 net.mpls.conf.u0.input=1
  done
  in_ns "$TAG-c" ip addr add 10.0.0.1/32 dev lo
  in_ns "$TAG-s" ip addr add 10.0.0.5/32 dev lo
  in_ns "$TAG-c" ip route add 10.0.0.5/32 encap mpls 105 via 192.168.77.2
  in_ns "$TAG-s" ip route add 10.0.0.1/32 encap mpls 101 via 192.168.77.1
  in_ns "$TAG-s" ip -f mpls route add 105 dev lo
  in_ns "$TAG-c" ip -f mpls route add 101 dev lo
  nginx_in "$TAG-s" "mpls-labelled-16" 10.0.0.5:443
  log "mpls: labels 105/101"
  reachable "$TAG-c" 10.0.0.5:443
  capture_start "$T/mpls.pcap"
  handshakes "$TAG-c" 10.0.0.5:443
  capture_stop
  cp "$T/mpls.pcap" "$TUN/mpls.pcap"
}

run() {
  case $1 in
    vxlan)        pair vxlan vxlan 42 4 4 "vxlan-vni42-key!" ;;
    vxlan-tenants) tenants ;;
    vxlan-ipv6)   pair vxlan-ipv6 vxlan 43 6 6 "vxlan6-vni43-key" ;;
    geneve)       pair geneve geneve 77 4 4 "geneve-vni77-key" ;;
    gretap)       pair gretap gretap 1001 4 4 "gretap-key1001-!" ;;
    erspan2)      pair erspan2 erspan2 12 4 4 "erspan2-sess12-!" ;;
    erspan3)      pair erspan3 erspan3 13 4 4 "erspan3-sess13-!" ;;
    ip6gretap)    pair ip6gretap ip6gretap 1002 6 4 "ip6gretap-k1002!" ;;
    ipip)         pair ipip ipip 0 4 4 "ipip-4in4-key-16" ;;
    sit)          pair sit sit 0 4 6 "sit-6in4-key-16!" ;;
    ip6ip6)       pair ip6ip6 ip6ip6 0 6 6 "ip6tnl-6in6-key!" ;;
    ipip6)        pair ipip6 ipip6 0 6 4 "ip6tnl-4in6-key!" ;;
    mpls)         mpls ;;
    *) die "unknown case $1 (cases: ${CASES[*]})" ;;
  esac
}

if (($#)); then LIST=("$@"); else LIST=("${CASES[@]}"); fi
for c in "${LIST[@]}"; do run "$c"; done
reset
ls -l "$TUN"/*.pcap >&2
