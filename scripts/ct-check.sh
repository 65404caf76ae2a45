#!/usr/bin/env bash
# Constant-time check of the C core (ctgrind method): every case of
# Tests/CT/ct_cases runs under valgrind's memcheck with its secrets marked
# undefined, once per mbedTLS variant (aesni: AES-NI + PCLMULQDQ, as an x86-64
# host runs it; fw: the Cortex-M4 firmware configuration, table-based AES and
# GHASH). Every report of a branch or memory index that depends on a secret
# must be listed, with its reason, in Tests/CT/expected-findings.txt; the
# negative controls must be reported. Details: docs/security/CRYPTO_CHECKS.md.
#
#   scripts/ct-check.sh                 all variants and cases
#   scripts/ct-check.sh fw aead_open    one variant, one case
#
# Needs: valgrind (Debian package valgrind, ships <valgrind/memcheck.h>),
# python3, and an mbedTLS 2.28 source tree (scripts/fetch-mbedtls-src.sh, or
# MBEDTLS_SRC=...). Ends with "constant-time: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind missing (apt-get install valgrind)"; echo "constant-time: 0 passed, 1 failed"; exit 1; }
[ -f /usr/include/valgrind/memcheck.h ] || { echo "<valgrind/memcheck.h> missing"; echo "constant-time: 0 passed, 1 failed"; exit 1; }
export MBEDTLS_SRC=${MBEDTLS_SRC:-$(cat build/mbedtls-src/PATH 2>/dev/null || true)}
[ -n "$MBEDTLS_SRC" ] && [ -d "$MBEDTLS_SRC/library" ] || {
  echo "need an mbedTLS 2.28 source tree: scripts/fetch-mbedtls-src.sh (or MBEDTLS_SRC=...)"
  echo "constant-time: 0 passed, 1 failed"; exit 1; }

variants=${1:-"aesni fw"}
# The aesni variant is what this CPU runs only where it has AES-NI and
# PCLMULQDQ; elsewhere mbedTLS falls back to its tables, which the fw variant
# already covers (and the aesni entries would not match).
cpu_has() { grep -qw "$1" /proc/cpuinfo 2>/dev/null; }
if [[ " $variants " == *" aesni "* ]] && ! { cpu_has aes && cpu_has pclmulqdq; }; then
  echo "skipped: variant aesni (this CPU lacks AES-NI or PCLMULQDQ; the fw variant checks the table code)"
  variants=${variants//aesni/}
fi
make -s -C Tests/CT MBEDTLS_SRC="$MBEDTLS_SRC" >/dev/null || {
  echo "building Tests/CT failed"; echo "constant-time: 0 passed, 1 failed"; exit 1; }
logs=build/ct/logs
rm -rf "$logs" && mkdir -p "$logs"
for v in $variants; do
  cases=${2:-$(build/ct/"$v"/ct_cases --list)}
  for c in $cases; do
    set +e
    valgrind --tool=memcheck --error-limit=no --num-callers=16 --log-file="$logs/$v--$c.log" \
      build/ct/"$v"/ct_cases "$c" >/dev/null
    echo $? > "$logs/$v--$c.rc"
    set -e
  done
done
python3 Tests/CT/ct_judge.py Tests/CT/expected-findings.txt "$logs"/*.log
