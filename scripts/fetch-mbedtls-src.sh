#!/usr/bin/env bash
# Fetch Debian's mbedTLS 2.28 source (the version the host links) into
# build/mbedtls-src, to measure its flash cost under the firmware config:
#   scripts/fetch-mbedtls-src.sh
#   make -C CSources CROSS=arm-none-eabi- mbedtls-size MBEDTLS_SRC=$(cat build/mbedtls-src/PATH)
# Needs a deb-src entry for Debian main; adds one for bookworm if none exists.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=build/mbedtls-src
mkdir -p "$dest"
if ! grep -rqs "deb-src" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  cat > /etc/apt/sources.list.d/modbatt-debsrc.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -qq
fi
(cd "$dest" && apt-get source --download-only -qq mbedtls 2>/dev/null && tar xzf mbedtls_*.orig.tar.gz)
dir=$(find "$dest" -maxdepth 2 -name library -type d | head -1)
dirname "$(realpath "$dir")" > "$dest/PATH"
echo "mbedTLS source: $(cat "$dest/PATH")"
