#!/usr/bin/env bash
# model-check.sh - model-check the session handshake, rotation and resync
# (docs/model/session.pml) with spin; docs/security/MODEL.md explains each
# check and its figures. Needs spin (Debian package `spin`) and a C compiler.
#
# Every check builds pan from the model with its own bounds (-D), runs it,
# and prints one line. The correct model must pass every check; each
# deliberately broken variant must make spin report the violation named.
# Ends with "model: N passed, M failed"; exits 1 on any failure.
#
#   MODEL_TIMEOUT  seconds allowed per check (default 900: a hang guard, a
#                  check takes 1-45 s on a shared 2-core machine, the
#                  liveness check under the HELLO injector about 100 s)
#   MODEL_KEEP     directory to keep each check's pan output in (optional)
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL="$ROOT/docs/model/session.pml"
TIMEOUT="${MODEL_TIMEOUT:-900}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
passed=0
failed=0

for tool in spin cc; do
    if ! command -v "$tool" >/dev/null; then
        echo "model: $tool not found (apt-get install spin gcc)"
        echo "model: 0 passed, 1 failed"
        exit 1
    fi
done

# check NAME EXPECT SPIN_FLAGS CC_FLAGS PAN_FLAGS
#   EXPECT "pass", or the text spin must report (a ghost array name, or
#   "acceptance cycle").
check() {
    local name="$1" expect="$2" sflags="$3" cflags="$4" pflags="$5"
    local dir="$WORK/$name" out result figures t0 t1
    mkdir -p "$dir"
    cp "$MODEL" "$dir/session.pml"
    t0=$(date +%s.%N)
    (
        cd "$dir" &&
        spin -a $sflags session.pml >spin.log 2>&1 &&
        cc -O2 -w $cflags -o pan pan.c >cc.log 2>&1 &&
        timeout "$TIMEOUT" ./pan $pflags >pan.out 2>&1
    )
    t1=$(date +%s.%N)
    out="$dir/pan.out"
    [ -n "${MODEL_KEEP:-}" ] && mkdir -p "$MODEL_KEEP" && cp "$out" "$MODEL_KEEP/$name.out" 2>/dev/null
    figures="$(awk '/states, stored/ {s=$1} /depth reached/ {d=$(NF-2); sub(",","",d)}
                    /total actual memory usage/ {m=$1}
                    END {printf "%s states, depth %s, %s MB", s, d, m}' "$out" 2>/dev/null)"
    figures="$figures, $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s"
    if [ ! -s "$out" ] || grep -q "Search not completed\|max search depth too small" "$out" &&
       ! grep -q "errors: [1-9]" "$out"; then
        result=FAIL; figures="no complete search ($figures)"
    elif [ "$expect" = pass ]; then
        if grep -q "errors: 0" "$out"; then result=PASS; else result=FAIL; fi
    else
        if grep -q "errors: [1-9]" "$out" && grep -q -- "$expect" "$out"; then
            result=PASS; figures="spin found it: $(grep -m1 -o 'assertion violated.*\|acceptance cycle' "$out" | cut -c1-80)"
        else
            result=FAIL; figures="spin did not report '$expect' ($figures)"
        fi
    fi
    if [ "$result" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    printf '%s %-44s %s\n' "$result" "$name" "$figures"
}

SAFE_CC="-DNOCLAIM -DCOLLAPSE"
SAFE_PAN="-m100000 -w24"
LIVE_CC="-DNFAIR=3 -DCOLLAPSE"
LIVE_PAN="-a -f -m300000 -w24"
# From power-on, no bounded attacker: only the never-stopping HELLO injector.
FLOOD="-DNO_GHOST -DNN=3 -DRESERVE=0 -DCMAX=1 -DEMAX=0 -DBUDGET=0"

# The correct model. Each safety run checks all four safety properties
# (key confirmation, nonce uniqueness, no old epoch re-opened, no replay
# delivered); the bounds differ per scenario. Every run has the HELLO
# injector, which never stops (forged HELLOs, replays of genuine ones).
check "safety/handshake-under-attack"      pass "-DNN=4 -DCMAX=1 -DEMAX=0 -DBUDGET=1" "$SAFE_CC" "$SAFE_PAN"
check "safety/rotation-under-attack"       pass "-DSTART_ESTABLISHED -DNN=2 -DCMAX=2 -DEMAX=1 -DBUDGET=1" "$SAFE_CC" "$SAFE_PAN"
check "safety/restart-and-replays"         pass "-DSTART_ESTABLISHED -DNN=3 -DCMAX=1 -DEMAX=0 -DBUDGET=2" "$SAFE_CC" "$SAFE_PAN"
check "liveness/recovers-after-attack"     pass "-DSTART_ESTABLISHED -DNO_GHOST -DNN=4 -DRESERVE=2 -DCMAX=1 -DEMAX=0 -DBUDGET=1" "$LIVE_CC" "$LIVE_PAN"
check "liveness/establishes-under-hello-flood" pass "$FLOOD" "$LIVE_CC" "$LIVE_PAN"

# Broken variants: each property must be able to fail.
check "broken/no-finish-check:confirmation" "conf_i" "-DNN=4 -DCMAX=1 -DEMAX=0 -DBUDGET=1 -DBROKEN_NO_FINISH_CHECK" "-DNOCLAIM" "$SAFE_PAN"
check "broken/no-replay-check:replay"       "delivered" "-DSTART_ESTABLISHED -DNN=2 -DCMAX=2 -DEMAX=1 -DBUDGET=1 -DBROKEN_NO_REPLAY_CHECK" "-DNOCLAIM" "$SAFE_PAN"
check "broken/rng-repeats:old-epoch-reopened" "tx_opened" "-DSTART_ESTABLISHED -DNN=3 -DCMAX=1 -DEMAX=0 -DBUDGET=3 -DBROKEN_RNG_REPEATS" "-DNOCLAIM" "$SAFE_PAN"
check "broken/rng-repeats:nonce-reuse"      "used" "-DSTART_ESTABLISHED -DNN=3 -DCMAX=1 -DEMAX=0 -DBUDGET=3 -DBROKEN_RNG_REPEATS -DNO_CHECK_REOPEN" "-DNOCLAIM" "$SAFE_PAN"

# The HELLO acceptance rule (protocol v2): without it, the injector keeps
# the pair from establishing forever.
check "broken/hello-any:liveness"           "acceptance cycle" "$FLOOD -DBROKEN_HELLO_ANY" "-DNFAIR=3" "$LIVE_PAN"
check "broken/hello-replay:liveness"        "acceptance cycle" "$FLOOD -DBROKEN_HELLO_REPLAY" "-DNFAIR=3" "$LIVE_PAN"

echo "model: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
