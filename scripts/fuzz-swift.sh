#!/usr/bin/env bash
# Build and run the Swift libFuzzer harnesses (Tests/Fuzz/swift,
# docs/security/SWIFT_HARDENING.md).
#
#   scripts/fuzz-swift.sh --ci [harness ...]   what CI runs: the fixed number of inputs
#                                              of Tests/Fuzz/swift/ci-runs.txt, seed 1
#   scripts/fuzz-swift.sh [--seconds N] [harness ...]   a search bounded by time
#
# Each harness starts from its committed seeds (Tests/Fuzz/swift/corpus/<h>,
# read only) plus a scratch corpus under build/fuzz-swift/work/<h>; a crash
# or broken invariant leaves its input in build/fuzz-swift/crashes/. Ends
# with `swift fuzz: N passed, M failed` and exits non-zero on any failure.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
HERE="$ROOT/Tests/Fuzz/swift"
BUILD="$ROOT/build/fuzz-swift"
SECONDS_EACH=20
CI_MODE=0
HARNESSES=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_EACH="$2"; shift 2 ;;
        --seconds=*) SECONDS_EACH="${1#*=}"; shift ;;
        --ci) CI_MODE=1; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) HARNESSES+=("$1"); shift ;;
    esac
done
[ ${#HARNESSES[@]} -gt 0 ] || read -r -a HARNESSES <<< "$(make -s -C "$HERE" list)"

start=$(date +%s)
if ! make -C "$HERE" -s all >"$BUILD.make.log" 2>&1; then
    tail -40 "$BUILD.make.log"
    echo "swift fuzz: 0 passed, ${#HARNESSES[@]} failed"
    exit 1
fi
echo "build: $(( $(date +%s) - start )) s"

# The Swift runtime's backtracer would catch the crash before libFuzzer
# saves the input; leak reports would flag the runtime's one-time caches.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}"

passed=0; failed=0
mkdir -p "$BUILD/crashes"
for h in "${HARNESSES[@]}"; do
    work="$BUILD/work/$h"; log="$BUILD/$h.log"
    limit=(-max_total_time="$SECONDS_EACH" -seed="${MB_FUZZ_SEED:-0}")
    bound="${SECONDS_EACH} s"
    if [ "$CI_MODE" -eq 1 ]; then
        # Deterministic: fixed inputs and seed, a fresh scratch corpus, no
        # time-driven reload, no guidance from compared values (addresses),
        # the same hash seed in every process. The timeout only catches a hang.
        runs=$(awk -v h="$h" '$1 == h { print $2 }' "$HERE/ci-runs.txt")
        [ -n "$runs" ] || { echo "$h: no entry in Tests/Fuzz/swift/ci-runs.txt"; failed=$((failed + 1)); continue; }
        rm -rf "$work"
        limit=(-runs="$runs" -seed="${MB_FUZZ_SEED:-1}" -reload=0 -use_cmp=0)
        bound="$runs inputs"
    fi
    mkdir -p "$work"
    # The committed seeds in a fixed order (a directory's listing order
    # depends on the file system).
    find "$HERE/corpus/$h" -type f | LC_ALL=C sort | paste -sd, - > "$BUILD/$h.seeds"
    # CPU seconds too: on a shared machine exec/s of wall time says little.
    TIMEFORMAT='%U %S'
    cpu=$( { time SWIFT_DETERMINISTIC_HASHING=1 "$BUILD/$h" "${limit[@]}" -print_final_stats=1 -timeout=60 -rss_limit_mb=2048 \
        -max_len=4096 -artifact_prefix="$BUILD/crashes/$h-" -seed_inputs=@"$BUILD/$h.seeds" "$work" >"$log" 2>&1; \
        echo "status $?" >>"$log"; } 2>&1 )
    status=$(sed -n 's/^status //p' "$log" | tail -1)
    cpu=$(echo "$cpu" | awk '{ printf "%.1f", $1 + $2 }')
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
    if [ "$status" -eq 0 ]; then
        passed=$((passed + 1))
        per_cpu=$(awk -v n="${execs:-0}" -v c="$cpu" 'BEGIN { if (c > 0) printf "%d", n / c; else print "?" }')
        echo "$h: ok, ${execs:-?} executions, ${rate:-?} exec/s wall, $per_cpu exec per CPU-second ($cpu s CPU), ${cov:-cov: ?}, $bound"
    else
        failed=$((failed + 1))
        echo "$h: FAILED (exit $status), log $log"
        grep -E 'INVARIANT BROKEN|ERROR: AddressSanitizer|Fatal error|Test unit written' "$log" | head -5
    fi
done
echo "total: $(( $(date +%s) - start )) s"
echo "swift fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
