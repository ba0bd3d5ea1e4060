#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian package tokensign_<version>_<arch>.deb with CPack: the product targets
# (tokensign, tokensign.so) only, then what `cmake --install` installs, under /usr, with Depends
# derived by dpkg-shlibdeps. Prints the path of the .deb as its last line.
# Usage: scripts/package.sh [OUTDIR]   (default: $TS_BUILD_DIR/package, TS_BUILD_DIR default
#        build-package, a build without tests and benchmarks)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TS_BUILD_DIR:-"$here/build-package"}
jobs=${TS_JOBS:-$(nproc)}
out=${1:-"$build/package"}

"$here/scripts/install-deps.sh"
if [[ ! -f "$build/CMakeCache.txt" ]]; then
    cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_WERROR=ON \
        -DTS_BUILD_TESTS=OFF -DTS_BUILD_BENCH=OFF >/dev/null
fi
cmake --build "$build" -j "$jobs" --target tokensign tokensign_provider tokensign_man
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/tokensign_*.deb
# CPack's install step builds `all` first: in a build with tests that is whatever the build
# already made; build-package has only the product.
if ! (cd "$build" && cpack -G DEB -B "$out" >"$out/cpack.log" 2>&1); then
    cat "$out/cpack.log" >&2
    echo "package: cpack failed (log above, also in $out/cpack.log)" >&2
    exit 1
fi
deb=$(ls "$out"/tokensign_*.deb)
echo "$deb"
