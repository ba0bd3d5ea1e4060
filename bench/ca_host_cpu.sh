#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The host's CPU per certificate in a batch: everything `tokensign ca sign --batch` spends on a
# certificate but the token's own signing (read, parse and verify the CSR, build, encode and
# sign-call, verify the new signature, format, write the temp file), for each CA key type and
# each CSR key type. SoftHSM2 signs in-process, so the token's share is taken out with the
# CPU time measured inside its signing calls (TOKENSIGN_TIMING: hsm::sign_timing).
#   pipeline µs/cert = (check+build thread + signing threads - token signing calls
#                       + verify/format/write thread) / BATCH
#   process µs/cert  = (user + sys of the whole run - token signing calls) / BATCH: also the
#                      start (provider, login, index), the commit (renames, fsync) and exit
# The floor beside it: what OpenSSL's own `openssl speed` gives for the two signature checks
# every certificate needs (the CSR's, and the new certificate's with the CA key), measured in
# the same run.
# With BASELINE_BUILD=DIR (another build tree of tokensign, e.g. an earlier commit), the same
# batches also run with that build, interleaved round by round, and a last column gives its
# process µs/cert. The token's share is taken out with this build's figure for the same
# configuration (the same token work: same keys, mechanisms and requests), so an older build
# without the TOKENSIGN_TIMING token counter can be the baseline.
# Prints a Markdown table for BENCHMARKS.md. Each cell is the median of ROUNDS batches.
# Usage: [BASELINE_BUILD=DIR] bench/ca_host_cpu.sh [BUILD_DIR] [BATCH] [ROUNDS]
set -euo pipefail
BATCH=${2:-1000}
ROUNDS=${3:-3}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_binaries "${1:-build}" /usr/bin/time
BASE=${BASELINE_BUILD:+$(cd "$BASELINE_BUILD" && pwd)}
if [ -n "$BASE" ] && { [ ! -x "$BASE/cli/tokensign" ] || [ ! -e "$BASE/provider/tokensign.so" ]; }; then
    echo "BASELINE_BUILD=$BASELINE_BUILD has no cli/tokensign and provider/tokensign.so" >&2
    exit 1
fi
bench_token hostcpu

# µs per verification, from `openssl speed -mr` ("+F2:...:sign/s... " lines: the last field
# of +F2 is RSA verify/s, of +F4 ECDSA verify/s). RSA: 2048 bits; ECDSA: P-256.
speed=$(openssl speed -mr -seconds 1 rsa2048 ecdsap256 2>/dev/null)
rsa_us=$(awk -F: '/^\+F2:/ { printf "%.1f", 1e6 / $NF }' <<<"$speed")
ec_us=$(awk -F: '/^\+F4:/ { printf "%.1f", 1e6 / $NF }' <<<"$speed")
[ -n "$rsa_us" ] && [ -n "$ec_us" ] || { echo "openssl speed printed no verify rates" >&2; exit 1; }
verify_us() { [ "$1" = rsa ] && echo "$rsa_us" || echo "$ec_us"; }

mkdir csrs-p-256 csrs-rsa
"$TOOL" csrs "$BATCH" csrs-p-256 p-256 >/dev/null
"$TOOL" csrs "$BATCH" csrs-rsa rsa:2048 >/dev/null
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

if [ -n "$BASE" ]; then
    echo "| CA key | CSR key | pipeline µs/cert | of it: check+build, signing (host), verify+format+write | process µs/cert | floor: two verifications (openssl speed), µs | baseline: process µs/cert |"
    echo "|---|---|---:|---|---:|---:|---:|"
else
    echo "| CA key | CSR key | pipeline µs/cert | of it: check+build, signing (host), verify+format+write | process µs/cert | floor: two verifications (openssl speed), µs |"
    echo "|---|---|---:|---|---:|---:|"
