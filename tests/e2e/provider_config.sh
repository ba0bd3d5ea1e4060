#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tokensign from an openssl.cnf provider section (docs/openssl-tokensign.cnf) with its
# parameters: pkcs11-module, pin-source, login-behaviour, session-cache-size; no -provider
# flags, no TOKENSIGN_MODULE/TOKENSIGN_PIN. Plus TOKENSIGN_MODULE with the flags.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TS_SOURCE_DIR:?TS_SOURCE_DIR must be set; ctest sets it}"

TS_TOKEN_LABEL=e2e-conf
ts_setup_token "$TS_TOKEN_LABEL"
cd "$TS_WORK"
printf 'configured\n' >data.txt
ts_keygen EC:prime256v1 key 01

# The shipped snippet with this build's paths and the optional parameters switched on.
conf() {
    sed -e "s|^# module = .*|module = $TS_PROVIDER_DIR/tokensign.so|" \
        -e "s|^# pkcs11-module = .*|pkcs11-module = $TS_MODULE|" \
        -e "s|^# pin-source = .*|pin-source = file:$TS_PIN_FILE|" \
        -e "s|^# login-behaviour = .*|login-behaviour = $1|" \
        -e "s|^# session-cache-size = .*|session-cache-size = $2|" \
        "$TS_SOURCE_DIR/docs/openssl-tokensign.cnf" >tokensign.cnf
}
unset TOKENSIGN_MODULE TOKENSIGN_PIN

ts_log "openssl.cnf: module path and PIN from the provider section"
conf auto 4
OPENSSL_CONF=$TS_WORK/tokensign.cnf openssl list -providers >providers.txt
grep -q 'tokensign' providers.txt || { cat providers.txt; ts_fail "tokensign not loaded from openssl.cnf"; }
OPENSSL_CONF=$TS_WORK/tokensign.cnf openssl pkey -pubin -in "$(ts_uri key public)" -out key.pub.pem
OPENSSL_CONF=$TS_WORK/tokensign.cnf openssl dgst -sha256 -sign "$(ts_uri key)" -out data.sig data.txt
ossl_plain dgst -sha256 -verify key.pub.pem -signature data.sig data.txt
OPENSSL_CONF=$TS_WORK/tokensign.cnf openssl req -new -x509 -key "$(ts_uri key)" -subj /CN=conf \
    -days 5 -out conf.pem
ossl_plain verify -CAfile conf.pem conf.pem

ts_log "login-behaviour = never: private objects stay hidden, public ones work"
conf never 4
OPENSSL_CONF=$TS_WORK/tokensign.cnf openssl pkey -pubin -in "$(ts_uri key public)" -noout
OPENSSL_CONF=$TS_WORK/tokensign.cnf ts_expect_fail "no private key" \
    openssl dgst -sha256 -sign "$(ts_uri key)" -out x.sig data.txt

ts_log "login-behaviour = always: logs in even for public objects"
conf always 0
OPENSSL_CONF=$TS_WORK/tokensign.cnf openssl storeutl "pkcs11:token=$TS_TOKEN_LABEL" >store.txt
grep -q 'Total found: 2' store.txt || { cat store.txt; ts_fail "always: private and public key not both listed"; }

ts_log "bad parameters stop the provider from loading, with the reason"
conf sometimes 4
OPENSSL_CONF=$TS_WORK/tokensign.cnf ts_expect_fail "login-behaviour" \
    openssl pkey -pubin -in "$(ts_uri key public)" -noout
conf auto lots
OPENSSL_CONF=$TS_WORK/tokensign.cnf ts_expect_fail "session-cache-size" \
    openssl pkey -pubin -in "$(ts_uri key public)" -noout

