#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The token on another host, measured: `tokensign ca sign --batch` of N CSRs with the CA key on
# one fresh SoftHSM2 token, used directly (the module in this process) and through p11-kit
# remoting (`p11-kit server` on a unix socket, p11-kit-client.so in the signer), in ROUNDS
# interleaved rounds in one run (a VM's speed drifts within minutes; each round compares runs
# made seconds apart, and the median round is the result). Both ends run on this machine, so
# the figure is the cost of the RPC layer, not of a network. Also one `openssl dgst -sign`
# through tokensign.so each way (whole process: module load, login, one signature).
# Prints a Markdown table for BENCHMARKS.md ("Remote token").
# Usage: bench/remote_batch.sh [BUILD_DIR] [N] [KEY_SPEC] [ROUNDS]
set -euo pipefail
N=${2:-500}
SPEC=${3:-rsa:2048}
ROUNDS=${4:-3}
# The binaries and the module; the work directory is this script's own (a server to stop).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_binaries "${1:-build}"
CLIENT=$(pkg-config --variable p11_module_path p11-kit-1 2>/dev/null)/p11-kit-client.so
[ -r "$CLIENT" ] || { echo "p11-kit-client.so not found (package p11-kit-modules)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokensign-remotebench-XXXXXX")
SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir "$WORK/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$WORK/tokens" >"$WORK/softhsm2.conf"
export SOFTHSM2_CONF=$WORK/softhsm2.conf TOKENSIGN_PIN=1234
softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 123456 >/dev/null
cd "$WORK"

SOCKET=$WORK/p11-kit.sock
p11-kit server -f --provider "$MODULE" -n "$SOCKET" "pkcs11:token=bench" >/dev/null 2>server.err &
SERVER_PID=$!
for _ in $(seq 1 100); do [ -S "$SOCKET" ] && break; sleep 0.1; done
[ -S "$SOCKET" ] || { cat server.err >&2; echo "p11-kit server did not start" >&2; exit 1; }

now() { date +%s.%N; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
pct() { awk -v r="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * r / b }'; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

TOKENSIGN_MODULE=$MODULE "$CLI" ca init --dir ca --key "pkcs11:token=bench;object=ca" \
    --generate "$SPEC" --subject "/O=Bench/CN=Bench CA" >/dev/null 2>&1
mkdir csrs
"$TOOL" csrs "$N" csrs >/dev/null
head -c 1024 /dev/urandom >data.bin

# how: direct | remote. The remote runs see the token only through the socket.
with_module() {
    local how=$1
    shift
    if [ "$how" = direct ]; then
        TOKENSIGN_MODULE=$MODULE "$@"
    else
        SOFTHSM2_CONF=$WORK/none.conf TOKENSIGN_MODULE=$CLIENT \
            P11_KIT_SERVER_ADDRESS=unix:path=$SOCKET "$@"
    fi
}

run_batch() {  # how -> seconds
    local d=$WORK/ca-$1-$(date +%s%N) t0 t1
    cp -a ca "$d"
    sed -i "s|^dir .*|dir               = $d|" "$d/openssl.cnf"
    t0=$(now)
    with_module "$1" "$CLI" ca sign --config "$d/openssl.cnf" --batch --in csrs/*.csr \
        --out "$d/all.pem" 2>/dev/null
    t1=$(now)
    [ "$(wc -l <"$d/index.txt")" -eq "$N" ] || { echo "$1 batch issued the wrong count" >&2; exit 1; }
    secs "$t0" "$t1"
}

run_dgst() {  # how -> seconds for one whole openssl dgst -sign process
    local t0 t1
    t0=$(now)
    with_module "$1" openssl dgst -sha256 -provider-path "$TOKENSIGN_PROVIDER_DIR" \
        -provider tokensign -provider default -sign "pkcs11:token=bench;object=ca;type=private" \
        -out "sig-$1" data.bin
    t1=$(now)
    secs "$t0" "$t1"
}

echo "CA key $SPEC on SoftHSM2 $(softhsm2-util --version), $N CSRs, p11-kit $(pkg-config --modversion p11-kit-1 2>/dev/null), unix socket on this machine, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $ROUNDS rounds"
echo
echo "| round | batch, direct | batch, through p11-kit-client | remote of direct | \`openssl dgst -sign\`, direct | through p11-kit-client |"
echo "|---|---:|---:|---:|---:|---:|"
PR=""
for round in $(seq 1 "$ROUNDS"); do
    td=$(run_batch direct)
    tr_=$(run_batch remote)
    dd=$(run_dgst direct)
    dr=$(run_dgst remote)
    rd=$(rate "$N" "$td")
    rr=$(rate "$N" "$tr_")
    p=$(pct "$rr" "$rd")
    PR="$PR $p"
    echo "| $round | $rd /s | $rr /s | $p % | $(awk -v s="$dd" 'BEGIN { printf "%.1f ms", 1000 * s }') | $(awk -v s="$dr" 'BEGIN { printf "%.1f ms", 1000 * s }') |"
done
echo "| **median** | | | **$(echo "$PR" | median) %** | | |"
