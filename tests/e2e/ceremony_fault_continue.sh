#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The token fails in the middle of the intermediate step (tests/fault: the 2nd C_Sign, the
# issuing CA's certificate, returns CKR_DEVICE_ERROR): the run stops with exit 5, its
# transcript ends "stopped" with an error record naming the step and what is on the token,
# earlier outputs stay, nothing of the failed step is left, verify accepts it as a stopped
# ceremony; `run --from issuing-1 --previous DIR1` completes it, chained to DIR1's head, with
# the key made in DIR1 found on the token (generated:false).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TS_CLI:?TS_CLI (the tokensign binary) must be set; ctest sets it}"
: "${TS_SOURCE_DIR:?TS_SOURCE_DIR must be set; ctest sets it}"
: "${TS_FAULT_MODULE:?TS_FAULT_MODULE must be set; ctest sets it}"

ts_setup_token root-hsm
export TOKENSIGN_PROVIDER_DIR=$TS_PROVIDER_DIR TS_FAULT_TARGET=$TS_MODULE
unset TOKENSIGN_MODULE
cd "$TS_WORK"
cp -r "$TS_SOURCE_DIR/docs/examples" ex
FILE=ex/root-ceremony.yaml
record() { grep "\"event\":\"$2\"" "$1/transcript.jsonl"; }

ts_log "the 2nd signature (issuing-1) fails on the token"
rc=0
TS_FAULT_FAIL=C_Sign:2:CKR_DEVICE_ERROR TS_FAULT_COUNT_FILE=$TS_WORK/signs \
    "$TS_CLI" --module "$TS_FAULT_MODULE" ceremony run "$FILE" --out d1 --yes \
    --pin-source "$TS_PIN_FILE" >d1.out 2>d1.err || rc=$?
[ "$rc" -eq 5 ] || { cat d1.out d1.err; ts_fail "a token failure exits $rc, not 5"; }
grep -q "STOPPED at step 'issuing-1'" d1.out || ts_fail "the stop is not reported"
grep -q 'CKR_DEVICE_ERROR' d1.err || ts_fail "the token's error is not shown"
record d1 end | grep -q '"status":"stopped"' || ts_fail "end.status is not stopped"
record d1 end | grep -q '"stopped_at":"issuing-1"' || ts_fail "end.stopped_at"
record d1 end | grep -q '"steps_done":3' || ts_fail "end.steps_done"
err=$(record d1 error)
echo "$err" | grep -q '"step":"issuing-1"' || ts_fail "the error record names another step"
echo "$err" | grep -q 'CKR_DEVICE_ERROR' || ts_fail "the error record lacks the token's error"
echo "$err" | grep -q '"token_state":"nothing"' || ts_fail "token_state: $err"
echo "$err" | grep -q '"removed":\[\]' || ts_fail "removed: $err"
echo "$err" | grep -q "\"earlier_steps_made\":\[\"the key pair 'root-2027' (id [0-9a-f]*) was generated and stays on token 'root-hsm'\",\"the certificate 'root-2027'" ||
    ts_fail "earlier_steps_made: $err"
grep -q "Made by the earlier steps of this run, and still there: the key pair 'root-2027'" d1.out ||
    ts_fail "the officer is not told what the earlier steps made"
[ -f d1/root-cert.crt ] || ts_fail "an earlier output was removed"
[ ! -e d1/issuing-1.crt ] || ts_fail "the failed step left its certificate"
if record d1 step-begin | grep -q '"step":"partner-cross"'; then
    ts_fail "the run went on after the failure"
fi
"$TS_CLI" ceremony verify d1 >v1.out 2>&1 || { cat v1.out; ts_fail "verify rejects d1"; }
head1=$(sed -n 's/^sha256: //p' d1/transcript.head)
records1=$(sed -n 's/^records: //p' d1/transcript.head)

ts_log "refused continuations write nothing"
ts_expect_fail 'no step' "$TS_CLI" --module "$TS_MODULE" ceremony run "$FILE" --out bad \
    --yes --from nosuch --previous d1 --pin-source "$TS_PIN_FILE"
