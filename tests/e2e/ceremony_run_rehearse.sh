#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The ceremony of docs/examples/root-ceremony.yaml, rehearsed and then run for real against a
# SoftHSM2 token with the file's label: the rehearsal opens no real token; the run's outputs
# verify with `tokensign ceremony verify`, with openssl (default provider only) and GnuTLS
# certtool; the PIN is in no output; a changed byte of an output or a record, or a removed
# record, fails verify; refusals (existing --out, lint findings, an input's SHA-256) write
# nothing; a step not confirmed stops the ceremony with exit 8.
set -euo pipefail
TS_PIN='Cer3mony-PIN-q7Zx'
. "$(dirname "$0")/lib.sh"
: "${TS_CLI:?TS_CLI (the tokensign binary) must be set; ctest sets it}"
: "${TS_SOURCE_DIR:?TS_SOURCE_DIR must be set; ctest sets it}"
: "${TS_FAULT_MODULE:?TS_FAULT_MODULE must be set; ctest sets it}"

ts_setup_token root-hsm
export TOKENSIGN_PROVIDER_DIR=$TS_PROVIDER_DIR
cd "$TS_WORK"
cp -r "$TS_SOURCE_DIR/docs/examples" ex
FILE=ex/root-ceremony.yaml
objects() { pkcs11-tool --module "$TS_MODULE" --login --pin "$TS_PIN" --list-objects 2>/dev/null; }
record() { grep "\"event\":\"$2\"" "$1/transcript.jsonl"; }

ts_log "rehearse: throwaway tokens, then verify"
# TOKENSIGN_MODULE names a module that traces every call it gets: the rehearsal must make none.
TOKENSIGN_MODULE=$TS_FAULT_MODULE TS_FAULT_TARGET=$TS_MODULE TS_FAULT_TRACE=$TS_WORK/reh.trace \
    "$TS_CLI" ceremony rehearse "$FILE" --out reh --yes >reh.out 2>reh.err ||
    { cat reh.out reh.err; ts_fail "the rehearsal failed"; }
grep -q '^Verified: ' reh.out || ts_fail "rehearse did not verify its output"
[ ! -s reh.trace ] || ts_fail "the rehearsal called the configured (real) module"
record reh begin | grep -q '"mode":"rehearsal"' || ts_fail "begin.mode is not rehearsal"
record reh token | grep -q '"rehearsal":true' || ts_fail "token record not marked rehearsal"
[ -z "$(objects | grep -E 'Private Key|Certificate Object' || true)" ] ||
    ts_fail "the rehearsal left objects on the real token"
"$TS_CLI" ceremony verify reh >/dev/null || ts_fail "verify rejects the rehearsal"
cmp -s "$FILE" "$TS_SOURCE_DIR/docs/examples/root-ceremony.yaml" || ts_fail "the file was edited"

ts_log "not confirmed (no terminal, no --yes): exit 8, a stopped transcript, nothing on the token"
rc=0
setsid -w "$TS_CLI" ceremony run "$FILE" --out declined --pin-source "$TS_PIN_FILE" \
    >declined.out 2>declined.err </dev/null || rc=$?
[ "$rc" -eq 8 ] || { cat declined.err; ts_fail "a declined step exits $rc, not 8"; }
record declined end | grep -q '"status":"stopped"' || ts_fail "declined: end is not stopped"
record declined error | grep -q '"token_state":"nothing"' || ts_fail "declined: token_state"
"$TS_CLI" ceremony verify declined >/dev/null || ts_fail "verify rejects the declined ceremony"
[ -z "$(objects | grep -E 'Private Key' || true)" ] || ts_fail "declined: a key was made"

ts_log "run for real"
"$TS_CLI" ceremony run "$FILE" --out run --yes --pin-source "$TS_PIN_FILE" >run.out 2>run.err ||
    { cat run.out run.err; ts_fail "the run failed"; }
grep -q 'Ceremony complete: 8 step' run.out || ts_fail "the run did not complete"
head_hex=$(sed -n 's/^sha256: //p' run/transcript.head)
words=$(sed -n 's/^words: //p' run/transcript.head)
grep -q "$head_hex" run.out || ts_fail "the head was not printed"
"$TS_CLI" ceremony verify run --head "$words" >verify.out || ts_fail "verify rejects the run"
"$TS_CLI" ceremony verify run --head "$head_hex" >/dev/null || ts_fail "verify --head HEX"
record run begin | grep -q '"mode":"run"' || ts_fail "begin.mode is not run"
[ "$(record run signed | wc -l)" -eq 5 ] || ts_fail "expected 5 signed records"
record run key | grep -q '"generated":true' || ts_fail "key record not generated:true"
objects | grep -q "label:.*root-2027" || ts_fail "the key is not on the token"
objects | grep -q "Certificate Object" || ts_fail "store-cert stored nothing"

