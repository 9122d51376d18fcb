#!/usr/bin/env bash
# Generates hostile captures (examples/attacks.rs) and runs `stekwatch read --format json` on
# each under /usr/bin/time -v, printing peak RSS, wall time, packets/s and the report's
# discard counters; a last run reads several attacks as one history ("combined": every cap
# filled at once). Fails when a run exits non-zero or peaks above the RSS limit.
#
#   scripts/attacks.sh [SCALE] [-- STEKWATCH OPTIONS...]
#
# SCALE multiplies the attack sizes (default 1: a million-source SYN flood, 100k stalled
# connections, ...). Files go to ${ATTACK_DIR:-/tmp/stekwatch-attacks}.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
shift || true
[[ ${1:-} == -- ]] && shift
extra=("$@")
dir=${ATTACK_DIR:-/tmp/stekwatch-attacks}
limit_mib=${RSS_LIMIT_MIB:-256}

if [[ ! -x /usr/bin/time ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
  else
    echo "needs /usr/bin/time (apt-get install time)" >&2
    exit 2
  fi
fi

cargo build --quiet --release --bin stekwatch --example attacks
./target/release/examples/attacks "$dir" "$scale"

status=0
# measure NAME FILE...: one run, one table row.
measure() {
  local name=$1
  shift
  local rc
  set +e
  /usr/bin/time -v ./target/release/stekwatch read --format json "${extra[@]}" "$@" \
    >"$dir/$name.json" 2>"$dir/$name.time"
  rc=$?
  set -e
  local rss_kib wall
  rss_kib=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$dir/$name.time")
  wall=$(awk '/Elapsed \(wall clock\)/ {print $NF}' "$dir/$name.time")
  python3 - "$dir/$name.json" "$name" "$rss_kib" "$wall" "$rc" "$limit_mib" <<'PY' || status=1
import json, sys
path, name, rss_kib, wall, rc, limit = sys.argv[1:]
parts = [float(x) for x in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
rss = int(rss_kib) / 1024
try:
    st = json.load(open(path))["statistics"]
except Exception as e:
    print(f"{name:<20} exit {rc}: no report ({e})")
    sys.exit(1)
keys = ["dropped_flows_cap", "discarded_bytes_cap", "abandoned_handshakes_cap",
        "ip_fragments_dropped", "handshake_messages_cap", "dropped_services_cap",
        "dropped_by_service_caps", "parse_failures", "gaps", "resyncs", "retransmitted_bytes",
        "expired_flows"]
counters = " ".join(f"{k}={st[k]}" for k in keys if st.get(k))
pps = st["packets"] / secs if secs > 0 else float("inf")
flag = "" if rss < float(limit) and rc == "0" else f"  <-- FAIL (exit {rc}, limit {limit} MiB)"
print(f"{name:<20} {st['packets']:>9} {rss:>9.1f} {secs:>8.2f} {pps:>12,.0f}  {counters}{flag}")
sys.exit(0 if not flag else 1)
PY
}

printf '\n%-20s %9s %9s %8s %12s  %s\n' attack packets "RSS MiB" "time s" "packets/s" "discard counters"
for f in "$dir"/*.pcap; do
  measure "$(basename "$f" .pcap)" "$f"
done
measure combined "$dir"/many-services.pcap "$dir"/out-of-order-flood.pcap \
  "$dir"/stalled-records.pcap "$dir"/syn-flood.pcap "$dir"/tiny-fragments.pcap
exit $status
