#!/usr/bin/env bash
# Installs what attex needs to build and test on Debian 12, if missing.
# Runs apt-get as root (directly, or through sudo).
set -euo pipefail

PACKAGES=(build-essential cmake ninja-build pkg-config libssl-dev openssl
          libcbor-dev libjansson-dev clang libclang-rt-14-dev llvm
          libtss2-dev swtpm swtpm-tools
          libmicrohttpd-dev libcurl4-openssl-dev curl
          libgnutls28-dev libngtcp2-dev libngtcp2-crypto-gnutls-dev)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
