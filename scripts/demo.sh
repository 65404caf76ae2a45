#!/usr/bin/env bash
# The main job: build the `modbatt` CLI and run `modbatt demo`; with
# arguments, run `modbatt ARGS...` instead (e.g. `scripts/demo.sh demo --fd`).
# A debug build, shared with scripts/test.sh, so the two quick-start commands
# build the package once; Benchmarks/run.sh measures release builds.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
bash scripts/bootstrap.sh
FLAGS=(--traits SocketCANSetup --disable-build-manifest-caching)
if ! swift build "${FLAGS[@]}" --product modbatt > build-demo.log 2>&1; then
  grep -E "error:" build-demo.log | head -20
  echo "demo.sh: building modbatt failed (full log: build-demo.log)" >&2
  exit 1
fi
rm -f build-demo.log
BIN="$(swift build "${FLAGS[@]}" --show-bin-path)/modbatt"
[ "$#" -gt 0 ] || set -- demo
exec "$BIN" "$@"
