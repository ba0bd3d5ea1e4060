#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The CA database at scale: what one `tokensign ca sign` costs against an index.txt of 1 k to
# 1 M entries, beside `openssl ca` on the same directory. For each SIZE an index.txt of SIZE
# valid entries is written directly (the format openssl ca writes; no certificates behind
# them) with the serial file past them, and each measurement starts from a fresh copy of it.
# tokensign is measured as an issuing CA's directory is between its runs: one `ca sign` has run
# on the copy first, which leaves the lookup sidecar (index.txt.lookup) and its stamp; the
# first run on a copy (no sidecar: what a run after openssl ca or a hand edit costs) is the
# last column.
#   - one CSR: `tokensign ca sign --batch` and `openssl ca -batch` (key through tokensign.so),
#     wall time and peak RSS (GNU time), unique_subject = yes (the default) enforced
#   - a batch of BATCH CSRs in one `tokensign ca sign --batch`: certificates per second, and
#     (TOKENSIGN_TIMING) the host CPU per certificate outside the token's signing calls (as
#     bench/ca_host_cpu.sh counts it: the pipeline's threads minus the token's signing calls)
#   - `tokensign ca revoke --serial` of one entry, and `tokensign ca list --status V`
# Prints Markdown tables for BENCHMARKS.md ("CA database at scale").
# Usage: bench/ca_scale.sh [BUILD_DIR] [SIZES] [BATCH] [KEY_SPEC]
#   SIZES: space-separated entry counts (default "1000 10000 100000 1000000")
set -euo pipefail
SIZES=${2:-1000 10000 100000 1000000}
BATCH=${3:-1000}
SPEC=${4:-ec:p-256}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_binaries "${1:-build}" /usr/bin/time
bench_token cascale
"$CLI" ca init --dir ca --key "pkcs11:token=bench;object=ca" --generate "$SPEC" \
    --subject "/O=Bench/CN=Bench CA" >/dev/null 2>&1
mkdir csrs
"$TOOL" csrs "$((BATCH + 3))" csrs >/dev/null
# An array, not `printf | head -1`: under pipefail, head exiting first made printf fail with
# SIGPIPE, which stops the script.
all_csrs=(csrs/*.csr)
ONE=${all_csrs[0]}
COLD=${all_csrs[1]}
WARM=${all_csrs[$((BATCH + 2))]}
printf '%s\n' "${all_csrs[@]:2:$BATCH}" >batch.list

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# index.txt of $1 valid entries, serials 0100000000.. (even length), subjects unlike the CSRs'.
make_index() {
    awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++) printf "V\t301231235959Z\t\t01%08X\tunknown\t/O=Bench/CN=device%d.fleet.example\n", i, i }' >"index.$1"
    printf '01%08X\n' "$1" >"serial.$1"
}
# A fresh CA directory whose database is the $1-entry index; its name in $D. Never a removed
# one's name, and nothing removed until the end: ext4 scans recently deleted inodes on every
# file it creates, which would bill a `rm -rf` of 1000 certificates to the next batch.
SEQ=0
fresh() {
    SEQ=$((SEQ + 1))
    D=d$SEQ
    cp -a ca "$D"
    sed -i "s|^dir .*|dir               = $WORK/$D|" "$D/openssl.cnf"
    cp "index.$1" "$D/index.txt"
    cp "serial.$1" "$D/serial"
    sync
}
# fresh, then one tokensign run on it (the CSR of the last line of csrs/, not used otherwise):
# the directory as tokensign left it, with its lookup sidecar.
warm() {
    fresh "$1"
    "$CLI" ca sign --config "$D/openssl.cnf" --batch --in "$WARM" >/dev/null 2>&1 ||
        { echo "the warm-up run failed" >&2; exit 1; }
    sync
}
# Runs "$@" under GNU time: prints "seconds peak_rss_MB".
measure() {
    /usr/bin/time -f "%e %M" -o time.out "$@" >/dev/null 2>err.out || { cat err.out >&2; exit 1; }
    awk '{ printf "%.2f %.0f", $1, $2 / 1024 }' time.out
}

echo "| entries | tokensign: one CSR, s | MB | openssl ca: one CSR, s | MB | tokensign batch of $BATCH, /s | host CPU µs/cert | revoke one, s | list --status V, s | MB | one CSR, no sidecar, s |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in $SIZES; do
    make_index "$n"
    fresh "$n"
    read -r cold_s _ <<<"$(measure "$CLI" ca sign --config "$D/openssl.cnf" --batch --in "$COLD")"
    warm "$n"
    read -r ts_s ts_mb <<<"$(measure "$CLI" ca sign --config "$D/openssl.cnf" --batch --in "$ONE")"
    [ "$(wc -l <"$D/index.txt")" -eq $((n + 2)) ] || { echo "tokensign did not add one entry" >&2; exit 1; }
    # unique_subject is enforced at this size: the same request again is refused.
    if "$CLI" ca sign --config "$D/openssl.cnf" --batch --in "$ONE" >/dev/null 2>&1; then
        echo "a duplicate subject was issued at $n entries" >&2; exit 1
    fi
    fresh "$n"
    read -r os_s os_mb <<<"$(measure openssl ca -batch -config "$D/openssl.cnf" -in "$ONE")"
    [ "$(wc -l <"$D/index.txt")" -eq $((n + 1)) ] || { echo "openssl ca did not add one entry" >&2; exit 1; }
    warm "$n"
    t0=$(now)
    TOKENSIGN_TIMING=1 "$CLI" ca sign --config "$D/openssl.cnf" --batch --in $(cat batch.list) \
        >/dev/null 2>timing.out || { cat timing.out >&2; exit 1; }
    t1=$(now)
    [ "$(wc -l <"$D/index.txt")" -eq $((n + 1 + BATCH)) ] || { echo "the batch issued the wrong count" >&2; exit 1; }
    rate=$(awk -v b="$BATCH" -v t="$(secs "$t0" "$t1")" 'BEGIN { printf "%.0f", b / t }')
    # The pipeline's threads minus the token's signing calls (bench/ca_host_cpu.sh explains).
    cpu=$(awk -v b="$BATCH" '/pipeline cpu ms/ { gsub(/,/, ""); for (i = 1; i <= NF; i++) { if ($i == "check+build") c = $(i + 1); if ($i == "sign") s = $(i + 1); if ($i == "thread") f = $(i + 1) } } /token signing cpu ms/ { t = $6 } END { if (f == "" || t == "") exit 1; printf "%.0f", 1000 * (c + s - t + f) / b }' timing.out) ||
        { echo "no TOKENSIGN_TIMING figures in the batch's output" >&2; cat timing.out >&2; exit 1; }
    victim=$(printf '01%08X' $((n / 2)))
    read -r rv_s _ <<<"$(measure "$CLI" ca revoke --config "$D/openssl.cnf" --serial "$victim")"
    grep -q "^R.*	$victim	" "$D/index.txt" || { echo "revoke did not revoke $victim" >&2; exit 1; }
    read -r ls_s ls_mb <<<"$(measure "$CLI" ca list --config "$D/openssl.cnf" --status V)"
    echo "| $n | $ts_s | $ts_mb | $os_s | $os_mb | $rate | $cpu | $rv_s | $ls_s | $ls_mb | $cold_s |"
    rm -f "index.$n" "serial.$n"
done
