#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A disk that fills: each command runs under RLIMIT_FSIZE with SIGXFSZ ignored, so a write past
# the limit fails with EFBIG as on a full disk (no root needed). For a sweep of limits, each of
# `ca init`, `ca sign --batch`, `ca gencrl` and `ceremony run` either succeeds whole or exits
# non-zero naming the file and the OS error, with nothing half-written: no temporary file left,
# no partial certificate, no torn index.txt/serial/crlnumber, the CA directory as before or
# consistently advanced; a rerun without the limit succeeds and reuses no serial.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TS_CLI:?TS_CLI (the tokensign binary) must be set; ctest sets it}"

ts_setup_token disk-hsm
export TOKENSIGN_PROVIDER_DIR=$TS_PROVIDER_DIR
cd "$TS_WORK"
TOK="pkcs11:token=disk-hsm"
ts() { "$TS_CLI" --pin-source "$TS_PIN_FILE" "$@"; }
# limited KB CMD...: CMD with files capped at KB KiB; writes past it fail with EFBIG. Its
# output goes through a pipe, which the limit does not cap (pipefail keeps CMD's status).
limited() {
    local kb=$1
    shift
    bash -c 'trap "" XFSZ; ulimit -f "$1"; shift; exec "$@"' limited "$kb" "$@" 2>&1 | cat
}
EFBIG_TEXT='File too large'

