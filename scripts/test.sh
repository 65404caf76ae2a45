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

step "Swift tests"
swift build --build-tests --traits SocketCANSetup 2>&1 | grep -E "error:|warning: .*Sources/|Compiling|Build complete" | grep -v "^\[" | tail -20
swift test --skip-build --traits SocketCANSetup 2>&1 | tee "$LOG_DIR/swift.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

python3 scripts/total_tests.py "$LOG_DIR/ctests.log" "$LOG_DIR/swift.log" || status=1
exit $status
