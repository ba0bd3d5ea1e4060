#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `ceremony run --json` and `ceremony rehearse --json`: stdout is one JSON object (status,
# steps_done, stopped_at, outputs, head with sha256, words and records, error), the same head as
# transcript.head, every output listed there with its recorded SHA-256; the human progress is on
# stderr. A stopped run prints it too (status "stopped", the step, the error) and exits 5.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TS_CLI:?TS_CLI (the tokensign binary) must be set; ctest sets it}"
: "${TS_FAULT_MODULE:?TS_FAULT_MODULE must be set; ctest sets it}"

ts_setup_token json-hsm
export TOKENSIGN_PROVIDER_DIR=$TS_PROVIDER_DIR TS_FAULT_TARGET=$TS_MODULE
unset TOKENSIGN_MODULE
cd "$TS_WORK"
cat >c.yaml <<'YAML'
tokensign-ceremony: 1
name: json summary ceremony
tokens:
  - id: hsm
    uri: "pkcs11:token=json-hsm"
steps:
  - id: root-key
    step: key
    token: hsm
    label: json-root
    algorithm: ec:p-256
  - id: root-cert
    step: root
    key: root-key
    subject: "/O=Json Org/CN=Json Root"
    not-before: 2027-01-15T00:00:00Z
    not-after: 2037-01-15T00:00:00Z
    serial: random
    digest: sha256
    pathlen: 1
  - id: root-crl
    step: crl
    issuer: root-cert
    this-update: 2027-01-15T00:00:00Z
    next-update: 2028-01-15T00:00:00Z
    crl-number: 1
    digest: sha256
  - id: root-dir
    step: ca-dir
    certificate: root-cert
    key: root-key
    dir: root-ca
YAML

# summary_matches DIR JSON: the summary's head is transcript.head's, every output it lists is
# recorded in the transcript with the SHA-256 the file has, and it lists every recorded output.
summary_matches() {
    local d=$1 j=$2 p sha
    [ "$(jq -r .head.sha256 "$j")" = "$(sed -n 's/^sha256: //p' "$d/transcript.head")" ] ||
        ts_fail "$d: the summary's head is not transcript.head's"
    [ "$(jq -r .head.words "$j")" = "$(sed -n 's/^words: //p' "$d/transcript.head")" ] ||
        ts_fail "$d: the summary's words are not transcript.head's"
    [ "$(jq -r .head.records "$j")" = "$(wc -l <"$d/transcript.jsonl")" ] ||
        ts_fail "$d: the summary's record count"
    jq -r '.outputs[]' "$j" | sort >"$j.listed"
    jq -r 'select(.event == "output") | .path' "$d/transcript.jsonl" | sort >"$j.recorded"
    diff "$j.listed" "$j.recorded" >/dev/null ||
        { diff "$j.listed" "$j.recorded"; ts_fail "$d: the summary's outputs"; }
    while IFS= read -r p; do
        sha=$(jq -r --arg p "$p" 'select(.event == "output" and .path == $p) | .sha256' \
            "$d/transcript.jsonl")
        [ "$(sha256sum <"$d/$p" | cut -d' ' -f1)" = "$sha" ] || ts_fail "$d: $p differs"
    done <"$j.listed"
}

ts_log "run --json: the summary on stdout, the progress on stderr"
"$TS_CLI" --module "$TS_MODULE" --pin-source "$TS_PIN_FILE" ceremony run c.yaml --out d1 --yes \
    --json >d1.json 2>d1.err || { cat d1.err; ts_fail "run --json failed"; }
jq -e . d1.json >/dev/null || { cat d1.json; ts_fail "stdout is not one JSON object"; }
[ "$(jq -s length d1.json)" -eq 1 ] || ts_fail "stdout holds more than one JSON value"
jq -e '.status == "complete" and .mode == "run" and .steps_done == 4 and .stopped_at == null
    and .error == null and .transcript_cut == false and (.head.words | split(" ") | length) == 32' \
    d1.json >/dev/null || { cat d1.json; ts_fail "the summary's fields"; }
jq -e '.outputs | index("root-cert.crt") and index("root-crl.crl") and index("root-ca/openssl.cnf")' \
    d1.json >/dev/null || ts_fail "the summary does not list the outputs"
summary_matches d1 d1.json
grep -q 'Step 4 (root-dir) done' d1.err || ts_fail "the progress is not on stderr"
grep -q 'Ceremony complete' d1.err || ts_fail "the human result is not on stderr"
grep -q 'Sign the self-signed root CA certificate' d1.err || ts_fail "the plan sentences"

ts_log "run --json, stopped by the token: the summary still comes, exit 5"
softhsm2-util --init-token --free --label json-2 --pin "$TS_PIN" --so-pin "$TS_SO_PIN" >/dev/null
sed 's/json-hsm/json-2/' c.yaml >c2.yaml
rc=0
TS_FAULT_FAIL=C_Sign:2:CKR_DEVICE_ERROR "$TS_CLI" --module "$TS_FAULT_MODULE" \
    --pin-source "$TS_PIN_FILE" ceremony run c2.yaml --out d2 --yes --json >d2.json 2>d2.err ||
    rc=$?
[ "$rc" -eq 5 ] || { cat d2.err; ts_fail "a token failure exits $rc, not 5"; }
jq -e '.status == "stopped" and .stopped_at == "root-crl" and .steps_done == 2
    and (.error | contains("CKR_DEVICE_ERROR"))' d2.json >/dev/null ||
    { cat d2.json; ts_fail "the stopped summary's fields"; }
summary_matches d2 d2.json
grep -q 'tokensign: error: .*CKR_DEVICE_ERROR' d2.err || ts_fail "the error line on stderr"

ts_log "rehearse --json: the summary with verify's result"
"$TS_CLI" ceremony rehearse c.yaml --out r1 --yes --json --module "$TS_MODULE" >r1.json \
    2>r1.err || { cat r1.err; ts_fail "rehearse --json failed"; }
[ "$(jq -s length r1.json)" -eq 1 ] || { cat r1.json; ts_fail "rehearse: stdout is not one JSON value"; }
jq -e '.status == "complete" and .mode == "rehearsal" and .verified.ok == true
    and .verified.problems == []' r1.json >/dev/null || { cat r1.json; ts_fail "rehearse fields"; }
summary_matches r1 r1.json
grep -q 'throwaway SoftHSM2 token' r1.err || ts_fail "rehearse: the progress is not on stderr"
grep -q 'Verified:' r1.err || ts_fail "rehearse: the verify line is not on stderr"
ts_log "ok"
