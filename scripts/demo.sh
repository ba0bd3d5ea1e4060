#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The main job on an embedded default: the CA guide's workflow (../docs/ca-guide-workflow.md)
# with the root key on a throwaway SoftHSM2 token.
#   1. a fresh SoftHSM2 token (random PIN, kept only in a 0600 pin file),
#   2. the root CA key generated ON the token (RSA-4096, never extractable),
#   3. the root CA created (tokensign ca init): openssl-ca directory + self-signed root,
#   4. a host key and CSR made for the guide's CouchDB host,
#   5. the CSR signed by the token key (tokensign ca sign),
#   6. the result verified by plain openssl (no tokensign loaded) and GnuTLS certtool,
#   7. the host certificate revoked and a CRL signed on the token,
#   8. stock `openssl ca` continuing the same CA directory with the token key,
#   9. a summary: subjects, serials, fingerprints, where the files are.
# Usage: scripts/demo.sh [--installed] [WORKDIR]   (default: a new directory under /tmp, kept)
#   --installed  use the installed tokensign and tokensign.so (the .deb or `cmake --install`)
#                instead of building them
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${TS_BUILD_DIR:-"$here/build"}
installed=no
if [[ ${1:-} == --installed ]]; then
    installed=yes
    shift
fi

step() { printf '\n==> %s\n' "$*"; }

if [[ $installed == yes ]]; then
    tokensign=$(command -v tokensign) || { echo "demo: tokensign is not installed" >&2; exit 1; }
    unset TOKENSIGN_PROVIDER_DIR
    step "Using the installed $tokensign"
else
    # Only what the demo runs (the CLI and the provider): the tests and benchmarks are for
    # scripts/test.sh. make's progress lines show while it builds; the full log is kept.
    log="${TMPDIR:-/tmp}/tokensign-demo-build.log"
    step "Installing dependencies and building tokensign (log: $log)"
    if ! TS_BUILD_DIR="$build" TS_TARGETS="tokensign tokensign_provider" \
        "$here/scripts/build.sh" 2>&1 | tee "$log" | grep --line-buffered -E '^\[ *[0-9]+%\]|install-deps'; then
        echo "build failed; see $log" >&2
        exit 1
    fi
    tokensign="$build/cli/tokensign"
    export TOKENSIGN_PROVIDER_DIR="$build/provider"
fi
"$tokensign" --version

work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/tokensign-demo-XXXXXX")}
mkdir -p "$work"
work=$(cd "$work" && pwd)
ca="$work/ca"
if [[ -e "$ca" ]]; then
    echo "demo: $ca already exists; give a new WORKDIR (nothing is ever overwritten)" >&2
    exit 1
fi

step "Creating a throwaway SoftHSM2 token 'demo-root' in $work/token"
eval "$("$here/scripts/softhsm-token.sh" "$work/token" demo-root)"
export SOFTHSM2_CONF
unset TOKENSIGN_PIN
pin_source="$TS_PIN_FILE"
"$tokensign" token list

key_uri="pkcs11:token=demo-root;object=root-ca"

step "Creating the root CA: key generated on the token (RSA-4096), self-signed root certificate"
"$tokensign" --pin-source "$pin_source" ca init --dir "$ca" --key "$key_uri" --generate rsa:4096 \
    --subject "/C=US/ST=Massachusetts/L=Boston/O=Quoin, Inc./CN=CouchDB Root CA" --days 3650 \
    --store-cert
"$tokensign" --pin-source "$pin_source" key show "$key_uri;type=private"

step "Making the CouchDB host's key and CSR (the guide's 'openssl genrsa' + 'openssl req')"
host=couchdb.example.org
openssl genrsa -out "$work/$host.key" 2048 2>/dev/null
chmod 600 "$work/$host.key"
openssl req -new -key "$work/$host.key" -out "$work/$host.csr" \
    -subj "/C=US/ST=Massachusetts/L=Boston/O=Quoin, Inc./CN=$host"

