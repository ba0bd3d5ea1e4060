#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Keys the token restricts with CKA_ALLOWED_MECHANISMS to mechanisms that hash on the token
# (CKM_SHA256_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS): stock openssl signs files (small: one
# C_Sign; large: streamed) and certificates with them; a PSS-only key's certificate says
# rsassaPss. Checked by openssl without tokensign and by GnuTLS certtool.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TS_TOKEN_LABEL=e2e-restricted
ts_setup_token "$TS_TOKEN_LABEL"
export TOKENSIGN_PIN=$TS_PIN
cd "$TS_WORK"
restricted_keygen() {
    pkcs11-tool --module "$TS_MODULE" --login --pin "$TS_PIN" --keypairgen --key-type rsa:2048 \
        --label "$1" --id "$2" --allowed-mechanisms "$3" >/dev/null 2>&1 ||
        ts_fail "pkcs11-tool could not generate key '$1' allowed $3"
}
restricted_keygen pss 01 SHA256-RSA-PKCS-PSS
restricted_keygen pkcs 02 SHA256-RSA-PKCS
printf 'a short message\n' >small.txt
head -c 3000000 /dev/urandom >large.bin

ts_log "the token refuses the raw mechanisms for these keys (SoftHSM2 enforces the list)"
openssl dgst -sha256 -binary small.txt >small.sha256
if pkcs11-tool --module "$TS_MODULE" --login --pin "$TS_PIN" --sign -m RSA-PKCS --id 02 \
    -i small.sha256 -o raw.sig >/dev/null 2>&1; then
    ts_fail "SoftHSM2 let a SHA256-RSA-PKCS-only key sign with CKM_RSA_PKCS: the test proves nothing"
fi

for k in pss pkcs; do
    ossl pkey -pubin -in "$(ts_uri $k public)" -out $k.pub.pem
    opts=()
    [ $k = pss ] && opts=(-sigopt rsa_padding_mode:pss)
    for f in small.txt large.bin; do
        ts_log "$k: dgst -sign $f"
        ossl dgst -sha256 -sign "$(ts_uri $k)" "${opts[@]}" -out $f.$k.sig $f
        ossl_plain dgst -sha256 -verify $k.pub.pem "${opts[@]}" -signature $f.$k.sig $f
    done
    ts_log "$k: self-signed certificate"
    ossl req -new -x509 -key "$(ts_uri $k)" -sha256 -subj "/CN=restricted $k" -days 5 -out $k.crt
    ossl_plain verify -CAfile $k.crt $k.crt
    certtool --verify --load-ca-certificate $k.crt --infile $k.crt >certtool.out 2>&1 ||
        { cat certtool.out; ts_fail "$k: certtool rejects the certificate"; }
done
ossl_plain x509 -in pss.crt -noout -text >pss.txt
grep -q 'Public Key Algorithm: rsassaPss' pss.txt || ts_fail "PSS-only key not rsassaPss in SPKI"
grep -q 'Signature Algorithm: rsassaPss' pss.txt || ts_fail "PSS-only key did not sign with PSS"
ossl_plain x509 -in pkcs.crt -noout -text | grep -q 'Public Key Algorithm: rsaEncryption' ||
    ts_fail "a PKCS#1 v1.5 key must stay rsaEncryption"
ts_log "the PSS-only key's URI PEM names an RSA-PSS key and signs requests"
ossl pkey -in "$(ts_uri pss)" -out pss.uri.pem
grep -q 'BEGIN TOKENSIGN RSA-PSS KEY' pss.uri.pem || ts_fail "URI PEM of a PSS-only key not RSA-PSS"
ossl req -new -key pss.uri.pem -subj "/CN=pss request" -out pss.csr
ossl_plain req -in pss.csr -verify -noout -text >pss.csr.txt
grep -q 'Public Key Algorithm: rsassaPss' pss.csr.txt || ts_fail "CSR of a PSS-only key not rsassaPss"
ts_log "keys that also decrypt (OAEP) stay RSA; PSS chosen after init is honoured"
restricted_keygen pssoaep 03 SHA256-RSA-PKCS-PSS,RSA-PKCS-OAEP
restricted_keygen rawpss 04 RSA-PKCS-PSS,RSA-PKCS-OAEP
ossl pkey -pubin -in "$(ts_uri pssoaep public)" -out pssoaep.pub.pem
ossl pkey -pubin -in "$(ts_uri rawpss public)" -out rawpss.pub.pem
# dgst sets the padding after EVP_DigestSignInit, which defaults to PKCS#1 v1.5.
ossl dgst -sha256 -sign "$(ts_uri pssoaep)" -sigopt rsa_padding_mode:pss -out po.sig small.txt
ossl_plain dgst -sha256 -verify pssoaep.pub.pem -sigopt rsa_padding_mode:pss -signature po.sig \
    small.txt
# pkeyutl signs a precomputed digest; the padding also comes after EVP_PKEY_sign_init.
ossl pkeyutl -sign -inkey "$(ts_uri rawpss)" -pkeyopt rsa_padding_mode:pss \
    -pkeyopt digest:sha256 -in small.sha256 -out rp.sig
ossl_plain pkeyutl -verify -pubin -inkey rawpss.pub.pem -pkeyopt rsa_padding_mode:pss \
    -pkeyopt digest:sha256 -in small.sha256 -sigfile rp.sig
ts_expect_fail "precomputed digest" \
    ossl pkeyutl -sign -inkey "$(ts_uri pss)" -in small.sha256 -out x.sig
ts_log "a digest the key does not allow is refused, naming what it allows"
ts_expect_fail "CKM_SHA256_RSA_PKCS" ossl dgst -sha384 -sign "$(ts_uri pkcs)" -out x.sig small.txt
echo "provider_restricted_keys_sign: all checks passed"
