#!/usr/bin/env bash
# make-fixtures.sh — regenerate the stekwatch fixture captures in this directory.
#
# Real servers on loopback (nginx, `openssl s_server`, haproxy, `gnutls-serv`, Go crypto/tls in
# go-server/, Java JSSE in java-server/), real clients
# (`openssl s_client`, `gnutls-cli`, curl), captured with tcpdump; capture segments are shifted in
# time with `editcap -t` (segment k of every fixture starts at exactly 2026-11-01T00:00:00Z + its
# offset) and joined with `mergecap`.  See README.md for what each file must show.
#
# Needs (Debian 12): nginx openssl tcpdump tshark wireshark-common (editcap mergecap capinfos), root;
# haproxy (fixture haproxy) and gnutls-bin (fixture gnutls-serv); golang-1.23-go (bookworm-backports)
# and golang-1.19-go (fixtures go-default, go119-default); openjdk-17-jdk-headless (java-jsse).
# Servers listen on 127.0.0.1, 127.0.0.2 and ::1 only (ports 443, 8443, 8080, 4433, 4434, 8444,
# 5556, 8446, 8448 and 9443, which must be free).
#
# Usage:
#   ./make-fixtures.sh                      regenerate every fixture
#   ./make-fixtures.sh NAME...              regenerate only these (e.g. static-key-weeks weak-key)
#   ./make-fixtures.sh --summarize FILE...  print the per-connection / per-key summary and counts of
#                                           existing captures (tshark + awk, no servers)
#   KEEP_TMP=1 ./make-fixtures.sh           keep the temp dir (server logs, s_client logs, raw segments)
set -euo pipefail

OUT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE=1793491200            # 2026-11-01T00:00:00Z: first packet of every fixture
HOUR=3600
DAY=86400
ALL_FIXTURES=(static-key-weeks rotation-daily tls13-static-days session-cache-only shared-key
              no-resumption ipv6-sll2-nano weak-key early-data plain-http
              openssl-s-server haproxy gnutls-serv hello-retry
              zero-stek-48 zero-stek-80 zero-stek-haproxy healthy-stek plaintext-ticket
              fleet-hourly next-key-early go-default go119-default java-jsse static-short)
WEAK_NAME='zero-stek-key-01' # the one key name of the weak-STEK fixtures (zero keys and the healthy one)
HRR_RANDOM=cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c   # RFC 8446 4.1.3

die() { echo "make-fixtures: ERROR: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

# ---------------------------------------------------------------------------------------------
# Oracle: per-connection and per-key summary computed by tshark + awk (independent of stekwatch)
# ---------------------------------------------------------------------------------------------
TSHARK_FIELDS=(frame.number frame.time_epoch tcp.stream ip.src ipv6.src tcp.srcport ip.dst ipv6.dst
  tcp.dstport tls.handshake.type tls.handshake.extensions_server_name tls.handshake.session_id
  tls.handshake.extension.type tls.handshake.extension.len tls.handshake.extension.data
  tls.handshake.session_ticket tls.handshake.session_ticket_lifetime_hint
  tls.handshake.extensions.psk.identity.identity tls.handshake.extensions.psk.identity.selected
  tls.handshake.extensions.supported_version tls.handshake.random)

# Prints "== connections", "== keys" and a final "counts: k=v ..." line.
summarize() {
  local f=$1 args=() x
  for x in "${TSHARK_FIELDS[@]}"; do args+=(-e "$x"); done
  tshark -r "$f" -Y 'tls.handshake.type' -T fields -E separator='|' -E occurrence=a \
      -E aggregator=',' "${args[@]}" 2>/dev/null | awk -F'|' -v BASE="$BASE" -v HRR="$HRR_RANDOM" "$SUMMARY_AWK"
}

read -r -d '' SUMMARY_AWK <<'AWK' || true
function utc(t,   s, fr, days, z, era, doe, yoe, y, doy, mp, d, m, r) {
    s = t; sub(/\..*/, "", s); s += 0
    fr = (t ~ /\./) ? t : "0.0"; sub(/^[^.]*\./, "", fr); fr = substr(fr "000000", 1, 6)
    days = int(s / 86400); r = s - days * 86400
    z = days + 719468; era = int(z / 146097); doe = z - era * 146097
    yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
    y = yoe + era * 400; doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100))
    mp = int((5 * doy + 2) / 153); d = doy - int((153 * mp + 2) / 5) + 1
    m = (mp < 10) ? mp + 3 : mp - 9; if (m <= 2) y++
    return sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%sZ", y, m, d, int(r / 3600), int(r % 3600 / 60), r % 60, fr)
}
function rel(t,   s, fr, o) {        # offset from BASE: +Dd HH:MM:SS.mmm
    s = t; sub(/\..*/, "", s); s += 0; o = s - BASE
    fr = (t ~ /\./) ? t : "0.0"; sub(/^[^.]*\./, "", fr); fr = substr(fr "000", 1, 3)
    return sprintf("+%dd %02d:%02d:%02d.%s", int(o / 86400), int(o % 86400 / 3600), int(o % 3600 / 60), o % 60, fr)
}
function ascii(h,   i, c, out, hx) {
    hx = "0123456789abcdef"; out = ""
    for (i = 1; i < length(h); i += 2) {
        c = (index(hx, substr(h, i, 1)) - 1) * 16 + index(hx, substr(h, i + 1, 1)) - 1
        out = out ((c >= 33 && c <= 126) ? sprintf("%c", c) : ".")
    }
    return out
}
function age(d,   ms) { ms = int(d * 1000 + 0.5); return sprintf("%dd %02dh%02dm%02d.%03ds", int(ms / 86400000), int(ms % 86400000 / 3600000), int(ms % 3600000 / 60000), int(ms % 60000 / 1000), ms % 1000) }
function kn(ticket) { return substr(ticket, 1, 32) }
function has(list, v,   a, n, i) { n = split(list, a, ","); for (i = 1; i <= n; i++) if (a[i] == v) return 1; return 0 }
function note(svc, key, what, t) {
    K = svc SUBSEP key
    if (!(K in seen)) { seen[K] = 1; korder[++nk] = K }
    cnt[K, what]++
    if (!((K, what, "first") in tm)) tm[K, what, "first"] = t
    tm[K, what, "last"] = t
}
{
    fr = $1; t = $2; s = $3
    src = ($4 != "" ? $4 : "[" $5 "]") ":" $6; dst = ($7 != "" ? $7 : "[" $8 "]") ":" $9
    types = $10
    if (!(s in first)) { first[s] = t; order[++ns] = s }
    if (has(types, 1)) {                                   # ClientHello
        if (s in ch) chfr[s] = chfr[s] "+" fr                # second ClientHello after a HelloRetryRequest
        else chfr[s] = fr
        if (!(s in ch)) cht[s] = t
        nch++; ch[s] = 1; sni[s] = $11; srv[s] = dst; cli[s] = src; chsid[s] = $12
        nt = split($13, et, ","); split($14, el, ","); nd = split($15, ed, ",")
        for (i = 1; i <= nt; i++) {
            if (et[i] == 35 && el[i] > 0)                  # non-empty session_ticket: find its bytes
                for (j = 1; j <= nd; j++) if (length(ed[j]) == 2 * el[i]) chtk[s] = ed[j]
            if (et[i] == 41) chpsk_ext[s] = 1
            if (et[i] == 42) chearly[s] = 1
        }
        chpsk[s] = $18
    }
    if (has(types, 2) && $21 == HRR) {                     # HelloRetryRequest (a ServerHello with the special random)
        hrr[s] = fr; nhrr++
    } else if (has(types, 2)) {                            # ServerHello
        sh[s] = 1; shfr[s] = fr; sht[s] = t; shsid[s] = $12; shsel[s] = $19
        if ($12 != "" && !($12 in sidfr)) { sidfr[$12] = fr; sidtm[$12] = t }
        shv13[s] = has($20, "0x0304") ? 1 : 0
        if (has($13, 41)) shpsk[s] = 1
    }
    if (has(types, 11)) cert[s] = 1                        # cleartext Certificate (TLS 1.2 full)
    if (has(types, 4)) {                                   # cleartext NewSessionTicket (TLS 1.2)
        n = split($16, tk, ","); split($17, hint, ",")
        for (i = 1; i <= n; i++) { nst[s] = nst[s] (nst[s] == "" ? "" : " ") kn(tk[i]) "(hint " hint[i] ", frame " fr ")"; nstk[s, i] = kn(tk[i]); nstt[s, i] = t; tfr[tk[i]] = fr; ttm[tk[i]] = t }
        nstn[s] = n; nnst += n
    }
}
END {
    print "== connections (tcp.stream, ClientHello time, client -> server, SNI, outcome, key names)"
    for (o = 1; o <= ns; o++) {
        s = order[o]; if (!(s in ch)) continue
        svc = (sni[s] != "" ? sni[s] : "-") " " srv[s]
        offered = ""; accepted = ""
        if (chtk[s] != "") { offered = offered " ticket:" kn(chtk[s]) "(" length(chtk[s]) / 2 "B)"; note(svc, kn(chtk[s]), "offered", cht[s]) }
        if (chpsk[s] != "") { np = split(chpsk[s], pi, ","); for (i = 1; i <= np; i++) { offered = offered " psk:" kn(pi[i]) "(" length(pi[i]) / 2 "B)"; note(svc, kn(pi[i]), "offered", cht[s]) } nchpsk++ }
        if (chearly[s]) { nearly++; offered = offered " early_data" }
        if (!(s in sh)) kind = "no-serverhello"
        else if (shv13[s]) {
            if (shpsk[s]) { kind = "resumed-psk-1.3"; acc = kn(pi[shsel[s] + 1]); nrpsk++ }
            else { kind = "full-1.3"; nf13++ }
        } else if (!cert[s]) {
            if (chtk[s] != "") { kind = "resumed-ticket-1.2"; acc = kn(chtk[s]); nrtk++ }
            else if (chsid[s] != "" && chsid[s] == shsid[s]) { kind = "resumed-sessionid-1.2"; acc = ""; nrsid++ }
            else kind = "abbreviated-1.2-unexplained"
        } else { kind = "full-1.2"; nf12++ }
        if (kind ~ /^full-/) {                             # offered, answered with a full handshake: rejected
            if (chtk[s] != "") note(svc, kn(chtk[s]), "rejected", sht[s])
            if (chpsk[s] != "") for (i = 1; i <= np; i++) note(svc, kn(pi[i]), "rejected", sht[s])
        }
        if (kind ~ /^resumed-(psk|ticket)/) { note(svc, acc, "accepted", sht[s]); accepted = " accepted:" acc; if (kind ~ /ticket/ && (chtk[s] in tfr)) accepted = accepted " (ticket issued in frame " tfr[chtk[s]] ", " age(sht[s] - ttm[chtk[s]]) " earlier)" }
        else if (kind == "resumed-sessionid-1.2") accepted = " accepted-session-id:" substr(chsid[s], 1, 16) "... (session established in frame " sidfr[chsid[s]] ", " age(sht[s] - sidtm[chsid[s]]) " earlier)"
        for (i = 1; i <= nstn[s]; i++) note(svc, nstk[s, i], "issued", nstt[s, i])
        printf "stream %-3s CH frame %-4s SH frame %-4s %s (%s) %s -> %s sni=%s %s%s%s%s%s\n", s, chfr[s], shfr[s], utc(cht[s]), rel(cht[s]), cli[s], srv[s], (sni[s] != "" ? sni[s] : "-"), kind, \
            (s in hrr ? " after-HelloRetryRequest(frame " hrr[s] ")" : ""), \
            (nst[s] != "" ? " issued:" nst[s] : ""), offered == "" ? "" : " offered:" substr(offered, 2), accepted
        nconn++
    }
    print "== keys (service = SNI + server address; key name hex and ASCII; first/last per kind)"
    for (o = 1; o <= nk; o++) {
        K = korder[o]; split(K, p, SUBSEP)
        printf "%s key %s \"%s\"\n", p[1], p[2], ascii(p[2])
        for (w = 1; w <= 4; w++) {
            what = (w == 1 ? "issued" : (w == 2 ? "accepted" : (w == 3 ? "offered" : "rejected")))
            if (cnt[K, what] > 0)
                printf "    %-8s %3d  first %s (%s)  last %s (%s)\n", what, cnt[K, what], utc(tm[K, what, "first"]), rel(tm[K, what, "first"]), utc(tm[K, what, "last"]), rel(tm[K, what, "last"])
        }
    }
    printf "counts: conns=%d full12=%d full13=%d res_ticket=%d res_sid=%d res_psk=%d nst=%d ch_psk=%d ch_early=%d\n", \
        nconn, nf12, nf13, nrtk, nrsid, nrpsk, nnst, nchpsk, nearly
    if (nhrr > 0) printf "hello-retry-requests: %d\n", nhrr
}
AWK

