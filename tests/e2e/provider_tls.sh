#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# s_server -key pkcs11:... answers a plain s_client (no tokensign) over TLS 1.3 and TLS 1.2 on
# 127.0.0.1, a random free port, bounded time; RSA-2048, P-256 and Ed25519 server keys.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TS_TOKEN_LABEL=e2e-tls
ts_setup_token "$TS_TOKEN_LABEL"
export TOKENSIGN_PIN=$TS_PIN
cd "$TS_WORK"
ts_keygen rsa:2048 rsa 01
ts_keygen EC:prime256v1 p256 02
ts_keygen EC:edwards25519 ed25519 03

# Waits (bounded) until the server listens: it prints ACCEPT then. A server that exited or
# never got there fails the test with its own output, not the client's "connection refused".
ts_wait_accept() {
    local i
    for i in $(seq 1 300); do
        if grep -q ACCEPT server.log 2>/dev/null; then return 0; fi
        kill -0 "$TS_SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat server.log >&2
    ts_fail "$1: s_server did not start listening"
}

handshake() {
    local k=$1 version=$2 order=$3 port
    port=$(ts_free_port)
    # The default provider first: OpenSSL 3.0 then picks its own implementations for all
    # that is not a token key (tokensign-provider(7), PROVIDER ORDER).
    local providers=(-provider default -provider tokensign)
    [ "$order" = tokensign-first ] && providers=(-provider tokensign -provider default)
    rm -f server.log  # else the wait below may see the previous server's ACCEPT
    timeout 30 openssl s_server -provider-path "$TS_PROVIDER_DIR" "${providers[@]}" \
        -accept "127.0.0.1:$port" -key "$(ts_uri $k)" -cert $k.crt -naccept 1 -www $version \
        >server.log 2>&1 &
    TS_SERVER_PID=$!
    ts_wait_accept "$k $version"
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 20 env OPENSSL_CONF="$TS_WORK/plain.cnf" \
        openssl s_client -connect "127.0.0.1:$port" -servername localhost -CAfile $k.crt \
        -verify_return_error $version -brief -ign_eof >client.log 2>&1 ||
        { cat client.log server.log; ts_fail "$k $version: handshake failed"; }
    wait "$TS_SERVER_PID" || true
    TS_SERVER_PID=
    grep -q 'Verification: OK' client.log || { cat client.log; ts_fail "$k $version: not verified"; }
    case $version in
        -tls1_3) grep -q 'Protocol version: TLSv1.3' client.log || ts_fail "$k: not TLS 1.3" ;;
        -tls1_2) grep -q 'Protocol version: TLSv1.2' client.log || ts_fail "$k: not TLS 1.2" ;;
    esac
    grep -q '200 ok' client.log || { cat client.log; ts_fail "$k $version: no HTTP answer"; }
}

for k in rsa p256 ed25519; do
    md=-sha256
    [ $k = ed25519 ] && md=
    ossl req -new -x509 -key "$(ts_uri $k)" $md -subj "/CN=localhost" -days 5 \
        -addext subjectAltName=DNS:localhost -out $k.crt
    ossl_plain verify -CAfile $k.crt $k.crt
    for v in -tls1_3 -tls1_2; do
        ts_log "$k $v"
        handshake $k $v default-first
    done
done
ts_log "tokensign loaded first (it then also handles the ephemeral EC keys): TLS 1.3 and 1.2"
for k in rsa p256 ed25519; do
    for v in -tls1_3 -tls1_2; do
        handshake $k $v tokensign-first
    done
done
ts_log "tokensign loaded first: ECDHE over P-256, P-384 and P-521 still offered"
for g in P-256 P-384 P-521; do
    port=$(ts_free_port)
    rm -f server.log
    timeout 30 openssl s_server -provider-path "$TS_PROVIDER_DIR" -provider tokensign \
        -provider default -accept "127.0.0.1:$port" -key "$(ts_uri p256)" -cert p256.crt \
        -naccept 1 -www -tls1_3 >server.log 2>&1 &
    TS_SERVER_PID=$!
    ts_wait_accept "group $g"
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 20 env OPENSSL_CONF="$TS_WORK/plain.cnf" \
        openssl s_client -connect "127.0.0.1:$port" -CAfile p256.crt -verify_return_error \
        -tls1_3 -groups $g -brief -ign_eof >client.log 2>&1 ||
        { cat client.log server.log; ts_fail "group $g: handshake failed"; }
    wait "$TS_SERVER_PID" || true
    TS_SERVER_PID=
    grep -q 'Verification: OK' client.log || ts_fail "group $g: not verified"
done
echo "provider_tls: all checks passed"
