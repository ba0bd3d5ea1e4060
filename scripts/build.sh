#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Configures and builds tokensign (CLI, provider, tests, benchmarks) into ./build.
# Usage: scripts/build.sh [extra cmake -D options]   (TS_TARGETS="a b": build only those targets)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TS_BUILD_DIR:-"$here/build"}
jobs=${TS_JOBS:-$(nproc)}

"$here/scripts/install-deps.sh"
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_WERROR=ON "$@" >/dev/null
# shellcheck disable=SC2086  # TS_TARGETS is a list of target names
cmake --build "$build" -j "$jobs" ${TS_TARGETS:+--target $TS_TARGETS}
