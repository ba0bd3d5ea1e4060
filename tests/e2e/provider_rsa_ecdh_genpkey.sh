#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# RSA-PSS options (digest, salt length digest/max/auto/explicit, MGF1 digest), RSA decryption
# (PKCS#1 v1.5 and OAEP), ECDH, and key generation on the token with genpkey (the URI PEM it
# writes works wherever a key file is taken). Checked by openssl without tokensign.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TS_TOKEN_LABEL=e2e-rsa
ts_setup_token "$TS_TOKEN_LABEL"
export TOKENSIGN_PIN=$TS_PIN
cd "$TS_WORK"
printf 'PSS, OAEP and ECDH through tokensign\n' >data.txt
ts_keygen rsa:2048 rsa 01
ts_keygen EC:prime256v1 ec 02
ossl pkey -pubin -in "$(ts_uri rsa public)" -out rsa.pub.pem
ossl pkey -pubin -in "$(ts_uri ec public)" -out ec.pub.pem

for md in sha224 sha256 sha384 sha512; do
    for salt in digest max auto 20; do
        ts_log "PSS $md salt $salt"
        ossl dgst -$md -sign "$(ts_uri rsa)" -sigopt rsa_padding_mode:pss \
            -sigopt rsa_pss_saltlen:$salt -out pss.sig data.txt
        vsalt=$salt
        [ $salt = max ] && vsalt=auto  # the verifier reads the salt length from the signature
        ossl_plain dgst -$md -verify rsa.pub.pem -sigopt rsa_padding_mode:pss \
            -sigopt rsa_pss_saltlen:$vsalt -signature pss.sig data.txt
    done
done
ts_log "PSS with the salt length stated exactly: verifier insists on 32"
ossl dgst -sha256 -sign "$(ts_uri rsa)" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest \
    -sigopt rsa_mgf1_md:sha256 -out pss32.sig data.txt
ossl_plain dgst -sha256 -verify rsa.pub.pem -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 \
    -signature pss32.sig data.txt
if ossl_plain dgst -sha256 -verify rsa.pub.pem -sigopt rsa_padding_mode:pss \
    -sigopt rsa_pss_saltlen:20 -signature pss32.sig data.txt >/dev/null 2>&1; then
    ts_fail "a salt of 32 verified as 20: the salt length option is ignored"
fi

ts_log "pkeyutl PSS over a digest"
ossl_plain dgst -sha256 -binary -out data.sha256 data.txt
ossl pkeyutl -sign -inkey "$(ts_uri rsa)" -in data.sha256 -pkeyopt digest:sha256 \
    -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:max -out pkeyutl-pss.sig
ossl_plain pkeyutl -verify -pubin -inkey rsa.pub.pem -in data.sha256 -pkeyopt digest:sha256 \
    -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:auto -sigfile pkeyutl-pss.sig

ts_log "certificate signed with RSA-PSS (AlgorithmIdentifier with PSS parameters)"
ossl req -new -x509 -key "$(ts_uri rsa)" -sha256 -sigopt rsa_padding_mode:pss \
    -sigopt rsa_pss_saltlen:digest -subj "/CN=PSS CA" -days 10 -out pss.ca.pem
ossl_plain x509 -in pss.ca.pem -noout -text | grep -q 'Signature Algorithm: rsassaPss' ||
    ts_fail "the certificate is not signed with RSASSA-PSS"
ossl_plain verify -CAfile pss.ca.pem pss.ca.pem
certtool --verify --load-ca-certificate pss.ca.pem --infile pss.ca.pem >pss.ct 2>&1 ||
    { cat pss.ct; ts_fail "certtool rejects the PSS certificate"; }

ts_log "RSA decryption on the token: PKCS#1 v1.5 and OAEP"
ossl_plain pkeyutl -encrypt -pubin -inkey rsa.pub.pem -in data.txt -out enc-pkcs1.bin
ossl pkeyutl -decrypt -inkey "$(ts_uri rsa)" -in enc-pkcs1.bin -out dec-pkcs1.txt
cmp data.txt dec-pkcs1.txt || ts_fail "PKCS#1 v1.5 decryption differs"
ossl_plain pkeyutl -encrypt -pubin -inkey rsa.pub.pem -in data.txt -out enc-oaep.bin \
    -pkeyopt rsa_padding_mode:oaep
ossl pkeyutl -decrypt -inkey "$(ts_uri rsa)" -in enc-oaep.bin -out dec-oaep.txt \
    -pkeyopt rsa_padding_mode:oaep
cmp data.txt dec-oaep.txt || ts_fail "OAEP (SHA-1) decryption differs"
# OAEP with SHA-256 (and MGF1 SHA-256): decrypted right where the token supports it, else refused
# with the mechanism, its parameters and what to do (SoftHSM2 2.6 does OAEP with SHA-1 only).
ossl_plain pkeyutl -encrypt -pubin -inkey rsa.pub.pem -in data.txt -out enc-oaep256.bin \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
if ossl pkeyutl -decrypt -inkey "$(ts_uri rsa)" -in enc-oaep256.bin -out dec-oaep256.txt \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 \
    2>oaep256.err; then
    cmp data.txt dec-oaep256.txt || ts_fail "OAEP (SHA-256) decryption differs"