# No temporary, partial or torn file in a CA directory: every index.txt line whole (6 fields,
# newline-terminated) with its certificate in newcerts/ (one that parses), serial and crlnumber
# one hex number a line, above every serial and CRL number used.
ca_consistent() {
    local dir=$1 what=$2 f serial
    f=$(find "$dir" -name '*.tmp*' -o -name '.*.pem.tmp*' | head -1)
    [ -z "$f" ] || ts_fail "$what: a temporary file is left: $f"
    [ -z "$(tail -c1 "$dir/index.txt")" ] || ts_fail "$what: index.txt ends in a torn line"
    awk -F'\t' 'NF != 6 { bad = 1 } END { exit bad }' "$dir/index.txt" ||
        ts_fail "$what: index.txt has a torn line: $(cat -A "$dir/index.txt" | tail -2)"
    for f in serial crlnumber; do
        [ ! -e "$dir/$f" ] || grep -Eqx '[0-9A-F]+' "$dir/$f" ||
            ts_fail "$what: $f is torn: $(cat -A "$dir/$f")"
    done
    for serial in $(awk -F'\t' '{ print $4 }' "$dir/index.txt"); do
        ossl_plain x509 -in "$dir/newcerts/$serial.pem" -noout 2>/dev/null ||
            ts_fail "$what: newcerts/$serial.pem is missing or does not parse"
        [ $((16#$serial < 16#$(cat "$dir/serial"))) -eq 1 ] ||
            ts_fail "$what: serial $(cat "$dir/serial") is not above $serial"
    done
    for f in "$dir"/newcerts/*.pem; do
        [ -e "$f" ] || continue
        ossl_plain x509 -in "$f" -noout 2>/dev/null || ts_fail "$what: $f is a partial certificate"
    done
}
# The failure names a file and the OS error, and the exit code is not a crash.
failed_plainly() {
    local rc=$1 what=$2 out=$3
    [ "$rc" -lt 128 ] || { cat "$out"; ts_fail "$what: killed by signal $((rc - 128))"; }
    grep -Eq "tokensign: error: .*[^ ]+: $EFBIG_TEXT" "$out" ||
        { cat "$out"; ts_fail "$what: the message does not name the file and '$EFBIG_TEXT'"; }
}

ts_log "ca init under a limit: whole or nothing"
"$TS_CLI" --pin-source "$TS_PIN_FILE" key generate --token "$TOK" --type ec:p-256 \
    --label root >/dev/null
init_ok=0 init_failed=0
for kb in 1 2 3 4 6 8; do
    rc=0
    limited "$kb" "$TS_CLI" --pin-source "$TS_PIN_FILE" ca init --dir "init-$kb" \
        --key "$TOK;object=root" --subject "/O=Disk Org/CN=Disk Root $kb" >"init-$kb.out" 2>&1 ||
        rc=$?
    if [ "$rc" -eq 0 ]; then
        init_ok=$((init_ok + 1))
        ca_consistent "init-$kb" "ca init ($kb KiB)"
        ossl_plain x509 -in "init-$kb/certs/ca.pem" -noout || ts_fail "init-$kb: no CA certificate"
    else
        init_failed=$((init_failed + 1))
        failed_plainly "$rc" "ca init ($kb KiB)" "init-$kb.out"
        [ ! -e "init-$kb" ] || { find "init-$kb"; ts_fail "ca init ($kb KiB) left a directory"; }
        "$TS_CLI" --pin-source "$TS_PIN_FILE" ca init --dir "init-$kb" --key "$TOK;object=root" \
            --subject "/O=Disk Org/CN=Disk Root $kb" >/dev/null 2>&1 ||
            ts_fail "ca init ($kb KiB): the rerun without a limit failed"
    fi
done
[ "$init_failed" -gt 0 ] && [ "$init_ok" -gt 0 ] ||
    ts_fail "ca init: the sweep did not reach both ends ($init_failed failed, $init_ok whole)"

ts_log "ca sign --batch under a limit: the CA directory as before or consistently advanced"
CA=init-8
# mkcsr NAME [long]: a long subject makes a long index.txt line (about 500 bytes).
long_ou=$(printf 'OU=Organisational Unit Number %s/' $(seq 1 12))
mkcsr() {
    local ou=
    [ "${2:-}" != long ] || ou=$long_ou
    ossl_plain req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
        -subj "/O=Disk Org/${ou}CN=$1.example" -out "$1.csr" 2>/dev/null
}
# A long index.txt (about 12 KiB, longer than the journal of a batch of three), so that small
# limits stop the certificates and the journal, and one just above its size cuts the append of
# the batch's lines (about 1.3 KiB).
for i in $(seq 1 26); do
    mkcsr "pre-$i" long
    ts ca sign --config "$CA/openssl.cnf" --batch --in "pre-$i.csr" --out "pre-$i.pem" \
        >pre.out 2>&1 || { cat pre.out; ts_fail "the certificates before the sweep"; }
done
sign_failed=0
used=$(cut -f4 "$CA/index.txt" | sort)
for kb in 1 2 3 index; do
    # The last: a limit inside the batch's lines, past the end of index.txt as it is.
    [ "$kb" != index ] || kb=$(($(stat -c %s "$CA/index.txt") / 1024 + 1))
    rm -rf "sign-$kb" && mkdir "sign-$kb"
    cp -a "$CA" "before-$kb"
    for i in 1 2 3; do mkcsr "s$kb-$i" long && mkcsr "a$kb-$i" long; done
    rc=0
    limited "$kb" "$TS_CLI" --pin-source "$TS_PIN_FILE" ca sign --config "$CA/openssl.cnf" \
        --batch --out-dir "sign-$kb" --in "s$kb-1.csr" "s$kb-2.csr" "s$kb-3.csr" >"sign-$kb.out" 2>&1 || rc=$?
    ca_consistent "$CA" "ca sign --batch ($kb KiB)"
    if [ "$rc" -ne 0 ]; then
        sign_failed=$((sign_failed + 1))
        failed_plainly "$rc" "ca sign --batch ($kb KiB)" "sign-$kb.out"
        for f in sign-"$kb"/*; do
            [ -e "$f" ] || continue
            ossl_plain x509 -in "$f" -noout 2>/dev/null || ts_fail "sign-$kb: partial output $f"
        done
    fi
    # What was there stays: every earlier line, unchanged.
    grep -vxFf "$CA/index.txt" "before-$kb/index.txt" >/dev/null &&
        ts_fail "ca sign --batch ($kb KiB): index.txt lost lines"
    rm -rf "again-$kb" && mkdir "again-$kb"
    ts ca sign --config "$CA/openssl.cnf" --batch --out-dir "again-$kb" \
        --in "a$kb-1.csr" "a$kb-2.csr" "a$kb-3.csr" >again.out 2>&1 ||
        { cat again.out; ts_fail "ca sign ($kb KiB): the rerun failed"; }
    for f in again-"$kb"/*.pem; do
        s=$(ossl_plain x509 -in "$f" -noout -serial | sed 's/serial=//')
        ! echo "$used" | grep -qx "$s" || ts_fail "ca sign ($kb KiB): serial $s used again"
    done
    for f in sign-"$kb"/*.pem; do
        [ -e "$f" ] || continue
        s=$(ossl_plain x509 -in "$f" -noout -serial | sed 's/serial=//')
        ! echo "$used" | grep -qx "$s" || ts_fail "ca sign ($kb KiB): serial $s used again"
    done
    used=$(cut -f4 "$CA/index.txt" | sort)
    ca_consistent "$CA" "ca sign --batch rerun ($kb KiB)"
done
[ "$sign_failed" -gt 0 ] || ts_fail "ca sign --batch: no limit made it fail"

ts_log "ca gencrl under a limit: no half CRL, the CRL number as before or advanced"
# A CRL above 1 KiB: every certificate issued so far revoked.
for f in "$CA"/newcerts/*.pem; do
    ts ca revoke --config "$CA/openssl.cnf" --cert "$f" --reason keyCompromise >/dev/null 2>&1 ||
        ts_fail "revoking $f"
done
crl_failed=0
last=0
for kb in 1 2; do
    before=$(cat "$CA/crlnumber")
    rc=0
    limited "$kb" "$TS_CLI" --pin-source "$TS_PIN_FILE" ca gencrl --config "$CA/openssl.cnf" \
        --out "crl-$kb.pem" >"crl-$kb.out" 2>&1 || rc=$?
    ca_consistent "$CA" "ca gencrl ($kb KiB)"
    if [ "$rc" -ne 0 ]; then
        crl_failed=$((crl_failed + 1))
        failed_plainly "$rc" "ca gencrl ($kb KiB)" "crl-$kb.out"
        [ ! -e "crl-$kb.pem" ] || ts_fail "ca gencrl ($kb KiB) left a partial CRL"
        [ $((16#$(cat "$CA/crlnumber") >= 16#$before)) -eq 1 ] ||
            ts_fail "ca gencrl ($kb KiB): crlnumber went back"
    fi
    ts ca gencrl --config "$CA/openssl.cnf" --out "crl-$kb.pem" --force >/dev/null 2>&1 ||
        ts_fail "ca gencrl ($kb KiB): the rerun failed"
    n=$(ossl_plain crl -in "crl-$kb.pem" -noout -crlnumber | sed 's/crlNumber=0x//')
    [ $((16#$n > last)) -eq 1 ] || ts_fail "ca gencrl ($kb KiB): CRL number $n used again"
    last=$((16#$n))
done
[ "$crl_failed" -gt 0 ] || ts_fail "ca gencrl: no limit made it fail"

ts_log "ceremony run under a limit: a stopped prefix, or a message that says the transcript is cut"
cat >c.yaml.in <<'YAML'
tokensign-ceremony: 1
name: disk full ceremony
tokens:
  - id: hsm
    uri: "pkcs11:token=@TOKEN@"
steps:
  - id: root-key
    step: key
    token: hsm
    label: disk-root
    algorithm: ec:p-256
  - id: root-cert
    step: root
    key: root-key
    subject: "/O=Disk Org/CN=Disk Root"
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
# Whole records only, each holding the SHA-256 of the one before.
chain_whole() {
    local t=$1/transcript.jsonl prev=0000000000000000000000000000000000000000000000000000000000000000
    [ -z "$(tail -c1 "$t")" ] || ts_fail "$2: transcript.jsonl ends in a torn record"
    while IFS= read -r line; do
        [ "$(jq -r .prev <<<"$line")" = "$prev" ] || ts_fail "$2: the chain breaks at: $line"
        prev=$(printf '%s' "$line" | sha256sum | cut -d' ' -f1)
    done <"$t"
}
# Every file in DIR is a transcript file or an output the transcript records and did not remove,
# with its recorded SHA-256. With MESSAGE (a transcript that could not record the stop), a
# recorded output may be gone when the message lists it as removed.
outputs_recorded() {
    local d=$1 what=$2 message=${3:-} f rel sha
    jq -r 'select(.event == "error") | .removed[]' "$d/transcript.jsonl" >"$d.removed"
    while IFS= read -r rel; do
        [ ! -e "$d/$rel" ] || ts_fail "$what: $rel is listed as removed but exists"
    done <"$d.removed"
    while IFS=$'\t' read -r rel sha; do
        grep -qxF "$rel" "$d.removed" && continue
        if [ ! -e "$d/$rel" ] && [ -n "$message" ] &&
            grep -q "outputs were removed: .*\"$rel\"" "$message"; then
            continue
        fi
        [ -f "$d/$rel" ] || ts_fail "$what: the recorded output $rel is missing"
        [ "$(sha256sum <"$d/$rel" | cut -d' ' -f1)" = "$sha" ] ||
            ts_fail "$what: $rel differs from its recorded SHA-256"
    done < <(jq -r 'select(.event == "output") | "\(.path)\t\(.sha256)"' "$d/transcript.jsonl")
    while IFS= read -r f; do
        rel=${f#"$d"/}
        case $rel in transcript.jsonl | transcript.head | transcript.txt) continue ;; esac
        jq -r 'select(.event == "output") | .path' "$d/transcript.jsonl" | grep -qxF "$rel" ||
            ts_fail "$what: $rel is in DIR, unrecorded"
        ! grep -qxF "$rel" "$d.removed" || ts_fail "$what: $rel was removed but is there"
    done < <(find "$d" -type f)
}
cer_stopped=0 cer_cut=0 cer_whole=0
for kb in 0 1 2 3 4 5 6 7 8; do
    tok=disk-$kb
    softhsm2-util --init-token --free --label "$tok" --pin "$TS_PIN" --so-pin "$TS_SO_PIN" \
        >/dev/null
    sed "s/@TOKEN@/$tok/" c.yaml.in >"c-$kb.yaml"
    rc=0
    limited "$kb" "$TS_CLI" --pin-source "$TS_PIN_FILE" ceremony run "c-$kb.yaml" \
        --out "cer-$kb" --yes >"cer-$kb.out" 2>&1 || rc=$?
    what="ceremony run ($kb KiB)"
    keys=$(pkcs11-tool --module "$TS_MODULE" --token-label "$tok" --login --pin "$TS_PIN" \
        --list-objects --type privkey 2>/dev/null | grep -c 'Private Key Object' || true)
    if [ "$rc" -eq 0 ]; then
        cer_whole=$((cer_whole + 1))
        "$TS_CLI" ceremony verify "cer-$kb" >/dev/null 2>&1 || ts_fail "$what: verify rejects it"
        continue
    fi
    failed_plainly "$rc" "$what" "cer-$kb.out"
    if [ "$kb" -eq 0 ]; then
        # Not even the start recorded: no directory, and nothing done on the token.
        [ ! -e "cer-$kb" ] || ts_fail "$what: the directory of a ceremony that did not begin"
        grep -q "the ceremony did not begin: nothing was done on a token" "cer-$kb.out" ||
            { cat "cer-$kb.out"; ts_fail "$what: the message does not say it did not begin"; }
        [ "$keys" -eq 0 ] || ts_fail "$what: a key was made"
        continue
    fi
    [ -d "cer-$kb" ] || ts_fail "$what: no directory, though the ceremony began"
    chain_whole "cer-$kb" "$what"
    if [ "$(tail -n1 "cer-$kb/transcript.jsonl" | jq -r .event)" = end ]; then
        outputs_recorded "cer-$kb" "$what"
        cer_stopped=$((cer_stopped + 1))
        tail -n1 "cer-$kb/transcript.jsonl" | jq -e '.status == "stopped"' >/dev/null ||
            ts_fail "$what: the transcript ends, but not as stopped"
    else
        cer_cut=$((cer_cut + 1))
        outputs_recorded "cer-$kb" "$what" "cer-$kb.out"
        grep -q "the transcript .*transcript.jsonl could not be written" "cer-$kb.out" ||
            { cat "cer-$kb.out"; ts_fail "$what: a cut transcript is not reported plainly"; }
        grep -q "transcript.jsonl is CUT SHORT after" "cer-$kb.out" ||
            { cat "cer-$kb.out"; ts_fail "$what: the summary does not say the transcript is cut"; }
        ! grep -q "write it in the paper log\|Continue with" "cer-$kb.out" ||
            { cat "cer-$kb.out"; ts_fail "$what: a cut transcript offered as a record"; }
        grep -q "it ends after record" "cer-$kb.out" ||
            { cat "cer-$kb.out"; ts_fail "$what: the message does not say where it ends"; }
    fi
    # The key pair, when it is there, is named.
    if [ "$keys" -gt 0 ]; then
        grep -q "'disk-root'" "cer-$kb.out" ||
            { cat "cer-$kb.out"; ts_fail "$what: the key left on the token is not named"; }
    fi
done
[ "$cer_whole" -gt 0 ] && [ "$((cer_stopped + cer_cut))" -gt 0 ] ||
    ts_fail "ceremony run: the sweep did not reach both ends"
ts_log "ceremony run: $cer_whole whole, $cer_stopped stopped, $cer_cut with the transcript cut"
ts_log "ok"