ts_log "a second run on the same token: the key step is refused, nothing generated"
keys_before=$(objects | grep -c 'Private Key Object')
rc=0
"$TS_CLI" ceremony run "$FILE" --out again --yes --pin-source "$TS_PIN_FILE" >again.out 2>&1 ||
    rc=$?
[ "$rc" -eq 6 ] || { cat again.out; ts_fail "an existing label exits $rc, not 6"; }
record again refused | grep -q '"step":"root-key"' || ts_fail "again: no refused record"
record again error | grep -q '"token_state":"nothing"' || ts_fail "again: token_state"
[ "$(objects | grep -c 'Private Key Object')" -eq "$keys_before" ] || ts_fail "again: a key was made"

ts_log "openssl (default provider only): chain, CRL, CSR"
at=$(date -d 2027-02-01T00:00:00Z +%s)
ossl_plain verify -attime "$at" -x509_strict -CAfile run/root-cert.crt run/root-cert.crt \
    run/issuing-1.crt run/partner-cross.crt >ov.txt || { cat ov.txt; ts_fail "openssl verify"; }
ossl_plain crl -in run/root-crl-1.crl -CAfile run/root-cert.crt -noout 2>&1 | grep -q 'verify OK' ||
    ts_fail "the CRL does not verify"
ossl_plain req -in run/root-csr.csr -verify -noout 2>&1 | grep -q 'verify OK' ||
    ts_fail "the CSR does not verify"
ossl_plain x509 -in run/issuing-1.crt -noout -subject -issuer -dates -ext basicConstraints \
    >x.txt
grep -q 'notBefore=Jan 15 00:00:00 2027 GMT' x.txt || ts_fail "notBefore is not the file's"
grep -q 'notAfter=Jan 15 00:00:00 2032 GMT' x.txt || ts_fail "notAfter is not the file's"
grep -q 'pathlen:0' x.txt || ts_fail "pathlen"
[ "$(ossl_plain x509 -in run/partner-cross.crt -noout -serial)" = "serial=2027CC01" ] ||
    ts_fail "the explicit serial"
# The cross-certificate's subject and key are the partner root's, byte for byte.
for part in subject pubkey; do
    a=$(ossl_plain x509 -in ex/partner-root.crt -noout -"$part" -nameopt RFC2253)
    b=$(ossl_plain x509 -in run/partner-cross.crt -noout -"$part" -nameopt RFC2253)
    [ "$a" = "$b" ] || ts_fail "cross-certificate $part differs from the original"
done
# The CA directory is one openssl ca reads (the root is valid from 2027: list it, no signing).
grep -c '^V' run/root-ca/index.txt | grep -qx 2 || ts_fail "root-ca/index.txt"
[ "$(cat run/root-ca/crlnumber)" = "02" ] || ts_fail "root-ca/crlnumber"
"$TS_CLI" ca list --config run/root-ca/openssl.cnf >list.txt 2>&1 ||
    { cat list.txt; ts_fail "tokensign ca list cannot read the CA directory"; }
grep -q 'Example Issuing CA 1' list.txt || ts_fail "ca list does not show the intermediate"

ts_log "EC P-384 root, Ed25519 intermediate from a token key with EKU and policies, its CRL"
cat >ex/ec.yaml <<'YAML'
tokensign-ceremony: 1
name: EC and Ed25519 test ceremony
tokens:
  - id: hsm-a
    uri: "pkcs11:token=ec-a"
  - id: hsm-b
    uri: "pkcs11:token=ec-b"
