#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Whole-process timings with hyperfine: `openssl dgst -sign` and `openssl x509 -req -CAkey` on
# the same SoftHSM2 key through tokensign.so and through libp11's engine_pkcs11 (the baseline),
# and plain openssl with a key file (no token: the floor for any provider), measured in the same
# run. Installs hyperfine and libp11's engine from Debian if missing.
# Usage: bench/process_bench.sh BUILD_DIR [OUT.md]
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [OUT.md]}
out=${2:-process_bench.md}
provider_dir=$(cd "$build/provider" && pwd)

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
engine=
for e in /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so /usr/lib/aarch64-linux-gnu/engines-3/pkcs11.so; do
    [ -r "$e" ] && engine=$e
done
[ -n "$engine" ] || need+=(libengine-pkcs11-openssl)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
    for e in /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so /usr/lib/aarch64-linux-gnu/engines-3/pkcs11.so; do
        [ -r "$e" ] && engine=$e
    done
fi

module=
for m in /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
    [ -r "$m" ] && module=$m
done
work=$(mktemp -d "${TMPDIR:-/tmp}/tokensign-pbench-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$work" \
    >"$work/softhsm2.conf"
export SOFTHSM2_CONF=$work/softhsm2.conf
softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 123456 >/dev/null
for k in "rsa:2048 rsa 01" "EC:prime256v1 p256 02"; do
    set -- $k
    pkcs11-tool --module "$module" --login --pin 1234 --keypairgen --key-type "$1" --label "$2" \
        --id "$3" >/dev/null 2>&1
done
head -c 1024 /dev/urandom >"$work/data.bin"

# Each side gets a config of its own; both load the same module and key.
cat >"$work/tokensign.cnf" <<CNF
openssl_conf = init
[init]
providers = prov
[prov]
default = dflt
tokensign = ts
[dflt]
activate = 1
[ts]
module = $provider_dir/tokensign.so
pkcs11-module = $module
activate = 1
CNF
cat >"$work/engine.cnf" <<CNF
openssl_conf = init
[init]
engines = eng
[eng]
pkcs11 = p11
[p11]
engine_id = pkcs11
dynamic_path = $engine
MODULE_PATH = $module
init = 0
CNF
export TOKENSIGN_PIN=1234
cd "$work"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.key 2>/dev/null
openssl req -new -key leaf.key -subj /CN=leaf -out leaf.csr
for k in rsa p256; do
    OPENSSL_CONF=$work/tokensign.cnf openssl req -new -x509 -key "pkcs11:token=bench;object=$k" \
        -subj "/CN=bench $k" -days 30 -out $k.ca.pem
done
# The floor: plain openssl with the key in a file, no token and no tokensign or engine loaded.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.file.key 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.file.key 2>/dev/null
for k in rsa p256; do
    OPENSSL_CONF=/dev/null openssl req -new -x509 -key $k.file.key -subj "/CN=file $k" -days 30 \
        -out $k.file.ca.pem
done

{
    echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'),"
    echo "$(openssl version), SoftHSM2 $(softhsm2-util --version), hyperfine $(hyperfine --version | cut -d' ' -f2)"
    echo
} >"$out"
for k in rsa p256; do
    uri="pkcs11:token=bench;object=$k"
    hyperfine -N --warmup 5 --min-runs 40 --export-markdown "$work/dgst-$k.md" \
        -n "tokensign: openssl dgst -sign ($k)" \
        "env OPENSSL_CONF=$work/tokensign.cnf openssl dgst -sha256 -sign $uri -out $work/ts.sig $work/data.bin" \
        -n "engine_pkcs11: openssl dgst -sign ($k)" \
        "env OPENSSL_CONF=$work/engine.cnf openssl dgst -sha256 -engine pkcs11 -keyform engine -passin pass:1234 -sign $uri?pin-value=1234 -out $work/eng.sig $work/data.bin" \
        -n "no token, key in a file: openssl dgst -sign ($k)" \
        "env OPENSSL_CONF=/dev/null openssl dgst -sha256 -sign $work/$k.file.key -out $work/file.sig $work/data.bin" \
        >/dev/null
    hyperfine -N --warmup 5 --min-runs 40 --export-markdown "$work/x509-$k.md" \
        -n "tokensign: openssl x509 -req -CAkey ($k)" \
        "env OPENSSL_CONF=$work/tokensign.cnf openssl x509 -req -in $work/leaf.csr -CA $work/$k.ca.pem -CAkey $uri -set_serial 7 -days 1 -out $work/ts.pem" \
        -n "engine_pkcs11: openssl x509 -req -CAkey ($k)" \
        "env OPENSSL_CONF=$work/engine.cnf openssl x509 -req -in $work/leaf.csr -CA $work/$k.ca.pem -engine pkcs11 -CAkeyform engine -CAkey $uri?pin-value=1234 -set_serial 7 -days 1 -out $work/eng.pem" \
        -n "no token, key in a file: openssl x509 -req -CAkey ($k)" \
        "env OPENSSL_CONF=/dev/null openssl x509 -req -in $work/leaf.csr -CA $work/$k.file.ca.pem -CAkey $work/$k.file.key -set_serial 7 -days 1 -out $work/file.pem" \
        >/dev/null
    cat "$work/dgst-$k.md" "$work/x509-$k.md" >>"$out"
    echo >>"$out"
done
# Both produced valid results (checked without tokensign):
openssl verify -CAfile "$work/p256.ca.pem" "$work/ts.pem" >/dev/null
openssl verify -CAfile "$work/p256.ca.pem" "$work/eng.pem" >/dev/null
cat "$out"
