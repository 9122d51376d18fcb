#!/usr/bin/env bash
# Makes captures/tls13-keylog.pcap and captures/tls13-keylog.keys: a real nginx TLS 1.3 server
# and `openssl s_client -keylogfile` clients, so the TLS 1.3 NewSessionTickets (encrypted on
# the wire) can be read with the client's NSS key log. Three cipher suites, each with its own
# server name and ticket key: TLS_AES_128_GCM_SHA256 (aes128.keylog.test, key name
# "stekwatch-kl-aes"), TLS_AES_256_GCM_SHA384 (aes256.keylog.test, "stekwatch-kl-256") and
# TLS_CHACHA20_POLY1305_SHA256 (chacha.keylog.test, "stekwatch-kl-c20"), on ports 443, 8443 and
# 4433 (one server per port: nginx takes the ticket keys of the port's default server whatever
# the SNI); per suite a full handshake (-sess_out) then a resumption (-sess_in).
#
# Runs nginx, the clients and tcpdump in a network namespace of its own (no clash with
# anything on the host's loopback). Needs root, nginx, openssl, tcpdump, iproute2.
set -euo pipefail
die() { echo "make-keylog: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "run as root (network namespace, tcpdump)"
for c in nginx openssl tcpdump ip timeout; do command -v "$c" >/dev/null || die "missing $c"; done

OUT=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/stekwatch-keylog.XXXXXX)
chmod 755 "$T"
NS=stekwatch-keylog-$$
NGINX_PID= TCPDUMP_PID=
cleanup() {
  set +e
  [[ -n $TCPDUMP_PID ]] && { kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID"; }
  [[ -n $NGINX_PID ]] && { kill -QUIT "$NGINX_PID"; wait "$NGINX_PID"; }
  ip netns del "$NS" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
IN=(ip netns exec "$NS")

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
  -subj /CN=stekwatch-keylog \
  -addext "subjectAltName=DNS:aes128.keylog.test,DNS:aes256.keylog.test,DNS:chacha.keylog.test" \
  -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null

SUITES=(TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256)
HOSTS=(aes128.keylog.test aes256.keylog.test chacha.keylog.test)
NAMES=(stekwatch-kl-aes stekwatch-kl-256 stekwatch-kl-c20)
PORTS=(443 8443 4433)
servers=
for i in 0 1 2; do
  # 48-byte nginx ticket key: the 16-byte key name, then 32 random bytes.
  { printf '%s' "${NAMES[$i]}"; head -c 32 /dev/urandom; } > "$T/ticket$i.key"
  servers+="
    server {
        listen 127.0.0.1:${PORTS[$i]} ssl;
        server_name ${HOSTS[$i]};
        ssl_session_ticket_key $T/ticket$i.key;
        location / { return 200 \"ok\\n\"; }
    }"
done
mkdir -p "$T/logs"
cat > "$T/nginx.conf" <<CONF
worker_processes 1;
pid $T/nginx.pid;
error_log $T/logs/error.log notice;
events { worker_connections 64; }
http {
    access_log off;
    ssl_certificate     $T/cert.pem;
    ssl_certificate_key $T/key.pem;
    ssl_protocols TLSv1.3;
    ssl_session_tickets on;
$servers
}
CONF
"${IN[@]}" nginx -p "$T" -c "$T/nginx.conf" -e "$T/logs/error.log" -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 50); do [[ -s $T/nginx.pid ]] && break; sleep 0.1; done
[[ -s $T/nginx.pid ]] || die "nginx did not start"

"${IN[@]}" tcpdump -i lo -n -U -w "$T/raw.pcap" 'tcp port 443 or tcp port 8443 or tcp port 4433' 2>"$T/tcpdump.log" &
TCPDUMP_PID=$!
sleep 1

KEYS=$T/keys.txt
client() {  # HOST PORT SUITE SESSION_OPTION FILE
  printf 'GET / HTTP/1.0\r\nHost: %s\r\n\r\n' "$1" |
    "${IN[@]}" timeout 10 openssl s_client -connect "127.0.0.1:$2" -servername "$1" -tls1_3 \
      -ciphersuites "$3" "$4" "$5" -keylogfile "$KEYS" -ign_eof -quiet >/dev/null 2>&1 ||
    die "s_client to $1 ($3) failed"
}
for i in 0 1 2; do
  client "${HOSTS[$i]}" "${PORTS[$i]}" "${SUITES[$i]}" -sess_out "$T/sess$i.pem"
  sleep 0.5
  client "${HOSTS[$i]}" "${PORTS[$i]}" "${SUITES[$i]}" -sess_in "$T/sess$i.pem"
  sleep 0.5
done
sleep 1
kill -INT "$TCPDUMP_PID"; wait "$TCPDUMP_PID" || true; TCPDUMP_PID=
cp "$T/raw.pcap" "$OUT/tls13-keylog.pcap"
cp "$KEYS" "$OUT/tls13-keylog.keys"
echo "make-keylog: wrote $OUT/tls13-keylog.pcap ($(stat -c %s "$OUT/tls13-keylog.pcap") bytes) and $OUT/tls13-keylog.keys"