steps:
  - id: root-key
    step: key
    token: hsm-a
    label: root
    algorithm: ec:p-384
  - id: root
    step: root
    key: root-key
    subject: "/O=Test/CN=EC Root"
    not-before: 2026-01-01T00:00:00Z
    not-after: 2040-01-01T00:00:00Z
    serial: "01"
    digest: sha384
  - id: sub-key
    step: key
    token: hsm-b
    label: sub
    algorithm: ed25519
  - id: sub
    step: intermediate
    issuer: root
    key: sub-key
    subject: "/O=Test/CN=Ed25519 Issuing CA"
    not-before: 2026-01-01T00:00:00Z
    not-after: 2035-01-01T00:00:00Z
    serial: random
    digest: sha384
    pathlen: 0
    eku: [serverAuth, clientAuth]
    policies: ["2.23.140.1.2.1"]
  - id: sub-crl
    step: crl
    issuer: sub
    this-update: 2026-01-01T00:00:00Z
    next-update: 2026-12-31T00:00:00Z
    crl-number: 10
  - id: store-sub
    step: store-cert
    certificate: sub
    token: hsm-b
    label: sub
  - id: sub-dir
    step: ca-dir
    certificate: sub
    key: sub-key
    dir: sub-ca
YAML
"$TS_CLI" ceremony rehearse ex/ec.yaml --out ec --yes >ec.out 2>&1 || { cat ec.out; ts_fail "ec"; }
ossl_plain x509 -in ec/sub.crt -noout -ext extendedKeyUsage,certificatePolicies,basicConstraints \
    >ec-ext.txt
grep -q 'TLS Web Server Authentication, TLS Web Client Authentication' ec-ext.txt ||
    ts_fail "ec: the EKU"
grep -q 'Policy: 2.23.140.1.2.1' ec-ext.txt || ts_fail "ec: the policy"
grep -q 'pathlen:0' ec-ext.txt || ts_fail "ec: pathlen"
ossl_plain x509 -in ec/root.crt -noout -text | grep -q 'ecdsa-with-SHA384' || ts_fail "ec: root"
ossl_plain verify -CAfile ec/root.crt ec/sub.crt >/dev/null || ts_fail "ec: openssl verify"
ossl_plain crl -in ec/sub-crl.crl -CAfile ec/sub.crt -noout 2>&1 | grep -q 'verify OK' ||
    ts_fail "ec: the Ed25519 CRL"
cat ec/sub.crt ec/root.crt >ec/chain.pem
certtool --verify-chain --infile ec/chain.pem >ct3.txt 2>&1 || { cat ct3.txt; ts_fail "ec: certtool"; }
[ "$(cat ec/sub-ca/crlnumber)" = "11" ] || ts_fail "ec: crlnumber"
cmp -s <(cat ec/sub.crt ec/root.crt) ec/sub-ca/certs/chain.pem || ts_fail "ec: chain.pem"

ts_log "without --module or TOKENSIGN_MODULE the file's module: (p11-kit's softhsm2) is used"
softhsm2-util --init-token --free --label mod-hsm --pin "$TS_PIN" --so-pin "$TS_SO_PIN" >/dev/null
sed 's/root-hsm/mod-hsm/g' "$FILE" >ex/mod.yaml
env -u TOKENSIGN_MODULE "$TS_CLI" ceremony run ex/mod.yaml --out mod --yes \
    --pin-source "$TS_PIN_FILE" >mod.out 2>&1 || { cat mod.out; ts_fail "the file's module"; }
record mod token | grep -q '"module":"softhsm2"' || ts_fail "mod: not the registered module"
record mod token | grep -q '"uri":"pkcs11:token=mod-hsm?module-name=softhsm2"' ||
    ts_fail "mod: the token URI $(record mod token)"
grep -q 'module-name=softhsm2' mod/root-ca/openssl.cnf || ts_fail "mod: openssl.cnf's key URI"

ts_log "GnuTLS certtool: the same ceremony dated from now (certtool verifies at the current time)"
sed -e 's/2027-01-15/2026-01-15/g; s/2047-01-15/2046-01-15/g; s/2032-01-15/2031-01-15/g' \
    -e 's/2028-01-15/2027-01-15/g' "$FILE" >ex/now-ceremony.yaml
"$TS_CLI" ceremony rehearse ex/now-ceremony.yaml --out now --yes >now.out 2>&1 ||
    { cat now.out; ts_fail "the current-dated rehearsal failed"; }
cat now/issuing-1.crt now/root-cert.crt >now/chain.pem
certtool --verify-chain --infile now/chain.pem >ct.txt 2>&1 || { cat ct.txt; ts_fail "certtool"; }
certtool --verify --load-ca-certificate now/root-cert.crt --infile now/partner-cross.crt \
    >ct2.txt 2>&1 || { cat ct2.txt; ts_fail "certtool: the cross-certificate"; }

