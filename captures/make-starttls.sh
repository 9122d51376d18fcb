#!/usr/bin/env bash
# make-starttls.sh — regenerate the STARTTLS fixture captures (captures/starttls-*.pcap).
#
# Real daemons from Debian packages on 127.0.0.1, each with its own config and state under a temp
# dir, on their standard ports (which must be free): postfix (SMTP 25 and submission 587, plus
# 2525 without STARTTLS and 2526 whose certificate is missing, for the refusals), dovecot (IMAP
# 143, POP3 110), vsftpd (FTP 21, AUTH TLS), slapd (LDAP 389, StartTLS extended operation),
# PostgreSQL 15 (5432, SSLRequest). Client: `openssl s_client -starttls smtp|imap|pop3|ftp|ldap|
# postgres`, four connections per service: TLS 1.2 with -sess_out then -sess_in (tickets), and
# TLS 1.3 the same (PSK resumption); a second connection without -sess_in when the first saved no
# session. Captured with `tcpdump -i lo`; each file is shifted so its first packet lies exactly on
# 2026-11-01T00:00:00Z. See README.md for what each file must show.
#
# Needs root and: postfix dovecot-imapd dovecot-pop3d vsftpd slapd postgresql openssl tcpdump
# tshark wireshark-common (editcap). Not run by CI: the captures are committed.
#
# Usage: ./make-starttls.sh [NAME...]   (NAME: smtp imap pop3 ftp ldap postgres refused)
#        KEEP_TMP=1 ./make-starttls.sh  keeps the temp dir (daemon logs, s_client output)
set -euo pipefail

OUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE=1793491200 # 2026-11-01T00:00:00Z
ALL=(smtp imap pop3 ftp ldap postgres refused)
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

