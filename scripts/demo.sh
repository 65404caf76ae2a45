#!/usr/bin/env bash
# The main job: build the `modbatt` CLI and run it. Until the demo subcommand
# lands this prints the CLI's help; extra arguments are passed to the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
bash scripts/bootstrap.sh
swift build -c release --traits SocketCANSetup --disable-build-manifest-caching --product modbatt 2>&1 | grep -E "error:|Compiling|Build complete" | grep -v "^\[" || true
BIN="$(swift build -c release --traits SocketCANSetup --disable-build-manifest-caching --show-bin-path)/modbatt"
if [ "$#" -gt 0 ]; then
  exec "$BIN" "$@"
elif "$BIN" help demo >/dev/null 2>&1; then
  exec "$BIN" demo
else
  exec "$BIN" --help
fi
