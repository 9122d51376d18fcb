#!/usr/bin/env bash
# Do two builds of stekwatch produce byte-identical reports?
#
#   scripts/compare-reports.sh OLD_BINARY NEW_BINARY
#   scripts/compare-reports.sh --rev REV [NEW_BINARY]
#
# The second form builds revision REV (`cargo build --release --quiet --bin stekwatch`) in a
# temporary `git worktree` under /tmp with its own CARGO_TARGET_DIR (both removed at exit) and
# uses it as OLD. NEW_BINARY defaults to the current work tree built with `cargo build --release`
# into the usual target dir (target/release/stekwatch, or $CARGO_TARGET_DIR/release/stekwatch).
#
# Inputs, run from the repository root with identical arguments on both sides:
#   - every captures/*.pcap and captures/*.pcapng on its own
#   - all of captures/*.pcap* together in one run
#   - every file in ../shared/captures-public/captures/ on its own (skipped, visibly, if absent)
# Modes per input:
#   json      read --format json FILE
#   jsonl     read --format jsonl FILE
#   human     read FILE
#   json-j2   read --format json -j 2 FILE
#   state     read --state S FILE, then report --state S --format json (a fresh state file per
#             binary; the report output is compared, together with both exit statuses)
# A comparison is identical when stdout is byte-identical (cmp) and the exit statuses are equal
# (statuses 1 and 2 are expected for some inputs; they only have to match). stderr is not compared.
#
# Output: `DIFF <mode> <input>` plus the first 20 lines of `diff old new` per differing
# comparison, then `compare-reports: N comparisons, M identical, K differ`. Exit 1 when K > 0,
# 2 on usage or build errors, 0 otherwise.
#
# Environment: CMP_TIMEOUT [120]  seconds per stekwatch run (via timeout(1); 0 = no limit).
set -euo pipefail
export LC_ALL=C
shopt -s nullglob

usage() {
    sed -n '4,5p' "$0" | sed 's/^#   /usage: /' >&2
    exit 2
}

abs_bin() { # resolve a binary path before we cd
    local b=$1
    [[ -f $b && -x $b ]] || { echo "compare-reports: not an executable file: $b" >&2; exit 2; }
    (cd "$(dirname "$b")" && printf '%s/%s\n' "$PWD" "$(basename "$b")")
}

