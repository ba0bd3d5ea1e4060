#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds tokensign and runs the whole test suite: unit, SoftHSM2 token, provider and e2e tests.
# Installs what it needs first. Every token test makes its own throwaway SoftHSM2 token.
# Usage: scripts/test.sh [ctest options, e.g. -L unit]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TS_BUILD_DIR:-"$here/build"}
jobs=${TS_JOBS:-$(nproc)}

"$here/scripts/build.sh"
# Tests must never touch the machine's real tokens or PINs.
unset TOKENSIGN_MODULE TOKENSIGN_PIN TOKENSIGN_PROVIDER_DIR
export SOFTHSM2_CONF=/nonexistent/tokensign-tests-set-their-own-softhsm2.conf
cd "$build"
ctest --output-on-failure -j "$jobs" --timeout 900 "$@"
