#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ECDH parameters as OpenSSL's default provider takes them (X9.63 KDF with digest, output
# length and UKM; cofactor mode; unknown KDF types refused), CMS decryption with an EC token key
# (openssl cms -decrypt, RFC 5753 standard and cofactor schemes), and RSA pad-mode none refusing
# input shorter than the modulus. Checked by openssl without tokensign.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TS_TOKEN_LABEL=e2e-ecdh
ts_setup_token "$TS_TOKEN_LABEL"
export TOKENSIGN_PIN=$TS_PIN
cd "$TS_WORK"
ts_keygen EC:prime256v1 ec 01
ts_keygen rsa:2048 rsa 02
ossl pkey -pubin -in "$(ts_uri ec public)" -out ec.pub.pem
ossl_plain genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out peer.key
ossl_plain pkey -in peer.key -pubout -out peer.pub.pem

ts_log "ECDH with the X9.63 KDF: the token side equals the default provider's"
for md in SHA1 SHA256 SHA384; do
    for len in 16 32 61; do
        kdf=(-pkeyopt kdf-type:X963KDF -pkeyopt kdf-digest:$md -pkeyopt kdf-outlen:$len
            -pkeyopt hexkdf-ukm:00112233445566778899)
        ossl pkeyutl -derive -inkey "$(ts_uri ec)" -peerkey peer.pub.pem "${kdf[@]}" -out tok.bin
        ossl_plain pkeyutl -derive -inkey peer.key -peerkey ec.pub.pem "${kdf[@]}" -out ref.bin
        [ "$(stat -c %s tok.bin)" -eq $len ] || ts_fail "X963KDF $md: not $len bytes"
        cmp tok.bin ref.bin || ts_fail "X963KDF $md/$len: the token side derived another key"
    done
done
ts_log "ECDH with cofactor mode on (a prime curve: the same secret) and without a KDF"
ossl pkeyutl -derive -inkey "$(ts_uri ec)" -peerkey peer.pub.pem \
    -pkeyopt ecdh_cofactor_mode:1 -out tok.bin
ossl_plain pkeyutl -derive -inkey peer.key -peerkey ec.pub.pem -out ref.bin
cmp tok.bin ref.bin || ts_fail "cofactor ECDH differs from plain ECDH on P-256"
ts_log "ECDH: a KDF it does not apply is refused, not ignored"
ts_expect_fail "KDF type|not supported|parameter" \
    ossl pkeyutl -derive -inkey "$(ts_uri ec)" -peerkey peer.pub.pem -pkeyopt kdf-type:HKDF \
    -out bad.bin
ts_expect_fail "cofactor|parameter" \
    ossl pkeyutl -derive -inkey "$(ts_uri ec)" -peerkey peer.pub.pem \
    -pkeyopt ecdh_cofactor_mode:2 -out bad.bin

ts_log "CMS (S/MIME) decryption with the EC token key"
ossl req -new -x509 -key "$(ts_uri ec)" -sha256 -subj "/CN=cms recipient" -days 5 -out ec.crt
printf 'enveloped for a token key\n' >msg.txt
for opt in "" "-keyopt ecdh_cofactor_mode:1" "-keyopt ecdh_kdf_md:sha256"; do
    ts_log "cms -encrypt ${opt:-(defaults)}"
    # shellcheck disable=SC2086  # $opt is zero or two words
    ossl_plain cms -encrypt -binary -aes-256-cbc -in msg.txt -recip ec.crt $opt -out msg.cms
    ossl cms -decrypt -binary -in msg.cms -recip ec.crt -inkey "$(ts_uri ec)" -out msg.out
    cmp msg.txt msg.out || ts_fail "cms -decrypt ${opt}: content differs"
done

ts_log "RSA pad-mode none: exactly one modulus of input, as the default provider"
head -c 32 /dev/urandom >short.bin
ts_expect_fail "data too small for key size" \
    ossl pkeyutl -sign -inkey "$(ts_uri rsa)" -pkeyopt rsa_padding_mode:none -in short.bin \
    -out short.sig
ossl_plain genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out soft.key 2>/dev/null
ts_expect_fail "data too small for key size" \
    ossl_plain pkeyutl -sign -inkey soft.key -pkeyopt rsa_padding_mode:none -in short.bin \
    -out short.sig
echo "provider_ecdh_kdf_cms_rsa_raw: all checks passed"
