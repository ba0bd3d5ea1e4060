# SPDX-License-Identifier: Apache-2.0
# Sourced by the bench/ scripts: the build's binaries and SoftHSM2 (all of them), and a work
# directory with a fresh SoftHSM2 token labelled "bench", user PIN 1234 (ca_batch.sh,
# ca_scale.sh, ca_host_cpu.sh; remote_batch.sh makes its own, with a server to stop).

# bench_binaries BUILD_DIR [FILE...]: sets BUILD, CLI, TOOL, TOKENSIGN_PROVIDER_DIR and MODULE
# (libsofthsm2.so); exits naming what is missing (FILE...: more the script needs).
bench_binaries() {
    BUILD=$(cd "$1" && pwd)
    shift
    CLI=$BUILD/cli/tokensign
    TOOL=$BUILD/bench/ca_batch_tool
    export TOKENSIGN_PROVIDER_DIR=$BUILD/provider
    local f p
    for f in "$CLI" "$TOOL" "$TOKENSIGN_PROVIDER_DIR/tokensign.so" "$@"; do
        [ -e "$f" ] || { echo "missing $f: build tokensign, tokensign_provider and ca_batch_tool (GNU time: apt-get install time)" >&2; exit 1; }
    done
    MODULE=
    for p in /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so /usr/lib/softhsm/libsofthsm2.so; do
        [ -r "$p" ] && MODULE=$p && break
    done
    [ -n "$MODULE" ] || { echo "SoftHSM2 is not installed: run scripts/install-deps.sh" >&2; exit 1; }
}

# bench_token NAME: WORK=a new directory (tokensign-NAME-XXXXXX in $TMPDIR) holding the token,
# SOFTHSM2_CONF, TOKENSIGN_MODULE and TOKENSIGN_PIN exported, and cd there. It is removed at
# exit, unless KEEP=1: then it is left (and named on stderr) for the next run to remove,
# because ext4 checks the inodes freed in the last minutes each time it creates a file, so
# thousands of files removed just before a run make its writes several times slower
# (BENCHMARKS.md).
bench_token() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokensign-$1-XXXXXX")
    trap bench_exit EXIT
    mkdir "$WORK/tokens"
    printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
        "$WORK/tokens" >"$WORK/softhsm2.conf"
    export SOFTHSM2_CONF=$WORK/softhsm2.conf TOKENSIGN_MODULE=$MODULE TOKENSIGN_PIN=1234
    softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 123456 >/dev/null
    cd "$WORK"
}

bench_exit() {
    if [ -n "${KEEP:-}" ]; then
        echo "kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
