#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs exactly the Debian 12 packages tokensign needs to build, test and benchmark.
# Idempotent and non-interactive; a fast no-op when everything is already present.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libssl-dev openssl
    libp11-kit-dev p11-kit p11-kit-modules
    softhsm2
    libcli11-dev
    libyaml-cpp-dev nlohmann-json3-dev
    libgtest-dev libgmock-dev googletest
    libbenchmark-dev
    opensc libp11-dev libengine-pkcs11-openssl
    gnutls-bin
    dpkg-dev man-db
    jq time
    libasan8 libubsan1 libtsan2
    clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "installed" ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
