#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The token on another host: `p11-kit server` exports the SoftHSM2 token on a unix socket (the
# token's host), and tokensign, tokensign.so and stock openssl use it through p11-kit-client.so
# (the signer's host) with no access to the token files. Key generation, ca init, ca sign, req
# and provider signing all go through the socket; the results are checked on the token's side
# with pkcs11-tool and verified with plain openssl (default provider only) and GnuTLS certtool.
# docs/remote-token.md describes the same set-up.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TS_CLI:?TS_CLI (the tokensign binary) must be set; ctest sets it}"

TS_TOKEN_LABEL=remote
ts_setup_token "$TS_TOKEN_LABEL"
command -v p11-kit >/dev/null || ts_fail "p11-kit is not installed: run scripts/install-deps.sh"
CLIENT=$(pkg-config --variable p11_module_path p11-kit-1 2>/dev/null)/p11-kit-client.so
[ -r "$CLIENT" ] || CLIENT=$(dirname "$TS_MODULE")/../pkcs11/p11-kit-client.so
[ -r "$CLIENT" ] || ts_fail "p11-kit-client.so not found: run scripts/install-deps.sh (p11-kit-modules)"
cd "$TS_WORK"

# ---- the token's host: the server, killed on exit by lib.sh's trap (ts_cleanup) -----------
SERVER_CONF=$SOFTHSM2_CONF
SOCKET=$TS_WORK/p11-kit.sock
ts_log "p11-kit server for token '$TS_TOKEN_LABEL' on $SOCKET"
SOFTHSM2_CONF=$SERVER_CONF p11-kit server -f --provider "$TS_MODULE" -n "$SOCKET" \
    "pkcs11:token=$TS_TOKEN_LABEL" >server.out 2>server.err &
TS_SERVER_PID=$!
for _ in $(seq 1 100); do
    [ -S "$SOCKET" ] && break
    kill -0 "$TS_SERVER_PID" 2>/dev/null || { cat server.err >&2; ts_fail "p11-kit server exited"; }
    sleep 0.1
done
[ -S "$SOCKET" ] || ts_fail "p11-kit server did not create $SOCKET"
grep -q "P11_KIT_SERVER_ADDRESS=unix:path=$SOCKET" server.out ||
    ts_fail "p11-kit server printed no address: $(cat server.out)"

# What the token's host sees, directly (not through the socket).
on_token_host() {
    SOFTHSM2_CONF=$SERVER_CONF pkcs11-tool --module "$TS_MODULE" --token-label "$TS_TOKEN_LABEL" \
        --login --pin "$TS_PIN" "$@"
}

# ---- the signer's host: only the client module and the socket address ---------------------
# SOFTHSM2_CONF points nowhere, so nothing below can reach the token but through the socket.
export SOFTHSM2_CONF=$TS_WORK/no-softhsm.conf
export TOKENSIGN_MODULE=$CLIENT P11_KIT_SERVER_ADDRESS=unix:path=$SOCKET
export TOKENSIGN_PIN=$TS_PIN TOKENSIGN_PROVIDER_DIR=$TS_PROVIDER_DIR

ts_log "token list through p11-kit-client.so"
"$TS_CLI" token list >list.out
grep -q "p11-kit-client" list.out || ts_fail "the client module is not the one listed: $(cat list.out)"
grep -q "Token '$TS_TOKEN_LABEL'" list.out || ts_fail "token not seen through the socket: $(cat list.out)"

ts_log "key generate through the socket; the key is on the token's host"
"$TS_CLI" key generate --token "pkcs11:token=$TS_TOKEN_LABEL" --type rsa:2048 --label signer \
    --id 51 >gen.out
on_token_host --list-objects --type privkey >objects.out 2>&1
grep -q "label:      signer" objects.out || ts_fail "the generated key is not on the token: $(cat objects.out)"

ts_log "ca init with a key generated through the socket"
"$TS_CLI" ca init --dir ca --key "pkcs11:token=$TS_TOKEN_LABEL;object=root" --generate ec:p-384 \
    --subject "/O=Remote/CN=Remote Root CA" >init.out 2>&1 || {
    cat init.out >&2
    ts_fail "ca init through the socket failed"
}
on_token_host --list-objects --type privkey >objects.out 2>&1
grep -q "label:      root" objects.out || ts_fail "the CA key is not on the token: $(cat objects.out)"

ts_log "ca sign through the socket"
ossl_plain req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
    -subj "/O=Remote/CN=leaf.example" -out leaf.csr 2>/dev/null
"$TS_CLI" ca sign --config ca/openssl.cnf --in leaf.csr --out leaf.pem --batch >sign.out 2>&1 || {
    cat sign.out >&2
    ts_fail "ca sign through the socket failed"
}
ossl_plain verify -CAfile ca/certs/ca.pem leaf.pem >/dev/null ||
    ts_fail "plain openssl does not verify the certificate signed through the socket"
if command -v certtool >/dev/null; then
    certtool --verify --load-ca-certificate ca/certs/ca.pem --infile leaf.pem >certtool.out 2>&1 ||
        { cat certtool.out >&2; ts_fail "certtool does not verify the certificate"; }
fi

ts_log "stock openssl ca with the CA directory's own openssl.cnf, through the socket"
ossl_plain req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf2.key \
    -subj "/O=Remote/CN=leaf2.example" -out leaf2.csr 2>/dev/null
openssl ca -batch -config ca/openssl.cnf -in leaf2.csr \
    -out leaf2.pem >ossl-ca.out 2>&1 || { cat ossl-ca.out >&2; ts_fail "openssl ca failed"; }
ossl_plain verify -CAfile ca/certs/ca.pem leaf2.pem >/dev/null ||
    ts_fail "plain openssl does not verify the certificate openssl ca signed"

ts_log "tokensign req through the socket"
"$TS_CLI" req --key "pkcs11:token=$TS_TOKEN_LABEL;object=signer" --subject "/CN=signer.example" \
    --san DNS:signer.example --out signer.csr
ossl_plain req -in signer.csr -noout -verify 2>&1 | grep -q "verify OK" ||
    ts_fail "the request made through the socket does not verify"

ts_log "stock openssl dgst -sign with tokensign.so through the socket"
head -c 4096 /dev/urandom >data.bin
ossl dgst -sha256 -sign "pkcs11:token=$TS_TOKEN_LABEL;object=signer;type=private" \
    -out data.sig data.bin
"$TS_CLI" key show "pkcs11:token=$TS_TOKEN_LABEL;object=signer;type=public" |
    sed -n '/-----BEGIN PUBLIC KEY-----/,/-----END PUBLIC KEY-----/p' >signer.pub
ossl_plain dgst -sha256 -verify signer.pub -signature data.sig data.bin >/dev/null ||
    ts_fail "the signature made through the socket does not verify"

ts_log "server gone: a clear failure, not a hang or a crash"
kill "$TS_SERVER_PID"
wait "$TS_SERVER_PID" 2>/dev/null || true
TS_SERVER_PID=
rc=0
timeout 60 "$TS_CLI" key list "pkcs11:token=$TS_TOKEN_LABEL" >gone.out 2>gone.err || rc=$?
ts_log "exit $rc: $(cat gone.err)"
# p11-kit-client.so then shows no token (exit 3); a module error would be exit 5.
[ "$rc" -eq 3 ] || [ "$rc" -eq 5 ] || ts_fail "key list exited $rc with the server gone (hung, crashed or misreported)"
grep -q "tokensign: error:" gone.err || ts_fail "no error message with the server gone: $(cat gone.err)"

echo "PASS: tokensign, tokensign.so and openssl ca through p11-kit server/p11-kit-client.so"
