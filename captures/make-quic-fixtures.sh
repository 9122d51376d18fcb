#!/usr/bin/env bash
# make-quic-fixtures.sh — regenerate the QUIC fixture captures in this directory.
#
# A real QUIC stack on loopback: aioquic (PyPI) as server and client (captures/quic/aioquic_peer.py),
# TLS 1.3 over QUIC v1 and v2 with session tickets and resumption (PSK identities in the
# ClientHello, the selected identity in the ServerHello), captured with tcpdump on UDP 4433. The
# server's tickets start with a fixed 16-byte key name per run (see aioquic_peer.py). Segments
# are shifted with `editcap -t` so that segment k starts at 2026-11-01T00:00:00Z + its offset, and
# joined with `mergecap`. The client's NSS key log is kept beside each capture (NAME.keys).
#
# Needs: python3 with aioquic (`pip install aioquic`), openssl, tcpdump, wireshark-common
# (editcap, mergecap), root (tcpdump on lo). UDP port 4433 on 127.0.0.1 must be free.
#
# Usage: ./make-quic-fixtures.sh [NAME...]   (quic-resumption quic-v2 quic-retry quic-static-days)
set -euo pipefail

OUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEER="$OUT/quic/aioquic_peer.py"
BASE=1793491200 # 2026-11-01T00:00:00Z
DAY=86400
PORT=4433
ALL=(quic-resumption quic-v2 quic-retry quic-static-days)

die() { echo "make-quic-fixtures: ERROR: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

python3 -c 'import aioquic' 2>/dev/null || die "aioquic missing: pip install aioquic"
for t in openssl tcpdump editcap mergecap tshark; do
  command -v "$t" >/dev/null || die "$t missing"
done

TMP=$(mktemp -d)
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null || true
  [[ -n "${KEEP_TMP:-}" ]] && echo "kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
  -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -subj /CN=quic.stekwatch.test 2>/dev/null

server() { # KEY_NAME [--retry]
  python3 "$PEER" server --port "$PORT" --cert "$TMP/cert.pem" --key "$TMP/key.pem" \
    --key-name "$1" "${@:2}" >"$TMP/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 50); do grep -q listening "$TMP/server.log" 2>/dev/null && return; sleep 0.1; done
  die "server did not start: $(cat "$TMP/server.log")"
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }

client() { # NAME ARGS...
  timeout 30 python3 "$PEER" client --port "$PORT" --tickets "$TMP/$1.tickets" \
    --keylog "$TMP/$1.keys" "${@:2}"
}

# capture SEGMENT_FILE COMMAND...: runs COMMAND while tcpdump records UDP $PORT on lo.
capture() {
  local out=$1; shift
  tcpdump -i lo -U -w "$out" "udp port $PORT" >/dev/null 2>&1 &
  local td=$!
  sleep 1
  "$@"
  sleep 0.5
  kill "$td"; wait "$td" 2>/dev/null || true
}

# shift_to SEGMENT OFFSET OUT: the segment's first packet at BASE + OFFSET.
shift_to() {
  local first
  first=$(tshark -r "$1" -c 1 -T fields -e frame.time_epoch 2>/dev/null)
  editcap -F pcap -t "$(echo "$BASE + $2 - $first" | bc -l)" "$1" "$3"
}

make_resumption() { # one full handshake, two resumptions, one resumption with 0-RTT
  server stekwatch-quic-A
  capture "$TMP/seg.pcap" bash -c "$(declare -f client); PEER=$PEER PORT=$PORT TMP=$TMP; \
    client quic-resumption --connections 3 && client quic-resumption --early-data"
  stop_server
  shift_to "$TMP/seg.pcap" 0 "$OUT/quic-resumption.pcap"
  cp "$TMP/quic-resumption.keys" "$OUT/quic-resumption.keys"
}

make_v2() { # QUIC v2: one full handshake, one resumption
  server stekwatch-quic-2
  capture "$TMP/seg.pcap" bash -c "$(declare -f client); PEER=$PEER PORT=$PORT TMP=$TMP; \
    client quic-v2 --version 2 --connections 2"
  stop_server
  shift_to "$TMP/seg.pcap" 0 "$OUT/quic-v2.pcap"
  cp "$TMP/quic-v2.keys" "$OUT/quic-v2.keys"
}

make_retry() { # the server asks for address validation (Retry) before every handshake
  server stekwatch-quic-R --retry
  capture "$TMP/seg.pcap" bash -c "$(declare -f client); PEER=$PEER PORT=$PORT TMP=$TMP; \
    client quic-retry --connections 2"
  stop_server
  shift_to "$TMP/seg.pcap" 0 "$OUT/quic-retry.pcap"
  cp "$TMP/quic-retry.keys" "$OUT/quic-retry.keys"
}

make_static_days() { # one key over 8 days: segments at day 0, 4 and 8, resumptions in each
  server stekwatch-quic-S
  local segs=()
  for k in 0 1 2; do
    capture "$TMP/seg$k.pcap" bash -c "$(declare -f client); PEER=$PEER PORT=$PORT TMP=$TMP; \
      client quic-static-days --connections 2"
    shift_to "$TMP/seg$k.pcap" $((k * 4 * DAY)) "$TMP/shifted$k.pcap"
    segs+=("$TMP/shifted$k.pcap")
  done
  stop_server
  mergecap -F pcap -w "$OUT/quic-static-days.pcap" "${segs[@]}"
  cp "$TMP/quic-static-days.keys" "$OUT/quic-static-days.keys"
}

names=("$@")
((${#names[@]})) || names=("${ALL[@]}")
for n in "${names[@]}"; do
  log "$n"
  case $n in
    quic-resumption) make_resumption ;;
    quic-v2) make_v2 ;;
    quic-retry) make_retry ;;
    quic-static-days) make_static_days ;;
    *) die "unknown fixture $n" ;;
  esac
  tshark -r "$OUT/$n.pcap" -Y 'tls.handshake.type==1 || tls.handshake.type==2' -T fields \
    -e frame.number -e quic.version -e tls.handshake.type \
    -e tls.handshake.extensions.psk.identity.selected 2>/dev/null | sed 's/^/   /' >&2
done
