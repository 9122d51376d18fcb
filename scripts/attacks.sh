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
#
# Then "real traffic under attack": real handshakes (examples/gencap replaying the fixture
# captures, ${REAL_SIZE:-20M}) with the SYN flood, the stalled handshakes, and both, spread
# between their packets over the same minutes (examples/attacks.rs --under); prints the
# handshakes audited against the clean run and fails below 99%.
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

cargo build --quiet --release --bin stekwatch --example attacks --example gencap
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

under=$dir/under
mkdir -p "$under"
./target/release/examples/gencap --size "${REAL_SIZE:-20M}" --seed 1 --out "$under/real.pcap" >/dev/null
./target/release/stekwatch read --format json "${extra[@]}" "$under/real.pcap" >"$under/real.json"
printf '\n%-28s %9s %9s %8s %10s %10s  %s\n' "real traffic under" packets "RSS MiB" "time s" handshakes audited "pressure counters"
for case in syn-flood stalled-records syn-flood+stalled-records; do
  files=()
  IFS=+ read -r -a names <<<"$case"
  for n in "${names[@]}"; do files+=("$dir/$n.pcap"); done
  ./target/release/examples/attacks --under "$under/real.pcap" "$under/$case.pcap" "${files[@]}" >/dev/null
  set +e
  /usr/bin/time -v ./target/release/stekwatch read --format json "${extra[@]}" "$under/$case.pcap" \
    >"$under/$case.json" 2>"$under/$case.time"
  rc=$?
  set -e
  python3 - "$under/real.json" "$under/$case.json" "$under/$case.time" "$case" "$rc" "$limit_mib" <<'PY' || status=1
import json, re, sys
clean, attacked, timing, name, rc, limit = sys.argv[1:]
def handshakes(path):
    r = json.load(open(path))
    return sum(sum(v for v in s["handshakes"].values()) for s in r["services"]), r["statistics"]
want, _ = handshakes(clean)
got, st = handshakes(attacked)
t = open(timing).read()
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
wall = re.search(r"Elapsed \(wall clock\) time.*: (.+)", t).group(1).strip()
secs = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(":"))))
share = 100 * got / want if want else 0
keys = ["evicted_flows", "dropped_flows_cap", "abandoned_handshakes_cap"]
counters = " ".join(f"{k}={st.get(k, 0)}" for k in keys)
ok = share >= 99 and rss <= float(limit) and rc == "0"
flag = "" if ok else f"  <-- FAIL (exit {rc}, need >= 99% and <= {limit} MiB)"
print(f"{name:<28} {st['packets']:>9} {rss:>9.1f} {secs:>8.2f} {got:>5}/{want:<4} {share:>9.1f}%  {counters}{flag}")
sys.exit(0 if ok else 1)
PY
done
exit $status
