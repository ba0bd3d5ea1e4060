#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The URIs and store calls real OpenSSL applications make, through stock openssl and the
# tokensign CLI, on two initialised tokens plus SoftHSM2's spare slot: storeutl -alias,
# -subject, -issuer/-serial, -fingerprint; openssl verify -CAstore pkcs11:; URIs without a
# token (each PIN only to the token that holds the key); values RFC 7512 wants encoded;
# engine-era pin-source in the path; key generation rules (token, label, parameters).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TS_TOKEN_LABEL=ca-a
ts_setup_token "$TS_TOKEN_LABEL"
cd "$TS_WORK"
: "${TS_CLI:?TS_CLI (the tokensign CLI) must be set; ctest sets it}"
softhsm2-util --init-token --free --label ca-b --pin 5678 --so-pin "$TS_SO_PIN" >/dev/null
keygen_b() {
    pkcs11-tool --module "$TS_MODULE" --token-label ca-b --login --pin 5678 --keypairgen \
        --key-type EC:prime256v1 --label "$1" --id "$2" >/dev/null 2>&1 ||
        ts_fail "pkcs11-tool could not generate '$1' on ca-b"
}
# pkcs11-tool picks the first token with --token-label: keys for ca-a name it too.
keygen_a() {
    pkcs11-tool --module "$TS_MODULE" --token-label ca-a --login --pin "$TS_PIN" --keypairgen \
        --key-type EC:prime256v1 --label "$1" --id "$2" >/dev/null 2>&1 ||
        ts_fail "pkcs11-tool could not generate '$1' on ca-a"
}
keygen_a root 01
keygen_a other 02
keygen_a shared 05
keygen_b issuing 03
keygen_b shared 06
printf 'multi-token data\n' >data.txt
count() { grep -c -E "^[0-9]+: $1" "$2" || true; }

ts_log "a CA certificate for 'root' on ca-a, and a leaf it signs"
TOKENSIGN_PIN=$TS_PIN ossl req -new -x509 -key "pkcs11:token=ca-a;object=root" -subj "/CN=Root A" \
    -set_serial 0x5eed -days 10 -out root.pem
TOKENSIGN_PIN=$TS_PIN "$TS_CLI" cert import root.pem --key "pkcs11:token=ca-a;object=root;type=private" \
    >/dev/null
ossl_plain genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key
ossl_plain req -new -key leaf.key -subj /CN=leaf -out leaf.csr
TOKENSIGN_PIN=$TS_PIN ossl x509 -req -in leaf.csr -CA root.pem -CAkey "pkcs11:token=ca-a;object=root" \
    -days 5 -out leaf.pem
unset TOKENSIGN_PIN

ts_log "storeutl -alias: only the objects with that label (not all of the token's)"
TOKENSIGN_PIN=$TS_PIN ossl storeutl -alias root "pkcs11:token=ca-a" >alias.out
[ "$(count Pkey alias.out)" = 1 ] && [ "$(count 'Public key' alias.out)" = 1 ] &&
    [ "$(count Certificate alias.out)" = 1 ] && grep -q 'Total found: 3' alias.out ||
    { cat alias.out; ts_fail "storeutl -alias root did not give root's three objects only"; }
TOKENSIGN_PIN=$TS_PIN ossl storeutl -alias nobody "pkcs11:token=ca-a" >none.out
grep -q 'Total found: 0' none.out || { cat none.out; ts_fail "an absent alias found something"; }

ts_log "storeutl -subject, -issuer -serial, -fingerprint (certificate and public key)"
ossl storeutl -subject "/CN=Root A" "pkcs11:" >subject.out
[ "$(count Certificate subject.out)" = 1 ] && grep -q 'Total found: 1' subject.out ||
    { cat subject.out; ts_fail "storeutl -subject did not find the certificate"; }
ossl storeutl -issuer "/CN=Root A" -serial 0x5eed "pkcs11:" >issuer.out
grep -q 'Total found: 1' issuer.out || { cat issuer.out; ts_fail "issuer+serial search failed"; }
ossl storeutl -issuer "/CN=Root A" -serial 0x5eee "pkcs11:" >issuer2.out
grep -q 'Total found: 0' issuer2.out || { cat issuer2.out; ts_fail "a wrong serial matched"; }
fp=$(ossl_plain x509 -in root.pem -noout -fingerprint -sha256 | cut -d= -f2 | tr -d :)
ossl storeutl -sha256 -fingerprint "$fp" "pkcs11:token=ca-a" >fp.out
[ "$(count Certificate fp.out)" = 1 ] && grep -q 'Total found: 2' fp.out ||
    { cat fp.out; ts_fail "the certificate fingerprint did not give it and its public key"; }