fi
# A fresh copy of CA directory $1 in $D, never removed before the end (ext4 scans recently
# deleted inodes when it creates files, which would bill a removal to the next batch's writes).
SEQ=0
fresh_copy() {
    SEQ=$((SEQ + 1))
    D=d$SEQ
    cp -a "$1" "$D"
    sed -i "s|^dir .*|dir               = $WORK/$D|" "$D/openssl.cnf"
    sync
}
for ca_spec in rsa:2048 ec:p-256; do
    ca=ca-${ca_spec%%:*}
    "$CLI" ca init --dir "$ca" --key "pkcs11:token=bench;object=$ca" --generate "$ca_spec" \
        --subject "/O=Bench/CN=Bench CA $ca_spec" >/dev/null 2>&1
    for csr in p-256 rsa; do
        pipes=() procs=() parts=() tokens=() bases=()
        for _ in $(seq "$ROUNDS"); do
            fresh_copy "$ca"
            TOKENSIGN_TIMING=1 /usr/bin/time -f "process cpu s: %U %S" -o time.out \
                "$CLI" ca sign --config "$D/openssl.cnf" --batch --in csrs-$csr/*.csr \
                >/dev/null 2>timing.out || { cat timing.out >&2; exit 1; }
            [ "$(wc -l <"$D/index.txt")" -eq "$BATCH" ] || { echo "the batch issued the wrong count" >&2; exit 1; }
            read -r c s t f < <(awk '
                /pipeline cpu ms/ { gsub(/,/, ""); for (i = 1; i <= NF; i++) { if ($i == "check+build") c = $(i + 1); if ($i == "sign") s = $(i + 1); if ($i == "thread") f = $(i + 1) } }
                /token signing cpu ms/ { t = $6 }
                END { print c, s, t, f }' timing.out)
            [ -n "$f" ] && [ -n "$t" ] || { echo "no TOKENSIGN_TIMING figures in the output" >&2; cat timing.out >&2; exit 1; }
            pipes+=("$(awk -v c="$c" -v s="$s" -v t="$t" -v f="$f" -v b="$BATCH" 'BEGIN { printf "%.0f", 1000 * (c + s - t + f) / b }')")
            parts+=("$(awk -v c="$c" -v s="$s" -v t="$t" -v f="$f" -v b="$BATCH" 'BEGIN { printf "%.0f, %.0f, %.0f", 1000 * c / b, 1000 * (s - t) / b, 1000 * f / b }')")
            procs+=("$(awk -v t="$t" -v b="$BATCH" '{ printf "%.0f", (1e6 * ($4 + $5) - 1000 * t) / b }' time.out)")
            tokens+=("$t")
            if [ -n "$BASE" ]; then
                fresh_copy "$ca"
                TOKENSIGN_PROVIDER_DIR=$BASE/provider /usr/bin/time -f "process cpu s: %U %S" \
                    -o time.out "$BASE/cli/tokensign" ca sign --config "$D/openssl.cnf" --batch \
                    --in csrs-$csr/*.csr >/dev/null 2>err.out || { cat err.out >&2; exit 1; }
                [ "$(wc -l <"$D/index.txt")" -eq "$BATCH" ] || { echo "the baseline issued the wrong count" >&2; exit 1; }
                bases+=("$(awk '{ print 1e6 * ($4 + $5) }' time.out)")
            fi
        done
        pipe=$(printf '%s\n' "${pipes[@]}" | median)
        # The split of the round whose total is the median.
        part=
        for i in "${!pipes[@]}"; do [ "${pipes[$i]}" = "$pipe" ] && part=${parts[$i]}; done
        proc=$(printf '%s\n' "${procs[@]}" | median)
        floor=$(awk -v a="$(verify_us "${ca_spec%%:*}")" -v b="$(verify_us "$([ "$csr" = rsa ] && echo rsa || echo ec)")" 'BEGIN { printf "%.0f", a + b }')
        if [ -n "$BASE" ]; then
            token=$(printf '%s\n' "${tokens[@]}" | median)
            base=$(printf '%s\n' "${bases[@]}" | median)
            base=$(awk -v u="$base" -v t="$token" -v b="$BATCH" 'BEGIN { printf "%.0f", (u - 1000 * t) / b }')
            echo "| $ca_spec | ${csr/rsa/rsa:2048} | $pipe | $part | $proc | $floor | $base |"
        else
            echo "| $ca_spec | ${csr/rsa/rsa:2048} | $pipe | $part | $proc | $floor |"
        fi
    done
done
