#!/usr/bin/env bash
# The main job: build the `modbatt` CLI and run `modbatt demo`; with
# arguments, run `modbatt ARGS...` instead (e.g. `scripts/demo.sh demo --fd`).
# A debug build, shared with scripts/test.sh, so the two quick-start commands
# build the package once; Benchmarks/run.sh measures release builds.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
bash scripts/bootstrap.sh
swift build --traits SocketCANSetup --disable-build-manifest-caching --product modbatt 2>&1 | grep -E "error:|Compiling|Build complete" | grep -v "^\[" || true
BIN="$(swift build --traits SocketCANSetup --disable-build-manifest-caching --show-bin-path)/modbatt"
if [ "$#" -gt 0 ]; then
  exec "$BIN" "$@"
elif "$BIN" help demo >/dev/null 2>&1; then
  exec "$BIN" demo
else
  exec "$BIN" --help
fi