REV= OLD= NEW=
case "${1:-}" in
    -h|--help) usage ;;
    --rev)
        [[ $# -ge 2 && $# -le 3 && -n $2 ]] || usage
        REV=$2
        if [[ $# -eq 3 ]]; then NEW=$(abs_bin "$3"); fi
        ;;
    --rev=*)
        [[ $# -le 2 ]] || usage
        REV=${1#--rev=}
        [[ -n $REV ]] || usage
        if [[ $# -eq 2 ]]; then NEW=$(abs_bin "$2"); fi
        ;;
    -*) usage ;;
    *)
        [[ $# -eq 2 ]] || usage
        OLD=$(abs_bin "$1")
        NEW=$(abs_bin "$2")
        ;;
esac

cd "$(dirname "$0")/.."
ROOT=$PWD

TMP=$(mktemp -d /tmp/compare-reports.XXXXXX)
WT= BUILD=
cleanup() {
    if [[ -n $BUILD ]]; then
        kill "$BUILD" 2>/dev/null || true
        wait "$BUILD" 2>/dev/null || true
    fi
    if [[ -n $WT ]]; then
        git -C "$ROOT" worktree remove --force "$WT" >/dev/null 2>&1 || true
        git -C "$ROOT" worktree prune >/dev/null 2>&1 || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n $REV ]]; then
    commit=$(git rev-parse --verify --quiet "$REV^{commit}") \
        || { echo "compare-reports: unknown revision: $REV" >&2; exit 2; }
    WT=$TMP/worktree
    echo "compare-reports: building $REV (${commit:0:12}) in $WT" >&2
    git worktree add --quiet --detach "$WT" "$commit" >&2
    # in the background, so that a signal to this script runs the cleanup without waiting for cargo
    (cd "$WT" && CARGO_TARGET_DIR=$TMP/target exec cargo build --release --quiet --bin stekwatch) &
    BUILD=$!
    wait "$BUILD" || { echo "compare-reports: build of $REV failed" >&2; exit 2; }
    BUILD=
    OLD=$TMP/target/release/stekwatch
    if [[ -z $NEW ]]; then
        echo "compare-reports: building the work tree" >&2
        cargo build --release --quiet --bin stekwatch \
            || { echo "compare-reports: build of the work tree failed" >&2; exit 2; }
        NEW=${CARGO_TARGET_DIR:-$ROOT/target}/release/stekwatch
        NEW=$(abs_bin "$NEW")
    fi
fi

echo "compare-reports: old=$OLD new=$NEW"

TIMEOUT=${CMP_TIMEOUT:-120}
run() { # run OUT ERR ARGS...: stdout to OUT, stderr to ERR; prints the exit status
    local out=$1 err=$2 rc=0
    shift 2
    if [[ $TIMEOUT != 0 ]] && command -v timeout >/dev/null; then
        timeout "$TIMEOUT" "$@" >"$out" 2>"$err" </dev/null || rc=$?
    else
        "$@" >"$out" 2>"$err" </dev/null || rc=$?
    fi
    echo "$rc"
}

N=0 SAME=0 DIFFER=0
O=$TMP/old.out N_=$TMP/new.out

# compare MODE LABEL OLD_RC NEW_RC: compares $O and $N_ plus the statuses
compare() {
    local mode=$1 label=$2 orc=$3 nrc=$4
    N=$((N + 1))
    if [[ $orc == "$nrc" ]] && cmp -s "$O" "$N_"; then
        SAME=$((SAME + 1))
        return
    fi
    DIFFER=$((DIFFER + 1))
    echo "DIFF $mode $label"
    [[ $orc == "$nrc" ]] || echo "  exit status: old $orc, new $nrc"
    { diff "$O" "$N_" || true; } | head -n 20 | sed 's/^/  /'
}

# check LABEL FILE...: all modes for one input (one run over all FILEs)
check() {
    local label=$1 orc nrc mode
    shift
    local -a args
    for mode in json jsonl human json-j2; do
        case $mode in
            json) args=(read --format json) ;;
            jsonl) args=(read --format jsonl) ;;
            human) args=(read) ;;
            json-j2) args=(read --format json -j 2) ;;
        esac
        orc=$(run "$O" "$TMP/old.err" "$OLD" "${args[@]}" "$@")
        nrc=$(run "$N_" "$TMP/new.err" "$NEW" "${args[@]}" "$@")
        compare "$mode" "$label" "$orc" "$nrc"
    done

    # state round trip: separate state files, same base name
    local so=$TMP/old-state/state.json sn=$TMP/new-state/state.json ro rn
    rm -rf "$TMP/old-state" "$TMP/new-state"
    mkdir -p "$TMP/old-state" "$TMP/new-state"
    ro=$(run /dev/null "$TMP/old.err" "$OLD" read --state "$so" "$@")
    rn=$(run /dev/null "$TMP/new.err" "$NEW" read --state "$sn" "$@")
    orc=$(run "$O" "$TMP/old.err" "$OLD" report --state "$so" --format json)
    nrc=$(run "$N_" "$TMP/new.err" "$NEW" report --state "$sn" --format json)
    compare state "$label" "read $ro, report $orc" "read $rn, report $nrc"
}

own=(captures/*.pcap captures/*.pcapng)
for f in "${own[@]}"; do
    check "$f" "$f"
done
all=(captures/*.pcap*)
if [[ ${#all[@]} -gt 0 ]]; then
    check 'captures/*.pcap*' "${all[@]}"
fi

PUBLIC=../shared/captures-public/captures
if [[ -d $PUBLIC ]]; then
    while IFS= read -r -d '' f; do
        check "$f" "$f"
    done < <(find "$PUBLIC" -mindepth 1 -maxdepth 1 -type f -print0 | sort -z)
else
    echo "skip: ../shared/captures-public absent"
fi

echo "compare-reports: $N comparisons, $SAME identical, $DIFFER differ"
[[ $DIFFER -eq 0 ]]
