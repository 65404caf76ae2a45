#!/usr/bin/env bash
# Run the provisioning tests (key packages, key store, transfer, device
# signatures with RFC 6979 nonces) against mbedTLS compiled from source under
# the firmware configuration (CSources/config/mbedtls_config_fw.h: 2-bit
# windows, MBEDTLS_ECP_NO_INTERNAL_RNG, no platform entropy, static-pool
# platform memory, deterministic ECDSA), and print the peak
# mbedTLS heap of each provisioning operation (docs/PROVISIONING.md, 9).
#
#   Tests/CTests/provisioning_fwconfig.sh [MBEDTLS_SRC]
#
# MBEDTLS_SRC: an mbedTLS 2.28 source tree; default: the one
# scripts/fetch-mbedtls-src.sh unpacked (build/mbedtls-src/PATH).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
src=${1:-${MBEDTLS_SRC:-$(cat "$root/build/mbedtls-src/PATH" 2>/dev/null || true)}}
[ -n "$src" ] && [ -d "$src/library" ] || { echo "need an mbedTLS 2.28 source tree (scripts/fetch-mbedtls-src.sh)"; exit 2; }
out=$root/build/provisioning-fwconfig
mkdir -p "$out/mbedtls" "$out/core"
cc=${CC:-cc}
cf=(-std=c99 -O1 -g -I"$src/include" -I"$src/library" -I"$root/include" -I"$here"
    -I"$root/CSources/config" '-DMBEDTLS_CONFIG_FILE="mbedtls_config_fw.h"')
for m in aes gcm cipher cipher_wrap sha256 platform_util platform memory_buffer_alloc \
         bignum ecp ecp_curves ecdh ecdsa asn1parse asn1write constant_time md hmac_drbg; do
  "$cc" "${cf[@]}" -c "$src/library/$m.c" -o "$out/mbedtls/$m.o"
done
for f in "$root"/CSources/*.c; do
  "$cc" "${cf[@]}" -c "$f" -o "$out/core/$(basename "$f" .c).o"
done
# The tests' main() gets a wrapper that installs a plain calloc/free for
# mbedTLS first (the firmware installs its static pool instead).
cat > "$out/driver.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include "mbedtls/platform.h"
int test_main(void);
void mb_platform_fatal(int status) { fprintf(stderr, "mbedTLS fatal %d\n", status); abort(); }
int main(void) { mbedtls_platform_set_calloc_free(calloc, free); return test_main(); }
C
"$cc" "${cf[@]}" -c "$out/driver.c" -o "$out/driver.o"
status=0
for t in keypkg keystore xfer sign_det; do
  "$cc" "${cf[@]}" -Dmain=test_main -c "$here/test_$t.c" -o "$out/test_$t.o"
  "$cc" -o "$out/test_$t" "$out/test_$t.o" "$out/driver.o" "$out"/core/*.o "$out"/mbedtls/*.o
  "$out/test_$t" | tail -1 || status=1
done
"$cc" "${cf[@]}" -o "$out/provisioning_heap" "$here/provisioning_heap.c" "$out"/core/*.o "$out"/mbedtls/*.o
"$out/provisioning_heap" || status=1
exit $status
