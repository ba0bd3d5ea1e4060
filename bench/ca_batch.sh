#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CA batch signing, measured in one run on one fresh SoftHSM2 token and one CA key, in ROUNDS
# interleaved rounds (a VM's speed drifts by tens of percent within minutes; each round's
# ratios compare runs made seconds apart, and the median round is the result). Each round:
#   1. raw C_Sign on the CA key (ca_batch_tool raw-sign: one login): one session, pinned to each
#      CPU in turn and unpinned, the fastest kept; and two sessions on two threads
#   2. `tokensign ca sign --batch` of N CSRs in one run (one login): the default (2 signing
#      sessions) and --signing-threads 1
# Then once: --out-dir, the CA directory on tmpfs, and the guide's way: a loop of
# `openssl ca -batch` invocations (key through tokensign.so).
# Prints Markdown tables for BENCHMARKS.md ("CA batch signing").
# Usage: bench/ca_batch.sh [BUILD_DIR] [N] [OPENSSL_CA_LOOP_N] [KEY_SPEC] [ROUNDS]
set -euo pipefail
N=${2:-1000}
LOOP_N=${3:-200}
SPEC=${4:-rsa:2048}
ROUNDS=${5:-3}
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_binaries "${1:-build}"
bench_token cabench

now() { date +%s.%N; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
pct() { awk -v r="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * r / b }'; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

"$CLI" ca init --dir ca --key "pkcs11:token=bench;object=ca" --generate "$SPEC" \
    --subject "/O=Bench/CN=Bench CA" >/dev/null 2>&1
KEY="pkcs11:token=bench;object=ca"
mkdir csrs
"$TOOL" csrs "$N" csrs >/dev/null
printf '%s\n' csrs/*.csr | awk -v n="$LOOP_N" 'NR <= n' >loop.list

# One session signs on one CPU, and the CPUs of a VM are not equal (on the 2-vCPU machine of
# BENCHMARKS.md one signed 1.5x slower than the other for minutes at a time): raw C_Sign with
# one session is measured pinned to each CPU (taskset) and unpinned, and the fastest is the
# baseline.
CPUS=$(seq 0 $(($(nproc) - 1)))
command -v taskset >/dev/null || CPUS=
raw_one() {  # -> "fastest-rate|unpinned R, cpu0 R, ..."
    local best all r
    r=$("$TOOL" raw-sign "$KEY" "$N" | awk '{ printf "%.0f", $3 }')
    best=$r
    all="unpinned $r"
    for c in $CPUS; do
        r=$(taskset -c "$c" "$TOOL" raw-sign "$KEY" "$N" | awk '{ printf "%.0f", $3 }')
        all="$all, cpu$c $r"
        [ "$r" -gt "$best" ] && best=$r
    done
    echo "$best|$all"
}
raw_two() { "$TOOL" raw-sign "$KEY" "$N" 2 | awk '{ printf "%.0f", $3 }'; }

run_batch() {  # threads output-option [base-dir] -> "seconds"
    local base=${3:-$WORK} tag
    tag=$1-$2-$(date +%s%N)
    local d=$base/ca-$tag out=$WORK/out-$tag
    cp -a ca "$d" && mkdir "$out"
    sed -i "s|^dir .*|dir               = $d|" "$d/openssl.cnf"
    local t0 t1 out_opt=(--out "$out/all.pem")
    [ "$2" = dir ] && out_opt=(--out-dir "$out")
    t0=$(now)
    "$CLI" ca sign --config "$d/openssl.cnf" --batch --signing-threads "$1" \
        --in csrs/*.csr "${out_opt[@]}" 2>/dev/null
    t1=$(now)
    [ "$(wc -l <"$d/index.txt")" -eq "$N" ] || { echo "batch issued the wrong count" >&2; exit 1; }
    [ "$(ls "$d/newcerts" | wc -l)" -eq "$N" ] || { echo "newcerts/ is incomplete" >&2; exit 1; }
    # $d and $out are kept until the script exits: ext4 without a journal (this VM's) scans
    # inodes deleted in the last minutes on every file it creates, so deleting 1000 files here
    # would tax the next batch's newcerts/ files (up to 0.4 ms each), which a CA never does to
    # itself.
    secs "$t0" "$t1"
}

echo "CA key $SPEC on SoftHSM2 $(softhsm2-util --version), $N CSRs (P-256 requests), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $ROUNDS rounds"
echo
echo "| round | raw C_Sign, 1 session (fastest of) | raw C_Sign, 2 sessions | batch, default (2 sessions) | of raw 1 session | of raw 2 sessions | batch, \`--signing-threads 1\` | of raw 1 session |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
P1="" P2="" PS=""
for round in $(seq 1 "$ROUNDS"); do
    r1=$(raw_one); r2=$(raw_two)
    tb=$(run_batch 2 file); ts=$(run_batch 1 file)
    raw1=${r1%%|*}; rb=$(rate "$N" "$tb"); rs=$(rate "$N" "$ts")
    p1=$(pct "$rb" "$raw1"); p2=$(pct "$rb" "$r2"); ps=$(pct "$rs" "$raw1")
    P1="$P1 $p1" P2="$P2 $p2" PS="$PS $ps"
    echo "| $round | $raw1 /s (${r1#*|}) | $r2 /s | $rb /s | $p1 % | $p2 % | $rs /s | $ps % |"
done
echo "| **median** | | | | **$(echo "$P1" | median) %** | **$(echo "$P2" | median) %** | | **$(echo "$PS" | median) %** |"
echo

to=$(run_batch 2 dir)
SHM=
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    SHM=$(mktemp -d /dev/shm/tokensign-cabench-XXXXXX)
    trap 'rm -rf "$SHM"; bench_exit' EXIT
    tm=$(run_batch 2 file "$SHM")
fi
cp -a ca ca-ossl && sed -i "s|^dir .*|dir               = $WORK/ca-ossl|" ca-ossl/openssl.cnf
t0=$(now)
i=0
while read -r csr; do
    openssl ca -batch -config ca-ossl/openssl.cnf -in "$csr" -out "o$i.pem" 2>/dev/null
    i=$((i + 1))
done <loop.list
t1=$(now)
ossl=$(secs "$t0" "$t1")
r1=$(raw_one); raw1=${r1%%|*}
echo "| method | certificates | seconds | per second | of raw C_Sign, 1 session ($raw1 /s, measured after) |"
echo "|---|---:|---:|---:|---:|"
ro=$(rate "$N" "$to"); echo "| batch, default, \`--out-dir\` (a file per certificate too) | $N | $to | $ro | $(pct "$ro" "$raw1") % |"
if [ -n "$SHM" ]; then
    rm_=$(rate "$N" "$tm"); echo "| batch, default, CA directory on tmpfs (/dev/shm) | $N | $tm | $rm_ | $(pct "$rm_" "$raw1") % |"
fi
rl=$(rate "$LOOP_N" "$ossl"); echo "| loop of \`openssl ca -batch\` (the guide's way) | $LOOP_N | $ossl | $rl | $(pct "$rl" "$raw1") % |"