# Plain display-filter counts (the commands listed in README.md), printed as k=v.  ClientHellos and
# ClientHellos with pre_shared_key are counted per TCP stream: after a HelloRetryRequest the client
# sends a second ClientHello on the same connection (without HRR: one ClientHello per stream).
filter_counts() {
  local f=$1
  local nst ch chpsk shpsk early abbr12 hrr
  nst=$(tshark -r "$f" -Y 'tls.handshake.type==4' -T fields -e tls.handshake.session_ticket 2>/dev/null | tr ',' '\n' | grep -c . || true)
  ch=$(tshark -r "$f" -Y 'tls.handshake.type==1' -T fields -e tcp.stream 2>/dev/null | sort -u | wc -l)
  chpsk=$(tshark -r "$f" -Y 'tls.handshake.type==1 && tls.handshake.extension.type==41' -T fields -e tcp.stream 2>/dev/null | sort -u | wc -l)
  hrr=$(tshark -r "$f" -Y "tls.handshake.type==2 && tls.handshake.random==$HRR_RANDOM" 2>/dev/null | wc -l)
  shpsk=$(tshark -r "$f" -Y "tls.handshake.type==2 && tls.handshake.extension.type==41 && !(tls.handshake.random==$HRR_RANDOM)" 2>/dev/null | wc -l)
  early=$(tshark -r "$f" -Y 'tls.handshake.type==1 && tls.handshake.extension.type==42' 2>/dev/null | wc -l)
  # TLS 1.2 ServerHellos on streams that carry no Certificate (per stream: JSSE sends its Certificate
  # in a frame of its own)
  abbr12=$(comm -23 <(tshark -r "$f" -Y 'tls.handshake.type==2 && !(tls.handshake.extensions.supported_version==0x0304)' \
                        -T fields -e tcp.stream 2>/dev/null | sort -u) \
                    <(tshark -r "$f" -Y 'tls.handshake.type==11' -T fields -e tcp.stream 2>/dev/null | sort -u) | wc -l)
  echo "filters: clienthello=$ch nst=$nst ch_psk=$chpsk sh_psk=$shpsk ch_early=$early abbreviated12=$abbr12 hrr=$hrr"
}

if [[ ${1:-} == --summarize ]]; then
  shift
  for f in "$@"; do echo "######## $f"; summarize "$f"; filter_counts "$f"; done
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# Environment
# ---------------------------------------------------------------------------------------------
[[ $(id -u) == 0 ]] || die "run as root (tcpdump on lo, nginx on port 443)"
for c in nginx openssl tcpdump tshark editcap mergecap capinfos timeout ss; do
  command -v "$c" >/dev/null || die "missing command: $c"
done
for p in 443 8443 8080 4433 4434 8444 5556 8446 8448 9443; do
  [[ -z $(ss -Hltn "sport = :$p") ]] || die "port $p is already in use: $(ss -Hltn "sport = :$p")"
done

T=$(mktemp -d /tmp/stekwatch-fixtures.XXXXXX)
chmod 755 "$T"                       # nginx workers run as nobody
NG=$T/nginx
NGINX_PID=
SERVER_PID=              # openssl s_server / haproxy / gnutls-serv (one at a time)
NETNS=()                 # command prefix "ip netns exec NAME" while a fixture runs in its own netns
NETNS_NAME=
TCPDUMP_PID=
NCONN=0
declare -A NGX=()         # further nginx instances running at once (ngx_start): name -> master pid

cleanup() {
  local rc=$?
  set +e
  if [[ -n $TCPDUMP_PID ]]; then kill -INT "$TCPDUMP_PID" 2>/dev/null; wait "$TCPDUMP_PID" 2>/dev/null; fi
  if [[ -n $NGINX_PID ]]; then kill -QUIT "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; fi
  local p; for p in "${NGX[@]}"; do kill -QUIT "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  if [[ -n $SERVER_PID ]]; then kill -TERM "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
  if [[ -n $NETNS_NAME ]]; then ip netns del "$NETNS_NAME" 2>/dev/null; fi
  if [[ $rc != 0 || -n ${KEEP_TMP:-} ]]; then echo "make-fixtures: temp dir kept: $T" >&2
  else rm -rf "$T"; fi
}
trap cleanup EXIT

# One self-signed ECDSA P-256 certificate (small handshakes) for every server name.
NAMES=(static.test rotate.test tls13.test cache.test a.shared.test b.shared.test c.shared.test
       none.test v6.test weak.test early.test ossl.test haproxy.test gnutls.test hrr.test
       zero48.test zero80.test haproxy-zero.test healthy.test
       fleet.test next.test go.test java.test short.test)
SAN=$(printf 'DNS:%s,' "${NAMES[@]}")IP:127.0.0.1,IP:127.0.0.2,IP:::1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
  -subj /CN=stekwatch-fixtures -addext "subjectAltName=$SAN" \
  -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null || die "openssl req failed"
printf 'GET / HTTP/1.1\r\nHost: early.test\r\n\r\n' > "$T/early-request.txt"

