#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A real PKI on one SoftHSM2 token, as docs/tokensign-ca.md shows it: a root CA (`ca init`),
# an intermediate CA whose key is generated on the token and whose CSR the root signs
# (`ca init --csr-out`, `ca sign --extensions sub_ca` with the root's CRL and AIA URLs from
# `ca init --crl-uri/--ca-issuers-uri`,
# `ca install-cert`), and a server certificate from the intermediate with --san. Checked with
# openssl verify (default provider only, hostname and IP, with the intermediate's CRL) and
# GnuTLS certtool; openssl ca continues the intermediate with the token key; a CSR's SAN left
# out by copy_extensions = none is reported.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TS_CLI:?TS_CLI (the tokensign binary) must be set; ctest sets it}"

TS_TOKEN_LABEL=pki
ts_setup_token "$TS_TOKEN_LABEL"
export TOKENSIGN_PIN=$TS_PIN TOKENSIGN_PROVIDER_DIR=$TS_PROVIDER_DIR
cd "$TS_WORK"
ts() { "$TS_CLI" "$@"; }

ts_log "root CA"
# Where relying parties find the root's CRL and certificate: in what the root issues.
ts ca init --dir root --key "$(ts_uri root-ca)" --generate ec:p-384 \
    --subject "/C=US/O=Example PKI/CN=Example Root CA" \
    --crl-uri http://pki.example.test/root.crl --ca-issuers-uri http://pki.example.test/root.crt \
    >/dev/null 2>root.log || { cat root.log; ts_fail "ca init (root)"; }

ts_log "intermediate CA: key on the token, CSR for the root"
ts ca init --dir issuing --key "$(ts_uri issuing-ca)" --generate rsa:2048 \
    --subject "/C=US/O=Example PKI/CN=Example Issuing CA" --csr-out issuing.csr >/dev/null 2>int.log ||
    { cat int.log; ts_fail "ca init --csr-out"; }
[ ! -e issuing/certs/ca.pem ] || ts_fail "ca init --csr-out made a certificate"
ossl_plain req -in issuing.csr -noout -verify 2>/dev/null || ts_fail "the intermediate's CSR does not verify"
ts ca sign --config root/openssl.cnf --batch --in issuing.csr --extensions sub_ca \
    --out issuing.pem 2>sign.log || { cat sign.log; ts_fail "root signs the intermediate"; }
ossl_plain x509 -in issuing.pem -noout -text >issuing.txt
grep -q "CA:TRUE, pathlen:0" issuing.txt || ts_fail "no pathlen:0 in the intermediate"
grep -q "URI:http://pki.example.test/root.crl" issuing.txt || ts_fail "no CRL distribution point"
grep -q "CA Issuers - URI:http://pki.example.test/root.crt" issuing.txt || ts_fail "no AIA"
ts_expect_fail "no chain" ts ca install-cert --dir issuing issuing.pem
ts ca install-cert --dir issuing issuing.pem --chain root/certs/ca.pem 2>install.log ||
    { cat install.log; ts_fail "ca install-cert"; }
cmp -s issuing/certs/ca.pem issuing.pem || ts_fail "certs/ca.pem is not the issued certificate"
[ "$(grep -c 'BEGIN CERTIFICATE' issuing/certs/chain.pem)" = 2 ] || ts_fail "chain.pem: not 2 certificates"

ts_log "server certificate from the intermediate, names from --san"
ossl_plain req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key \
    -subj "/CN=www.example.test" -addext "subjectAltName=DNS:from-the-csr.example.test" \
    -out server.csr 2>/dev/null
ts ca sign --config issuing/openssl.cnf --batch --in server.csr --extensions server \
    --san DNS:www.example.test,IP:192.0.2.10 --out server.pem 2>server.log ||
    { cat server.log; ts_fail "the intermediate signs the server"; }
grep -q "dropped the request's subjectAltName (DNS:from-the-csr.example.test): --san replaces it" \
    server.log || { cat server.log; ts_fail "the replaced CSR SAN is not reported"; }

ts_log "verifiers without tokensign"
ossl_plain verify -CAfile root/certs/ca.pem -untrusted issuing/certs/chain.pem \
    -verify_hostname www.example.test server.pem >/dev/null || ts_fail "openssl verify (hostname)"
ossl_plain verify -CAfile root/certs/ca.pem -untrusted issuing/certs/chain.pem \
    -verify_ip 192.0.2.10 server.pem >/dev/null || ts_fail "openssl verify (IP)"
if ossl_plain verify -CAfile root/certs/ca.pem -untrusted issuing/certs/chain.pem \
    -verify_hostname from-the-csr.example.test server.pem >/dev/null 2>&1; then
    ts_fail "the CSR's own name was certified"
fi
cat server.pem issuing/certs/ca.pem >bundle.pem
certtool --verify --load-ca-certificate root/certs/ca.pem --verify-hostname www.example.test \
    --infile bundle.pem >certtool.log 2>&1 || { cat certtool.log; ts_fail "certtool --verify"; }
out=$(ts ca verify --config issuing/openssl.cnf server.pem) || ts_fail "tokensign ca verify"
case $out in *": OK (serial 1000"*) ;; *) ts_fail "ca verify said: $out" ;; esac

ts_log "the intermediate's CRL, and openssl ca continuing the intermediate with the token key"
ts ca gencrl --config issuing/openssl.cnf --out issuing.crl 2>/dev/null || ts_fail "gencrl"
ossl_plain verify -crl_check -CRLfile issuing.crl -CAfile root/certs/ca.pem \
    -untrusted issuing/certs/chain.pem server.pem >/dev/null || ts_fail "verify with the CRL"
ossl_plain req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout client.key \
    -subj "/CN=client.example.test" -out client.csr 2>/dev/null
OPENSSL_CONF=issuing/openssl.cnf openssl ca -batch -config issuing/openssl.cnf -extensions client \
    -in client.csr -out client.pem >ossl-ca.log 2>&1 || { cat ossl-ca.log; ts_fail "openssl ca"; }
ts ca verify --config issuing/openssl.cnf client.pem >/dev/null || ts_fail "ca verify (openssl ca's)"
ossl_plain verify -CAfile root/certs/ca.pem -untrusted issuing/certs/chain.pem client.pem \
    >/dev/null || ts_fail "openssl verify (openssl ca's)"

ts_log "a CSR's SAN under copy_extensions = none: issued without it, and said so"
ossl_plain req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout quiet.key \
    -subj "/CN=quiet.example.test" -addext "subjectAltName=DNS:quiet.example.test" \
    -out quiet.csr 2>/dev/null
ts ca sign --config issuing/openssl.cnf --batch --in quiet.csr --extensions server \
    --out quiet.pem 2>quiet.log || { cat quiet.log; ts_fail "sign quiet"; }
grep -q "dropped the request's subjectAltName (DNS:quiet.example.test): copy_extensions = none" \
    quiet.log || { cat quiet.log; ts_fail "the dropped SAN is not reported"; }
grep -q "no subjectAltName in this serverAuth certificate" quiet.log ||
    { cat quiet.log; ts_fail "the SAN-less server certificate is not reported"; }
if ossl_plain x509 -in quiet.pem -noout -ext subjectAltName | grep -q DNS; then
    ts_fail "copy_extensions = none copied the SAN"
fi
ts_log "OK"
