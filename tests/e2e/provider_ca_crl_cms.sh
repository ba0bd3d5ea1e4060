#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A CA whose key is on the token: x509 -req -CA -CAkey pkcs11:, `openssl ca -keyfile pkcs11:`
# with a plain openssl ca config (certificates and a CRL), and cms -sign. Checked by openssl
# without tokensign and by GnuTLS certtool.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TS_TOKEN_LABEL=e2e-ca
ts_setup_token "$TS_TOKEN_LABEL"
export TOKENSIGN_PIN=$TS_PIN
cd "$TS_WORK"
printf 'signed by a token key\n' >msg.txt

ts_keygen rsa:2048 rsa2048 01
ts_keygen EC:prime256v1 p256 02
ts_keygen EC:secp384r1 p384 03
ts_keygen EC:edwards25519 ed25519 04

# A leaf key in software, the subject of every issued certificate.
ossl_plain genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key
ossl_plain req -new -key leaf.key -subj "/CN=leaf.example" -out leaf.csr

for k in rsa2048 p256 p384 ed25519; do
    md=-sha256
    [ $k = p384 ] && md=-sha384
    [ $k = ed25519 ] && md=
    mdname=${md#-}
    [ -z "$mdname" ] && mdname=default
    ts_log "$k: CA certificate"
    ossl req -new -x509 -key "$(ts_uri $k)" $md -subj "/CN=Token CA $k" -days 30 \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        -out $k.ca.pem

    ts_log "$k: x509 -req -CA -CAkey pkcs11:"
    ossl x509 -req -in leaf.csr -CA $k.ca.pem -CAkey "$(ts_uri $k)" $md -days 10 \
        -set_serial 1001 -out $k.leaf.pem
    ossl_plain verify -CAfile $k.ca.pem $k.leaf.pem
    certtool --verify --load-ca-certificate $k.ca.pem --infile $k.leaf.pem >$k.ct 2>&1 ||
        { cat $k.ct; ts_fail "$k: certtool rejects the issued certificate"; }

    ts_log "$k: openssl ca -keyfile pkcs11: (plain ca config), certificate and CRL"
    mkdir -p $k.ca/newcerts
    : >$k.ca/index.txt
    echo 1000 >$k.ca/serial
    echo 1000 >$k.ca/crlnumber
    cat >$k.ca.cnf <<CNF
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = $TS_WORK/$k.ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = $TS_WORK/$k.ca.pem
default_md = $mdname
default_days = 10
default_crl_days = 7
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
CNF
    ossl ca -batch -config $k.ca.cnf -keyfile "$(ts_uri $k)" -in leaf.csr -out $k.ca-leaf.pem \
        -notext
    ossl_plain verify -CAfile $k.ca.pem $k.ca-leaf.pem
    certtool --verify --load-ca-certificate $k.ca.pem --infile $k.ca-leaf.pem >$k.ct2 2>&1 ||
        { cat $k.ct2; ts_fail "$k: certtool rejects the certificate from openssl ca"; }
    ossl ca -config $k.ca.cnf -keyfile "$(ts_uri $k)" -revoke $k.ca-leaf.pem
    ossl ca -config $k.ca.cnf -keyfile "$(ts_uri $k)" -gencrl -out $k.crl.pem
    ossl_plain crl -in $k.crl.pem -CAfile $k.ca.pem -noout 2>$k.crl.err
    grep -q 'verify OK' $k.crl.err || { cat $k.crl.err; ts_fail "$k: CRL signature"; }
    # The revoked certificate now fails against the CRL.
    if ossl_plain verify -crl_check -CAfile $k.ca.pem -CRLfile $k.crl.pem $k.ca-leaf.pem \
        >/dev/null 2>&1; then
        ts_fail "$k: revoked certificate still verifies"
    fi

    # OpenSSL 3.0's CMS cannot sign with Ed25519 at all (no default digest, software keys
    # included): that case is OpenSSL's limit, not ours.
    [ $k = ed25519 ] && continue
    ts_log "$k: cms -sign"
    ossl cms -sign -in msg.txt -signer $k.ca.pem -inkey "$(ts_uri $k)" ${md:+-md ${md#-}} \
        -binary -nodetach -outform DER -out $k.cms.der
    ossl_plain cms -verify -in $k.cms.der -inform DER -CAfile $k.ca.pem -binary \
        -purpose any -out $k.cms.out
    cmp msg.txt $k.cms.out || ts_fail "$k: CMS content differs"
done
echo "provider_ca_crl_cms: all checks passed"
