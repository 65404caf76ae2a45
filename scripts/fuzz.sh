#!/usr/bin/env bash
# Build the libFuzzer harnesses of Tests/Fuzz (ASan + UBSan) and run each,
# starting from its committed corpus. A crash, a sanitizer report, a leak, a
# hang, the RSS limit or an invariant violation (the harnesses abort())
# fails the harness; its reproducer is kept under
# build/fuzz/artifacts/<harness>/. The last line is
#   "fuzz: N passed, M failed"      (one count per harness)
#
#   scripts/fuzz.sh --ci                  what CI runs: the fixed number of inputs of
#                                         Tests/Fuzz/ci-runs.txt, seed 1, a replayable search
#   scripts/fuzz.sh                       every harness, 30 s each (a search; how far
#                                         it gets depends on the machine)
#   scripts/fuzz.sh --seconds 600 fuzz_canid fuzz_reasm
#   scripts/fuzz.sh --runs 10000000 fuzz_canid     (a fixed number of inputs)
#   scripts/fuzz.sh --keep-corpus ...     grow build/fuzz/corpus across runs
#
#   MB_FUZZ_SEED   libFuzzer seed (default 0: libFuzzer picks one; --ci: 1)
#
# Reproduce a finding: build/fuzz/<harness> build/fuzz/artifacts/<harness>/crash-...
set -uo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${FUZZ_SECONDS:-30}"
RUNS=""
CI_MODE=0
KEEP=0
RSS_MB="${FUZZ_RSS_MB:-2048}"
HARNESSES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --ci) CI_MODE=1; shift ;;
    --keep-corpus) KEEP=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) HARNESSES+=("$1"); shift ;;
  esac
done

BUILD=build/fuzz
if [ ${#HARNESSES[@]} -eq 0 ]; then
  read -r -a HARNESSES <<< "$(make -s -C Tests/Fuzz list)"
fi

echo "==> building ${#HARNESSES[@]} harnesses (libFuzzer, ASan, UBSan)"
if ! make -s -C Tests/Fuzz HARNESSES="${HARNESSES[*]}" -j2; then
  echo "fuzz: 0 passed, ${#HARNESSES[@]} failed"
  exit 1
fi

# LeakSanitizer on (the core never allocates; mbedTLS frees what it takes);
# a bounded quarantine keeps the RSS figures meaningful.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=64:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

passed=0
failed=0
mkdir -p "$BUILD/logs"
for h in "${HARNESSES[@]}"; do
  bin="$BUILD/$h"
  corpus="$BUILD/corpus/$h"
  artifacts="$BUILD/artifacts/$h"
  log="$BUILD/logs/$h.log"
  [ "$KEEP" -eq 1 ] || rm -rf "$corpus"
  mkdir -p "$corpus" "$artifacts"
  limit=(-max_total_time="$SECONDS_EACH" -seed="${MB_FUZZ_SEED:-0}")
  [ -n "$RUNS" ] && limit=(-runs="$RUNS" -seed="${MB_FUZZ_SEED:-0}")
  if [ "$CI_MODE" -eq 1 ]; then
    # Deterministic: fixed inputs and seed, no time-driven corpus reload, no
    # guidance from compared values (they include addresses, which ASLR and
    # the environment's size move). The timeout only catches a hang.
    runs=$(awk -v h="$h" '$1 == h { print $2 }' Tests/Fuzz/ci-runs.txt)
    [ -n "$runs" ] || { echo "$h: no entry in Tests/Fuzz/ci-runs.txt"; failed=$((failed + 1)); continue; }
    limit=(-runs="$runs" -seed="${MB_FUZZ_SEED:-1}" -reload=0 -use_cmp=0)
  fi
  # The committed seeds in a fixed order (a directory's listing order
  # depends on the file system); new inputs go to the scratch corpus.
  seeds="$BUILD/logs/$h.seeds"
  find Tests/Fuzz/corpus/"$h" -type f | LC_ALL=C sort | paste -sd, - > "$seeds"
  [ -s "$seeds" ] && limit+=(-seed_inputs=@"$seeds")
  "$bin" "${limit[@]}" -rss_limit_mb="$RSS_MB" -timeout=60 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$corpus" > "$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{print $NF}')
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | awk '{print $NF}')
  rss=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | awk '{print $NF}')
  cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*/[0-9a-zA-Z]*')
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    echo "$h: ok   ${execs:-?} execs, ${speed:-?}/s, peak RSS ${rss:-?} MB, $cov"
  else
    failed=$((failed + 1))
    echo "$h: FAILED (exit $rc), log $log, reproducer in $artifacts/"
    grep -E 'invariant violated|ERROR: |SUMMARY: ' "$log" | head -5 | sed 's/^/    /'
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