ts_expect_fail 'did not complete' "$TS_CLI" --module "$TS_MODULE" ceremony run "$FILE" \
    --out bad --yes --from partner-cross --previous d1 --pin-source "$TS_PIN_FILE"
ts_expect_fail 'together' "$TS_CLI" ceremony run "$FILE" --out bad --yes --from issuing-1
[ ! -e bad ] || ts_fail "a refused continuation wrote its --out"

ts_log "--from issuing-1 --previous d1 completes it"
"$TS_CLI" --module "$TS_MODULE" ceremony run "$FILE" --out d2 --yes --from issuing-1 \
    --previous d1 --pin-source "$TS_PIN_FILE" >d2.out 2>d2.err ||
    { cat d2.out d2.err; ts_fail "the continuation failed"; }
grep -q 'Ceremony complete' d2.out || ts_fail "the continuation did not complete"
record d2 begin | grep -q "\"previous\":{\"head\":\"$head1\",\"records\":$records1}" ||
    ts_fail "begin.previous is not d1's head"
record d2 begin | grep -q '"from":"issuing-1"' || ts_fail "begin.from"
record d2 key | grep -q '"generated":false' || ts_fail "the key was not found as generated:false"
[ "$(record d1 key | sed 's/.*"spki":"\([^"]*\)".*/\1/')" = \
    "$(record d2 key | sed 's/.*"spki":"\([^"]*\)".*/\1/')" ] || ts_fail "another key was used"
if record d2 step-begin | grep -qE '"step":"(root-key|root-cert|store-root)"'; then
    ts_fail "steps done in d1 ran again"
fi
record d2 end | grep -q '"status":"complete"' || ts_fail "d2 end.status"
"$TS_CLI" ceremony verify d2 >v2.out 2>&1 || { cat v2.out; ts_fail "verify rejects d2"; }
at=$(date -d 2027-02-01T00:00:00Z +%s)
ossl_plain verify -attime "$at" -CAfile d1/root-cert.crt d2/issuing-1.crt d2/partner-cross.crt \
    >ov.txt || { cat ov.txt; ts_fail "the continued certificates do not chain to d1's root"; }
grep -c '^V' d2/root-ca/index.txt | grep -qx 2 || ts_fail "d2 root-ca/index.txt"

ts_log "a continuation of a continuation is refused when the certificates are further back"
ts_expect_fail 'not a stopped ceremony' "$TS_CLI" --module "$TS_MODULE" ceremony run "$FILE" \
    --out bad --yes --from root-crl-1 --previous d2 --pin-source "$TS_PIN_FILE"
rc=0
TS_FAULT_FAIL=C_Sign:4:CKR_DEVICE_ERROR "$TS_CLI" --module "$TS_FAULT_MODULE" ceremony run \
    "$FILE" --out d2x --yes --from issuing-1 --previous d1 --pin-source "$TS_PIN_FILE" \
    >d2x.out 2>&1 || rc=$?
[ "$rc" -eq 5 ] || { cat d2x.out; ts_fail "d2x: a token failure exits $rc, not 5"; }
record d2x end | grep -q '"stopped_at":"root-crl-1"' || ts_fail "d2x: stopped_at"
ts_expect_fail 'continues a ceremony' "$TS_CLI" --module "$TS_MODULE" ceremony run "$FILE" \
    --out bad --yes --from root-crl-1 --previous d2x --pin-source "$TS_PIN_FILE"
[ ! -e bad ] || ts_fail "a refused continuation wrote its --out"

ts_log "SIGTERM during the key generation: the step finishes, the ceremony stops before the next"
softhsm2-util --init-token --free --label sig-hsm --pin "$TS_PIN" --so-pin "$TS_SO_PIN" >/dev/null
sed 's/root-hsm/sig-hsm/g' "$FILE" >ex/sig.yaml
: >sig.trace
TS_FAULT_HANG=C_GenerateKeyPair:1:3s TS_FAULT_TRACE=$TS_WORK/sig.trace "$TS_CLI" \
    --module "$TS_FAULT_MODULE" ceremony run ex/sig.yaml --out d5 --yes \
    --pin-source "$TS_PIN_FILE" >d5.out 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    grep -q C_GenerateKeyPair sig.trace && break
    sleep 0.05
