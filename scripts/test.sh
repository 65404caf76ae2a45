#!/usr/bin/env bash
# Run every test: the C core (host and firmware builds, clang warnings and
# static analysis, C tests plain and under ASan/UBSan/LSan, the load test,
# the C tests on an emulated Cortex-M4, AVR and big-endian s390x
# (scripts/target-test.sh), the constant-time check, bounded fuzzing), the Promela model of the
# handshake, and the Swift package (tests, bounded fuzzing, benchmark smoke
# run, the safety layer under ASan). The last line totals them all: "N passed, M failed".
#
# Pass or fail does not depend on the machine's speed or load, on the
# environment or on the stack layout (docs/TESTING.md): fuzzing runs a fixed
# number of inputs with a fixed seed (the time-bounded searches are separate
# commands, docs/security/FUZZING.md), and timing figures are reported,
# never asserted.
#
#   MB_FUZZ_SEED      libFuzzer seed (default 1, so a CI run replays the same
#                     search from the committed corpora)
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh || exit 1

export MB_VECTORS_DIR="${MB_VECTORS_DIR:-$(python3 -c 'import cryptography_vectors,os;print(os.path.dirname(cryptography_vectors.__file__))')}"
export MB_FUZZ_SEED="${MB_FUZZ_SEED:-1}"
# The load test's knobs are for hand runs; CI runs its defaults.
unset "${!MB_LOAD_@}"
LOG_DIR="build/test-logs"
mkdir -p "$LOG_DIR"
status=0
step() { echo; echo "==> $*"; }
# Run a suite, keep its log for the total, and note a failure.
suite() {
  local log="$1"; shift
  "$@" 2>&1 | tee "$LOG_DIR/$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
}

step "C core: host library"
make -s -C CSources || status=1
step "C core: firmware cross-build (Cortex-M4, -Wall -Wextra -Werror), no heap/stdio symbols"
make -s -C CSources CROSS=arm-none-eabi- all check-symbols || status=1
step "C core: clang warnings (-Wpedantic -Wconversion -Wshadow -Werror) and clang static analyzer"
make -s -C CSources clang analyze || status=1

step "C tests (vectors, error paths, Python cross-check)"
suite ctests.log make -s -C Tests/CTests
step "Load and faults (32-module pack, 100% bus load, 10^5 messages per profile)"
suite load.log make -s -C Tests/Load
step "C core on emulated devices: Cortex-M4 (QEMU), AVR (simavr), big-endian s390x (qemu-user)"
suite targets.log bash scripts/target-test.sh all

# The hardening suites below are single-threaded and do not touch Swift:
# they run in the background while the Swift package builds, and their logs
# are shown after the build (the Swift tests, some of them time-bounded,
# run only once they are done).
hardening() {
  local log="$1"; shift
  "$@" > "$LOG_DIR/$log" 2>&1
  echo $? > "$LOG_DIR/$log.rc"
}
HARDENING=(
  "ctests-san.log|C tests under AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer"
  "ct.log|Constant-time check (ctgrind method: valgrind with the secrets marked undefined)"
  "fuzz.log|Fuzzing the C parsers (libFuzzer + ASan/UBSan, a fixed number of inputs per harness)"
  "model.log|Model check of the handshake, rotation and resync (spin)"
)
step "Hardening suites started in the background: sanitizers, constant time, fuzzing, model check"
(
  hardening ctests-san.log make -s -C Tests/CTests SANITIZE=1 LABEL="sanitized C tests"
  { [ -f build/mbedtls-src/PATH ] || bash scripts/fetch-mbedtls-src.sh; } > "$LOG_DIR/mbedtls-src.log" 2>&1
  hardening ct.log bash scripts/ct-check.sh
  hardening fuzz.log bash scripts/fuzz.sh --ci
  hardening model.log bash scripts/model-check.sh
) &
HARDENING_PID=$!

# SwiftPM 6.3 can fail a rebuild in a used build folder with "unknown build
# description"; not caching the build manifest avoids it.
SWIFT_FLAGS=(--traits SocketCANSetup --disable-build-manifest-caching)
step "Swift build (all targets and tests)"
swift build --build-tests "${SWIFT_FLAGS[@]}" 2>&1 | grep -E "error:|warning: .*/(Sources|Tests)/|Build complete" | tail -20
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

wait "$HARDENING_PID"
for entry in "${HARDENING[@]}"; do
  log="${entry%%|*}"
  step "${entry#*|}"
  cat "$LOG_DIR/$log"
  [ "$(cat "$LOG_DIR/$log.rc" 2>/dev/null)" = 0 ] || status=1
done

# Serially: several suites run whole packs, servers and real-time buses, and
# on a 2-core machine running them all at once starves the timing-bounded
# tests (the whole suite takes a few minutes either way).
step "Swift tests"
suite swift.log swift test --skip-build --no-parallel "${SWIFT_FLAGS[@]}"

step "Swift safety-layer tests under AddressSanitizer and LeakSanitizer"
suite swift-sanitize.log bash scripts/swift-sanitize.sh address

step "Fuzzing the Swift parsers (candump, socketcand, bridge JSON; a fixed number of inputs per harness)"
suite fuzz-swift.log bash scripts/fuzz-swift.sh --ci

step "Benchmarks, quick mode (checks the suite runs; asserts nothing about time)"
BENCH_BIN="$(swift build "${SWIFT_FLAGS[@]}" --show-bin-path)/ModbattBench"
if MB_BENCH_NO_BOOTSTRAP=1 Benchmarks/run.sh --quick --out build/bench-quick --swift-bin "$BENCH_BIN" \
     > "$LOG_DIR/bench.log" 2>&1 && python3 -c 'import json,sys; json.load(open(sys.argv[1]))' build/bench-quick/results.json; then
  echo "benchmarks: 1 passed, 0 failed (report in build/bench-quick/report.md)" | tee -a "$LOG_DIR/bench.log"
else
  tail -20 "$LOG_DIR/bench.log"
  echo "benchmarks: 0 passed, 1 failed" | tee -a "$LOG_DIR/bench.log"
  status=1
fi

echo
python3 scripts/total_tests.py "C tests=$LOG_DIR/ctests.log" "sanitized C tests=$LOG_DIR/ctests-san.log" \
  "load=$LOG_DIR/load.log" "target tests=$LOG_DIR/targets.log" "constant-time=$LOG_DIR/ct.log" "fuzz=$LOG_DIR/fuzz.log" "model=$LOG_DIR/model.log" \
  "swift=$LOG_DIR/swift.log" "swift fuzz=$LOG_DIR/fuzz-swift.log" \
  "swift sanitize address=$LOG_DIR/swift-sanitize.log" "benchmarks=$LOG_DIR/bench.log" || status=1
exit $status
