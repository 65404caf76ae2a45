#!/usr/bin/env bash
# Run every test: the C core (host library, firmware cross-build, C tests,
# Python cross-check) and the Swift package. The last line totals them all:
#   "N passed, M failed"
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh || exit 1

export MB_VECTORS_DIR="${MB_VECTORS_DIR:-$(python3 -c 'import cryptography_vectors,os;print(os.path.dirname(cryptography_vectors.__file__))')}"
LOG_DIR="build/test-logs"
mkdir -p "$LOG_DIR"
status=0
step() { echo; echo "==> $*"; }

step "C core: host library"
make -s -C CSources || status=1
step "C core: firmware cross-build (Cortex-M4, -Wall -Wextra -Werror), no heap/stdio symbols"
make -s -C CSources CROSS=arm-none-eabi- all check-symbols || status=1

step "C tests (vectors, error paths, Python cross-check)"
make -s -C Tests/CTests 2>&1 | tee "$LOG_DIR/ctests.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

step "Load and faults (32-module pack, 100% bus load, 10^5 messages per profile)"
make -s -C Tests/Load 2>&1 | tee "$LOG_DIR/load.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

step "Constant-time check (ctgrind method: valgrind with the secrets marked undefined)"
{ [ -f build/mbedtls-src/PATH ] || bash scripts/fetch-mbedtls-src.sh; } > "$LOG_DIR/mbedtls-src.log" 2>&1
bash scripts/ct-check.sh 2>&1 | tee "$LOG_DIR/ct.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

# SwiftPM 6.3 can fail a rebuild in a used build folder with "unknown build
# description"; not caching the build manifest avoids it.
SWIFT_FLAGS=(--traits SocketCANSetup --disable-build-manifest-caching)
step "Swift build (all targets and tests)"
swift build --build-tests "${SWIFT_FLAGS[@]}" 2>&1 | grep -E "error:|warning: .*/(Sources|Tests)/|Build complete" | tail -20
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
# Serially: several suites run whole packs, servers and real-time buses, and
# on a 2-core machine running them all at once starves the timing-bounded
# tests (the whole suite takes about a minute either way).
step "Swift tests"
swift test --skip-build --no-parallel "${SWIFT_FLAGS[@]}" 2>&1 | tee "$LOG_DIR/swift.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

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

python3 scripts/total_tests.py "C tests=$LOG_DIR/ctests.log" "swift=$LOG_DIR/swift.log" \
  "benchmarks=$LOG_DIR/bench.log" "load=$LOG_DIR/load.log" \
  "constant-time=$LOG_DIR/ct.log" || status=1
exit $status
