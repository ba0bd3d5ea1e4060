#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The suite again under the sanitizers, and the fuzz harnesses (see docs/testing.md):
#   asan  every test, built with -DTS_SANITIZE=address,undefined (GCC), leak checking on; stock
#         openssl gets the ASan runtime preloaded (tests/CMakeLists.txt) to load tokensign.so
#   tsan  the tests that use several threads or processes, built with -DTS_SANITIZE=thread
#   fuzz  tests/fuzz/ built with clang (-DTS_FUZZ=ON), each harness over its corpus and then
#         fuzzing for TS_FUZZ_SECONDS (default 5); TS_FUZZ_MERGE=1 adds new inputs to the corpus
# Usage: scripts/test-sanitize.sh [asan|tsan|fuzz]... [-- ctest options]   (default: all three)
# Build dirs: build-asan, build-tsan, build-fuzz beside build/ (TS_BUILD_ROOT to move them).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=${TS_BUILD_ROOT:-"$here"}
jobs=${TS_JOBS:-$(nproc)}

runs=()
while [[ $# -gt 0 && "$1" != "--" ]]; do
    case "$1" in
        asan | tsan | fuzz) runs+=("$1") ;;
        *) echo "test-sanitize: unknown run '$1' (asan, tsan or fuzz)" >&2; exit 2 ;;
    esac
    shift
done
[[ "${1:-}" == "--" ]] && shift
[[ ${#runs[@]} -gt 0 ]] || runs=(asan tsan fuzz)

"$here/scripts/install-deps.sh"
# Tests must never touch the machine's real tokens or PINs.
unset TOKENSIGN_MODULE TOKENSIGN_PIN TOKENSIGN_PROVIDER_DIR
export SOFTHSM2_CONF=/nonexistent/tokensign-tests-set-their-own-softhsm2.conf

launcher=()
if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

configure() {  # build dir, cmake options...
    local dir=$1
    shift
    cmake -S "$here" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_BUILD_BENCH=OFF \
        "${launcher[@]}" "$@" >/dev/null
}

# Errors end the program with a report and a failing exit code; each suppression in the file
# is explained there (third-party code only, never ours).
supp="$here/tests/sanitizers"
common="print_stacktrace=1:halt_on_error=1:abort_on_error=0"
export UBSAN_OPTIONS="$common:print_summary=1"

run_asan() {
    local dir="$root/build-asan"
    echo "test-sanitize: asan: building $dir" >&2
    configure "$dir" -DTS_WERROR=ON -DTS_SANITIZE=address,undefined
    cmake --build "$dir" -j "$jobs"
    echo "test-sanitize: asan: the whole suite" >&2
    (
        cd "$dir"
        # intercept_tls_get_addr=0: GCC 12's runtime misreads glibc 2.36's dynamic TLS blocks
        # and LeakSanitizer's tracer dies with SIGSEGV at exit (google/sanitizers#1322).
        # Stock openssl runs with whole (slow) stacks, see tests/CMakeLists.txt.
        export ASAN_OPTIONS="$common:detect_leaks=1:intercept_tls_get_addr=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
        export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
        # Two exclusions, each for a reason outside our code:
        # - label package: a .deb of an instrumented build depends on libasan and needs the
        #   runtime preloaded into the installed /usr/bin/openssl; the package is built and
        #   tested from the normal build by scripts/test.sh.
        # - ReqTest.Ed25519RequestNeedsNoDigest: SoftHSM2 2.6.1 leaks 37 B per C_SignInit with
        #   an EdDSA key (lsan.supp suppresses it by module), but signed in the tokensign process
        #   itself the leak's stack ends in libcrypto (no frame pointers) and cannot be matched
        #   to SoftHSM2 (Ed25519 signing through tokensign.so runs under ASan in the e2e tests,
        #   where stock openssl runs with whole stacks).
        ctest --output-on-failure -j "$jobs" --timeout 900 -LE package \
            -E '^ReqTest\.Ed25519RequestNeedsNoDigest$' "$@"
    )
}

# The tests that run several threads or processes at once: the session pool, the token's
# session limit, concurrent and forked signing in the provider, ca sign --signing-threads, and
# concurrent signers on one CA.
tsan_tests='^(SessionPoolTest|SessionLimitTest)\.|^ProviderTest\.(Concurrent|Forked)|^CaTokenTest\.(Parallel|Concurrent|ABatch|RsaCaOnTheTokenSignsABatch)|^CaFileTest\.(BatchSign|Concurrent)'

run_tsan() {
    local dir="$root/build-tsan"
    echo "test-sanitize: tsan: building $dir" >&2
    configure "$dir" -DTS_WERROR=ON -DTS_SANITIZE=thread
    cmake --build "$dir" -j "$jobs" --target tokensign tokensign_provider ts_fault_pkcs11 \
        hsm_tests hsm_fault_tests provider_test signer_token_tests signer_ca_tests
    echo "test-sanitize: tsan: threaded tests" >&2
    (
        cd "$dir"
        export TSAN_OPTIONS="$common:second_deadlock_stack=1:suppressions=$supp/tsan.supp"
        # GCC 12's TSan needs its fixed memory layout; on kernels with a raised
        # vm.mmap_rnd_bits it cannot map it ("unexpected memory mapping"): setarch -R turns
        # address randomisation off for the tests (harmless where it is not needed).
        setarch "$(uname -m)" -R ctest --output-on-failure -j "$jobs" --timeout 900 \
            -R "$tsan_tests" "$@"
    )
}

run_fuzz() {
    local dir="$root/build-fuzz" seconds=${TS_FUZZ_SECONDS:-5}
    echo "test-sanitize: fuzz: building $dir with clang" >&2
    CC=clang CXX=clang++ configure "$dir" -DTS_FUZZ=ON
    cmake --build "$dir" -j "$jobs" --target ts_fuzzers
    export ASAN_OPTIONS="$common:detect_leaks=1"
    local corpus="$here/tests/fuzz/corpus" work="$dir/fuzz-work" failed=0 bin name
    for bin in "$dir"/tests/fuzz/fuzz_*; do
        name=$(basename "$bin")
        name=${name#fuzz_}
        echo "test-sanitize: fuzz: $name, ${seconds}s" >&2
        rm -rf "$work/$name" && mkdir -p "$work/$name/new" "$work/$name/crashes"
        # New inputs go to a scratch dir first; the committed corpus is read only. A crash is
        # written to crashes/ and fails the run: add it to the corpus once it is fixed.
        if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$work/$name/crashes/" "$work/$name/new" "$corpus/$name" \
            >"$work/$name/log" 2>&1; then
            tail -n 60 "$work/$name/log" >&2
            echo "test-sanitize: fuzz: $name FAILED; input in $work/$name/crashes/" >&2
            failed=1
            continue
        fi
        grep -E '^stat::number_of_executed_units' "$work/$name/log" >&2 || true
        if [[ "${TS_FUZZ_MERGE:-0}" == 1 ]]; then
            "$bin" -merge=1 "$corpus/$name" "$work/$name/new" >/dev/null 2>&1
        fi
    done
    return "$failed"
}

for r in "${runs[@]}"; do
    "run_$r" "$@"
done
echo "test-sanitize: ${runs[*]}: passed" >&2
