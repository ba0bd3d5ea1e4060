#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# TLS 1.2 with the RSA key exchange (no ECDHE: AES128-GCM-SHA256, AES256-SHA256): s_server with
# an RSA token key decrypts the client's pre-master secret with RSA_PKCS1_WITH_TLS_PADDING.
# The client is plain openssl (no tokensign); each handshake is bounded in time.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TS_TOKEN_LABEL=e2e-tls-rsa
ts_setup_token "$TS_TOKEN_LABEL"
export TOKENSIGN_PIN=$TS_PIN
cd "$TS_WORK"
ts_keygen rsa:2048 rsa 01
ossl req -new -x509 -key "$(ts_uri rsa)" -sha256 -subj "/CN=localhost" -days 5 \
    -addext subjectAltName=DNS:localhost -out rsa.crt

for order in default-first tokensign-first; do
    for cipher in AES128-GCM-SHA256 AES256-SHA256; do
        ts_log "$order: TLS 1.2 $cipher"
        port=$(ts_free_port)
        providers=(-provider default -provider tokensign)
        [ $order = tokensign-first ] && providers=(-provider tokensign -provider default)
        rm -f server.log
        timeout 30 openssl s_server -provider-path "$TS_PROVIDER_DIR" "${providers[@]}" \
            -accept "127.0.0.1:$port" -key "$(ts_uri rsa)" -cert rsa.crt -naccept 1 -www \
            -tls1_2 -cipher "$cipher" >server.log 2>&1 &
        TS_SERVER_PID=$!
        for _ in $(seq 1 300); do
            grep -q ACCEPT server.log 2>/dev/null && break
            kill -0 "$TS_SERVER_PID" 2>/dev/null || { cat server.log; ts_fail "s_server exited"; }
            sleep 0.1
        done
        printf 'GET / HTTP/1.0\r\n\r\n' | timeout 20 env OPENSSL_CONF="$TS_WORK/plain.cnf" \
            openssl s_client -connect "127.0.0.1:$port" -servername localhost -CAfile rsa.crt \
            -verify_return_error -tls1_2 -cipher "$cipher" -brief -ign_eof >client.log 2>&1 ||
            { cat client.log server.log; ts_fail "$cipher: handshake failed"; }
        wait "$TS_SERVER_PID" || true
        TS_SERVER_PID=
        grep -q "Ciphersuite: $cipher" client.log || { cat client.log; ts_fail "not $cipher"; }
        grep -q '200 ok' client.log || { cat client.log server.log; ts_fail "$cipher: no answer"; }
    done
done
echo "provider_tls12_rsa_kex: all checks passed"
