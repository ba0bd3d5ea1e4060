#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A known, distinctive PIN through every command that takes one, from each source (the
# environment, --pin-source, the URI's pin-source, a wrong PIN, a wrong SO PIN): it never shows
# in anything written — standard output and error, every file under the work directory (CA
# directory, outputs, CSRs, CRLs, journals), and the environment of a running signer
# (/proc/PID/environ; TOKENSIGN_PIN is taken out of it when read).
set -euo pipefail
TS_PIN=73915846
TS_SO_PIN=58264917
. "$(dirname "$0")/lib.sh"
: "${TS_CLI:?TS_CLI (the tokensign binary) must be set; ctest sets it}"

TS_TOKEN_LABEL=pins
ts_setup_token "$TS_TOKEN_LABEL"
export TOKENSIGN_PROVIDER_DIR=$TS_PROVIDER_DIR
cd "$TS_WORK"
WRONG=19283746
(umask 077 && printf '%s\n' "$WRONG" >wrong.pin)
LOG=$TS_WORK/all-output.log
: >"$LOG"

# run DESCRIPTION CMD...: runs CMD with the PIN in TOKENSIGN_PIN (unless the caller unset it),
# keeps everything it printed.
run() {
    local what=$1
    shift
    ts_log "$what"
    if "$@" >>"$LOG" 2>&1; then echo "rc=0 $what" >>"$LOG"; else echo "rc=$? $what" >>"$LOG"; fi
}
export TOKENSIGN_PIN=$TS_PIN
T=$TS_CLI
URI="pkcs11:token=$TS_TOKEN_LABEL"

run "key generate (environment)" "$T" key generate --token "$URI" --type ec:p-256 --label root-k
run "key list" "$T" key list "$URI"
run "key show" "$T" key show "$URI;object=root-k;type=public"
run "ca init" "$T" ca init --dir ca --key "$URI;object=root-k" --subject "/C=US/O=Pins/CN=Pins Root"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
    -subj "/C=US/O=Pins/CN=leaf.example" -out leaf.csr 2>/dev/null
run "ca sign --batch" "$T" ca sign --config ca/openssl.cnf --batch --in leaf.csr --out leaf.pem
run "ca revoke" "$T" ca revoke --config ca/openssl.cnf --cert leaf.pem --reason superseded
run "ca gencrl" "$T" ca gencrl --config ca/openssl.cnf --out ca.crl
run "req" "$T" req --key "$URI;object=root-k" --subject "/CN=req.example" --out req.csr
run "cert list" "$T" cert list "$URI"
run "stock openssl through the provider" env OPENSSL_CONF=ca/openssl.cnf \
    openssl dgst -sha256 -sign "$URI;object=root-k;type=private" -out data.sig ca/openssl.cnf

unset TOKENSIGN_PIN
run "--pin-source" "$T" --pin-source "$TS_PIN_FILE" key list "$URI"
run "pin-source in the URI" "$T" key list "$URI?pin-source=$TS_PIN_FILE"
run "a wrong PIN (from the environment)" env TOKENSIGN_PIN=$WRONG "$T" key list "$URI"
run "a wrong PIN (from a file)" "$T" --pin-source wrong.pin key list "$URI"
run "a wrong SO PIN" "$T" token change-pin "$URI" --so --so-pin-source wrong.pin \
    --new-pin-source "$TS_PIN_FILE"

ts_log "a running signer's environment"
export TOKENSIGN_PIN=$TS_PIN
for i in 1 2 3 4 5 6; do
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
        -subj "/C=US/O=Pins/CN=slow$i.example" -out "slow$i.csr" 2>/dev/null
done
TOKENSIGN_MODULE=$TS_FAULT_MODULE TS_FAULT_TARGET=$TS_MODULE TS_FAULT_SIGN_DELAY_MS=300 \
    "$T" ca sign --config ca/openssl.cnf --batch --in slow*.csr --out-dir . >>"$LOG" 2>&1 &
pid=$!
environ=""
for _ in $(seq 1 100); do
    # Once the signer has logged in (its first signature is under way), it read the PIN.
    if grep -q . "$TS_WORK/ca/index.txt.journal" 2>/dev/null; then
        environ=$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null || true)
        break
    fi
    sleep 0.1
done
wait "$pid" || ts_fail "the slow batch failed: $(tail -5 "$LOG")"
[ -n "$environ" ] || ts_fail "never saw the signer between its first signature and its end"
if grep -q "$TS_PIN" <<<"$environ"; then ts_fail "the PIN is in the running signer's environment"; fi
unset TOKENSIGN_PIN

ts_log "nothing written holds the PIN"
grep -q "rc=0 ca sign --batch" "$LOG" || ts_fail "ca sign failed: $(cat "$LOG")"
grep -q "rc=4 a wrong PIN (from a file)" "$LOG" || ts_fail "the wrong PIN was not refused: $(cat "$LOG")"
for pin in "$TS_PIN" "$WRONG" "$TS_SO_PIN"; do
    if grep -n -- "$pin" "$LOG"; then ts_fail "a PIN was printed (above)"; fi
    # Every file written, except the PIN files themselves and the token's own storage.
    hits=$(grep -rl --exclude-dir=tokens -- "$pin" "$TS_WORK" 2>/dev/null |
        grep -vxF -e "$TS_PIN_FILE" -e "$TS_WORK/wrong.pin" -e "$LOG" || true)
    [ -z "$hits" ] || ts_fail "a PIN is in: $hits"
done
ts_log "ok: the PIN appears in no output, no file and no running signer's environment"
