#!/usr/bin/env bash
# Throughput benchmark (issue 5): stekwatch against tshark on generated captures.
#
#   scripts/bench.sh                      # 1 GiB capture for stekwatch, 100 MiB one for the ratio
#   BIG_SIZE=200M SMALL_SIZE=20M RUNS=1 scripts/bench.sh     # quick
#
# Steps: build stekwatch (release) and the gencap example; generate the captures with gencap
# (reused when present and made with the same settings); warm the page cache (before every run); run
# `stekwatch read --format json` (best of RUNS) on both captures and tshark (ticket and
# PSK-identity field extraction) on the small one, each under /usr/bin/time -v; check that the
# reports show the same key names per service as the source fixtures (and the same handshake
# counts times the number of rounds, and every ticket/identity tshark extracts); print a table.
#
# Environment (defaults in brackets):
#   BENCH_DIR [target/bench]    where the captures go (target/ is gitignored)
#   BIG_SIZE [1G]  SMALL_SIZE [100M]   capture sizes (K, M, G: binary units)
#   BIG / SMALL                 capture paths [BENCH_DIR/bench-<size>.pcap]
#   SOURCES                     fixture captures to replay [the three in captures/ below]
#   SEED [1]                    gencap seed
#   GENCAP_ARGS                 more gencap options, e.g. "--down-kib 256 --reorder 0.02"
#   REGEN [0]                   1 = regenerate the captures even when present
#   RUNS [3]                    stekwatch runs per capture (the fastest is reported)
#   TSHARK_RUNS [1]             tshark runs (fastest reported); SKIP_TSHARK=1 skips tshark
#   THREADS                     passed as -j THREADS when `stekwatch read` has -j/--threads
#   SAMPLE_MS [2]               interval of the anonymous-memory sampler
#   NICE                        run the measured tools under `nice -n NICE` (e.g. -10 as root, to
#                               keep other load on a shared machine from distorting wall times)
#   BASELINE_REV                a git revision (e.g. HEAD~1) to measure in the same run: it is built
#                               in a temporary worktree, and its runs on the big capture alternate
#                               with this build's, so both see the same machine load; the table
#                               gets a "baseline" row and the speed-up is printed
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BENCH_DIR=${BENCH_DIR:-target/bench}
BIG_SIZE=${BIG_SIZE:-1G}
SMALL_SIZE=${SMALL_SIZE:-100M}
BIG=${BIG:-$BENCH_DIR/bench-$BIG_SIZE.pcap}
SMALL=${SMALL:-$BENCH_DIR/bench-$SMALL_SIZE.pcap}
SOURCES=${SOURCES:-captures/static-key-weeks.pcap captures/rotation-daily.pcap captures/tls13-static-days.pcap}
SEED=${SEED:-1}
GENCAP_ARGS=${GENCAP_ARGS:-}
REGEN=${REGEN:-0}
RUNS=${RUNS:-3}
TSHARK_RUNS=${TSHARK_RUNS:-1}
SKIP_TSHARK=${SKIP_TSHARK:-0}
THREADS=${THREADS:-}
SAMPLE_MS=${SAMPLE_MS:-2}
NICE=${NICE:-}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

read -r -a sources <<<"$SOURCES"
read -r -a gencap_args <<<"$GENCAP_ARGS"
for s in "${sources[@]}"; do [[ -f $s ]] || die "source capture $s not found"; done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer"
[[ $TSHARK_RUNS =~ ^[1-9][0-9]*$ ]] || die "TSHARK_RUNS must be a positive integer"

