#!/usr/bin/env bash
# The C core on emulated devices: its tests, and what each operation costs.
#
#   scripts/target-test.sh cortex-m4|avr|big-endian|all [--measure]
#
#   cortex-m4   the pack controller's core (STM32WB55): the C tests on QEMU's
#               mps2-an386 (semihosting), some again with AES-GCM behind the
#               hardware seam (MB_AEAD_HW, software stand-in), and the
#               benchmark images, whose executed Thumb-2 instructions a QEMU
#               plugin weighs with the Cortex-M4 TRM's cycle table
#   avr         the battery module's MCU (ATmega64M1): the C tests that fit
#               and the benchmark under simavr (exact cycles), the module
#               image linked for the ATmega64M1 (flash, RAM)
#   big-endian  the C tests and the Python cross-check on s390x (qemu-s390x)
#   all         the three
#
# Every target builds mbedTLS from the source scripts/fetch-mbedtls-src.sh
# fetches, under CSources/config/mbedtls_config_fw.h. Pass or fail depends
# only on what the programs check, never on time: instruction and cycle
# counts are deterministic and reported, not asserted. The measured tables
# are printed at the end and written to build/targets/report.md; with
# --measure also to Benchmarks/results/device.md and device.json (the
# committed device figures, Benchmarks/results/report.md links them).
# The last line is "target tests: N passed, M failed".
#
# Installs what it lacks from Debian (qemu-system-arm, qemu-user, gcc-avr,
# avr-libc, simavr, libsimavr-dev, gcc-s390x-linux-gnu); docs/FIRMWARE.md.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

usage() { sed -n '2,28p' "$0"; exit 2; }
TARGETS=() MEASURE=0
for a in "$@"; do
  case "$a" in
    cortex-m4|avr|big-endian) TARGETS+=("$a") ;;
    all) TARGETS=(cortex-m4 avr big-endian) ;;
    --measure) MEASURE=1 ;;
    -h|--help) usage ;;
    *) echo "target-test.sh: unknown argument $a" >&2; usage ;;
  esac
