#!/usr/bin/env bash
# Install what building and testing Modbatt needs, only where it is missing.
# Called by scripts/demo.sh and scripts/test.sh; safe to run again.
set -euo pipefail

APT_PACKAGES=(
  build-essential       # host C compiler for the C core and its tests
  libmbedtls-dev        # mbedTLS 2.28: the C core's crypto
  libssl-dev            # OpenSSL 3: benchmark comparison
  libsocketcan-dev      # SocketCAN interface setup (trait SocketCANSetup)
  libsqlite3-dev        # SQLite for the API-Bridge and the client registry
  gcc-arm-none-eabi     # firmware cross-build (Cortex-M4)
  libnewlib-arm-none-eabi
  python3 python3-pip
  valgrind              # instruction counts (benchmarks), constant-time check (memcheck.h)
  spin                  # model check of the handshake (docs/model/session.pml)
)
# Python modules for test vectors and cross-checks: module name -> PyPI package.
PY_MODULES=(cryptography:cryptography cryptography_vectors:cryptography-vectors can:python-can)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

pip_missing=()
for entry in "${PY_MODULES[@]}"; do
  python3 -c "import ${entry%%:*}" 2>/dev/null || pip_missing+=("${entry##*:}")
done
if ((${#pip_missing[@]})); then
  echo "bootstrap: pip installing ${pip_missing[*]} for $(command -v python3)"
  pip_install() {
    python3 -m pip install -q --disable-pip-version-check "$@" "${pip_missing[@]}" 2>&1 \
      | grep -v -i "running pip as the 'root' user" || true
  }
  # Debian's own python3 refuses pip installs (PEP 668) unless told otherwise.
  if ! python3 -m pip --version >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
  fi
  out=$(pip_install)
  if [[ "$out" == *externally-managed-environment* ]]; then
    out=$(pip_install --break-system-packages)
  fi
  [ -z "$out" ] || echo "$out"
  for entry in "${PY_MODULES[@]}"; do
    python3 -c "import ${entry%%:*}" 2>/dev/null || { echo "bootstrap: python3 cannot import ${entry%%:*}" >&2; exit 1; }
  done
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "bootstrap: swift is not on PATH (expected Swift 6.1 or later, e.g. /opt/swift/usr/bin)" >&2
  exit 1
fi
