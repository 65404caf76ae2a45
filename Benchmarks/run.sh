#!/usr/bin/env bash
# Benchmarks/run.sh - build and run the whole benchmark suite, write the report.
#
#   Benchmarks/run.sh                 full run (a few minutes): for people
#   Benchmarks/run.sh --quick         a few seconds of timing: CI checks that the suite runs
#   Benchmarks/run.sh --out DIR       write somewhere else than Benchmarks/results
#   Benchmarks/run.sh --no-swift      C side only (no Swift toolchain needed)
#   Benchmarks/run.sh --swift-bin BIN use an already built ModbattBench (e.g. CI's debug
#                                     build: $(swift build --show-bin-path)/ModbattBench)
#
# Writes DIR/report.md, DIR/results.json and DIR/hist/*.svg (one latency
# histogram per case); raw samples and build products go to DIR/tmp/.
# docs/BENCHMARKS.md explains the method and every figure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=0
OUT="Benchmarks/results"
SWIFT=1
SWIFT_BENCH=""
while (($#)); do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) OUT="$2"; shift ;;
    --no-swift) SWIFT=0 ;;
    --swift-bin) SWIFT_BENCH="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
TMP="$OUT/tmp"
rm -rf "$TMP/samples" "$TMP/cg" "$TMP/alloc" "$TMP"/*.json
mkdir -p "$TMP/cg" "$TMP/alloc"
MODE=$([ "$QUICK" = 1 ] && echo --quick || true)
log() { echo "run.sh: $*" >&2; }

# Tools: the project's bootstrap installs what is missing (libssl-dev, valgrind, ...).
if [ -x scripts/bootstrap.sh ] && [ "${MB_BENCH_NO_BOOTSTRAP:-0}" != 1 ]; then
  scripts/bootstrap.sh >&2 || log "bootstrap failed; going on with what is installed"
fi

# Pin to one core where the system lets us.
PIN=()
if command -v taskset >/dev/null 2>&1 && taskset -c 0 true 2>/dev/null; then
  PIN=(taskset -c 0)
fi

{
  echo "{"
  echo "  \"date_utc\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "  \"git\": \"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- CSources include Sources Benchmarks 2>/dev/null || echo '+dirty')\","
  echo "  \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ *//')\","
  echo "  \"nproc\": $(nproc),"
  echo "  \"load_before\": \"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo "  \"pinned\": \"${PIN[*]:-no}\","
  echo "  \"kernel\": \"$(uname -sr)\","
  echo "  \"cc\": \"$(cc --version | head -1)\","
  echo "  \"swift\": \"$(swift --version 2>/dev/null | head -1 | sed 's/"/'"'"'/g' || echo none)\","
  echo "  \"swift_bin\": \"${SWIFT_BENCH:-release build in .build-bench}\","
  echo "  \"quick\": $QUICK"
  echo "}"
} > "$TMP/machine.json"

# --- C side ---------------------------------------------------------------
log "building the C benchmark"
make -s -C Benchmarks/c BUILD="$TMP/c-build" all >&2
BENCH="$TMP/c-build/bench"
log "C timing run ${MODE:-(full)}"
"${PIN[@]}" "$BENCH" $MODE --out "$TMP"

# --- Swift side -----------------------------------------------------------
if [ "$SWIFT" = 1 ]; then
  if [ -z "$SWIFT_BENCH" ]; then
    log "building ModbattBench (release)"
    # Manifest caching off: with it, SwiftPM 6.3 fails every second build in a
    # scratch path with "unknown build description"; the build stays incremental.
    SWIFT_BUILD=(swift build -c release --scratch-path .build-bench --disable-build-manifest-caching)
    "${SWIFT_BUILD[@]}" --product ModbattBench >&2
    SWIFT_BENCH="$("${SWIFT_BUILD[@]}" --show-bin-path)/ModbattBench"
  fi
  [ -x "$SWIFT_BENCH" ] || { log "no ModbattBench at $SWIFT_BENCH"; exit 1; }
  log "Swift timing run ${MODE:-(full)} ($SWIFT_BENCH)"
  "${PIN[@]}" "$SWIFT_BENCH" $MODE --out "$TMP"
fi

