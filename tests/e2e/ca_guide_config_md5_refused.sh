#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Primero guide's CA, verbatim: its layout and its own config.cnf. With the guide's
# default_md = md5, `tokensign ca sign` refuses and explains, changing nothing; after changing
# only private_key (to the token key's pkcs11: URI) and default_md (to sha256) it issues
# certificates that plain openssl and GnuTLS accept, and `openssl ca` continues the directory.
# (dir is also pointed at this test's temp directory instead of /etc/pki/CA.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TS_CLI:?TS_CLI (the tokensign binary) must be set; ctest sets it}"

TS_TOKEN_LABEL=couch
ts_setup_token "$TS_TOKEN_LABEL"
export TOKENSIGN_PIN=$TS_PIN TOKENSIGN_PROVIDER_DIR=$TS_PROVIDER_DIR
cd "$TS_WORK"

ts_log "the guide's layout"
CA=$TS_WORK/pki/CA
mkdir -p "$CA" && cd "$CA"
mkdir certs crl newcerts private
chmod 700 private
touch index.txt
echo 1000 >serial

ts_log "the root key on the token instead of private/couch_ca.pem, and the guide's root"
ts_keygen rsa:2048 couch_ca 01
KEY=$(ts_uri couch_ca private)
ossl req -new -x509 -days 3650 -key "$KEY" -sha256 -subj "/C=US/ST=Massachusetts/L=Boston/O=Quoin, Inc./CN=Couch CA" \
    -addext basicConstraints=critical,CA:true -addext keyUsage=critical,cRLSign,keyCertSign \
    -out certs/couch_ca.cert

ts_log "the guide's config.cnf"
cat >config.cnf <<CNF
default_bits            = 4096
distinguished_name      = req_distinguished_name
encrypt_key             = no
prompt                  = yes
string_mask             = nombstr

[ ca ]
default_ca = couch_ca

[ couch_ca ]
dir = $CA
new_certs_dir = \$dir/newcerts/
database = \$dir/index.txt
certificate = \$dir/certs/couch_ca.cert
private_key = \$dir/private/couch_ca.pem
default_days = 3650
default_md   = md5
policy       = policy_match
serial       = \$dir/serial
preserve = yes

[ policy_match ]
commonName = supplied

[ req_distinguished_name ]
countryName                 = Country Name
stateOrProvinceName         = State Name
localityName                = City Name
0.organizationName          = Company/Organization
emailAddress                = Email Address
commonName                  = Couch DB Host

countryName_default         = US
stateOrProvinceName_default = Massachusetts
localityName_default        = Boston
0.organizationName_default  = Quoin, Inc.
emailAddress_default        =
CNF
sed -i "s|^private_key = .*|private_key = $KEY|" config.cnf

ts_log "a host key and CSR, as the guide makes them"
ossl_plain genrsa -out couch1.key 2048 2>/dev/null
ossl_plain req -new -key couch1.key -out couch1.csr -config config.cnf \
    -subj "/C=US/ST=Massachusetts/L=Boston/O=Quoin, Inc./CN=couch1.example"

ts_log "default_md = md5: refused with the reason, nothing written"
cp -a "$CA" "$TS_WORK/before"
rc=0
"$TS_CLI" ca sign --config config.cnf --in couch1.csr --batch >out.pem 2>err.txt || rc=$?
[ "$rc" -eq 6 ] || { cat err.txt; ts_fail "md5 config: exit $rc, expected 6"; }
grep -q "default_md in \[couch_ca\].* = md5 is refused" err.txt || { cat err.txt; ts_fail "no md5 explanation"; }
grep -q "set default_md = sha256" err.txt || { cat err.txt; ts_fail "no advice on what to set"; }
rm -f err.txt out.pem
diff -r "$TS_WORK/before" "$CA" || ts_fail "the refused run changed the CA directory"

ts_log "default_md = sha256: issued"
sed -i 's|^default_md   = md5|default_md   = sha256|' config.cnf
"$TS_CLI" ca sign --config config.cnf --in couch1.csr --batch --out couch1.pem
ossl_plain verify -CAfile certs/couch_ca.cert couch1.pem
certtool --verify --load-ca-certificate certs/couch_ca.cert --infile couch1.pem >ct.txt 2>&1 ||
    { cat ct.txt; ts_fail "certtool rejects the certificate"; }
[ "$(cat serial)" = 1001 ] || ts_fail "serial is $(cat serial), expected 1001"
# policy_match has only commonName = supplied and preserve sits in [couch_ca], where openssl ca
# does not read it: the subject is just the CN, as openssl ca would issue it.
subj=$(ossl_plain x509 -in couch1.pem -noout -subject)
[ "$subj" = "subject=CN = couch1.example" ] || ts_fail "subject is '$subj'"
# The guide's certificates outlive its root by the days between the two: clipped, and said so.
ossl_plain x509 -in couch1.pem -noout -enddate >leaf.end
ossl_plain x509 -in certs/couch_ca.cert -noout -enddate >ca.end
cmp -s leaf.end ca.end || ts_fail "leaf end $(cat leaf.end) is not the CA's $(cat ca.end)"

ts_log "openssl ca continues the guide's directory with the same token key"
ossl_plain req -new -key couch1.key -out couch2.csr -config config.cnf -subj "/CN=couch2.example"
ossl ca -batch -config config.cnf -in couch2.csr -out couch2.pem 2>ossl.err ||
    { cat ossl.err; ts_fail "openssl ca could not continue"; }
ossl_plain verify -CAfile certs/couch_ca.cert couch2.pem
[ "$(cat serial)" = 1002 ] || ts_fail "serial is $(cat serial) after openssl ca"
[ "$(cut -f4,6 index.txt | tr '\t' ' ' | paste -sd,)" = "1000 /CN=couch1.example,1001 /CN=couch2.example" ] ||
    { cat index.txt; ts_fail "index.txt is not as expected"; }
ts_log "ok"
