#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# For RSA-2048, RSA-4096, P-256, P-384, P-521 and Ed25519 token keys, stock openssl with tokensign.so:
# pkey -pubout (private and public URI agree), req -new, req -x509, dgst -sign, pkeyutl -sign,
# storeutl. Every artefact is verified by openssl WITHOUT tokensign (and certtool for certs).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TS_TOKEN_LABEL=e2e-sign
ts_setup_token "$TS_TOKEN_LABEL"
export TOKENSIGN_PIN=$TS_PIN
cd "$TS_WORK"
printf 'tokensign e2e data\n' >data.txt

ts_keygen rsa:2048 rsa2048 01
ts_keygen rsa:4096 rsa4096 02
ts_keygen EC:prime256v1 p256 03
ts_keygen EC:secp384r1 p384 04
ts_keygen EC:edwards25519 ed25519 05
ts_keygen EC:secp521r1 p521 06

for k in rsa2048 rsa4096 p256 p384 p521 ed25519; do
    ts_log "$k: public key"
    ossl pkey -pubin -in "$(ts_uri $k public)" -pubout -out $k.pub.pem
    grep -q 'BEGIN PUBLIC KEY' $k.pub.pem || ts_fail "$k: no SubjectPublicKeyInfo"
    ossl pkey -in "$(ts_uri $k)" -pubout -out $k.pub-from-priv.pem
    cmp $k.pub.pem $k.pub-from-priv.pem || ts_fail "$k: private and public URI give other keys"
    # The plain default provider reads it too (EC: named curve, not explicit parameters).
    ossl_plain pkey -pubin -in $k.pub.pem -noout -text >$k.pub.txt
    case $k in p*) grep -q 'NIST CURVE' $k.pub.txt || ts_fail "$k: not a named curve" ;; esac

    ts_log "$k: pkey -text shows the token object, never key material"
    ossl pkey -in "$(ts_uri $k)" -text -noout >$k.text
    grep -q "on token 'e2e-sign'" $k.text || ts_fail "$k: text does not name the token"
    if grep -Eq 'privateExponent|priv:' $k.text; then ts_fail "$k: text shows private parts"; fi

    md=-sha256
    [ $k = p384 ] && md=-sha384
    [ $k = p521 ] && md=-sha512
    [ $k = ed25519 ] && md=
    ts_log "$k: req -new (CSR) and req -x509"
    ossl req -new -key "$(ts_uri $k)" $md -subj "/CN=$k CSR" -out $k.csr
    ossl_plain req -in $k.csr -verify -noout
    ossl req -new -x509 -key "$(ts_uri $k)" $md -subj "/CN=$k CA" -days 30 \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        -out $k.ca.pem
    ossl_plain verify -CAfile $k.ca.pem $k.ca.pem
    certtool --verify --load-ca-certificate $k.ca.pem --infile $k.ca.pem >$k.certtool 2>&1 ||
        { cat $k.certtool; ts_fail "$k: certtool rejects the self-signed certificate"; }
    grep -q 'Verified' $k.certtool || ts_fail "$k: certtool did not verify"

    ts_log "$k: dgst and pkeyutl signatures"
    if [ $k = ed25519 ]; then
        ossl pkeyutl -sign -inkey "$(ts_uri $k)" -rawin -in data.txt -out $k.sig
        ossl_plain pkeyutl -verify -pubin -inkey $k.pub.pem -rawin -in data.txt -sigfile $k.sig
    else
        ossl dgst $md -sign "$(ts_uri $k)" -out $k.sig data.txt
        ossl_plain dgst $md -verify $k.pub.pem -signature $k.sig data.txt
        ossl_plain dgst $md -binary -out $k.dgst data.txt
        ossl pkeyutl -sign -inkey "$(ts_uri $k)" -in $k.dgst -pkeyopt digest:${md#-} -out $k.psig
        ossl_plain pkeyutl -verify -pubin -inkey $k.pub.pem -in $k.dgst -pkeyopt digest:${md#-} \
            -sigfile $k.psig
        # and with tokensign on both sides (verification on the host with the public key)
        ossl dgst $md -verify "$(ts_uri $k public)" -signature $k.sig data.txt
    fi
done

ts_log "storeutl lists what a URI matches; public objects need no PIN"
env -u TOKENSIGN_PIN openssl storeutl -provider-path "$TS_PROVIDER_DIR" -provider tokensign \
    -provider default "pkcs11:token=e2e-sign" >store.txt
grep -q 'Total found: 6' store.txt || { cat store.txt; ts_fail "storeutl without PIN: not the 6 public keys"; }
ossl storeutl "pkcs11:token=e2e-sign;object=p256" >store-p256.txt
grep -q 'Total found: 2' store-p256.txt || { cat store-p256.txt; ts_fail "storeutl with PIN: not both halves"; }
ossl storeutl -keys "pkcs11:token=e2e-sign;object=p256" >store-p256-priv.txt
grep -q 'Total found: 1' store-p256-priv.txt || ts_fail "storeutl -keys: not exactly the private key"
grep -q 'BEGIN TOKENSIGN EC KEY' store-p256-priv.txt || ts_fail "storeutl -keys: no URI PEM"
if grep -q 'BEGIN PRIVATE KEY' store-p256-priv.txt; then ts_fail "key material printed"; fi
echo "provider_keys_sign_verify: all checks passed"
