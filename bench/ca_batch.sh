#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CA batch signing, measured in one run on one fresh SoftHSM2 token and one CA key:
#   1. raw C_Sign on the CA key (ca_batch_tool raw-sign: one login; one session, and two
#      sessions on two threads), before and after
#   2. `tokensign ca sign --batch` of N CSRs in one run (one login): the default (2 signing
#      sessions) and --signing-threads 1
#   3. the guide's way: a loop of `openssl ca -batch` invocations (key through tokensign.so)
# Prints a Markdown table for BENCHMARKS.md ("CA batch signing").
# Usage: bench/ca_batch.sh [BUILD_DIR] [N] [OPENSSL_CA_LOOP_N] [KEY_SPEC]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-1000}
LOOP_N=${3:-200}
SPEC=${4:-rsa:2048}
CLI=$BUILD/cli/tokensign
TOOL=$BUILD/bench/ca_batch_tool
export TOKENSIGN_PROVIDER_DIR=$BUILD/provider
for f in "$CLI" "$TOOL" "$TOKENSIGN_PROVIDER_DIR/tokensign.so"; do
    [ -e "$f" ] || { echo "missing $f: build tokensign, tokensign_provider and ca_batch_tool" >&2; exit 1; }
done
MODULE=
for p in /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so /usr/lib/softhsm/libsofthsm2.so; do
    [ -r "$p" ] && MODULE=$p && break
done
[ -n "$MODULE" ] || { echo "SoftHSM2 is not installed: run scripts/install-deps.sh" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokensign-cabench-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir "$WORK/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$WORK/tokens" >"$WORK/softhsm2.conf"
export SOFTHSM2_CONF=$WORK/softhsm2.conf TOKENSIGN_MODULE=$MODULE TOKENSIGN_PIN=1234
softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 123456 >/dev/null
cd "$WORK"

now() { date +%s.%N; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

"$CLI" ca init --dir ca --key "pkcs11:token=bench;object=ca" --generate "$SPEC" \
    --subject "/O=Bench/CN=Bench CA" >/dev/null 2>&1
KEY="pkcs11:token=bench;object=ca"
mkdir csrs
"$TOOL" csrs "$N" csrs >/dev/null
printf '%s\n' csrs/*.csr | awk -v n="$LOOP_N" 'NR <= n' >loop.list

raw1=$("$TOOL" raw-sign "$KEY" "$N")
raw1t=$("$TOOL" raw-sign "$KEY" "$N" 2)

run_batch() {  # threads output-option [base-dir] -> "seconds"
    local base=${3:-$WORK}
    local d=$base/ca-$1-$2
    rm -rf "$d" out && cp -a ca "$d" && mkdir out
    sed -i "s|^dir .*|dir               = $d|" "$d/openssl.cnf"
    local t0 t1 out_opt=(--out out/all.pem)
    [ "$2" = dir ] && out_opt=(--out-dir out)
    t0=$(now)
    "$CLI" ca sign --config "$d/openssl.cnf" --batch --signing-threads "$1" \
        --in csrs/*.csr "${out_opt[@]}" 2>/dev/null
    t1=$(now)
    [ "$(wc -l <"$d/index.txt")" -eq "$N" ] || { echo "batch issued the wrong count" >&2; exit 1; }
    [ "$(ls "$d/newcerts" | wc -l)" -eq "$N" ] || { echo "newcerts/ is incomplete" >&2; exit 1; }
    rm -rf "$d"
    secs "$t0" "$t1"
}
ts1=$(run_batch 2 file)
ts2=$(run_batch 1 file)
ts3=$(run_batch 2 dir)
# The same run with the CA directory on tmpfs: how much of the gap is creating the newcerts/
# files on this machine's disk (the token's files stay where they are).
SHM=
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    SHM=$(mktemp -d /dev/shm/tokensign-cabench-XXXXXX)
    trap 'rm -rf "$WORK" "$SHM"' EXIT
    ts4=$(run_batch 2 file "$SHM")
fi

rm -rf ca-ossl && cp -a ca ca-ossl && sed -i "s|^dir .*|dir               = $WORK/ca-ossl|" ca-ossl/openssl.cnf
t0=$(now)
i=0
while read -r csr; do
    openssl ca -batch -config ca-ossl/openssl.cnf -in "$csr" -out "o$i.pem" 2>/dev/null
    i=$((i + 1))
done <loop.list
t1=$(now)
ossl=$(secs "$t0" "$t1")

raw2=$("$TOOL" raw-sign "$KEY" "$N")
raw2t=$("$TOOL" raw-sign "$KEY" "$N" 2)
rate_of() { echo "$1" | awk '{ printf "%.0f", $3 }'; }
raw_rate1=$(rate_of "$raw1"); raw_rate2=$(rate_of "$raw2")
raw_rate1t=$(rate_of "$raw1t"); raw_rate2t=$(rate_of "$raw2t")
raw_best=$(( raw_rate1 > raw_rate2 ? raw_rate1 : raw_rate2 ))
raw_best2=$(( raw_rate1t > raw_rate2t ? raw_rate1t : raw_rate2t ))
# Each batch against raw C_Sign with the same number of sessions (the faster of before/after).
pct() { awk -v r="$1" -v b="$raw_best" 'BEGIN { printf "%.0f%%", 100 * r / b }'; }
pct2() { awk -v r="$1" -v b="$raw_best2" 'BEGIN { printf "%.0f%%", 100 * r / b }'; }

r1=$(rate "$N" "$ts1"); r2=$(rate "$N" "$ts2"); r3=$(rate "$N" "$ts3"); ro=$(rate "$LOOP_N" "$ossl")
[ -n "$SHM" ] && r4=$(rate "$N" "$ts4")
echo "CA key $SPEC on SoftHSM2 $(softhsm2-util --version), $N CSRs (P-256 requests), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
secs_of() { echo "$1" | awk '{ printf "%.3f", $2 }'; }
echo "| method | certificates | seconds | per second | of raw C_Sign, same sessions |"
echo "|---|---:|---:|---:|---:|"
echo "| raw C_Sign, one session (before) | $N | $(secs_of "$raw1") | $raw_rate1 | - |"
echo "| raw C_Sign, one session (after) | $N | $(secs_of "$raw2") | $raw_rate2 | - |"
echo "| raw C_Sign, two sessions on two threads (before) | $N | $(secs_of "$raw1t") | $raw_rate1t | - |"
echo "| raw C_Sign, two sessions on two threads (after) | $N | $(secs_of "$raw2t") | $raw_rate2t | - |"
echo "| \`tokensign ca sign --batch --out all.pem\`, one run (default: 2 signing sessions) | $N | $ts1 | $r1 | $(pct2 "$r1") of two-session raw, $(pct "$r1") of one-session |"
echo "| same, \`--signing-threads 1\` (one token session) | $N | $ts2 | $r2 | $(pct "$r2") |"
echo "| same as the first, \`--out-dir\` (a file per certificate) | $N | $ts3 | $r3 | $(pct2 "$r3") |"
[ -n "$SHM" ] && echo "| same as the first, CA directory on tmpfs (/dev/shm) | $N | $ts4 | $r4 | $(pct2 "$r4") |"
echo "| loop of \`openssl ca -batch\` (the guide's way) | $LOOP_N | $ossl | $ro | $(pct "$ro") |"