spki=$(ossl_plain x509 -in root.pem -noout -pubkey | ossl_plain pkey -pubin -outform DER |
    ossl_plain dgst -sha1 -r | cut -d' ' -f1)
# OpenSSL 3.0's storeutl crashes in OSSL_STORE_find when no digest option is given: name it.
TOKENSIGN_PIN=$TS_PIN ossl storeutl -sha1 -fingerprint "$spki" -keys "pkcs11:" >spki.out
[ "$(count Pkey spki.out)" = 1 ] && grep -q 'Total found: 1' spki.out ||
    { cat spki.out; ts_fail "the SPKI fingerprint did not give the private key"; }

ts_log "openssl verify -CAstore pkcs11: (the issuer looked up by subject on either token)"
ossl verify -CAstore "pkcs11:" leaf.pem >verify.out || { cat verify.out; ts_fail "verify failed"; }
grep -q 'leaf.pem: OK' verify.out

ts_log "URIs without a token: the key on the one token that holds it, signed and verified"
ossl pkey -pubin -in "pkcs11:object=issuing;type=public" -out issuing.pub.pem
TOKENSIGN_PIN=5678 ossl dgst -sha256 -sign "pkcs11:object=issuing;type=private" -out s1.sig data.txt
ossl_plain dgst -sha256 -verify issuing.pub.pem -signature s1.sig data.txt
TOKENSIGN_PIN=5678 ossl dgst -sha256 -sign "pkcs11:id=%03" -out s2.sig data.txt
ossl_plain dgst -sha256 -verify issuing.pub.pem -signature s2.sig data.txt
ts_log "... and the CLI: key show without a token"
TOKENSIGN_PIN=5678 "$TS_CLI" key show "pkcs11:object=issuing" >show.out
grep -q 'token=ca-b;id=%03;object=issuing' show.out || { cat show.out; ts_fail "key show"; }

ts_log "the PIN for one token is never sent to the other"
# TOKENSIGN_PIN is ca-a's: the key on ca-b is refused by ca-b alone, ca-a never sees it.
TOKENSIGN_PIN=$TS_PIN ts_expect_fail "CKR_PIN_INCORRECT" \
    ossl dgst -sha256 -sign "pkcs11:object=issuing;type=private" -out x.sig data.txt
grep -q "token 'ca-b'" "$TS_WORK/expect.err" || ts_fail "the refusing token is not named"
pkcs11-tool --module "$TS_MODULE" --list-token-slots 2>/dev/null >slots.out
awk '/token label *: ca-a/{f=1} f&&/token flags/{print; exit}' slots.out | grep -q "count low" &&
    ts_fail "ca-a was tried with a PIN"
TOKENSIGN_PIN=5678 ossl dgst -sha256 -sign "pkcs11:object=issuing" -out s3.sig data.txt  # resets ca-b
ts_log "a listing of every token logs in to none"
TOKENSIGN_PIN=0000 ossl storeutl "pkcs11:" >list.out
[ "$(count Pkey list.out)" = 0 ] && [ "$(count 'Public key' list.out)" = 5 ] ||
    { cat list.out; ts_fail "listing both tokens"; }
pkcs11-tool --module "$TS_MODULE" --list-token-slots 2>/dev/null | grep -q "count low" &&
    ts_fail "a listing sent a PIN"

ts_log "an object on both tokens is ambiguous: every match listed, exit 3 from the CLI"
TOKENSIGN_PIN=$TS_PIN ts_expect_fail "2 tokens" \
    ossl dgst -sha256 -sign "pkcs11:object=shared;type=private" -out x.sig data.txt
grep -q 'token=ca-a;id=%05;object=shared' "$TS_WORK/expect.err" &&
    grep -q 'token=ca-b;id=%06;object=shared' "$TS_WORK/expect.err" ||
    { cat "$TS_WORK/expect.err"; ts_fail "the candidates are not listed"; }
rc=0
"$TS_CLI" key show "pkcs11:object=shared" --no-login >/dev/null 2>cli.err || rc=$?
[ "$rc" = 3 ] && grep -q 'token=ca-b;id=%06;object=shared' cli.err ||
    { cat cli.err; ts_fail "key show of an ambiguous object: exit $rc"; }

ts_log "values RFC 7512 wants percent-encoded: refused with the encoded form, never altered"
ts_expect_fail "object=test%20Cert" ossl pkey -pubin -in "pkcs11:token=ca-a;object=test Cert" -noout
ts_expect_fail "pkcs11:token=ca-a;object=test%20Cert" \
    "$TS_CLI" key show "pkcs11:token=ca-a;object=test Cert"