ts_log "session-key-copy: from its second use the key is copied to a session object (yes), or used as is (no)"
spy=$(ls /usr/lib/*/pkcs11-spy.so 2>/dev/null | head -n1 || true)
[ -n "$spy" ] || ts_fail "OpenSC's pkcs11-spy.so is missing: run scripts/install-deps.sh (opensc)"
conf auto 4
sed -i "s|^pkcs11-module = .*|pkcs11-module = $spy|" tokensign.cnf
# One signature (a one-shot dgst): no copy, nothing to destroy.
PKCS11SPY=$TS_MODULE PKCS11SPY_OUTPUT=$TS_WORK/spy-once.log OPENSSL_CONF=$TS_WORK/tokensign.cnf \
    openssl dgst -sha256 -sign "$(ts_uri key)" -out copy.sig data.txt
ossl_plain dgst -sha256 -verify key.pub.pem -signature copy.sig data.txt
grep -q '^[0-9]*: C_Sign$' spy-once.log || ts_fail "the one-shot dgst made no C_Sign"
if grep -q 'C_CopyObject' spy-once.log; then ts_fail "a one-shot signature copied the key"; fi
# Two signatures with one key object (openssl ca, two requests): the second uses a copy, which
# is destroyed at the end.
mkdir -p ca2/newcerts && : >ca2/index.txt && echo 01 >ca2/serial
cat >ca2.cnf <<CNF
[ca]
default_ca = d
[d]
dir = $TS_WORK/ca2
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
certificate = $TS_WORK/conf.pem
default_md = sha256
default_days = 1
policy = p
[p]
commonName = supplied
CNF
for i in 1 2; do
    ossl_plain req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout l$i.key \
        -subj /CN=l$i -out l$i.csr 2>/dev/null
done
PKCS11SPY=$TS_MODULE PKCS11SPY_OUTPUT=$TS_WORK/spy-yes.log OPENSSL_CONF=$TS_WORK/tokensign.cnf \
    openssl ca -batch -notext -config ca2.cnf -keyfile "$(ts_uri key)" -out two.pem \
    -infiles l1.csr l2.csr 2>/dev/null
ossl_plain verify -CAfile conf.pem two.pem >/dev/null
[ "$(grep -c '^[0-9]*: C_Sign$' spy-yes.log)" -eq 2 ] || ts_fail "openssl ca did not sign twice"
grep -q 'C_CopyObject' spy-yes.log || ts_fail "session-key-copy = yes: no C_CopyObject"
grep -q 'C_DestroyObject' spy-yes.log || ts_fail "session-key-copy = yes: the copy was not destroyed"
sed -i "s|^# session-key-copy = .*|session-key-copy = no|" tokensign.cnf
PKCS11SPY=$TS_MODULE PKCS11SPY_OUTPUT=$TS_WORK/spy-no.log OPENSSL_CONF=$TS_WORK/tokensign.cnf \
    openssl dgst -sha256 -sign "$(ts_uri key)" -out nocopy.sig data.txt
ossl_plain dgst -sha256 -verify key.pub.pem -signature nocopy.sig data.txt
if grep -q 'C_CopyObject' spy-no.log; then ts_fail "session-key-copy = no: the key was copied"; fi
grep -c '^[0-9]*: C_Login' spy-no.log | grep -qx 1 || ts_fail "not exactly one C_Login"

ts_log "uri-pem-decoder = no: URIs work, URI PEM key files do not"
conf auto 4
TOKENSIGN_MODULE=$TS_MODULE TOKENSIGN_PIN=$TS_PIN ossl genpkey -propquery '?provider=tokensign' -algorithm EC \
    -pkeyopt ec_paramgen_curve:P-256 -pkeyopt "pkcs11_uri:pkcs11:token=$TS_TOKEN_LABEL;object=file-key" \
    -out file-key.pem
OPENSSL_CONF=$TS_WORK/tokensign.cnf openssl pkey -in file-key.pem -pubout -out file-key.pub.pem
sed -i "s|^# uri-pem-decoder = .*|uri-pem-decoder = no|" tokensign.cnf
OPENSSL_CONF=$TS_WORK/tokensign.cnf openssl dgst -sha256 -sign "$(ts_uri key)" -out nodec.sig data.txt
OPENSSL_CONF=$TS_WORK/tokensign.cnf ts_expect_fail "read|load|decode" \
    openssl pkey -in file-key.pem -pubout

ts_log "a wrong pkcs11-module is named in the error"
sed -i "s|^pkcs11-module = .*|pkcs11-module = $TS_WORK/no-such-module.so|" tokensign.cnf
sed -i "s|^login-behaviour = .*|login-behaviour = auto|; s|^session-cache-size = .*|session-cache-size = 4|" tokensign.cnf
OPENSSL_CONF=$TS_WORK/tokensign.cnf ts_expect_fail "no-such-module" \
    openssl pkey -pubin -in "$(ts_uri key public)" -noout

ts_log "flags plus TOKENSIGN_MODULE / TOKENSIGN_PIN from the environment"
TOKENSIGN_MODULE=$TS_MODULE TOKENSIGN_PIN=$TS_PIN ossl dgst -sha256 -sign "$(ts_uri key)" \
    -out env.sig data.txt
ossl_plain dgst -sha256 -verify key.pub.pem -signature env.sig data.txt
echo "provider_config: all checks passed"