ts_log "no PIN in any output, the transcript, or what was printed"
if grep -rlF -- "$TS_PIN" run reh declined ./*.out ./*.err; then ts_fail "the PIN was written"; fi

ts_log "tamper: an output byte, a record byte, a removed record"
cp -r run t1 && printf 'X' | dd of=t1/issuing-1.crt bs=1 seek=100 conv=notrunc 2>/dev/null
ts_expect_fail 'issuing-1.crt' "$TS_CLI" ceremony verify t1
cp -r run t2 && sed -i '5s/"seq":4/"seq":5/' t2/transcript.jsonl
ts_expect_fail 'record|line|chain' "$TS_CLI" ceremony verify t2
cp -r run t3 && sed -i '6d' t3/transcript.jsonl
ts_expect_fail 'record|line|chain' "$TS_CLI" ceremony verify t3

ts_log "refusals write nothing"
ts_expect_fail 'already exists' "$TS_CLI" ceremony run "$FILE" --out run --yes \
    --pin-source "$TS_PIN_FILE"
[ "$(sed -n 's/^sha256: //p' run/transcript.head)" = "$head_hex" ] || ts_fail "run/ was touched"
sed 's/digest: sha384/digest: sha1/' "$FILE" >ex/weak.yaml
rc=0
"$TS_CLI" ceremony run ex/weak.yaml --out weak --yes --pin-source "$TS_PIN_FILE" \
    >weak.out 2>&1 || rc=$?
[ "$rc" -eq 6 ] || { cat weak.out; ts_fail "lint findings exit $rc, not 6"; }
[ ! -e weak ] || ts_fail "a refused file wrote its --out"
ts_expect_fail 'cannot name a path' "$TS_CLI" ceremony run "$FILE" --out 'hash#dir' --yes \
    --pin-source "$TS_PIN_FILE"
[ ! -e 'hash#dir' ] || ts_fail "an --out openssl.cnf cannot name was written"
cp -r ex ex2 && printf '\n' >>ex2/issuing-ca-1.csr
rc=0
"$TS_CLI" ceremony run ex2/root-ceremony.yaml --out changed --yes \
    --pin-source "$TS_PIN_FILE" >changed.out 2>&1 || rc=$?
[ "$rc" -eq 6 ] || { cat changed.out; ts_fail "an input's SHA-256 mismatch exits $rc, not 6"; }
grep -q 'SHA-256' changed.out || ts_fail "the mismatch is not named"
[ ! -e changed ] || ts_fail "an input mismatch wrote its --out"
rc=0
"$TS_CLI" ceremony rehearse ex2/root-ceremony.yaml --out changed --yes >changed.out 2>&1 || rc=$?
[ "$rc" -eq 6 ] || { cat changed.out; ts_fail "rehearse: an input mismatch exits $rc, not 6"; }
[ ! -e changed ] || ts_fail "rehearse: an input mismatch wrote its --out"

ts_log "the ceremony's CA directory is continued by openssl ca and tokensign ca (a copy)"
cp -r run cont
TOKENSIGN_PIN=$TS_PIN TOKENSIGN_CA_DIR=$TS_WORK/cont/root-ca openssl ca \
    -config cont/root-ca/openssl.cnf -gencrl -crldays 30 -out crl2.pem >oca.txt 2>&1 ||
    { cat oca.txt; ts_fail "openssl ca -gencrl cannot continue the CA directory"; }
ossl_plain crl -in crl2.pem -CAfile run/root-cert.crt -noout -text >crl2.txt 2>&1
grep -q 'verify OK' crl2.txt || ts_fail "openssl ca's CRL does not verify"
grep -A1 'CRL Number' crl2.txt | grep -qx ' *2' || ts_fail "openssl ca's CRL number is not 2"
TOKENSIGN_PIN=$TS_PIN "$TS_CLI" ca gencrl --config cont/root-ca/openssl.cnf --out crl3.pem \
    >tca.txt 2>&1 || { cat tca.txt; ts_fail "tokensign ca gencrl cannot continue it"; }
ossl_plain crl -in crl3.pem -CAfile run/root-cert.crt -noout -text >crl3.txt 2>&1
grep -q 'verify OK' crl3.txt || ts_fail "tokensign ca's CRL does not verify"
grep -A1 'CRL Number' crl3.txt | grep -qx ' *3' || ts_fail "tokensign ca's CRL number is not 3"
ts_log "ok"