# --- instruction counts (callgrind), with and without AES-NI --------------
if command -v valgrind >/dev/null 2>&1; then
  if [ "$QUICK" = 1 ]; then
    N=20
    CG_CASES="c_session.fd.8"
  else
    N=200
    CG_CASES="c_session.classic.8 c_session.fd.8 c_session.fd.36 c_aead.8 mbedtls.8 mbedtls_setkey.8 \
keys.pair_derive keys.session_init keys.handshake keys.rekey setkey.mbedtls_gcm_setkey"
  fi
  log "callgrind: $CG_CASES (N=$N, with and without AES-NI)"
  for c in $CG_CASES; do
    case "$c" in keys.*|setkey.*) ops="seal"; n=$((N / 10 > 5 ? N / 10 : 5)) ;; *) ops="seal open"; n=$N ;; esac
    for op in $ops; do
      for mode in aesni noaesni; do
        pre=()
        [ "$mode" = noaesni ] && pre=(env "LD_PRELOAD=$TMP/c-build/libnoaesni.so")
        f="$TMP/cg/$c.$op.$mode"
        "${pre[@]}" valgrind --tool=callgrind --callgrind-out-file="$f.out" \
          --collect-atstart=no --toggle-collect="cg_$op" \
          "$BENCH" --callgrind "$c" "$op" "$n" > "$f.log" 2>&1
        echo "$n" > "$f.n"
      done
    done
  done
  # The Swift layer's session and AEAD calls, counted the same way: callgrind
  # collects inside the benchmark's seal/open methods (mangled names).
  if [ "$SWIFT" = 1 ] && [ "$QUICK" = 0 ]; then
    # valgrind 3.19 cannot read the DWARF of Swift 6 binaries: use a copy
    # without debug info (the symbol table stays, so names still match).
    strip --strip-debug -o "$TMP/ModbattBench.nodebug" "$SWIFT_BENCH"
    for c in swift_session.classic.8 swift_session.fd.8 swift_aead.8 swiftcrypto.8; do
      cls=$(case "$c" in swift_session.*) echo SwiftSession ;; swift_aead.*) echo SwiftAEAD ;;
            *) echo SwiftCrypto ;; esac)
      for op in seal open; do
        f="$TMP/cg/$c.$op.aesni"
        valgrind --tool=callgrind --callgrind-out-file="$f.out" --collect-atstart=no \
          --toggle-collect="*${cls}*C4${op}yySiF" \
          "$TMP/ModbattBench.nodebug" --count "$c" "$op" "$N" > "$f.log" 2>&1 || log "callgrind $c $op failed"
        echo "$N" > "$f.n"
      done
    done
  fi
  # Where the instructions of one session seal/open go (inclusive, by function).
  if command -v callgrind_annotate >/dev/null 2>&1; then
    for f in "$TMP"/cg/c_session.*.out "$TMP"/cg/swift_session.*.out; do
      [ -e "$f" ] || continue
      if command -v swift >/dev/null 2>&1; then
        callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null | head -90 \
          | swift demangle --simplified > "${f%.out}.annotate" || true
      else
        callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null | head -90 > "${f%.out}.annotate" || true
      fi
    done
  fi

  # Heap allocations per message (memcheck's "total heap usage"), at two
  # counts so the set-up cancels out: (allocs(2n) - allocs(n)) / n.
  if [ "$QUICK" = 0 ]; then
    log "allocations per message (memcheck)"
    A=200
    for c in c_session.classic.8 c_session.fd.8 c_aead.8 mbedtls.8 openssl.8; do
      for n in $A $((2 * A)); do
        valgrind --tool=memcheck "$BENCH" --callgrind "$c" seal "$n" > "$TMP/alloc/c.$c.$n.log" 2>&1 || true
      done
    done
    if [ "$SWIFT" = 1 ]; then
      for c in $("$SWIFT_BENCH" --list | grep -E '\.8$'); do
        for n in $A $((2 * A)); do
          valgrind --tool=memcheck "$TMP/ModbattBench.nodebug" --count "$c" seal "$n" > "$TMP/alloc/swift.$c.$n.log" 2>&1 || true
        done
      done
    fi
    echo "$A" > "$TMP/alloc/n"
  fi
else
  log "valgrind not found: no instruction counts"
fi

# --- Cortex-M4: code size and struct sizes ---------------------------------
if command -v arm-none-eabi-gcc >/dev/null 2>&1; then
  log "Cortex-M4 code size and RAM"
  make -s -C CSources CROSS=arm-none-eabi- BUILD="$TMP/m4" size > "$TMP/m4-size.txt" 2>"$TMP/m4-size.err" \
    || log "Cortex-M4 build of the core failed (see $TMP/m4-size.err)"
  make -s -C Benchmarks/c BUILD="$TMP/c-build" m4 >&2 && \
    arm-none-eabi-nm -S "$TMP/c-build/m4-sizes.o" > "$TMP/m4-sizeof.txt"
  make -s -C Benchmarks/c BUILD="$TMP/c-build-classic" M4_EXTRA=-DMB_MSG_WIRE_MAX=128 m4 >&2 && \
    arm-none-eabi-nm -S "$TMP/c-build-classic/m4-sizes.o" > "$TMP/m4-sizeof-classic.txt"
fi

sed -i "s|^}$|  ,\"load_after\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"\n}|" "$TMP/machine.json"

log "writing the report"
python3 Benchmarks/report.py --tmp "$TMP" --out "$OUT"
log "done: $OUT/report.md"