done
grep -q C_GenerateKeyPair sig.trace || ts_fail "the key generation never started"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq $((128 + 15)) ] || { cat d5.out; ts_fail "SIGTERM exits $rc, not 143"; }
record d5 key | grep -q '"step":"root-key"' || ts_fail "d5: the key step did not finish"
record d5 error | grep -q '"step":"root-cert"' || ts_fail "d5: error step $(record d5 error)"
record d5 error | grep -q 'signal 15' || ts_fail "d5: the error does not name the signal"
record d5 end | grep -q '"steps_done":1' || ts_fail "d5: steps_done"
"$TS_CLI" ceremony verify d5 >/dev/null 2>&1 || ts_fail "verify rejects d5"

ts_log "a wrong PIN: exit 4, nothing written"
(umask 077 && echo wrong-pin >wrong.pin)
rc=0
"$TS_CLI" --module "$TS_MODULE" ceremony run "$FILE" --out wrong --yes \
    --pin-source wrong.pin >wrong.out 2>&1 || rc=$?
[ "$rc" -eq 4 ] || { cat wrong.out; ts_fail "a wrong PIN exits $rc, not 4"; }
[ ! -e wrong ] || ts_fail "a wrong PIN wrote its --out"

ts_log "the token reports a failed key generation after making the keys: they are removed"
softhsm2-util --init-token --free --label gen-hsm --pin "$TS_PIN" --so-pin "$TS_SO_PIN" >/dev/null
sed 's/root-hsm/gen-hsm/g' "$FILE" >ex/gen.yaml
rc=0
TS_FAULT_AFTER=C_GenerateKeyPair:1:CKR_DEVICE_ERROR "$TS_CLI" --module "$TS_FAULT_MODULE" \
    ceremony run ex/gen.yaml --out d4 --yes --pin-source "$TS_PIN_FILE" >d4.out 2>&1 || rc=$?
[ "$rc" -eq 5 ] || { cat d4.out; ts_fail "a failed generation exits $rc, not 5"; }
record d4 error | grep -q '"step":"root-key"' || ts_fail "d4: the error names another step"
record d4 error | grep -q '"token_state":"nothing"' || ts_fail "d4: token_state $(record d4 error)"
[ -z "$(pkcs11-tool --module "$TS_MODULE" --token-label gen-hsm --login --pin "$TS_PIN" \
    --list-objects 2>/dev/null | grep -E 'Key Object' || true)" ] || ts_fail "d4: keys left"
"$TS_CLI" ceremony verify d4 >/dev/null 2>&1 || ts_fail "verify rejects d4"

ts_log "the token refuses to store the root: stopped at store-root, the key stays"
softhsm2-util --init-token --free --label other-hsm --pin "$TS_PIN" --so-pin "$TS_SO_PIN" >/dev/null
sed 's/root-hsm/other-hsm/g' "$FILE" >ex/other.yaml
rc=0
TS_FAULT_CREATE_FAIL=1 "$TS_CLI" --module "$TS_FAULT_MODULE" ceremony run ex/other.yaml \
    --out d3 --yes --pin-source "$TS_PIN_FILE" >d3.out 2>&1 || rc=$?
[ "$rc" -eq 5 ] || { cat d3.out; ts_fail "a failed certificate store exits $rc, not 5"; }
record d3 error | grep -q '"step":"store-root"' || ts_fail "d3: the error names another step"
record d3 error | grep -q '"token_state":"nothing"' || ts_fail "d3: token_state"
record d3 end | grep -q '"steps_done":2' || ts_fail "d3: steps_done"
"$TS_CLI" ceremony verify d3 >/dev/null 2>&1 || ts_fail "verify rejects d3"
ts_log "ok"
