#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Compatibility both ways with `openssl ca`, the CA key on the token through the provider:
# directory A is run by openssl ca alone; directory B gets the same requests, started by
# openssl ca, continued by `tokensign ca sign`/`revoke`, then `openssl ca -gencrl/-updatedb`
# and `tokensign ca gencrl`. index.txt, index.txt.attr, serial, crlnumber and newcerts/ must be
# the same in A and B line by line (timestamps aside); every certificate and CRL must verify
# with openssl without tokensign, and certificates with GnuTLS certtool.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TS_CLI:?TS_CLI (the tokensign binary) must be set; ctest sets it}"

TS_TOKEN_LABEL=roundtrip
ts_setup_token "$TS_TOKEN_LABEL"
export TOKENSIGN_PIN=$TS_PIN TOKENSIGN_PROVIDER_DIR=$TS_PROVIDER_DIR
cd "$TS_WORK"

ts_keygen EC:prime256v1 ca 01
KEY=$(ts_uri ca private)
ossl req -new -x509 -days 400 -key "$KEY" -sha256 -subj "/C=US/O=Roundtrip/CN=Roundtrip CA" \
    -addext basicConstraints=critical,CA:true -addext keyUsage=critical,cRLSign,keyCertSign \
    -addext subjectKeyIdentifier=hash -out ca.pem

make_ca() {
    local d=$1
    mkdir -p "$d/newcerts"
    : >"$d/index.txt"
    echo 1000 >"$d/serial"
    echo 2000 >"$d/crlnumber"
    cat >"$d/ca.cnf" <<CNF
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = $TS_WORK/$d
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
crlnumber = \$dir/crlnumber
certificate = $TS_WORK/ca.pem
private_key = $KEY
default_md = sha256
default_days = 30
default_crl_days = 7
policy = policy_match
x509_extensions = usr_cert
crl_extensions = crl_ext
unique_subject = no
[ policy_match ]
countryName = match
organizationName = match
commonName = supplied
[ usr_cert ]
basicConstraints = CA:false
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ crl_ext ]
authorityKeyIdentifier = keyid:always
CNF
}
make_ca A
make_ca B

for n in 1 2 3 4; do
    ossl_plain genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out h$n.key
    ossl_plain req -new -key h$n.key -subj "/C=US/O=Roundtrip/CN=h$n.example" -out h$n.csr
done

ts_log "A: openssl ca only"
for n in 1 2 3 4; do ossl ca -batch -config A/ca.cnf -in h$n.csr -out A.h$n.pem 2>/dev/null; done
ossl ca -config A/ca.cnf -revoke A.h2.pem -crl_reason keyCompromise 2>/dev/null
ossl ca -config A/ca.cnf -revoke A.h3.pem 2>/dev/null
ossl ca -config A/ca.cnf -gencrl -out A.crl1.pem 2>/dev/null
ossl ca -config A/ca.cnf -updatedb 2>/dev/null
ossl ca -config A/ca.cnf -gencrl -out A.crl2.pem 2>/dev/null

ts_log "B: started by openssl ca, continued by tokensign, and back"
ossl ca -batch -config B/ca.cnf -in h1.csr -out B.h1.pem 2>/dev/null
"$TS_CLI" ca sign --config B/ca.cnf --batch --in h2.csr --out B.h2.pem
"$TS_CLI" ca sign --config B/ca.cnf --batch --in h3.csr h4.csr --out B.h34.pem
"$TS_CLI" ca revoke --config B/ca.cnf --serial 1001 --reason keyCompromise
ossl ca -config B/ca.cnf -revoke A.h3.pem 2>/dev/null  # same serial 1002, same subject
ossl ca -config B/ca.cnf -gencrl -out B.crl1.pem 2>/dev/null
ossl ca -config B/ca.cnf -updatedb 2>/dev/null
"$TS_CLI" ca gencrl --config B/ca.cnf --out B.crl2.pem

ts_log "same files, line by line, timestamps aside"
blank_dates() { awk -F'\t' 'BEGIN{OFS="\t"} {$2="<exp>"; if ($3 != "") { split($3, r, ","); $3 = "<rev>" (r[2] != "" ? "," r[2] : "") } print}' "$1"; }
diff <(blank_dates A/index.txt) <(blank_dates B/index.txt) || ts_fail "index.txt differs"
for f in index.txt.attr serial crlnumber; do
    diff "A/$f" "B/$f" || ts_fail "$f differs"
done
diff <(ls A/newcerts) <(ls B/newcerts) || ts_fail "newcerts/ file names differ"
for f in A/newcerts/*.pem; do
    b=B/newcerts/$(basename "$f")
    # The text part up to the dates, and the overall layout (text, then one PEM block).
    diff <(sed -n '1,/Validity/p' "$f") <(sed -n '1,/Validity/p' "$b") || ts_fail "$b text differs"
    [ "$(grep -c 'BEGIN CERTIFICATE' "$b")" = 1 ] || ts_fail "$b: not one PEM block"
    ossl_plain verify -CAfile ca.pem "$b" >/dev/null || ts_fail "$b does not verify"
    certtool --verify --load-ca-certificate ca.pem --infile "$b" >ct.txt 2>&1 ||
        { cat ct.txt; ts_fail "certtool rejects $b"; }
done

ts_log "CRLs from both tools verify without tokensign and list the same entries"
for c in A.crl1.pem A.crl2.pem B.crl1.pem B.crl2.pem; do
    ossl_plain crl -in $c -CAfile ca.pem -verify -noout 2>crl.err ||
        { cat crl.err; ts_fail "$c does not verify"; }
done
entries() { ossl_plain crl -in "$1" -noout -text | grep -E 'Serial Number|Reason|Key Compromise|CRL Number|^ +[0-9]+$' ; }
diff <(entries A.crl2.pem) <(entries B.crl2.pem) || ts_fail "the CRLs list different entries"
ossl_plain verify -crl_check -CAfile ca.pem -CRLfile B.crl2.pem B.h2.pem >v.out 2>&1 &&
    ts_fail "a revoked certificate passes a CRL check"
grep -q "certificate revoked" v.out || { cat v.out; ts_fail "not reported as revoked"; }
ts_log "ok"