step "Signing the CSR with the root key on the token (tokensign ca sign)"
"$tokensign" --pin-source "$pin_source" ca sign --config "$ca/openssl.cnf" \
    --in "$work/$host.csr" --out "$work/$host.pem" --extensions server --batch

step "Verifying with plain openssl (tokensign not loaded) and GnuTLS certtool"
root="$ca/certs/ca.pem"
env -u OPENSSL_CONF openssl verify -CAfile "$root" "$work/$host.pem"
certtool --verify --verify-profile medium --load-ca-certificate "$root" \
    --infile "$work/$host.pem" 2>&1 | grep '^Chain verification output' | sed 's/^/certtool: /'
test "${PIPESTATUS[0]}" -eq 0
"$tokensign" ca verify --config "$ca/openssl.cnf" "$work/$host.pem"

step "Revoking the host certificate and signing a CRL on the token (tokensign ca revoke, gencrl)"
"$tokensign" ca revoke --config "$ca/openssl.cnf" --cert "$work/$host.pem" --reason superseded
"$tokensign" --pin-source "$pin_source" ca gencrl --config "$ca/openssl.cnf" --out "$ca/crl/ca.crl"
env -u OPENSSL_CONF openssl crl -in "$ca/crl/ca.crl" -CAfile "$root" -noout 2>&1 | sed 's/^/openssl crl: /'
if env -u OPENSSL_CONF openssl verify -crl_check -CRLfile "$ca/crl/ca.crl" -CAfile "$root" \
    "$work/$host.pem" >"$work/verify-revoked.txt" 2>&1; then
    echo "demo: the revoked certificate still verifies against the CRL" >&2
    exit 1
fi
grep -o 'certificate revoked' "$work/verify-revoked.txt" | sed 's/^/openssl verify -crl_check: /'

step "Stock openssl ca continues the same CA directory, the key still on the token"
host2=backup.example.org
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/$host2.key" \
    -subj "/C=US/ST=Massachusetts/L=Boston/O=Quoin, Inc./CN=$host2" -out "$work/$host2.csr" 2>/dev/null
# openssl ca reads the provider section and the key URI from the CA's openssl.cnf; the PIN
# comes through the URI's pin-source, as with tokensign (percent-encoded, RFC 7512 §2.4).
pin_query=$(printf '%s' "$pin_source" | sed -e 's/%/%25/g' -e 's/ /%20/g' -e 's/;/%3B/g' \
    -e 's/?/%3F/g' -e 's/&/%26/g' -e 's/#/%23/g')
openssl ca -config "$ca/openssl.cnf" -batch -extensions server -in "$work/$host2.csr" \
    -out "$work/$host2.pem" -keyfile "$key_uri;type=private?pin-source=file:$pin_query" 2>&1 |
    grep -E '^(Signature ok|Certificate is to be certified|Data Base Updated)' || true
test -s "$work/$host2.pem" || { echo "demo: openssl ca did not sign" >&2; exit 1; }
env -u OPENSSL_CONF openssl verify -CAfile "$root" "$work/$host2.pem"
"$tokensign" ca list --config "$ca/openssl.cnf"

step "Summary"
show() {
    local f=$1
    printf '  %-9s %s\n' "subject" "$(openssl x509 -in "$f" -noout -subject -nameopt oneline | sed 's/^subject=//')"
    printf '  %-9s %s\n' "serial" "$(openssl x509 -in "$f" -noout -serial | sed 's/^serial=//')"
    printf '  %-9s %s\n' "sha256" "$(openssl x509 -in "$f" -noout -fingerprint -sha256 | sed 's/^.*=//')"
    printf '  %-9s %s\n' "file" "$f"
}
echo "Root CA (key on token 'demo-root', never left it):"
show "$root"
echo "CouchDB host certificate (revoked, listed in $ca/crl/ca.crl):"
show "$work/$host.pem"
echo "Backup host certificate (signed by stock openssl ca):"
show "$work/$host2.pem"
echo
echo "CA directory (readable by 'openssl ca'): $ca"
echo "Token directory: $work/token (SOFTHSM2_CONF=$SOFTHSM2_CONF); PIN file: $pin_source"
