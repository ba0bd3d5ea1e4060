# SPDX-License-Identifier: Apache-2.0
# Shared helpers for tests/e2e/*.sh: a fresh SoftHSM2 token in a temp dir, openssl with and
# without tokensign, and checks. Source it; keep its functions stable (other scripts use them).
#
#   ts_setup_token LABEL    temp dir $TS_WORK, SOFTHSM2_CONF, TS_MODULE, TOKENSIGN_MODULE,
#                           a token LABEL with user PIN $TS_PIN, $TS_PIN_FILE (mode 0600)
#   ts_keygen TYPE LABEL ID key pair on the token (pkcs11-tool): rsa:2048, EC:prime256v1, ...
#   ossl CMD ARGS...        openssl CMD with tokensign.so loaded (then the default provider)
#   ossl_plain CMD ARGS...  openssl without tokensign: default provider only
#   ts_expect_fail PATTERN CMD...  CMD must exit non-zero (not by a signal) and print PATTERN
#   ts_free_port            a free TCP port on 127.0.0.1
set -euo pipefail

: "${TS_PROVIDER_DIR:?TS_PROVIDER_DIR (the directory of tokensign.so) must be set; ctest sets it}"
TS_PIN=${TS_PIN:-1234}
TS_SO_PIN=${TS_SO_PIN:-123456}

ts_log() { printf '== %s\n' "$*" >&2; }
ts_fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

ts_find_module() {
    local p
    for p in /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
        /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so /usr/lib/softhsm/libsofthsm2.so; do
        if [ -r "$p" ]; then
            TS_MODULE=$p
            export TS_MODULE
            return 0
        fi
    done
    ts_fail "SoftHSM2 is not installed: run scripts/install-deps.sh (package softhsm2)"
}

ts_cleanup() {
    if [ -n "${TS_SERVER_PID:-}" ]; then kill "$TS_SERVER_PID" 2>/dev/null || true; fi
    if [ -n "${TS_WORK:-}" ] && [ -d "$TS_WORK" ]; then rm -rf "$TS_WORK"; fi
}

ts_setup_token() {
    local label=$1
    ts_find_module
    TS_WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokensign-e2e-XXXXXX")
    export TS_WORK
    trap ts_cleanup EXIT
    mkdir "$TS_WORK/tokens"
    cat >"$TS_WORK/softhsm2.conf" <<CONF
directories.tokendir = $TS_WORK/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
    export SOFTHSM2_CONF=$TS_WORK/softhsm2.conf
    export TOKENSIGN_MODULE=$TS_MODULE
    softhsm2-util --init-token --free --label "$label" --pin "$TS_PIN" --so-pin "$TS_SO_PIN" \
        >/dev/null
    TS_PIN_FILE=$TS_WORK/pin
    (umask 077 && printf '%s\n' "$TS_PIN" >"$TS_PIN_FILE")
    export TS_PIN_FILE
    # Both openssl flavours run with a config of our own: the default provider only, nothing
    # from the system's openssl.cnf.
    cat >"$TS_WORK/plain.cnf" <<'CONF'
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
[default_sect]
activate = 1
CONF
    export OPENSSL_CONF=$TS_WORK/plain.cnf
}

ts_keygen() {
    local type=$1 label=$2 id=$3
    pkcs11-tool --module "$TS_MODULE" --login --pin "$TS_PIN" --keypairgen --key-type "$type" \
        --label "$label" --id "$id" >/dev/null 2>&1 ||
        ts_fail "pkcs11-tool could not generate $type key '$label'"
}

ossl() {
    local cmd=$1
    shift
    openssl "$cmd" -provider-path "$TS_PROVIDER_DIR" -provider tokensign -provider default "$@"
}

# The stock binary itself: sanitizer builds put a wrapper first in PATH (tests/CMakeLists.txt)
# that preloads the runtime with whole (slow) stacks for the openssl that loads tokensign.so;
# plain openssl loads none of our code, and through the wrapper each call took about a second.
ts_plain_openssl=$(PATH=$(tr ':' '\n' <<<"$PATH" | grep -v '/sanitizer-bin$' | paste -sd: -) &&
    command -v openssl)
ossl_plain() {
    OPENSSL_CONF=$TS_WORK/plain.cnf "$ts_plain_openssl" "$@"
}

ts_expect_fail() {
    local pattern=$1
    shift
    local rc=0
    "$@" >"$TS_WORK/expect.out" 2>"$TS_WORK/expect.err" || rc=$?
    if [ "$rc" -eq 0 ]; then
        ts_fail "expected failure but it succeeded: $*"
    fi
    if [ "$rc" -ge 128 ]; then
        cat "$TS_WORK/expect.err" >&2
        ts_fail "killed by signal $((rc - 128)): $*"
    fi
    if ! grep -Eq -- "$pattern" "$TS_WORK/expect.err" "$TS_WORK/expect.out"; then
        cat "$TS_WORK/expect.err" >&2
        ts_fail "error output does not match /$pattern/: $*"
    fi
}

ts_free_port() {
    # A random port nobody answers on (bash's /dev/tcp: no extra tools needed), below Linux's
    # ephemeral range (32768-60999), where a client's local port could still hold it.
    local port i
    for i in $(seq 1 50); do
        port=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    ts_fail "no free TCP port found on 127.0.0.1"
}

# The token's URI prefix for an object: ts_uri LABEL [TYPE]
ts_uri() {
    local uri="pkcs11:token=${TS_TOKEN_LABEL:-tokensign};object=$1"
    if [ -n "${2:-}" ]; then uri="$uri;type=$2"; fi
    printf '%s' "$uri"
}
