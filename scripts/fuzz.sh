#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS (default 60) each, seeded from captures/, and prints
# executions and findings per target. Needs cargo-fuzz (`cargo install cargo-fuzz`); on a stable
# toolchain RUSTC_BOOTSTRAP=1 lets it use the nightly-only sanitizer flags.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Corpora grow under fuzz/corpus/TARGET, crashes land in fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(capture decode reassembly tls state flows quic prelude)
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 2; }

echo "== seeds from captures/"
cargo run --quiet --example fuzz_seeds -- fuzz/corpus captures/*.pcap*
# State files of the fixtures, as `read --state` writes them.
mkdir -p fuzz/corpus/state fuzz/corpus/flows
for f in captures/*.pcap*; do
  seed="fuzz/corpus/state/$(basename "$f").json"
  [[ -e $seed ]] || cargo run --quiet -- read --state "$seed" "$f" >/dev/null
done
echo "== build"
cargo fuzz build >/dev/null

logdir=fuzz/logs
mkdir -p "$logdir"
status=0
summary=()
for t in "${targets[@]}"; do
  echo "== $t: ${secs}s"
  log="$logdir/$t.log"
  set +e
  cargo fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  crashes=$(ls "fuzz/artifacts/$t" 2>/dev/null | grep -c -E '^(crash|oom|timeout|leak)-' || true)
  line="$t: ${secs}s, execs ${execs:-?} (${rate:-?}/s), coverage ${cov:-?}, exit $rc, findings ${crashes}"
  echo "$line"
  summary+=("$line")
  if ((rc != 0)); then
    status=1
    grep -m5 -E 'panicked|ERROR: |SUMMARY' "$log" || true
  fi
done
echo "== summary"
printf '%s\n' "${summary[@]}"
exit $status