# mkkey FILE NAME16 — 48-byte nginx ticket key: 16-byte key name, then 32 random bytes
# (16 HMAC + 16 AES-128 key).  NAME16 "ZERO" makes a name of 16 zero bytes.
mkkey() {
  local file=$1 name=$2
  if [[ $name == ZERO ]]; then head -c 16 /dev/zero > "$file"
  else
    [[ ${#name} == 16 ]] || die "key name '$name' is not 16 bytes"
    printf '%s' "$name" > "$file"
  fi
  head -c 32 /dev/urandom >> "$file"
  [[ $(stat -c %s "$file") == 48 ]] || die "key file $file is not 48 bytes"
}

# ---------------------------------------------------------------------------------------------
# nginx (own prefix, own pid file, foreground master as our child)
# ---------------------------------------------------------------------------------------------
start_nginx() {          # $1: http-level snippet with the server blocks
  mkdir -p "$NG/logs"
  cat > "$NG/nginx.conf" <<EOF
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/logs/error.log notice;
events { worker_connections 64; }
http {
    access_log off;
    ssl_certificate     $T/cert.pem;
    ssl_certificate_key $T/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
$1
}
EOF
  nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/logs/error.log" -t -q || die "nginx config test failed"
  rm -f "$NG/nginx.pid"
  nginx -p "$NG" -c "$NG/nginx.conf" -e "$NG/logs/error.log" -g 'daemon off;' &
  NGINX_PID=$!
  local i
  for i in $(seq 100); do
    [[ -s $NG/nginx.pid ]] && break
    kill -0 "$NGINX_PID" 2>/dev/null || { tail "$NG/logs/error.log" >&2; die "nginx exited"; }
    sleep 0.1
  done
  [[ -s $NG/nginx.pid ]] || die "nginx did not start"
  cp "$NG/nginx.conf" "$T/nginx.conf.$(date +%s%N)"    # keep every config for debugging
}

stop_nginx() {
  kill -QUIT "$NGINX_PID"
  wait "$NGINX_PID" || die "nginx exited with status $?"
  NGINX_PID=
}

# ---------------------------------------------------------------------------------------------
# tcpdump segments, time shift, join
# ---------------------------------------------------------------------------------------------
SEG_FILES=()

# seg_begin FIXTURE K FILTER [tcpdump options, default: -i lo]
seg_begin() {
  local fx=$1 k=$2 filter=$3; shift 3
  [[ $# -gt 0 ]] || set -- -i lo
  SEG_RAW=$T/$fx.seg$k.raw
  "${NETNS[@]}" tcpdump "$@" -n -U -Z root -w "$SEG_RAW" "$filter" 2>"$SEG_RAW.log" &
  TCPDUMP_PID=$!
  sleep 1
  kill -0 "$TCPDUMP_PID" 2>/dev/null || { cat "$SEG_RAW.log" >&2; die "tcpdump did not start"; }
  grep -q 'listening on' "$SEG_RAW.log" || { sleep 1; grep -q 'listening on' "$SEG_RAW.log" || die "tcpdump not listening"; }
}

first_ts() { tshark -r "$1" -c 1 -T fields -e frame.time_epoch 2>/dev/null; }
to_ns() {                # "1793491200.123456000" -> integer nanoseconds
  local s=${1%%.*} f=0
  [[ $1 == *.* ]] && f=${1#*.}
  f=${f}000000000; f=${f:0:9}
  echo $(( 10#$s * 1000000000 + 10#$f ))
}

# seg_end TARGET_EPOCH_SECONDS [editcap output format, default pcap]
seg_end() {
  local target=$1 fmt=${2:-pcap}
  sleep 1
  kill -INT "$TCPDUMP_PID"
  wait "$TCPDUMP_PID" || { cat "$SEG_RAW.log" >&2; die "tcpdump exited with status $?"; }
  TCPDUMP_PID=
  local t d sign='' delta out=$SEG_RAW.shifted got
  t=$(first_ts "$SEG_RAW"); [[ -n $t ]] || die "segment $SEG_RAW is empty"
  d=$(( target * 1000000000 - $(to_ns "$t") ))
  if (( d < 0 )); then sign=-; d=$(( -d )); fi
  delta=$(printf '%s%d.%09d' "$sign" $(( d / 1000000000 )) $(( d % 1000000000 )))
  editcap -F "$fmt" -t "$delta" "$SEG_RAW" "$out"
  got=$(to_ns "$(first_ts "$out")")
  (( got == target * 1000000000 )) || die "time shift of $SEG_RAW: first packet at $got ns, wanted ${target}000000000"
  SEG_FILES+=("$out")
  log "segment $(basename "$SEG_RAW"): $(tshark -r "$out" 2>/dev/null | wc -l) packets, first packet $t -> $target (editcap -t $delta)"
}

join_segments() {        # join_segments OUTFILE
  local out=$1
  if (( ${#SEG_FILES[@]} == 1 )); then cp "${SEG_FILES[0]}" "$out"
  else mergecap -F pcap -w "$out" "${SEG_FILES[@]}"; fi
  SEG_FILES=()
}

# ---------------------------------------------------------------------------------------------
# clients
# ---------------------------------------------------------------------------------------------
# conn VER EXPECT CONNECT SNI [s_client options...]
#   VER 1.2|1.3; EXPECT New|Reused: the s_client line "EXPECT, TLSvVER," must appear.
#   TLS 1.3 clients stay connected 1 s so they read the (encrypted) NewSessionTickets.
conn() {
  local ver=$1 expect=$2 connect=$3 sni=$4; shift 4
  local vflag=-tls1_2 hold=0.2
  [[ $ver == 1.3 ]] && { vflag=-tls1_3; hold=1; }
  NCONN=$((NCONN + 1))
  local lf
  lf=$T/conn$(printf %03d $NCONN).log
  echo "openssl s_client -connect $connect -servername $sni $vflag $*" > "$lf"
  if ! (trap '' PIPE; sleep "$hold"; echo Q 2>/dev/null || true) | timeout 20 "${NETNS[@]}" openssl s_client -connect "$connect" -servername "$sni" "$vflag" "$@" >>"$lf" 2>&1; then
    cat "$lf" >&2; die "s_client failed (log $lf)"
  fi
  if ! grep -q "^$expect, TLSv$ver," "$lf"; then
    cat "$lf" >&2; die "expected '$expect, TLSv$ver,' from: s_client -connect $connect -servername $sni $vflag $*"
  fi
  echo "   $expect TLSv$ver  $connect $sni $*" >&2
}
has_ticket() { openssl sess_id -in "$1" -noout -text | grep -q 'TLS session ticket:' || die "no ticket in session file $1"; }
full12()   { conn 1.2 New    "$1" "$2" -sess_out "$3"; has_ticket "$3"; }
resume12() { conn 1.2 Reused "$1" "$2" -sess_in "$3"; }
full13()   { conn 1.3 New    "$1" "$2" -sess_out "$3"; has_ticket "$3"; }
resume13() { conn 1.3 Reused "$1" "$2" -sess_in "$3"; }

# check_counts FILE "conns=.. full12=.. ..." [HRR] — the tshark/awk oracle must agree with the plan;
# HRR = number of HelloRetryRequests (default 0).
check_counts() {
  local f=$1 want=$2 want_hrr=${3:-0} got
  got=$(summarize "$f" | sed -n 's/^counts: //p')
  [[ $got == "$want" ]] || { summarize "$f" >&2; die "$(basename "$f"): counts '$got', expected '$want'"; }
  # the plain display-filter counts must agree with the per-connection classification
  local fc kv
  local -A g=() h=()
  fc=$(filter_counts "$f")
  for kv in $got; do g[${kv%=*}]=${kv#*=}; done
  for kv in ${fc#filters: }; do h[${kv%=*}]=${kv#*=}; done
  (( h[clienthello] == g[conns] && h[nst] == g[nst] && h[ch_psk] == g[ch_psk] && h[sh_psk] == g[res_psk] \
     && h[ch_early] == g[ch_early] && h[abbreviated12] == g[res_ticket] + g[res_sid] )) \
    || die "$(basename "$f"): display-filter counts ($fc) disagree with the classification ($got)"
  (( h[hrr] == want_hrr )) || die "$(basename "$f"): ${h[hrr]} HelloRetryRequests, expected $want_hrr"
  log "$(basename "$f"): $got; $fc"
}

server() {   # server LISTEN NAME EXTRA... -> an nginx server block
  local listen=$1 name=$2; shift 2
  printf '    server {\n        listen %s ssl;\n        server_name %s;\n' "$listen" "$name"
  local l; for l in "$@"; do printf '        %s\n' "$l"; done
  printf '        location / { return 200 "ok\\n"; }\n    }\n'
}

# ---------------------------------------------------------------------------------------------
# other servers: openssl s_server, haproxy, gnutls-serv (foreground, our child, log in $T)
# ---------------------------------------------------------------------------------------------
need() { local c; for c in "$@"; do command -v "$c" >/dev/null || die "missing command: $c"; done; }
hexname() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

# netns_enter / netns_leave — a private network namespace whose only interface is lo
# (127.0.0.1, ::1), for servers that cannot be told to listen on loopback only (gnutls-serv binds
# 0.0.0.0 and ::).  While inside, tcpdump, the clients and the server run under "ip netns exec".
netns_enter() {
  need ip
  NETNS_NAME=stekwatch-fixtures-$$
  ip netns add "$NETNS_NAME" || die "ip netns add failed"
  ip netns exec "$NETNS_NAME" ip link set lo up || die "cannot bring up lo in $NETNS_NAME"
  NETNS=(ip netns exec "$NETNS_NAME")
}
netns_leave() {
  ip netns del "$NETNS_NAME" || die "ip netns del $NETNS_NAME failed"
  NETNS=(); NETNS_NAME=
}

# start_server NAME PORT COMMAND... — run COMMAND in the background (stdin /dev/null, output to
# $T/NAME.<ns>.log) and wait until something listens on PORT.
start_server() {
  local name=$1 port=$2; shift 2
  [[ -z $SERVER_PID ]] || die "a server is already running (pid $SERVER_PID)"
  SERVER_LOG=$T/$name.$(date +%s%N).log
  echo "$*" > "$SERVER_LOG"
  "${NETNS[@]}" "$@" </dev/null >>"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  local i
  for i in $(seq 100); do
    [[ -n $("${NETNS[@]}" ss -Hltn "sport = :$port") ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$SERVER_LOG" >&2; die "$name exited"; }
    sleep 0.1
  done
  [[ -n $("${NETNS[@]}" ss -Hltn "sport = :$port") ]] || { cat "$SERVER_LOG" >&2; die "$name is not listening on port $port"; }
}

# stop_server SIGNAL [STATUS] — signal the server and wait for it: exit status 0, "killed by
# SIGNAL" or STATUS (gnutls-serv catches SIGTERM and exits with 1) are fine.
stop_server() {
  local sig=$1 ok=${2:-0} rc=0
  kill "-$sig" "$SERVER_PID"
  wait "$SERVER_PID" || rc=$?
  (( rc == 0 || rc == ok || rc == 128 + $(kill -l "$sig") )) || { cat "$SERVER_LOG" >&2; die "server exited with status $rc"; }
  SERVER_PID=
}

# gnutls_resume VER PORT SNI [PRIORITY-SUFFIX] — `gnutls-cli --resume`: a full handshake, then a
# second connection that must resume it ("*** This is a resumed session"); TLS 1.3 with
# --waitresumption (wait for the NewSessionTicket before closing the first connection).
gnutls_resume() {
  local ver=$1 port=$2 sni=$3 prio="NORMAL:-VERS-ALL:+VERS-TLS$1${4:-}"
  local opts=(--insecure --sni-hostname "$sni" -p "$port" --resume --priority "$prio")
  [[ $ver == 1.3 ]] && opts+=(--waitresumption)
  NCONN=$((NCONN + 2))
  local lf
  lf=$T/conn$(printf %03d $NCONN).log
  echo "gnutls-cli ${opts[*]} 127.0.0.1" > "$lf"
  timeout 20 "${NETNS[@]}" gnutls-cli "${opts[@]}" 127.0.0.1 </dev/null >>"$lf" 2>&1 \
    || { cat "$lf" >&2; die "gnutls-cli failed (log $lf)"; }
  [[ $(grep -c "^- Description: (TLS$ver-" "$lf") == 2 ]] || { cat "$lf" >&2; die "gnutls-cli: expected two TLS$ver connections (log $lf)"; }
  grep -q '^\*\*\* This is a resumed session' "$lf" || { cat "$lf" >&2; die "gnutls-cli: the second connection was not resumed (log $lf)"; }
  echo "   New+Reused TLSv$ver  127.0.0.1:$port $sni gnutls-cli --resume --priority $prio" >&2
}

# key_names FILE [FILTER] — distinct first 16 bytes (hex) of the NST tickets and PSK identities
# (the design's tshark oracle), optionally restricted by a display filter.
key_names() {
  local filter='tls.handshake.session_ticket || tls.handshake.extensions.psk.identity.identity'
  [[ -n ${2:-} ]] && filter="($filter) && ($2)"
  tshark -r "$1" -Y "$filter" -T fields -e tls.handshake.session_ticket \
      -e tls.handshake.extensions.psk.identity.identity 2>/dev/null \
    | tr '\t,' '\n\n' | { grep . || true; } | cut -c1-32 | sort -u
}

# ---------------------------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------------------------
fx_static_key_weeks() {
  local fx=static-key-weeks c=127.0.0.1:443 sni=static.test k d
  mkkey "$T/static.key" 'static-key-0001!'
  start_nginx "$(server 127.0.0.1:443 $sni 'ssl_session_tickets on;' "ssl_session_ticket_key $T/static.key;" \
               'ssl_session_timeout 8d;')"
  for k in 0 1 2 3; do
    d=$((k * 7))
    seg_begin $fx $k 'tcp port 443'
    full12   $c $sni "$T/$fx.d$d.t12.sess"
    resume12 $c $sni "$T/$fx.d$d.t12.sess"
    full13   $c $sni "$T/$fx.d$d.t13.sess"
    resume13 $c $sni "$T/$fx.d$d.t13.sess"
    if (( d == 14 )); then resume12 $c $sni "$T/$fx.d0.t12.sess"; fi   # day-0 ticket, 14 days later
    seg_end $((BASE + d * DAY))
  done
  stop_nginx
  join_segments "$OUT/$fx.pcap"
  check_counts "$OUT/$fx.pcap" "conns=17 full12=4 full13=4 res_ticket=5 res_sid=0 res_psk=4 nst=4 ch_psk=4 ch_early=0"
}

fx_rotation_daily() {
  local fx=rotation-daily c=127.0.0.1:443 sni=rotate.test k
  for k in 1 2 3 4 5; do mkkey "$T/rotate$k.key" "rotate-key-000$k!"; done
  for k in 1 2 3 4 5; do
    local keys=("ssl_session_ticket_key $T/rotate$k.key;")
    if (( k > 1 )); then keys+=("ssl_session_ticket_key $T/rotate$((k - 1)).key;"); fi
    start_nginx "$(server 127.0.0.1:443 $sni 'ssl_session_tickets on;' "${keys[@]}" 'ssl_session_timeout 12h;')"
    seg_begin $fx $k 'tcp port 443'
    if (( k > 1 )); then            # tickets from the previous segment (6 h old, previous key)
      resume12 $c $sni "$T/$fx.s$((k - 1)).t12.sess"
      resume13 $c $sni "$T/$fx.s$((k - 1)).t13.sess"
    fi
    full12 $c $sni "$T/$fx.s$k.t12.sess"
    if (( k == 1 )); then resume12 $c $sni "$T/$fx.s$k.t12.sess"; fi
    full13 $c $sni "$T/$fx.s$k.t13.sess"
    if (( k == 1 )); then resume13 $c $sni "$T/$fx.s$k.t13.sess"; fi
    seg_end $((BASE + (k - 1) * 6 * HOUR))
    stop_nginx
  done
  join_segments "$OUT/$fx.pcap"
  check_counts "$OUT/$fx.pcap" "conns=20 full12=5 full13=5 res_ticket=5 res_sid=0 res_psk=5 nst=9 ch_psk=5 ch_early=0"
}

fx_tls13_static_days() {
  local fx=tls13-static-days c=127.0.0.1:8443 sni=tls13.test d
  mkkey "$T/tls13.key" 'tls13-static-k01'
  start_nginx "$(server 127.0.0.1:8443 $sni 'ssl_protocols TLSv1.3;' 'ssl_session_tickets on;' \
               "ssl_session_ticket_key $T/tls13.key;")"
  for d in 0 1 2 3; do
    seg_begin $fx $d 'tcp port 8443'
    full13   $c $sni "$T/$fx.d$d.t13.sess"
    resume13 $c $sni "$T/$fx.d$d.t13.sess"
    seg_end $((BASE + d * DAY))
  done
  stop_nginx
  join_segments "$OUT/$fx.pcap"
  check_counts "$OUT/$fx.pcap" "conns=8 full12=0 full13=4 res_ticket=0 res_sid=0 res_psk=4 nst=0 ch_psk=4 ch_early=0"
}

fx_session_cache_only() {
  local fx=session-cache-only c=127.0.0.1:443 sni=cache.test
  start_nginx "$(server 127.0.0.1:443 $sni 'ssl_protocols TLSv1.2;' 'ssl_session_tickets off;' \
               'ssl_session_cache shared:SSL:1m;' 'ssl_session_timeout 3d;')"
  seg_begin $fx 0 'tcp port 443'
  conn 1.2 New    $c $sni -no_ticket -sess_out "$T/$fx.sess"
  openssl sess_id -in "$T/$fx.sess" -noout -text | grep -q 'TLS session ticket:' && die "unexpected ticket in $fx"
  openssl sess_id -in "$T/$fx.sess" -noout -text | grep -Eq 'Session-ID: [0-9A-F]{64}' || die "no session ID in $fx"
  conn 1.2 Reused $c $sni -no_ticket -sess_in "$T/$fx.sess"
  seg_end $BASE
  seg_begin $fx 1 'tcp port 443'
  conn 1.2 Reused $c $sni -no_ticket -sess_in "$T/$fx.sess"      # the day-0 session, 36 h later
  seg_end $((BASE + 36 * HOUR))
  stop_nginx
  join_segments "$OUT/$fx.pcap"
  check_counts "$OUT/$fx.pcap" "conns=3 full12=1 full13=0 res_ticket=0 res_sid=2 res_psk=0 nst=0 ch_psk=0 ch_early=0"
}

fx_shared_key() {
  local fx=shared-key n
  mkkey "$T/shared.key" 'shared-key-0001!'
  start_nginx "    ssl_session_tickets on;
    ssl_session_ticket_key $T/shared.key;
$(server 127.0.0.1:443 a.shared.test)
$(server 127.0.0.1:443 b.shared.test)
$(server 127.0.0.2:443 c.shared.test)"
  seg_begin $fx 0 'tcp port 443'
  for n in a b c; do
    local c=127.0.0.1:443; [[ $n == c ]] && c=127.0.0.2:443
    full12   $c $n.shared.test "$T/$fx.$n.sess"
    resume12 $c $n.shared.test "$T/$fx.$n.sess"
  done
  seg_end $BASE
  stop_nginx
  join_segments "$OUT/$fx.pcap"
  check_counts "$OUT/$fx.pcap" "conns=6 full12=3 full13=0 res_ticket=3 res_sid=0 res_psk=0 nst=3 ch_psk=0 ch_early=0"
}

fx_no_resumption() {
  local fx=no-resumption c=127.0.0.1:443 sni=none.test v
  start_nginx "$(server 127.0.0.1:443 $sni 'ssl_session_tickets off;' 'ssl_session_cache off;')"
  seg_begin $fx 0 'tcp port 443'
  for v in 1.2 1.3; do
    rm -f "$T/$fx.$v.sess"
    conn $v New $c $sni -sess_out "$T/$fx.$v.sess"
    if [[ -s $T/$fx.$v.sess ]]; then
      conn $v New $c $sni -sess_in "$T/$fx.$v.sess"
    else        # s_client saved nothing: there was nothing resumable; connect again anyway
      log "no-resumption: TLS $v: s_client wrote no session file (nothing resumable was offered)"
      conn $v New $c $sni
    fi
  done
  seg_end $BASE
  stop_nginx
  join_segments "$OUT/$fx.pcap"
  check_counts "$OUT/$fx.pcap" "${NO_RESUMPTION_COUNTS:?}"
}

fx_ipv6_sll2_nano() {
  local fx=ipv6-sll2-nano c='[::1]:443' sni=v6.test out
  mkkey "$T/v6.key" 'ipv6-sll2-key-01'
  start_nginx "$(server '[::1]:443' $sni 'ssl_session_tickets on;' "ssl_session_ticket_key $T/v6.key;")"
  seg_begin $fx 0 'tcp port 443' -i any -y LINUX_SLL2 --time-stamp-precision=nano
  full12   "$c" $sni "$T/$fx.t12.sess"
  resume12 "$c" $sni "$T/$fx.t12.sess"
  full13   "$c" $sni "$T/$fx.t13.sess"
  resume13 "$c" $sni "$T/$fx.t13.sess"
  seg_end $BASE pcapng
  stop_nginx
  out=$OUT/$fx.pcapng
  join_segments "$out"
  local info; info=$(capinfos "$out")
  grep -q '^File type:.*pcapng' <<<"$info"             || die "$fx: not pcapng: $info"
  grep -q 'Linux cooked-mode capture v2' <<<"$info"   || die "$fx: not Linux SLL2: $info"
  grep -q 'Time resolution = 0x09' <<<"$info"         || die "$fx: if_tsresol is not nanoseconds: $info"
  tshark -r "$out" -T fields -e frame.time_epoch 2>/dev/null | grep -qv '000$' \
                                                      || die "$fx: no sub-microsecond timestamps"
  check_counts "$out" "conns=4 full12=1 full13=1 res_ticket=1 res_sid=0 res_psk=1 nst=1 ch_psk=1 ch_early=0"
}

fx_weak_key() {
  local fx=weak-key c=127.0.0.1:443 sni=weak.test
  mkkey "$T/weak.key" ZERO
  start_nginx "$(server 127.0.0.1:443 $sni 'ssl_session_tickets on;' "ssl_session_ticket_key $T/weak.key;")"
  seg_begin $fx 0 'tcp port 443'
  full12   $c $sni "$T/$fx.sess"
  resume12 $c $sni "$T/$fx.sess"
  seg_end $BASE
  stop_nginx
  join_segments "$OUT/$fx.pcap"
  check_counts "$OUT/$fx.pcap" "conns=2 full12=1 full13=0 res_ticket=1 res_sid=0 res_psk=0 nst=1 ch_psk=0 ch_early=0"
}

fx_early_data() {
  local fx=early-data c=127.0.0.1:443 sni=early.test
  mkkey "$T/early.key" 'early-data-key01'
  start_nginx "$(server 127.0.0.1:443 $sni 'ssl_protocols TLSv1.3;' 'ssl_session_tickets on;' \
               "ssl_session_ticket_key $T/early.key;" 'ssl_early_data on;')"
  seg_begin $fx 0 'tcp port 443'
  full13 $c $sni "$T/$fx.sess"
  openssl sess_id -in "$T/$fx.sess" -noout -text | grep -Eq 'Max Early Data: [1-9]' || die "$fx: ticket allows no early data"
  conn 1.3 Reused $c $sni -sess_in "$T/$fx.sess" -early_data "$T/early-request.txt"
  grep -q 'Early data was accepted' "$T/conn$(printf %03d $NCONN).log" || die "$fx: early data not accepted"
  seg_end $BASE
  stop_nginx
  join_segments "$OUT/$fx.pcap"
  check_counts "$OUT/$fx.pcap" "conns=2 full12=0 full13=1 res_ticket=0 res_sid=0 res_psk=1 nst=0 ch_psk=1 ch_early=1"
}

# Plain HTTP, no TLS at all: stekwatch must give a clean, empty report.
fx_plain_http() {
  local fx=plain-http
  start_nginx '    server { listen 127.0.0.1:8080; location / { return 200 "plain\n"; } }'
  seg_begin $fx 0 'tcp port 8080'
  local i
  for i in 1 2 3; do curl -s -o /dev/null http://127.0.0.1:8080/ || die "$fx: curl failed"; done
  seg_end $BASE
  stop_nginx
  join_segments "$OUT/$fx.pcap"
  [[ $(tshark -r "$OUT/$fx.pcap" -Y http.request 2>/dev/null | wc -l) == 3 ]] || die "$fx: expected 3 HTTP requests"
  [[ $(tshark -r "$OUT/$fx.pcap" -Y tls 2>/dev/null | wc -l) == 0 ]] || die "$fx: TLS in a plain capture"
}

# openssl s_server: a random ticket key per process (no key file).  Two runs, two days apart; each
# run: TLS 1.2 ticket + resumption, TLS 1.3 PSK resumption, TLS 1.2 session-ID resumption.  The
# second run is also offered the first run's tickets, which it cannot decrypt (full handshakes).
fx_openssl_s_server() {
  local fx=openssl-s-server c=127.0.0.1:4433 sni=ossl.test k d names=() n
  for k in 0 1; do
    d=$((k * 2))
    start_server s_server 4433 openssl s_server -accept 127.0.0.1:4433 -cert "$T/cert.pem" -key "$T/key.pem" -www
    seg_begin $fx $k 'tcp port 4433'
    if (( k == 1 )); then             # tickets of the previous s_server process: rejected
      conn 1.2 New $c $sni -sess_in "$T/$fx.d0.t12.sess"
      conn 1.3 New $c $sni -sess_in "$T/$fx.d0.t13.sess"
    fi
    full12   $c $sni "$T/$fx.d$d.t12.sess"
    resume12 $c $sni "$T/$fx.d$d.t12.sess"
    full13   $c $sni "$T/$fx.d$d.t13.sess"
    resume13 $c $sni "$T/$fx.d$d.t13.sess"
    conn 1.2 New    $c $sni -no_ticket -sess_out "$T/$fx.d$d.sid.sess"
    openssl sess_id -in "$T/$fx.d$d.sid.sess" -noout -text | grep -q 'TLS session ticket:' && die "$fx: unexpected ticket"
    openssl sess_id -in "$T/$fx.d$d.sid.sess" -noout -text | grep -Eq 'Session-ID: [0-9A-F]{64}' || die "$fx: no session ID"
    conn 1.2 Reused $c $sni -no_ticket -sess_in "$T/$fx.d$d.sid.sess"
    seg_end $((BASE + d * DAY))
    stop_server TERM
    n=$(key_names "${SEG_FILES[-1]}" 'tls.handshake.type==4')      # issued in this run
    [[ -n $n && $(wc -l <<<"$n") == 1 ]] || die "$fx: segment $k: expected one issuing key name, got '$n'"
    names+=("$n")
  done
  [[ ${names[0]} != "${names[1]}" ]] || die "$fx: both s_server runs used key name ${names[0]}"
  join_segments "$OUT/$fx.pcap"
  check_counts "$OUT/$fx.pcap" "conns=14 full12=5 full13=3 res_ticket=2 res_sid=2 res_psk=2 nst=3 ch_psk=3 ch_early=0"
  [[ $(key_names "$OUT/$fx.pcap") == "$(printf '%s\n' "${names[@]}" | sort)" ]] || die "$fx: unexpected key names"
  log "$fx: key names: +0d ${names[0]}, +2d ${names[1]}"
}

# haproxy: `tls-ticket-keys` file with three 48-byte keys (16-byte name, 16 AES, 16 HMAC), base64,
# one a line; haproxy encrypts with the penultimate key (haproxy-key-0002) and decrypts with all.
# The same file for two runs 10 days apart: a static key.
fx_haproxy() {
  need haproxy
  local fx=haproxy c=127.0.0.1:8444 sni=haproxy.test k d
  cat "$T/cert.pem" "$T/key.pem" > "$T/haproxy.pem"
  : > "$T/haproxy.keys"
  for k in 1 2 3; do
    mkkey "$T/haproxy$k.key" "haproxy-key-000$k"
    { base64 -w0 "$T/haproxy$k.key"; echo; } >> "$T/haproxy.keys"
  done
  cat > "$T/haproxy.cfg" <<HAPROXY
global
    log stderr format short local0 notice
defaults
    mode http
    log global
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:8444 ssl crt $T/haproxy.pem tls-ticket-keys $T/haproxy.keys
    http-request return status 200 content-type text/plain string ok
HAPROXY
  haproxy -c -q -f "$T/haproxy.cfg" || die "haproxy config check failed"
  for k in 0 1; do
    d=$((k * 10))
    start_server haproxy 8444 haproxy -db -f "$T/haproxy.cfg"
    seg_begin $fx $k 'tcp port 8444'
    full12   $c $sni "$T/$fx.d$d.t12.sess"
    resume12 $c $sni "$T/$fx.d$d.t12.sess"
    full13   $c $sni "$T/$fx.d$d.t13.sess"
    resume13 $c $sni "$T/$fx.d$d.t13.sess"
    seg_end $((BASE + d * DAY))
    stop_server USR1                  # soft stop
  done
  join_segments "$OUT/$fx.pcap"
  check_counts "$OUT/$fx.pcap" "conns=8 full12=2 full13=2 res_ticket=2 res_sid=0 res_psk=2 nst=2 ch_psk=2 ch_early=0"
  [[ $(key_names "$OUT/$fx.pcap") == "$(hexname haproxy-key-0002)" ]] \
    || die "$fx: key names '$(key_names "$OUT/$fx.pcap")', expected only haproxy-key-0002"
}

# gnutls-serv (GnuTLS): a random 64-byte master ticket key per process; the ticket's first 16 bytes
# are its key name.  gnutls-serv listens on 0.0.0.0 and :: (no option to bind an address), so this
# fixture runs in a private network namespace that has nothing but lo.
fx_gnutls_serv() {
  need gnutls-serv gnutls-cli
  local fx=gnutls-serv c=127.0.0.1:5556 sni=gnutls.test n
  netns_enter
  start_server gnutls-serv 5556 gnutls-serv -p 5556 --x509certfile "$T/cert.pem" --x509keyfile "$T/key.pem" -a
  seg_begin $fx 0 'tcp port 5556'
  gnutls_resume 1.2 5556 $sni                  # ticket
  gnutls_resume 1.3 5556 $sni                  # PSK
  gnutls_resume 1.2 5556 $sni ':%NO_TICKETS'   # session ID (gnutls-cli --noticket leaves TLS 1.2 tickets on)
  full12   $c $sni "$T/$fx.t12.sess"
  resume12 $c $sni "$T/$fx.t12.sess"
  full13   $c $sni "$T/$fx.t13.sess"
  resume13 $c $sni "$T/$fx.t13.sess"
  seg_end $BASE
  stop_server TERM 1
  grep -q '^Exiting via signal 15' "$SERVER_LOG" || { cat "$SERVER_LOG" >&2; die "gnutls-serv did not exit on SIGTERM"; }
  netns_leave
  join_segments "$OUT/$fx.pcap"
  check_counts "$OUT/$fx.pcap" "conns=10 full12=3 full13=2 res_ticket=2 res_sid=1 res_psk=2 nst=2 ch_psk=2 ch_early=0"
  n=$(key_names "$OUT/$fx.pcap")
  [[ -n $n && $(wc -l <<<"$n") == 1 ]] || die "$fx: expected one key name, got '$n'"
  log "$fx: key name $n"
}

# TLS 1.3 HelloRetryRequest: s_server accepts only P-256, s_client sends its first key share for
# X25519 (default groups) -> HRR -> second ClientHello with a P-256 share.  A full handshake and a
# PSK resumption after HRR, then both without HRR (client -groups P-256).
fx_hello_retry() {
  local fx=hello-retry c=127.0.0.1:4434 sni=hrr.test n
  start_server s_server 4434 openssl s_server -accept 127.0.0.1:4434 -cert "$T/cert.pem" -key "$T/key.pem" -www -groups P-256
  seg_begin $fx 0 'tcp port 4434'
  full13   $c $sni "$T/$fx.hrr.sess"
  resume13 $c $sni "$T/$fx.hrr.sess"
  conn 1.3 New    $c $sni -groups P-256 -sess_out "$T/$fx.p256.sess"; has_ticket "$T/$fx.p256.sess"
  conn 1.3 Reused $c $sni -groups P-256 -sess_in "$T/$fx.p256.sess"
  seg_end $BASE
  stop_server TERM
  join_segments "$OUT/$fx.pcap"
  check_counts "$OUT/$fx.pcap" "conns=4 full12=0 full13=2 res_ticket=0 res_sid=0 res_psk=2 nst=0 ch_psk=2 ch_early=0" 2
  # the HRRs are in the first two connections (streams 0 and 1): the PSK resumption of stream 1 follows one
  [[ $(tshark -r "$OUT/$fx.pcap" -Y "tls.handshake.random==$HRR_RANDOM" -T fields -e tcp.stream 2>/dev/null | tr '\n' ' ') == "0 1 " ]] \
    || die "$fx: HelloRetryRequests not in streams 0 and 1"
  n=$(key_names "$OUT/$fx.pcap")
  [[ -n $n && $(wc -l <<<"$n") == 1 ]] || die "$fx: expected one key name, got '$n'"
  log "$fx: key name $n"
}

# ---------------------------------------------------------------------------------------------
# weak STEKs (issue 15): zero keys under one chosen name, the same name with a random key, and a
# ticket rewritten to carry its session state in clear.  TLS 1.2 so the tickets are on the wire.
# ---------------------------------------------------------------------------------------------
# mkzerokey FILE SIZE — the key name $WEAK_NAME, then SIZE-16 zero bytes (nginx 48: AES-128 key then
# HMAC key; nginx 80: HMAC key (32) then AES-256 key (32); all zero either way).
mkzerokey() {
  { printf '%s' "$WEAK_NAME"; head -c $(( $2 - 16 )) /dev/zero; } > "$1"
  [[ $(stat -c %s "$1") == "$2" ]] || die "key file $1 is not $2 bytes"
}

# weak_conns FX SNI CONNECT — full TLS 1.2 (ticket 1), its resumption, a second full handshake
# (ticket 2, the same key name: the trial is cached) in one segment at BASE.
weak_conns() {
  local fx=$1 sni=$2 c=$3 port=${3##*:}
  seg_begin $fx 0 "tcp port $port"
  full12   $c $sni "$T/$fx.a.sess"
  resume12 $c $sni "$T/$fx.a.sess"
  full12   $c $sni "$T/$fx.b.sess"
  seg_end $BASE
}

weak_check() {      # weak_check FX
  join_segments "$OUT/$1.pcap"
  check_counts "$OUT/$1.pcap" "conns=3 full12=2 full13=0 res_ticket=1 res_sid=0 res_psk=0 nst=2 ch_psk=0 ch_early=0"
  [[ $(key_names "$OUT/$1.pcap") == "$(hexname "$WEAK_NAME")" ]] || die "$1: key names '$(key_names "$OUT/$1.pcap")', expected only $WEAK_NAME"
}

weak_nginx() {      # weak_nginx FX SNI KEYFILE
  start_nginx "$(server 127.0.0.1:443 "$2" 'ssl_protocols TLSv1.2;' 'ssl_session_tickets on;' "ssl_session_ticket_key $3;")"
  weak_conns "$1" "$2" 127.0.0.1:443
  stop_nginx
  weak_check "$1"
}

fx_zero_stek_48() { mkzerokey "$T/zero48.key" 48; weak_nginx zero-stek-48 zero48.test "$T/zero48.key"; }
fx_zero_stek_80() { mkzerokey "$T/zero80.key" 80; weak_nginx zero-stek-80 zero80.test "$T/zero80.key"; }
fx_healthy_stek() {
  mkkey "$T/healthy.key" "$WEAK_NAME"
  cp "$T/healthy.key" "$T/healthy.key.kept"        # plaintext-ticket decrypts its tickets
  weak_nginx healthy-stek healthy.test "$T/healthy.key"
}

# haproxy: three 80-byte keys (name, AES-256, HMAC-SHA256 32), base64 one a line; the penultimate
# (the zero key) encrypts.
fx_zero_stek_haproxy() {
  need haproxy
  local fx=zero-stek-haproxy
  cat "$T/cert.pem" "$T/key.pem" > "$T/haproxy.pem"
  { printf 'haproxy-old-key1'; head -c 64 /dev/urandom; } > "$T/hz1.key"
  mkzerokey "$T/hz2.key" 80
  { printf 'haproxy-new-key3'; head -c 64 /dev/urandom; } > "$T/hz3.key"
  local k; : > "$T/haproxy-zero.keys"
  for k in 1 2 3; do { base64 -w0 "$T/hz$k.key"; echo; } >> "$T/haproxy-zero.keys"; done
  cat > "$T/haproxy-zero.cfg" <<HAPROXY
global
    log stderr format short local0 notice
defaults
    mode http
    log global
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:8444 ssl crt $T/haproxy.pem tls-ticket-keys $T/haproxy-zero.keys ssl-max-ver TLSv1.2
    http-request return status 200 content-type text/plain string ok
HAPROXY
  haproxy -c -q -f "$T/haproxy-zero.cfg" || die "haproxy config check failed"
  start_server haproxy 8444 haproxy -db -f "$T/haproxy-zero.cfg"
  weak_conns $fx haproxy-zero.test 127.0.0.1:8444
  stop_server USR1
  weak_check $fx
}

# No packaged server sends its session state in clear, so this capture is healthy-stek.pcap
# REWRITTEN: in every copy of each ticket (the NewSessionTicket and the ClientHello that presents
# it) the AES-CBC ciphertext is replaced by its decryption under the healthy key (openssl enc
# -nopad: the DER SSL_SESSION and its PKCS#7 padding, the same length); key name, IV and HMAC stay,
# so packet and record lengths do not change (TCP checksums are not recomputed).
fx_plaintext_ticket() {
  local fx=plaintext-ticket src=$OUT/healthy-stek.pcap key t iv ct pt
  [[ -s $T/healthy.key.kept ]] || fx_healthy_stek
  key=$(od -An -tx1 -j16 -N16 "$T/healthy.key.kept" | tr -d ' \n')     # nginx 48: AES-128 key at 16
  cp "$src" "$T/$fx.work"
  for t in $(tshark -r "$src" -Y tls.handshake.type==4 -T fields -e tls.handshake.session_ticket 2>/dev/null); do
    iv=${t:32:32}; ct=${t:64:$(( ${#t} - 64 - 64 ))}
    pt=$(xxd -r -p <<<"$ct" | openssl enc -d -aes-128-cbc -nopad -K "$key" -iv "$iv" | od -An -tx1 -v | tr -d ' \n')
    [[ ${#pt} == "${#ct}" && ${pt:0:2} == 30 ]] || die "$fx: ticket did not decrypt to a DER SEQUENCE"
    python3 - "$T/$fx.work" "$ct" "$pt" <<'PY' || die "$fx: rewrite failed"
import sys
path, old, new = sys.argv[1], bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
data = open(path, 'rb').read()
n = data.count(old)
assert n >= 1, "ciphertext not found"
open(path, 'wb').write(data.replace(old, new))
print(f"replaced {n} copies", file=sys.stderr)
PY
  done
  mv "$T/$fx.work" "$OUT/$fx.pcap"
  check_counts "$OUT/$fx.pcap" "conns=3 full12=2 full13=0 res_ticket=1 res_sid=0 res_psk=0 nst=2 ch_psk=0 ch_early=0"
}

# ---------------------------------------------------------------------------------------------
# verdicts (issue 12): a two-host fleet rotating hourly with a late host, a next key distributed
# early, Go and Java servers with keys of their own making, and a capture too short to judge.
# ---------------------------------------------------------------------------------------------
# ngx_start NAME SNIPPET / ngx_stop NAME — an nginx instance of its own (prefix $T/nginx-NAME), so
# several run at once (the fleet's hosts, the donor of fx_next_key_early).
ngx_start() {
  local name=$1
  [[ -z ${NGX[$name]:-} ]] || die "nginx $name is already running"
  local NG=$T/nginx-$name NGINX_PID=
  start_nginx "$2"
  NGX[$name]=$NGINX_PID
}
ngx_stop() {
  local pid=${NGX[$1]:?nginx $1 is not running} rc=0
  kill -QUIT "$pid"
  wait "$pid" || rc=$?
  unset "NGX[$1]"
  (( rc == 0 )) || die "nginx $1 exited with status $rc"
}

# reject12 CONNECT SNI SESS_IN SESS_OUT — a TLS 1.2 ticket the server must refuse: full handshake, new ticket
reject12() { conn 1.2 New "$1" "$2" -sess_in "$3" -sess_out "$4"; has_ticket "$4"; }

# count_where FILE FILTER — number of frames matching a display filter
count_where() { tshark -r "$1" -Y "$2" 2>/dev/null | wc -l; }

# fleet_host H NEW [OLD] — (re)start fleet host 127.0.0.H:443 with key NEW encrypting and key OLD
# decrypt-only (nginx: the first ssl_session_ticket_key encrypts, the others only decrypt).
fleet_host() {
  local h=$1 keys=("ssl_session_ticket_key $T/fleet$2.key;")
  [[ -n ${3:-} ]] && keys+=("ssl_session_ticket_key $T/fleet$3.key;")
  [[ -n ${NGX[fleet$h]:-} ]] && ngx_stop fleet$h
  ngx_start fleet$h "$(server 127.0.0.$h:443 fleet.test 'ssl_session_tickets on;' "${keys[@]}" 'ssl_session_timeout 2h;')"
}

# Two nginx hosts, 127.0.0.1 and 127.0.0.2, one name, rotating hourly (key k01 .. k05); host 2
# switches to each new key 10 minutes after host 1.  Hour h (1..4), key N = k0(h+1), P = k0h:
#   :00 host 1 restarted with [N, P]; host 2 still [P, k0(h-1)].  host 1: full (ticket a, N),
#       its resumption; ticket a on host 2: REJECTED (full handshake, host 2 issues a P ticket
#       "rej"); host 1 resumes last hour's host-1 ticket (P, decrypt-only: renewed under N); host 2
#       resumes last hour's host-2 ticket (P, still its encrypting key).
#   :05 host 1: full (ticket b, N); ticket b on host 2: REJECTED.
#   :10 host 2 restarted with [N, P].  ticket a on host 2: accepted; host 2: full (N) + resumption;
#       host 2's "rej" ticket (P) on host 1: accepted, renewed.
#   :30 full on both hosts (tickets c, N), host 1's ticket c on host 2: accepted.
#   :50 last hour's host-2 ticket c (P) on host 1: accepted (renewed), 50 min after N took over.
# Hour 0: both hosts [k01]; :00 full + resumption on each host; :30 as above.
fx_fleet_hourly() {
  local fx=fleet-hourly sni=fleet.test h1=127.0.0.1:443 h2=127.0.0.2:443 S=$T/fleet-hourly h k t n o p
  for k in 1 2 3 4 5; do mkkey "$T/fleet$k.key" "fleet-hourly-k0$k"; done
  fleet_host 1 1; fleet_host 2 1
  seg_begin $fx 0.00 'tcp port 443'
  full12   $h1 $sni $S.h0.1.a.sess
  resume12 $h1 $sni $S.h0.1.a.sess
  full12   $h2 $sni $S.h0.2.a.sess
  resume12 $h2 $sni $S.h0.2.a.sess
  seg_end $BASE
  seg_begin $fx 0.30 'tcp port 443'
  full12   $h1 $sni $S.h0.1.c.sess
  full12   $h2 $sni $S.h0.2.c.sess
  resume12 $h2 $sni $S.h0.1.c.sess
  seg_end $((BASE + 30 * 60))
  for h in 1 2 3 4; do
    t=$((BASE + h * HOUR)) n=$((h + 1)) o=$h p=$((h - 1))
    fleet_host 1 $n $o
    seg_begin $fx $h.00 'tcp port 443'
    full12   $h1 $sni $S.h$h.1.a.sess
    resume12 $h1 $sni $S.h$h.1.a.sess
    reject12 $h2 $sni $S.h$h.1.a.sess $S.h$h.2.rej.sess
    resume12 $h1 $sni $S.h$p.1.c.sess
    resume12 $h2 $sni $S.h$p.2.c.sess
    seg_end $t
    seg_begin $fx $h.05 'tcp port 443'
    full12   $h1 $sni $S.h$h.1.b.sess
    reject12 $h2 $sni $S.h$h.1.b.sess $S.h$h.2.rej2.sess
    seg_end $((t + 5 * 60))
    fleet_host 2 $n $o
    seg_begin $fx $h.10 'tcp port 443'
    resume12 $h2 $sni $S.h$h.1.a.sess
    full12   $h2 $sni $S.h$h.2.b.sess
    resume12 $h2 $sni $S.h$h.2.b.sess
    resume12 $h1 $sni $S.h$h.2.rej.sess
    seg_end $((t + 10 * 60))
    seg_begin $fx $h.30 'tcp port 443'
    full12   $h1 $sni $S.h$h.1.c.sess
    full12   $h2 $sni $S.h$h.2.c.sess
    resume12 $h2 $sni $S.h$h.1.c.sess
    seg_end $((t + 30 * 60))
    seg_begin $fx $h.50 'tcp port 443'
    resume12 $h1 $sni $S.h$p.2.c.sess
    seg_end $((t + 50 * 60))
  done
  ngx_stop fleet1; ngx_stop fleet2
  join_segments "$OUT/$fx.pcap"
  check_counts "$OUT/$fx.pcap" "conns=67 full12=32 full13=0 res_ticket=35 res_sid=0 res_psk=0 nst=44 ch_psk=0 ch_early=0"
  local want=''; for k in 1 2 3 4 5; do want+="$(hexname fleet-hourly-k0$k)"$'\n'; done
  [[ $(key_names "$OUT/$fx.pcap") == "${want%$'\n'}" ]] || die "$fx: key names '$(key_names "$OUT/$fx.pcap")'"
  # the eight rejections: ClientHellos with a ticket to host 2 answered with a Certificate
  local rej
  rej=$(summarize "$OUT/$fx.pcap" | grep -c '127.0.0.2:443 sni=fleet.test full-1.2 issued:.* offered:ticket:' || true)
  (( rej == 8 )) || die "$fx: $rej rejected tickets on host 2, expected 8"
  (( $(summarize "$OUT/$fx.pcap" | grep -c 'full-1.2 issued:.* offered:ticket:' || true) == 8 )) || die "$fx: rejections off host 2"
}

# nginx with the next key distributed early.  A donor nginx that already encrypts with key 2 hands
# the client a TLS 1.2 ticket and a TLS 1.3 ticket under key 2 on 127.0.0.1:9443, which is not
# captured.  +0h: the captured server (127.0.0.1:443) has [key 1, key 2]: it issues under key 1 and
# accepts the donor's key-2 tickets (TLS 1.2: renewed under key 1; TLS 1.3 PSK).  +6h: restarted
# with [key 2, key 1]: issues under key 2, still accepts the +0h key-1 ticket (renewed).
fx_next_key_early() {
  local fx=next-key-early c=127.0.0.1:443 donor=127.0.0.1:9443 sni=next.test S=$T/next-key-early
  local n1 n2
  mkkey "$T/next1.key" 'next-early-key-1'; mkkey "$T/next2.key" 'next-early-key-2'
  n1=$(hexname next-early-key-1) n2=$(hexname next-early-key-2)
  ngx_start donor "$(server $donor $sni 'ssl_session_tickets on;' "ssl_session_ticket_key $T/next2.key;" 'ssl_session_timeout 12h;')"
  full12 $donor $sni $S.donor.t12.sess
  full13 $donor $sni $S.donor.t13.sess
  ngx_stop donor
  ngx_start next "$(server $c $sni 'ssl_session_tickets on;' "ssl_session_ticket_key $T/next1.key;" \
                   "ssl_session_ticket_key $T/next2.key;" 'ssl_session_timeout 12h;')"
  seg_begin $fx 0 'tcp port 443'
  full12   $c $sni $S.s0.t12.sess
  resume12 $c $sni $S.s0.t12.sess
  resume12 $c $sni $S.donor.t12.sess
  full13   $c $sni $S.s0.t13.sess
  resume13 $c $sni $S.s0.t13.sess
  resume13 $c $sni $S.donor.t13.sess
  seg_end $BASE
  ngx_stop next
  ngx_start next "$(server $c $sni 'ssl_session_tickets on;' "ssl_session_ticket_key $T/next2.key;" \
                   "ssl_session_ticket_key $T/next1.key;" 'ssl_session_timeout 12h;')"
  seg_begin $fx 1 'tcp port 443'
  full12   $c $sni $S.s1.t12.sess
  resume12 $c $sni $S.s1.t12.sess
  resume12 $c $sni $S.s0.t12.sess
  full13   $c $sni $S.s1.t13.sess
  resume13 $c $sni $S.s1.t13.sess
  seg_end $((BASE + 6 * HOUR))
  ngx_stop next
  join_segments "$OUT/$fx.pcap"
  local f=$OUT/$fx.pcap
  check_counts "$f" "conns=11 full12=2 full13=2 res_ticket=4 res_sid=0 res_psk=3 nst=4 ch_psk=3 ch_early=0"
  [[ $(key_names "$f") == "$n1"$'\n'"$n2" ]] || die "$fx: key names '$(key_names "$f")'"
  [[ $(key_names "$f" "tls.handshake.type==4 && frame.time_epoch < $((BASE + HOUR))") == "$n1" ]] || die "$fx: +0h issued other than key 1"
  [[ $(key_names "$f" "tls.handshake.type==4 && frame.time_epoch > $((BASE + HOUR))") == "$n2" ]] || die "$fx: +6h issued other than key 2"
  # key 2 presented at +0h (a TLS 1.2 ticket and a PSK identity), before any key-2 NewSessionTicket
  [[ $(summarize "$f" | grep -Ec "\(\+0d 00:00:0[0-9]\.[0-9]{3}\) .* resumed-.* accepted:$n2" || true) == 2 ]] || die "$fx: key 2 not accepted twice at +0h"
}

# go_build VERSION — build captures/go-server with /usr/lib/go-VERSION (Debian golang-VERSION-go),
# a go.mod naming that same version (so the GODEBUG defaults are that release's own); sets GO_VERSION.
go_build() {
  local v=$1 go=/usr/lib/go-$1/bin/go d=$T/go-src-$1
  [[ -x $go ]] || die "missing $go (apt-get install golang-$v-go; 1.23 from bookworm-backports)"
  mkdir -p "$d"; cp "$OUT/go-server/main.go" "$d/"
  printf 'module stekwatch.test/go-server\n\ngo %s\n' "$v" > "$d/go.mod"
  (cd "$d" && GOCACHE=$T/gocache GOPATH=$T/gopath GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 \
      "$go" build -o "$T/go-server-$v" .) || die "go build with $go failed"
  GO_VERSION=$("$go" env GOVERSION)
}

# go_fixture FX VERSION — Go crypto/tls, default config (tickets on, keys of crypto/tls's own).
# One server process for both segments: +0d TLS 1.2 ticket + resumption, TLS 1.3 + PSK resumption;
# +2d the same again, and the +0d TLS 1.2 ticket and TLS 1.3 ticket, two days old, accepted.
go_fixture() {
  local fx=$1 v=$2 c=127.0.0.1:8446 sni=go.test d
  go_build "$v"
  start_server go-server 8446 "$T/go-server-$v" $c "$T/cert.pem" "$T/key.pem"
  for d in 0 2; do
    seg_begin $fx $d 'tcp port 8446'
    full12   $c $sni "$T/$fx.d$d.t12.sess"
    resume12 $c $sni "$T/$fx.d$d.t12.sess"
    full13   $c $sni "$T/$fx.d$d.t13.sess"
    resume13 $c $sni "$T/$fx.d$d.t13.sess"
    if (( d == 2 )); then
      resume12 $c $sni "$T/$fx.d0.t12.sess"
      resume13 $c $sni "$T/$fx.d0.t13.sess"
    fi
    seg_end $((BASE + d * DAY))
  done
  stop_server TERM
  grep -q "go-server $GO_VERSION listening" "$SERVER_LOG" || die "$fx: server log does not name $GO_VERSION"
  join_segments "$OUT/$fx.pcap"
  log "$fx: $GO_VERSION"
}
fx_go_default() {
  go_fixture go-default 1.23
  # Go >= 1.21: no key name; every ticket begins with its own random IV
  local f=$OUT/go-default.pcap
  check_counts "$f" "conns=10 full12=2 full13=2 res_ticket=3 res_sid=0 res_psk=3 nst=5 ch_psk=3 ch_early=0"
  (( $(key_names "$f" tls.handshake.type==4 | wc -l) == 5 )) || die "go-default: ticket prefixes repeat"
}
fx_go119_default() {
  go_fixture go119-default 1.19
  # Go < 1.21: a 16-byte key name first, the same on every ticket of the process
  local f=$OUT/go119-default.pcap
  check_counts "$f" "conns=10 full12=2 full13=2 res_ticket=3 res_sid=0 res_psk=3 nst=2 ch_psk=3 ch_early=0"
  [[ $(key_names "$f" | wc -l) == 1 ]] || die "go119-default: expected one key name, got '$(key_names "$f")'"
}

# Java JSSE (openjdk 17) with stateless tickets, TLS 1.3 and 1.2; the ticket key lives 60 s
# (jdk.tls.server.statelessKeyTimeout), so four rounds a minute apart (+0, +65, +130, +195 s) get
# four keys; a JSSE ticket begins with its key's 4-byte number.  Each round: TLS 1.3 full + PSK
# resumption, TLS 1.2 full + ticket resumption; from round 2 on also the previous round's TLS 1.2
# ticket and TLS 1.3 ticket (the previous key) resumed.  One segment, real time kept.
fx_java_jsse() {
  need java javac
  local fx=java-jsse c=127.0.0.1:8448 sni=java.test g t0 wait
  openssl pkcs12 -export -in "$T/cert.pem" -inkey "$T/key.pem" -name server -out "$T/java.p12" \
    -passout pass:fixtures || die "openssl pkcs12 failed"
  javac -d "$T/java-classes" "$OUT/java-server/TicketServer.java" || die "javac failed"
  start_server java 8448 java -Djdk.tls.server.enableSessionTicketExtension=true \
    -Djdk.tls.server.statelessKeyTimeout=60 -cp "$T/java-classes" TicketServer 127.0.0.1 8448 "$T/java.p12" fixtures
  seg_begin $fx 0 'tcp port 8448'
  t0=$(date +%s)
  for g in 0 1 2 3; do
    wait=$(( t0 + g * 65 - $(date +%s) )); (( wait > 0 )) && sleep $wait
    full13   $c $sni "$T/$fx.r$g.t13.sess"
    resume13 $c $sni "$T/$fx.r$g.t13.sess"
    full12   $c $sni "$T/$fx.r$g.t12.sess"
    resume12 $c $sni "$T/$fx.r$g.t12.sess"
    if (( g > 0 )); then
      resume12 $c $sni "$T/$fx.r$((g - 1)).t12.sess"
      resume13 $c $sni "$T/$fx.r$((g - 1)).t13.sess"
    fi
  done
  seg_end $BASE
  stop_server TERM
  grep -q '^TicketServer 17\.' "$SERVER_LOG" || die "$fx: not openjdk 17: $(sed -n 2p "$SERVER_LOG")"
  join_segments "$OUT/$fx.pcap"
  local f=$OUT/$fx.pcap nums
  check_counts "$f" "conns=22 full12=4 full13=4 res_ticket=7 res_sid=0 res_psk=7 nst=11 ch_psk=7 ch_early=0"
  nums=$(key_names "$f" | cut -c1-8 | sort -u)
  [[ $(wc -l <<<"$nums") == 4 ]] || die "$fx: expected 4 key numbers, got: $nums"
  log "$fx: key numbers $(tr '\n' ' ' <<<"$nums")($(grep -m1 '^TicketServer' "$SERVER_LOG"))"
}

# A static-key nginx for a few seconds: three TLS 1.2 full handshakes and their resumptions.
fx_static_short() {
  local fx=static-short c=127.0.0.1:443 sni=short.test i
  mkkey "$T/short.key" 'static-short-k01'
  start_nginx "$(server 127.0.0.1:443 $sni 'ssl_session_tickets on;' "ssl_session_ticket_key $T/short.key;")"
  seg_begin $fx 0 'tcp port 443'
  for i in 1 2 3; do
    full12   $c $sni "$T/$fx.$i.sess"
    resume12 $c $sni "$T/$fx.$i.sess"
  done
  seg_end $BASE
  stop_nginx
  join_segments "$OUT/$fx.pcap"
  check_counts "$OUT/$fx.pcap" "conns=6 full12=3 full13=0 res_ticket=3 res_sid=0 res_psk=0 nst=3 ch_psk=0 ch_early=0"
  [[ $(key_names "$OUT/$fx.pcap") == "$(hexname static-short-k01)" ]] || die "$fx: key names '$(key_names "$OUT/$fx.pcap")'"
}

# ---------------------------------------------------------------------------------------------
# TLS 1.3 with tickets off: OpenSSL still sends a stateful ticket (a session ID), which the client offers
# as a PSK identity and the server rejects (no cache): one ClientHello with pre_shared_key, no resumption.
NO_RESUMPTION_COUNTS="conns=4 full12=2 full13=2 res_ticket=0 res_sid=0 res_psk=0 nst=0 ch_psk=1 ch_early=0"
[[ $# -gt 0 ]] && FIXTURES=("$@") || FIXTURES=("${ALL_FIXTURES[@]}")
START=$(date +%s)
for fx in "${FIXTURES[@]}"; do
  fn=fx_${fx//-/_}
  declare -F "$fn" >/dev/null || die "unknown fixture '$fx' (known: ${ALL_FIXTURES[*]})"
  log "fixture $fx"
  "$fn"
done
log "done in $(( $(date +%s) - START )) s"
ls -l "$OUT"/*.pcap "$OUT"/*.pcapng 2>/dev/null >&2 || true
