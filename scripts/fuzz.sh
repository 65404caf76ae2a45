#!/usr/bin/env bash
# Build the libFuzzer harnesses of Tests/Fuzz (ASan + UBSan) and run each for
# a bounded time on a copy of its committed corpus. A crash, a sanitizer
# report, a leak, a timeout, the RSS limit or an invariant violation (the
# harnesses abort()) fails the harness; its reproducer is kept under
# build/fuzz/artifacts/<harness>/. The last line is
#   "fuzz: N passed, M failed"      (one count per harness)
#
#   scripts/fuzz.sh                       every harness, 30 s each
#   scripts/fuzz.sh --seconds 600 fuzz_canid fuzz_reasm
#   scripts/fuzz.sh --runs 10000000 fuzz_canid     (a fixed number of inputs)
#   scripts/fuzz.sh --keep-corpus ...     grow build/fuzz/corpus across runs
#
# Reproduce a finding: build/fuzz/<harness> build/fuzz/artifacts/<harness>/crash-...
set -uo pipefail
cd "$(dirname "$0")/.."

SECONDS_EACH="${FUZZ_SECONDS:-30}"
RUNS=""
KEEP=0
RSS_MB="${FUZZ_RSS_MB:-2048}"
HARNESSES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) SECONDS_EACH="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --keep-corpus) KEEP=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
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
  cp -n Tests/Fuzz/corpus/"$h"/* "$corpus"/ 2>/dev/null || true
  limit=(-max_total_time="$SECONDS_EACH")
  [ -n "$RUNS" ] && limit=(-runs="$RUNS")
  limit+=(-seed="${MB_FUZZ_SEED:-0}")   # 0: libFuzzer picks one; CI fixes it
  "$bin" "${limit[@]}" -rss_limit_mb="$RSS_MB" -timeout=10 -print_final_stats=1 \
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