die() { echo "make-starttls: ERROR: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

[ "$(id -u)" = 0 ] || die "run as root (daemons on standard ports, tcpdump on lo)"
for c in postfix dovecot vsftpd slapd openssl tcpdump tshark editcap script; do
  command -v "$c" >/dev/null || die "missing $c"
done
[ -x "$PG_BIN/initdb" ] || die "missing PostgreSQL (initdb)"

T=$(mktemp -d /tmp/make-starttls.XXXXXX)
chmod 755 "$T"
PIDS=()      # daemons started here (killed by pid at exit)
STOPS=()     # commands that stop daemons that keep their own pid
cleanup() {
  local s p
  for s in "${STOPS[@]}"; do eval "$s" >/dev/null 2>&1 || true; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT

# One self-signed ECDSA P-256 certificate for every server name.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/key.pem" \
  -out "$T/cert.pem" -days 3650 -subj /CN=mail.example \
  -addext "subjectAltName=DNS:mail.example,DNS:ftp.example,DNS:ldap.example,DNS:db.example" \
  2>/dev/null
chmod 644 "$T/cert.pem" "$T/key.pem"

wait_port() { # PORT: until something listens on 127.0.0.1:PORT (10 s)
  local i
  for i in $(seq 50); do
    ss -ltn "sport = :$1" | grep -q LISTEN && return 0
    sleep 0.2
  done
  die "nothing listens on port $1"
}

start_postfix() {
  local d=$T/postfix
  mkdir -p "$d/spool" "$d/data"
  chown postfix "$d/data"
  cat >"$d/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
mail_owner = postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mail.example
mydestination =
maillog_file_prefixes = $T
maillog_file = $d/maillog
smtpd_tls_cert_file = $T/cert.pem
smtpd_tls_key_file = $T/key.pem
smtpd_tls_security_level = may
EOF
  cat >"$d/master.cf" <<EOF
127.0.0.1:25   inet  n - n - - smtpd
127.0.0.1:587  inet  n - n - - smtpd
127.0.0.1:2525 inet  n - n - - smtpd -o smtpd_tls_security_level=none
127.0.0.1:2526 inet  n - n - - smtpd -o smtpd_tls_cert_file=$T/missing.pem -o smtpd_tls_key_file=$T/missing.pem
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
  # postfix reports errors on a terminal only: `script` gives it one.
  script -qc "postfix -c $d start" /dev/null >"$T/postfix.out" 2>&1 || die "postfix: $(cat "$T/postfix.out")"
  STOPS+=("script -qc 'postfix -c $d stop' /dev/null")
  wait_port 25; wait_port 587; wait_port 2525; wait_port 2526
}

start_dovecot() {
  local d=$T/dovecot
  mkdir -p "$d/run" "$d/state"
  cat >"$d/dovecot.conf" <<EOF
base_dir = $d/run
state_dir = $d/state
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <$T/cert.pem
ssl_key = <$T/key.pem
log_path = $d/log
passdb {
  driver = static
  args = password=x
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/tmp
}
# One long-lived login process per protocol (high-performance mode): its SSL context, and so its
# ticket key, serves every connection; with the default of a process per connection no ticket
# could ever be resumed.
service imap-login {
  inet_listener imap {
    port = 143
  }
  inet_listener imaps {
    port = 0
  }
  service_count = 0
  process_min_avail = 1
  process_limit = 1
}
service pop3-login {
  inet_listener pop3 {
    port = 110
  }
  inet_listener pop3s {
    port = 0
  }
  service_count = 0
  process_min_avail = 1
  process_limit = 1
}
EOF
  dovecot -c "$d/dovecot.conf"
  wait_port 143; wait_port 110
  PIDS+=("$(cat "$d/run/master.pid")")
}

start_vsftpd() {
  local d=$T/vsftpd
  mkdir -p "$d/empty"
  cat >"$d/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=21
background=NO
anonymous_enable=YES
local_enable=NO
ssl_enable=YES
allow_anon_ssl=YES
require_ssl_reuse=NO
ssl_ciphers=HIGH
rsa_cert_file=$T/cert.pem
rsa_private_key_file=$T/key.pem
secure_chroot_dir=$d/empty
anon_root=$d/empty
seccomp_sandbox=NO
EOF
  vsftpd "$d/vsftpd.conf" >"$d/out" 2>&1 &
  PIDS+=("$!")
  wait_port 21
}

start_slapd() {
  local d=$T/slapd
  mkdir -p "$d/db"
  cat >"$d/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
pidfile $d/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCertificateFile $T/cert.pem
TLSCertificateKeyFile $T/key.pem
database mdb
suffix "dc=example"
rootdn "cn=admin,dc=example"
directory $d/db
EOF
  slapd -f "$d/slapd.conf" -h "ldap://127.0.0.1:389/"
  wait_port 389
  PIDS+=("$(cat "$d/slapd.pid")")
}

start_postgres() {
  local d=$T/pg
  mkdir -p "$d/data" "$d/run"
  cp "$T/cert.pem" "$T/key.pem" "$d/"
  chown -R postgres "$d"
  chmod 600 "$d/key.pem"
  su postgres -c "$PG_BIN/initdb -D $d/data -A trust -U postgres" >"$d/initdb.log" 2>&1
  su postgres -c "$PG_BIN/pg_ctl -D $d/data -l $d/log -o \"-c listen_addresses=127.0.0.1 \
    -c port=5432 -c unix_socket_directories=$d/run -c ssl=on -c ssl_cert_file=$d/cert.pem \
    -c ssl_key_file=$d/key.pem\" start" >/dev/null
  STOPS+=("su postgres -c '$PG_BIN/pg_ctl -D $d/data stop'")
  wait_port 5432
}

# client PROTO PORT NAME VERSION: two connections, the second resuming the first's session.
client() {
  local proto=$1 port=$2 name=$3 v=$4 sess=$T/sess-$1-$2-$4 i
  for i in 1 2; do
    local args=(-starttls "$proto" -connect "127.0.0.1:$port" -servername "$name" "-$v")
    if [ "$i" = 1 ]; then args+=(-sess_out "$sess"); elif [ -s "$sess" ]; then args+=(-sess_in "$sess"); fi
    # stdin stays open 1 s so the client reads TLS 1.3 tickets before closing.
    sleep 1 | timeout 15 openssl s_client "${args[@]}" >"$T/client-$proto-$port-$v-$i.out" 2>&1 || true
    sleep 0.3
  done
}

# capture NAME FILTER CMD...: tcpdump on lo around CMD, shifted to BASE, into starttls-NAME.pcap
capture() {
  local name=$1 filter=$2 raw=$T/$1.raw.pcap first delta
  shift 2
  tcpdump -i lo -U -s 0 -w "$raw" "$filter" 2>"$T/tcpdump-$name.log" &
  local tp=$!
  sleep 1
  "$@"
  sleep 1
  kill "$tp"; wait "$tp" 2>/dev/null || true
  first=$(tshark -r "$raw" -c 1 -T fields -e frame.time_epoch)
  delta=$(python3 -c "from decimal import Decimal as D; print(D('$BASE') - D('$first'))")
  editcap -F pcap -t "$delta" "$raw" "$OUT/starttls-$name.pcap"
  log "starttls-$name.pcap: $(tshark -r "$OUT/starttls-$name.pcap" | wc -l) packets"
}

run_smtp() { client smtp 25 mail.example tls1_2; client smtp 25 mail.example tls1_3
  client smtp 587 mail.example tls1_2; client smtp 587 mail.example tls1_3; }
run_imap() { client imap 143 mail.example tls1_2; client imap 143 mail.example tls1_3; }
run_pop3() { client pop3 110 mail.example tls1_2; client pop3 110 mail.example tls1_3; }
run_ftp() { client ftp 21 ftp.example tls1_2; client ftp 21 ftp.example tls1_3; }
run_ldap() { client ldap 389 ldap.example tls1_2; client ldap 389 ldap.example tls1_3; }
run_postgres() { client postgres 5432 db.example tls1_2; client postgres 5432 db.example tls1_3; }
# The refusals: 2525 offers no STARTTLS (502 to it), 2526 answers 454 (no certificate); the client
# sends its ClientHello anyway ("trying anyway"), into a session the server keeps in cleartext.
run_refused() {
  sleep 1 | timeout 15 openssl s_client -starttls smtp -connect 127.0.0.1:2525 -servername mail.example \
    >"$T/client-refused-2525.out" 2>&1 || true
  sleep 0.3
  sleep 1 | timeout 15 openssl s_client -starttls smtp -connect 127.0.0.1:2526 -servername mail.example \
    >"$T/client-refused-2526.out" 2>&1 || true
}

NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=("${ALL[@]}")
want() { local n; for n in "${NAMES[@]}"; do [[ " $* " == *" $n "* ]] && return 0; done; return 1; }

want smtp refused && start_postfix
want imap pop3 && start_dovecot
want ftp && start_vsftpd
want ldap && start_slapd
want postgres && start_postgres

for n in "${NAMES[@]}"; do
  case $n in
    smtp) capture smtp 'tcp port 25 or tcp port 587' run_smtp ;;
    imap) capture imap 'tcp port 143' run_imap ;;
    pop3) capture pop3 'tcp port 110' run_pop3 ;;
    ftp) capture ftp 'tcp port 21' run_ftp ;;
    ldap) capture ldap 'tcp port 389' run_ldap ;;
    postgres) capture postgres 'tcp port 5432' run_postgres ;;
    refused) capture refused 'tcp port 2525 or tcp port 2526' run_refused ;;
    *) die "unknown fixture $n (one of: ${ALL[*]})" ;;
  esac
done