# --- tools -------------------------------------------------------------------------------------
command -v python3 >/dev/null || die "python3 is needed"
if [[ ! -x /usr/bin/time ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing GNU time (Debian package 'time')"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
  else
    die "/usr/bin/time is missing: apt-get install time"
  fi
fi
if [[ $SKIP_TSHARK != 1 ]] && ! command -v tshark >/dev/null; then
  say "tshark not found: skipping the comparison (apt-get install tshark)"
  SKIP_TSHARK=1
fi

say "building stekwatch and gencap (release)"
cargo build --release --quiet --bin stekwatch --example gencap
SW=$CARGO_TARGET_DIR/release/stekwatch
GENCAP=$CARGO_TARGET_DIR/release/examples/gencap

sw_args=(read --format json)
if [[ -n $THREADS ]]; then
  if "$SW" read --help | grep -q -- '--threads'; then
    sw_args+=(-j "$THREADS")
  else
    say "stekwatch read has no -j/--threads yet: THREADS=$THREADS ignored"
  fi
fi

nice=()
if [[ -n $NICE ]]; then
  [[ $NICE =~ ^-?[0-9]+$ ]] || die "NICE must be an integer"
  nice=(nice -n "$NICE")
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/stekwatch-bench.XXXXXX")
BASE_TREE=""
cleanup() {
  rm -rf "$WORK"
  if [[ -n $BASE_TREE ]]; then git worktree remove --force "$BASE_TREE" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

BASE_SW=""
if [[ -n ${BASELINE_REV:-} ]]; then
  BASE_TREE=$(mktemp -d "${TMPDIR:-/tmp}/stekwatch-base.XXXXXX")
  rmdir "$BASE_TREE"
  say "building the baseline $BASELINE_REV ($(git rev-parse --short "$BASELINE_REV")) in $BASE_TREE"
  git worktree add --detach "$BASE_TREE" "$BASELINE_REV" >/dev/null 2>&1
  (cd "$BASE_TREE" && CARGO_TARGET_DIR=$CARGO_TARGET_DIR/bench-baseline cargo build --release --quiet --bin stekwatch)
  BASE_SW=$CARGO_TARGET_DIR/bench-baseline/release/stekwatch
fi
mkdir -p "$BENCH_DIR"

# --- captures ----------------------------------------------------------------------------------
# Each capture has a sidecar FILE.gencap: the settings it was made with, then gencap's summary.
generate() {
  local size=$1 out=$2
  local settings="gencap --size $size --seed $SEED ${gencap_args[*]} ${sources[*]}"
  if [[ $REGEN != 1 && -s $out && -s $out.gencap ]] && [[ $(head -n1 "$out.gencap") == "$settings" ]]; then
    say "reusing $out ($(du -h "$out" | cut -f1))"
    return
  fi
  say "generating $out ($size)"
  rm -f "$out" "$out.gencap"
  "$GENCAP" --size "$size" --seed "$SEED" --out "$out" "${gencap_args[@]}" "${sources[@]}" \
    >"$WORK/gencap.out"
  cat "$WORK/gencap.out" >&2
  { echo "$settings"; cat "$WORK/gencap.out"; } >"$out.gencap"
}
generate "$BIG_SIZE" "$BIG"
if [[ $SMALL != "$BIG" ]]; then generate "$SMALL_SIZE" "$SMALL"; fi

rounds_of() { sed -n 's/.* x \([0-9][0-9]*\) rounds).*/\1/p' "$1.gencap" | head -n1; }

# --- measuring ---------------------------------------------------------------------------------
# measure NAME OUTFILE CMD...: runs CMD under /usr/bin/time -v with stdout to OUTFILE; writes
# NAME.json with wall seconds (monotonic clock around the run), user and system seconds and peak
# RSS (time -v), and the peak anonymous RSS sampled every SAMPLE_MS from /proc (the mmap'd
# capture counts in RSS but is page cache, not memory the program allocated).
cat >"$WORK/measure.py" <<'PY'
import json, os, re, subprocess, sys, time
name, out, sample_ms = sys.argv[1], sys.argv[2], float(sys.argv[3])
cmd = sys.argv[4:]
tfile = name + ".time"
with open(out, "wb") as o, open(name + ".stderr", "wb") as e:
    t0 = time.monotonic()
    p = subprocess.Popen(["/usr/bin/time", "-v", "-o", tfile] + cmd, stdout=o, stderr=e)
    child, anon, status, ru = None, 0, None, None
    while True:
        pid, st, r = os.wait4(p.pid, os.WNOHANG)
        if pid:
            status, ru, p.returncode = st, r, os.waitstatus_to_exitcode(st)
            break
        try:
            if child is None:
                kids = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
                child = kids[0] if kids else None
            if child is not None:
                for line in open(f"/proc/{child}/status"):
                    if line.startswith("RssAnon:"):
                        anon = max(anon, int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
        time.sleep(sample_ms / 1000)
    wall = time.monotonic() - t0
t = open(tfile).read()
def field(label):
    m = re.search(r"^\s*" + re.escape(label) + r":\s*(.+)$", t, re.M)
    return m.group(1).strip() if m else None
status = int(field("Exit status") or p.returncode)
# CPU times from wait4 (microseconds; they include the waited-for grandchild), peak RSS from time -v.
res = {"wall": wall, "user": ru.ru_utime, "sys": ru.ru_stime,
       "maxrss_kib": int(field("Maximum resident set size (kbytes)")),
       "anon_kib": anon, "exit": status}
json.dump(res, open(name + ".json", "w"))
sys.stderr.write(f"   run {name.rsplit('.', 1)[-1]}: {wall:.3f} s wall, {res['user'] + res['sys']:.2f} s cpu, "
                 f"peak RSS {res['maxrss_kib'] / 1024:.1f} MiB, anon {anon / 1024:.1f} MiB\n")
if status != 0:
    sys.stderr.write(open(name + ".stderr").read())
    sys.exit(f"bench: {cmd[0]} exited with status {status}")
PY

# best NAME RUNS OUTFILE CAPTURE CMD...: RUNS measurements, keeps the fastest as NAME.json.
# The capture is read once before every run: some VMs page cold page cache out between runs.
best() {
  local name=$1 runs=$2 out=$3 capture=$4; shift 4
  local i
  for ((i = 1; i <= runs; i++)); do
    cat "$capture" >/dev/null
    python3 "$WORK/measure.py" "$WORK/$name.$i" "$out.$i" "$SAMPLE_MS" "${nice[@]}" "$@"
  done
  python3 - "$WORK/$name" "$runs" "$out" <<'PY'
import json, shutil, sys
base, runs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rs = [(json.load(open(f"{base}.{i}.json")), i) for i in range(1, runs + 1)]
r, i = min(rs, key=lambda x: x[0]["wall"])
r["runs"] = runs
json.dump(r, open(base + ".json", "w"))
shutil.copy(f"{out}.{i}", out)
PY
}

warm() {
  say "warming the page cache: $1"
  cat "$1" >/dev/null
  if command -v fincore >/dev/null; then
    fincore --bytes --noheadings --output RES,SIZE "$1" |
      awk '{printf "   %.1f%% of %s resident\n", $2 ? 100 * $1 / $2 : 0, "'"$1"'"}' >&2
  fi
}

warm "$BIG"
if [[ -n $BASE_SW ]]; then
  # Alternate the two builds, one run each per round, so both see the same machine.
  say "stekwatch and the baseline on $BIG ($RUNS runs each, alternating)"
  for ((r = 1; r <= RUNS; r++)); do
    best "sw_big_r$r" 1 "$WORK/sw_big.out" "$BIG" "$SW" "${sw_args[@]}" "$BIG"
    best "base_big_r$r" 1 "$WORK/base_big.out" "$BIG" "$BASE_SW" "${sw_args[@]}" "$BIG"
  done
  python3 - "$WORK" "$RUNS" <<'PY'
import json, sys
work, runs = sys.argv[1], int(sys.argv[2])
for name in ("sw_big", "base_big"):
    rs = [json.load(open(f"{work}/{name}_r{r}.json")) for r in range(1, runs + 1)]
    best = min(rs, key=lambda x: x["wall"])
    best["runs"] = runs
    json.dump(best, open(f"{work}/{name}.json", "w"))
PY
else
  say "stekwatch on $BIG ($RUNS runs)"
  best sw_big "$RUNS" "$WORK/sw_big.out" "$BIG" "$SW" "${sw_args[@]}" "$BIG"
fi

if [[ $SMALL != "$BIG" ]]; then
  warm "$SMALL"
  say "stekwatch on $SMALL ($RUNS runs)"
  best sw_small "$RUNS" "$WORK/sw_small.out" "$SMALL" "$SW" "${sw_args[@]}" "$SMALL"
else
  cp "$WORK/sw_big.json" "$WORK/sw_small.json"
  cp "$WORK/sw_big.out" "$WORK/sw_small.out"
fi

if [[ $SKIP_TSHARK != 1 ]]; then
  say "tshark on $SMALL ($TSHARK_RUNS run(s))"
  # The fixture services on port 8443 need the decode-as, as in the tshark oracle test.
  best tshark "$TSHARK_RUNS" "$WORK/tshark.out" "$SMALL" tshark -n -r "$SMALL" -d tcp.port==8443,tls \
    -T fields -e tls.handshake.session_ticket -e tls.handshake.extensions.psk.identity.identity
fi

say "stekwatch on the source fixtures (reference report)"
"$SW" read --format json "${sources[@]}" >"$WORK/sources.json"

# --- checks and summary ------------------------------------------------------------------------
python3 - "$WORK" "$BIG" "$SMALL" "$(rounds_of "$BIG")" "$(rounds_of "$SMALL")" "$SKIP_TSHARK" "${BASELINE_REV:-}" <<'PY'
import json, os, sys
work, big, small, rounds_big, rounds_small, skip_tshark, baseline_rev = sys.argv[1:8]
skip_tshark = skip_tshark == "1"
ok = True

def load(p):
    return json.load(open(os.path.join(work, p)))

def keys(rep):
    return {s["service"]: sorted(k["key_name"] for k in s["ticket_keys"]) for s in rep["services"]}

def alerts(rep):
    return sorted({(a["rule"], a["severity"], a["service"] or "") for a in rep["alerts"]})

ref = load("sources.json")
print()
print("Checks")
for label, path, out, rounds in (("big", big, "sw_big.out", rounds_big),
                                 ("small", small, "sw_small.out", rounds_small)):
    rep = json.load(open(os.path.join(work, out)))
    name = os.path.basename(path)
    if keys(rep) == keys(ref):
        n = sum(len(v) for v in keys(ref).values())
        print(f"  ok    {name}: same key names per service as the sources ({len(keys(ref))} services, {n} keys)")
    else:
        ok = False
        print(f"  FAIL  {name}: key names per service differ from the sources")
        print(f"        sources:   {keys(ref)}")
        print(f"        generated: {keys(rep)}")
    if rounds:
        r = int(rounds)
        want = {s["service"]: {k: v * r for k, v in s["handshakes"].items()} for s in ref["services"]}
        got = {s["service"]: s["handshakes"] for s in rep["services"]}
        if want == got:
            print(f"  ok    {name}: handshake counts per service = {r} rounds x the sources'")
        else:
            ok = False
            print(f"  FAIL  {name}: handshake counts are not {r} x the sources'")
            print(f"        want {want}\n        got  {got}")
    if alerts(rep) == alerts(ref):
        print(f"  ok    {name}: same alerts (rule, severity, service) as the sources ({len(alerts(ref))})")
    else:
        print(f"  note  {name}: alerts differ from the sources: {alerts(ref)} vs {alerts(rep)}")
    st = rep["statistics"]
    bad = {k: st[k] for k in ("parse_failures", "gaps", "dropped_flows_cap", "discarded_bytes_cap",
                              "skipped_malformed") if st.get(k)}
    if bad:
        print(f"  note  {name}: statistics {bad}")

if not skip_tshark:
    names = {k for v in keys(json.load(open(os.path.join(work, "sw_small.out")))).values() for k in v}
    prefixes, n = set(), 0
    for line in open(os.path.join(work, "tshark.out")):
        for f in line.replace("\t", ",").split(","):
            f = f.strip()
            if f:
                n += 1
                prefixes.add(f[:32])
    missing = prefixes - names
    if n and not missing:
        print(f"  ok    {os.path.basename(small)}: all {n} tickets/PSK identities tshark extracts "
              f"carry key names stekwatch reports ({len(prefixes)} distinct)")
    else:
        ok = False
        print(f"  FAIL  {os.path.basename(small)}: tshark extracted {n} tickets/identities; "
              f"prefixes not reported by stekwatch: {sorted(missing)}")

def row(tool, path, r, packets):
    size = os.path.getsize(path)
    return {"tool": tool, "file": os.path.basename(path), "mib": size / 2**20, "packets": packets,
            "wall": r["wall"], "cpu": r["user"] + r["sys"], "mbs": size / r["wall"] / 1e6,
            "cpu_mbs": size / (r["user"] + r["sys"]) / 1e6 if r["user"] + r["sys"] > 0 else None,
            "pps": packets / r["wall"], "rss": r["maxrss_kib"] / 1024,
            "anon": r["anon_kib"] / 1024, "runs": r["runs"]}

pk_big = json.load(open(os.path.join(work, "sw_big.out")))["observation"]["packets"]
pk_small = json.load(open(os.path.join(work, "sw_small.out")))["observation"]["packets"]
rows = [row("stekwatch", big, load("sw_big.json"), pk_big)]
if small != big:
    rows.append(row("stekwatch", small, load("sw_small.json"), pk_small))
if not skip_tshark:
    rows.append(row("tshark", small, load("tshark.json"), pk_small))
if baseline_rev:
    base_out = json.load(open(os.path.join(work, "base_big.out")))
    if keys(base_out) != keys(json.load(open(os.path.join(work, "sw_big.out")))):
        print(f"  note  the baseline {baseline_rev} reports other key names on {os.path.basename(big)}")
    rows.insert(1, row("baseline", big, load("base_big.json"), base_out["observation"]["packets"]))

print()
print("Results (MB = 10^6 bytes of capture file; wall = best of the runs; cpu = user + system of that run;")
print("peak RSS from /usr/bin/time -v, which counts the mapped pages of the capture; anon = peak RssAnon sampled)")
def fmt(v):
    return "-" if v is None else f"{v:.1f}"

hdr = f"{'tool':<10} {'file':<22} {'MiB':>8} {'packets':>9} {'runs':>4} {'wall s':>8} {'cpu s':>7} {'MB/s':>8} {'cpu MB/s':>9} {'Mpkt/s':>7} {'RSS MiB':>8} {'anon MiB':>8}"
print(hdr)
print("-" * len(hdr))
for r in rows:
    print(f"{r['tool']:<10} {r['file']:<22} {r['mib']:>8.1f} {r['packets']:>9} {r['runs']:>4} {r['wall']:>8.3f} {r['cpu']:>7.2f} "
          f"{r['mbs']:>8.1f} {fmt(r['cpu_mbs']):>9} {r['pps']/1e6:>7.3f} {r['rss']:>8.1f} {r['anon']:>8.1f}")
print()
big_row = rows[0]
if baseline_rev:
    b = rows[1]
    print(f"speed-up over {baseline_rev} on {big_row['file']}: {big_row['mbs'] / b['mbs']:.2f}x (wall), "
          f"{big_row['cpu_mbs'] / b['cpu_mbs']:.2f}x (cpu); peak RSS {big_row['rss']:.1f} MiB vs {b['rss']:.1f} MiB, "
          f"anon {big_row['anon']:.1f} MiB vs {b['anon']:.1f} MiB")
if not skip_tshark:
    sw, ts = [r for r in rows if r["tool"] == "stekwatch"][-1], rows[-1]
    ratio = sw["mbs"] / ts["mbs"]
    cpu_ratio = sw["cpu_mbs"] / ts["cpu_mbs"] if sw["cpu_mbs"] and ts["cpu_mbs"] else None
    print(f"ratio stekwatch/tshark on {ts['file']}: {ratio:.1f}x (wall), "
          f"{'-' if cpu_ratio is None else f'{cpu_ratio:.1f}x'} (cpu)")
print("targets (issue 5):")
if not skip_tshark:
    print(f"  {'ok  ' if ratio >= 100 else 'MISS'}  >= 100x tshark's rate on the same file: {ratio:.1f}x")
gbs = big_row["mbs"] / 1000
cpu_gbs = "-" if big_row["cpu_mbs"] is None else f"{big_row['cpu_mbs'] / 1000:.2f}"
print(f"  {'ok  ' if gbs >= 2 else 'MISS'}  >= 2 GB/s on {big_row['file']} from page cache: {gbs:.2f} GB/s "
      f"({cpu_gbs} GB/s per cpu second)")
print(f"  {'ok  ' if big_row['rss'] <= 64 else 'MISS'}  peak RSS <= 64 MiB on {big_row['file']}: {big_row['rss']:.1f} MiB "
      f"(anonymous: {big_row['anon']:.1f} MiB)")
load1 = os.getloadavg()[0]
if load1 > 1.5:
    print(f"note: load average {load1:.1f} on {os.cpu_count()} cpus while measuring: other processes competed; cpu columns are steadier than wall")
sys.exit(0 if ok else 1)
PY