ts_log "engine-era pin-source in the path: refused, showing the URI to write"
ts_expect_fail "pkcs11:token=ca-a;object=root\?pin-source=file:$TS_PIN_FILE" \
    ossl dgst -sha256 -sign "pkcs11:token=ca-a;object=root;pin-source=file:$TS_PIN_FILE" \
    -out x.sig data.txt
ossl dgst -sha256 -sign "pkcs11:token=ca-a;object=root?pin-source=file:$TS_PIN_FILE" -out ok.sig data.txt

export TOKENSIGN_PIN=$TS_PIN
gen() {
    ossl genpkey -propquery '?provider=tokensign' -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        "$@"
}
ts_log "genpkey: a label with spaces, encoded, is kept exactly; unencoded it is refused"
ts_expect_fail "object=EC%20Pkey%20Test" gen -pkeyopt "pkcs11_uri:pkcs11:token=ca-a;object=EC Pkey Test" \
    -out sp.pem
gen -pkeyopt "pkcs11_uri:pkcs11:token=ca-a;object=EC%20Pkey%20Test" -out sp.pem
pkcs11-tool --module "$TS_MODULE" --token-label ca-a -O 2>/dev/null | grep -q 'label: *EC Pkey Test$' ||
    ts_fail "the label 'EC Pkey Test' was not created as written"

ts_log "genpkey with a URI naming no token: ambiguous on two tokens (both listed)"
ts_expect_fail "2 tokens match" gen -pkeyopt "pkcs11_uri:pkcs11:object=nowhere" -out nw.pem
grep -q "token=ca-b" "$TS_WORK/expect.err" || ts_fail "the tokens are not listed"

ts_log "genpkey: an existing label needs pkcs11_allow_existing_label and a new id"
ts_expect_fail "already exists" gen -pkeyopt "pkcs11_uri:pkcs11:token=ca-a;object=root;id=%11" -out r.pem
ts_expect_fail "already exists" gen -pkeyopt pkcs11_allow_existing_label:yes \
    -pkeyopt "pkcs11_uri:pkcs11:token=ca-a;object=root;id=%01" -out r.pem
gen -pkeyopt pkcs11_allow_existing_label:yes \
    -pkeyopt "pkcs11_uri:pkcs11:token=ca-a;object=root;id=%11" -out r2.pem
ossl pkey -pubin -in "pkcs11:token=ca-a;object=root;id=%11;type=public" -noout
ts_log "... and the CLI the same, with --allow-existing-label"
ts_expect_fail "already exists" "$TS_CLI" key generate --token pkcs11:token=ca-a --type ec:p-256 \
    --label other --id 12
"$TS_CLI" key generate --token pkcs11:token=ca-a --type ec:p-256 --label other --id 12 \
    --allow-existing-label >/dev/null

ts_log "genpkey: a generation parameter the token cannot honour is refused, not dropped"
ts_expect_fail "parameter 'e'" ossl genpkey -propquery '?provider=tokensign' -algorithm RSA \
    -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:3 \
    -pkeyopt "pkcs11_uri:pkcs11:token=ca-a;object=rsa-e3" -out e3.pem
ts_expect_fail "parameter 'encoding'" gen -pkeyopt ec_param_enc:explicit \
    -pkeyopt "pkcs11_uri:pkcs11:token=ca-a;object=explicit" -out ex.pem
pkcs11-tool --module "$TS_MODULE" --token-label ca-a -O 2>/dev/null | grep -Eq 'label: *(rsa-e3|explicit)$' &&
    ts_fail "a refused key was generated anyway"

ts_log "genpkey with a URI naming no token and one initialised token (plus the spare slot)"
mkdir "$TS_WORK/one"
sed "s|$TS_WORK/tokens|$TS_WORK/one|" "$TS_WORK/softhsm2.conf" >one.conf
SOFTHSM2_CONF=$TS_WORK/one.conf softhsm2-util --init-token --free --label solo --pin "$TS_PIN" \
    --so-pin "$TS_SO_PIN" >/dev/null
SOFTHSM2_CONF=$TS_WORK/one.conf gen -pkeyopt "pkcs11_uri:pkcs11:object=solo-key" -out solo.pem
SOFTHSM2_CONF=$TS_WORK/one.conf ossl pkey -in solo.pem -pubout -out solo.pub.pem
SOFTHSM2_CONF=$TS_WORK/one.conf ossl dgst -sha256 -sign "pkcs11:object=solo-key" -out solo.sig data.txt
ossl_plain dgst -sha256 -verify solo.pub.pem -signature solo.sig data.txt
echo "provider_uri_multitoken_search: all checks passed"