done
((${#TARGETS[@]})) || usage
has() { [[ " ${TARGETS[*]} " == *" $1 "* ]]; }

OUT="$ROOT/build/targets"
LOGS="$OUT/logs"
mkdir -p "$LOGS"
rm -f "$OUT"/*.json "$OUT/report.md"    # the tables show this run's targets only
JOBS=$(nproc 2>/dev/null || echo 2)
step() { echo; echo "==> $*"; }
die() { echo "target-test.sh: $*" >&2; exit 1; }

# ---- tools ------------------------------------------------------------------
step "Tools (Debian packages, installed when missing)"
bash scripts/bootstrap.sh || die "scripts/bootstrap.sh failed"
PKGS=()
has cortex-m4 && PKGS+=(qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi)
has avr && PKGS+=(gcc-avr avr-libc binutils-avr simavr libsimavr-dev)
has big-endian && PKGS+=(qemu-user gcc-s390x-linux-gnu libc6-dev-s390x-cross)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
      "${missing[@]}"; } > "$LOGS/apt.log" 2>&1 || { tail -20 "$LOGS/apt.log"; die "apt-get install ${missing[*]} failed"; }
else
  echo "all present: ${PKGS[*]}"
fi
if [ ! -f build/mbedtls-src/PATH ]; then
  bash scripts/fetch-mbedtls-src.sh > "$LOGS/mbedtls-src.log" 2>&1 || { cat "$LOGS/mbedtls-src.log"; die "no mbedTLS source"; }
fi
MBEDTLS_SRC=$(cat build/mbedtls-src/PATH)
export MB_VECTORS_DIR="${MB_VECTORS_DIR:-$(python3 -c 'import cryptography_vectors,os;print(os.path.dirname(cryptography_vectors.__file__))')}"
[ -d "$MB_VECTORS_DIR" ] || die "no NIST vectors (python3 module cryptography_vectors)"

MAKE=(make -s -C Tests/Targets -j"$JOBS" MBEDTLS_SRC="$MBEDTLS_SRC" OUT="$OUT")
RUN=(python3 Tests/Targets/run_target_tests.py --jobs "$JOBS")
status=0
labels=()
sym() { "$1" "$2" | awk -v s="$3" '$3==s{print "0x"$1}'; }

# ---- Cortex-M4 ----------------------------------------------------------------
if has cortex-m4; then
  step "Cortex-M4 (QEMU mps2-an386): build the C tests and the benchmark image"
  "${MAKE[@]}" m4-tests m4-hw-tests m4-bench > "$LOGS/m4-build.log" 2>&1 || { tail -30 "$LOGS/m4-build.log"; die "Cortex-M4 build failed"; }
  M4="$OUT/m4"
  QEMU_M4="qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none"
  step "Cortex-M4: the C tests and the benchmark's checks on the emulated core"
  "${RUN[@]}" --label "Cortex-M4 tests" \
    --runner "$QEMU_M4 -semihosting-config enable=on,target=native,arg={name},arg=MB_VECTORS_DIR=$MB_VECTORS_DIR -kernel {prog}" \
    "$M4"/tests/*.elf "$M4/bench.elf" "$OUT/m4-slots2/bench.elf" 2>&1 | tee "$LOGS/m4.log" | grep -E "^(test_|tt_bench|FAIL|Cortex)|exit status|no result"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  labels+=("Cortex-M4 tests=$LOGS/m4.log")
  step "Cortex-M4: the core built with MB_AEAD_HW, AES-GCM through the hardware seam (software stand-in)"
  "${RUN[@]}" --label "Cortex-M4 MB_AEAD_HW tests" \
    --runner "$QEMU_M4 -semihosting-config enable=on,target=native,arg={name},arg=MB_VECTORS_DIR=$MB_VECTORS_DIR -kernel {prog}" \
    "$OUT"/m4-hw/tests/*.elf 2>&1 | tee "$LOGS/m4-hw.log" | grep -E "^(test_|FAIL|Cortex)|exit status|no result"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  labels+=("Cortex-M4 MB_AEAD_HW tests=$LOGS/m4-hw.log")
  step "Cortex-M4: instructions per operation (QEMU plugin, Cortex-M4 TRM cycle table)"
  # measure_m4 IMAGE NAME: the benchmark under the plugin -> $OUT/NAME.json
  measure_m4() {
    local E="$1" NM=arm-none-eabi-nm
    $QEMU_M4 -semihosting-config enable=on,target=native,arg=bench -d plugin -D "$OUT/$2-regions.log" \
      -plugin "$M4/tt_insn_plugin.so,begin=$(sym $NM "$E" tt_mark_begin),end=$(sym $NM "$E" tt_mark_end),rodata=$(sym $NM "$E" __rodata_start):$(sym $NM "$E" __rodata_end)" \
      -kernel "$E" > "$OUT/$2-ops.log" 2>&1 \
      && python3 Tests/Targets/measure.py m4 "$OUT/$2-ops.log" "$OUT/$2-regions.log" "$OUT/$2.json" \
      || { echo "Cortex-M4 measurement of $E failed"; status=1; }
  }
  measure_m4 "$M4/bench.elf" m4
  measure_m4 "$OUT/m4-slots2/bench.elf" m4-slots2
fi

# ---- AVR ------------------------------------------------------------------------
if has avr; then
  step "AVR: build the C tests, the benchmark (ATmega1284 in simavr) and the module image (ATmega64M1)"
  "${MAKE[@]}" avr avr-tests avr-module avr-flashaes > "$LOGS/avr-build.log" 2>&1 || { tail -30 "$LOGS/avr-build.log"; die "AVR build failed"; }
  AV="$OUT/avr-bench"
  E="$AV/bench.elf"
  BEGIN=$(sym avr-nm "$E" tt_mark_begin) END=$(sym avr-nm "$E" tt_mark_end)
  step "AVR (simavr, ATmega1284 at 16 MHz): the C tests that fit and the benchmark's checks"
  # The tests have no marks: 0x3fffe is no instruction's address. The
  # benchmark's regions go to its log for the tables below.
  "${RUN[@]}" --label "AVR tests" --runner "$AV/tt_avr_run atmega1284 16000000 {prog} 0x3fffe 0x3fffe" \
    "$AV"/tests/*.elf 2>&1 | tee "$LOGS/avr.log" | grep -E "^(test_|FAIL|AVR)|exit status|no result"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  labels+=("AVR tests=$LOGS/avr.log")
  step "AVR: the benchmark (every operation checked; cycles and stack per operation)"
  "$AV/tt_avr_run" atmega1284 16000000 "$E" "$BEGIN" "$END" > "$OUT/avr-ops.log" 2> "$OUT/avr-regions.log"
  rc=$?
  grep -E "^FAIL" "$OUT/avr-ops.log"; tail -1 "$OUT/avr-regions.log"
  if [ "$rc" -eq 0 ] && grep -q "^tt_bench: 1 passed, 0 failed" "$OUT/avr-ops.log"; then
    echo "AVR benchmark: 1 passed, 0 failed" | tee "$LOGS/avr-bench.log"
  else
    echo "AVR benchmark: 0 passed, 1 failed (exit $rc)" | tee "$LOGS/avr-bench.log"; status=1
  fi
  labels+=("AVR benchmark=$LOGS/avr-bench.log")
  step "AVR: the benchmark with AES from Tests/Targets/avr/tt_aes_avr.c (S-box in flash), no key packages"
  E="$OUT/avr-bench-flashaes/bench.elf"
  "$AV/tt_avr_run" atmega1284 16000000 "$E" "$(sym avr-nm "$E" tt_mark_begin)" "$(sym avr-nm "$E" tt_mark_end)" \
    > "$OUT/avr-flashaes-ops.log" 2> "$OUT/avr-flashaes-regions.log"
  rc=$?
  grep -E "^FAIL" "$OUT/avr-flashaes-ops.log"
  if [ "$rc" -eq 0 ] && grep -q "^tt_bench: 1 passed, 0 failed" "$OUT/avr-flashaes-ops.log"; then
    echo "AVR benchmark, flash AES: 1 passed, 0 failed" | tee "$LOGS/avr-bench-fa.log"
  else
    echo "AVR benchmark, flash AES: 0 passed, 1 failed (exit $rc)" | tee "$LOGS/avr-bench-fa.log"; status=1
  fi
  labels+=("AVR benchmark, flash AES=$LOGS/avr-bench-fa.log")
  python3 Tests/Targets/measure.py avr "$OUT/avr-ops.log" "$OUT/avr-regions.log" "$OUT/avr.json" || status=1
  python3 Tests/Targets/measure.py avr "$OUT/avr-flashaes-ops.log" "$OUT/avr-flashaes-regions.log" \
    "$OUT/avr-flashaes.json" || status=1
  python3 Tests/Targets/measure.py sizes "$OUT/sizes.json" "$OUT"/avr-m64m1/module-session.elf \
    "$OUT"/avr-m64m1/module-keypkg.elf "$OUT"/avr-m64m1-flashaes/module-session-flashaes.elf \
    "$OUT"/avr-m64m1-flashaes/module-keypkg-flashaes.elf || status=1
fi

# ---- big-endian ------------------------------------------------------------------
if has big-endian; then
  step "Big-endian (s390x, qemu-s390x): build the C tests"
  "${MAKE[@]}" be-tests > "$LOGS/be-build.log" 2>&1 || { tail -30 "$LOGS/be-build.log"; die "s390x build failed"; }
  BE="$OUT/s390x/tests"
  if ! readelf -h "$BE/test_canid" | grep -q "big endian"; then
    echo "the s390x test programs are not big-endian"; status=1
  fi
  step "Big-endian: the C tests and the randomized cross-check against Python's cryptography"
  "${RUN[@]}" --label "big-endian tests" --runner "qemu-s390x {prog}" --crosscheck "$BE/mb_crosscheck_tool" \
    "$BE"/test_* 2>&1 | tee "$LOGS/be.log" | grep -E "^(test_|crosscheck|FAIL|big-endian)|exit status|no result"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  labels+=("big-endian tests=$LOGS/be.log")
fi

# ---- tables and total ----------------------------------------------------------------
if has cortex-m4 || has avr; then
  step "Measured on the emulated devices"
  python3 Tests/Targets/measure.py report "$OUT" | tee "$OUT/report.md"
  if [ "$MEASURE" = 1 ]; then
    if has cortex-m4 && has avr; then
      python3 - "$OUT" <<'PY'
import json, os, sys
d = sys.argv[1]
doc = {k: json.load(open(os.path.join(d, k + ".json"))) for k in ("m4", "m4-slots2", "avr", "avr-flashaes", "sizes")}
json.dump(doc, open("Benchmarks/results/device.json", "w"), indent=1, sort_keys=True)
PY
      { echo "# Measured on emulated devices"; echo
        echo "Written by \`scripts/target-test.sh all --measure\` ($(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD));"
        echo "method: docs/FIRMWARE.md, \"Measured on emulated devices\"."; echo
        cat "$OUT/report.md"; } > Benchmarks/results/device.md
      echo "wrote Benchmarks/results/device.md and device.json"
    else
      echo "--measure writes the committed tables only with both cortex-m4 and avr (all)"
    fi
  fi
fi
echo
python3 scripts/total_tests.py "${labels[@]}" | sed 's/^\([0-9]* passed, [0-9]* failed\)$/target tests: \1/'
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
exit $status
