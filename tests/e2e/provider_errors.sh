#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Failure cases through stock openssl with tokensign.so: each gives a clear message and a
# non-zero exit (never a crash): wrong PIN, no PIN, no such object, ambiguous URI,
# unsupported mechanism/digest, malformed URI. Also: a clean exit status in every success case
# of the other scripts (set -e), and public objects need no PIN.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TS_TOKEN_LABEL=root-ca
ts_setup_token "$TS_TOKEN_LABEL"
cd "$TS_WORK"
printf 'data\n' >data.txt
ts_keygen rsa:2048 ca-key 01
ts_keygen EC:prime256v1 twin 02
ts_keygen EC:prime256v1 twin 03  # same label, other id: "object=twin" is ambiguous
unset TOKENSIGN_PIN

ts_log "wrong PIN: the token's reason, the token named, non-zero exit"
TOKENSIGN_PIN=0000 ts_expect_fail "CKR_PIN_INCORRECT.*|PIN.*root-ca|root-ca.*PIN" \
    ossl dgst -sha256 -sign "$(ts_uri ca-key)" -out x.sig data.txt
grep -q "token 'root-ca'" "$TS_WORK/expect.err" || ts_fail "the message does not name the token"

ts_log "no PIN at all (no URI pin, no pin-source, no TOKENSIGN_PIN, no terminal)"
ts_expect_fail "PIN" ossl dgst -sha256 -sign "$(ts_uri ca-key)" -passin pass: -out x.sig data.txt </dev/null

ts_log "pin-source in the URI and pin-value work"
ossl dgst -sha256 -sign "$(ts_uri ca-key)?pin-source=file:$TS_PIN_FILE" -out ok1.sig data.txt
ossl dgst -sha256 -sign "$(ts_uri ca-key)?pin-value=$TS_PIN" -out ok2.sig data.txt

export TOKENSIGN_PIN=$TS_PIN
ts_log "no such object"
ts_expect_fail "no private key (with label|matches)" \
    ossl dgst -sha256 -sign "$(ts_uri no-such-key)" -out x.sig data.txt
ts_expect_fail "no (public key|object|.*match)" ossl pkey -pubin -in "$(ts_uri no-such-key public)" -noout
ts_log "no such token"
ts_expect_fail "token" ossl pkey -pubin -in "pkcs11:token=nonexistent;object=x;type=public" -noout

ts_log "ambiguous URI: both candidates listed"
ts_expect_fail "twin" ossl dgst -sha256 -sign "$(ts_uri twin)" -out x.sig data.txt
grep -Eq "(02|%02).*(03|%03)|(03|%03).*(02|%02)|2 |several|more than one|ambiguous" \
    "$TS_WORK/expect.err" || { cat "$TS_WORK/expect.err"; ts_fail "the candidates are not listed"; }

ts_log "unsupported: a digest the token path does not take, a padding it cannot do"
ts_expect_fail "not supported|unsupported" \
    ossl dgst -sha3-256 -sign "$(ts_uri ca-key)" -out x.sig data.txt
ossl_plain dgst -sha256 -binary -out data.sha256 data.txt
ts_expect_fail "not supported|unsupported|padding" \
    ossl pkeyutl -sign -inkey "$(ts_uri ca-key)" -in data.sha256 -pkeyopt digest:sha256 \
    -pkeyopt rsa_padding_mode:x931 -out x.sig
ts_log "SoftHSM2 refuses a PSS MGF1 digest other than the hash: the token's reason is shown"
ts_expect_fail "CKR_|failed" ossl dgst -sha384 -sign "$(ts_uri ca-key)" -sigopt rsa_padding_mode:pss \
    -sigopt rsa_mgf1_md:sha256 -out x.sig data.txt

ts_log "malformed URI"
ts_expect_fail "URI|uri|percent|attribute" ossl pkey -in "pkcs11:token=root-ca;id=%zz" -noout

ts_log "public objects never need a PIN, even with a wrong one around"
TOKENSIGN_PIN=0000 ossl pkey -pubin -in "$(ts_uri ca-key public)" -pubout -out pub.pem
grep -q 'BEGIN PUBLIC KEY' pub.pem || ts_fail "public key not read"

ts_log "the failed attempts above spent exactly one PIN try: the token still accepts the PIN"
ossl dgst -sha256 -sign "$(ts_uri ca-key)" -out final.sig data.txt
ossl_plain dgst -sha256 -verify pub.pem -signature final.sig data.txt
echo "provider_errors: all checks passed"