else
    grep -q 'CKM_RSA_PKCS_OAEP (hash CKM_SHA256, MGF1 SHA-256).*does not accept this mechanism or these parameters' oaep256.err ||
        { cat oaep256.err >&2; ts_fail "OAEP (SHA-256) refused without saying which parameters"; }
fi

ts_log "ECDH with the token key"
ossl_plain genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out peer.key
ossl_plain pkey -in peer.key -pubout -out peer.pub.pem
ossl pkeyutl -derive -inkey "$(ts_uri ec)" -peerkey peer.pub.pem -out secret-token.bin
ossl_plain pkeyutl -derive -inkey peer.key -peerkey ec.pub.pem -out secret-peer.bin
cmp secret-token.bin secret-peer.bin || ts_fail "ECDH secrets differ"
[ "$(wc -c <secret-token.bin)" -eq 32 ] || ts_fail "ECDH secret is not 32 bytes"

ts_log "genpkey on the token: RSA, P-256, P-384, Ed25519 (RSA-PSS below)"
gen() {
    local name=$1
    shift
    ossl genpkey -propquery '?provider=tokensign' "$@" \
        -pkeyopt "pkcs11_uri:pkcs11:token=$TS_TOKEN_LABEL;object=$name" -out $name.pem
    grep -q 'BEGIN TOKENSIGN' $name.pem || ts_fail "$name: not a URI PEM"
    if grep -q 'PRIVATE KEY' $name.pem; then ts_fail "$name: key material written"; fi
    # The key is on the token, sensitive and not extractable (pkcs11-tool's own view).
    pkcs11-tool --module "$TS_MODULE" --login --pin "$TS_PIN" --list-objects --type privkey \
        --label $name 2>/dev/null >$name.objects
    grep -q 'never extractable' $name.objects || { cat $name.objects; ts_fail "$name: extractable"; }
    grep -q 'sensitive' $name.objects || ts_fail "$name: not sensitive"
    # The PEM works as a key file, and matches the token's public key.
    ossl pkey -in $name.pem -pubout -out $name.pub.pem
    ossl pkey -pubin -in "$(ts_uri $name public)" -out $name.pub-uri.pem
    cmp $name.pub.pem $name.pub-uri.pem || ts_fail "$name: PEM and token public key differ"
}
gen gen-rsa -algorithm RSA -pkeyopt rsa_keygen_bits:2048
gen gen-p256 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
gen gen-p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
gen gen-ed25519 -algorithm ED25519
ossl req -new -x509 -key gen-p256.pem -sha256 -subj "/CN=from a key file" -days 5 -out gen.ca.pem
ossl_plain verify -CAfile gen.ca.pem gen.ca.pem
ossl pkeyutl -sign -inkey gen-ed25519.pem -rawin -in data.txt -out gen-ed.sig
ossl_plain pkeyutl -verify -pubin -inkey gen-ed25519.pub.pem -rawin -in data.txt -sigfile gen-ed.sig

ts_log "genpkey RSA-PSS on the token: a PSS-only key whose certificates are rsassaPss"
ossl genpkey -propquery '?provider=tokensign' -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 \
    -pkeyopt "pkcs11_uri:pkcs11:token=$TS_TOKEN_LABEL;object=gen-pss" -out gen-pss.pem
grep -q 'BEGIN TOKENSIGN RSA-PSS KEY' gen-pss.pem || ts_fail "gen-pss: not an RSA-PSS URI PEM"
ossl req -new -x509 -key gen-pss.pem -sha256 -subj "/CN=pss" -days 5 -out gen-pss.crt
ossl_plain x509 -in gen-pss.crt -noout -text >gen-pss.txt
grep -q 'Public Key Algorithm: rsassaPss' gen-pss.txt || ts_fail "gen-pss: the key is not typed RSA-PSS"
[ "$(grep -c 'Signature Algorithm: rsassaPss' gen-pss.txt)" -eq 2 ] ||
    ts_fail "gen-pss: the certificate is not signed with RSA-PSS"
ossl_plain verify -CAfile gen-pss.crt gen-pss.crt
certtool --verify --load-ca-certificate gen-pss.crt --infile gen-pss.crt >/dev/null ||
    ts_fail "gen-pss: certtool rejects the RSA-PSS certificate"
ossl dgst -sha256 -sign gen-pss.pem -out gen-pss.sig data.txt
ossl pkey -in gen-pss.pem -pubout -out gen-pss.pub.pem
ossl_plain dgst -sha256 -verify gen-pss.pub.pem -signature gen-pss.sig data.txt
ts_expect_fail "PKCS#1 padding not allowed with RSA-PSS" \
    ossl dgst -sha256 -sign gen-pss.pem -sigopt rsa_padding_mode:pkcs1 -out x.sig data.txt

ts_log "genpkey without pkcs11_uri still makes an ordinary key in memory"
ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out soft.pem
grep -q 'BEGIN PRIVATE KEY' soft.pem || ts_fail "in-memory key not written as PKCS#8"
ossl_plain pkey -in soft.pem -check -noout
echo "provider_rsa_ecdh_genpkey: all checks passed"
