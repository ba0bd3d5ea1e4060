#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The .deb as a user gets it: built by scripts/package.sh from this build, checked (version,
# Depends from dpkg-shlibdeps, file list), installed with dpkg -i, then used with the build tree
# out of reach (no build dir on PATH or in the environment, the build's tokensign.so renamed):
# `openssl list -provider tokensign` with no -provider-path, the demo on the installed files
# (ca init, ca sign, revoke, CRL, stock `openssl ca` on the same directory), the CA's
# openssl.cnf naming the installed module, man pages, bash completion. Then dpkg -r must remove
# every file it installed. The package is removed and the build's tokensign.so restored on any
# exit. Needs root (dpkg -i); CI runs as root.
# Usage: deb_install_demo_remove.sh SOURCE-DIR BUILD-DIR VERSION
set -euo pipefail
src=$1 build=$2 version=$3
fail() { echo "FAIL: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || fail "installing the .deb needs root (dpkg -i); run this test as root"
if dpkg-query -W -f='${db:Status-Status}' tokensign 2>/dev/null | grep -q installed; then
    fail "a tokensign package is already installed on this machine; remove it (dpkg -r tokensign) first"
fi
[[ ! -e /usr/bin/tokensign ]] || fail "/usr/bin/tokensign exists but no package owns it"

work=$(mktemp -d "${TMPDIR:-/tmp}/tokensign-package-XXXXXX")
so="$build/provider/tokensign.so"
installed=no
cleanup() {
    local rc=$?
    if [[ $installed == yes ]]; then dpkg -r tokensign >"$work/dpkg-r.log" 2>&1 || rc=1; fi
    if [[ -e "$so.hidden-by-package-test" ]]; then mv "$so.hidden-by-package-test" "$so"; fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT

echo "== building the .deb"
deb=$(TS_BUILD_DIR="$build" "$src/scripts/package.sh" "$work/out" | tail -1)
[[ -f $deb ]] || fail "package.sh made no .deb"
[[ $(dpkg-deb -f "$deb" Package) == tokensign ]] || fail "Package is not tokensign"
[[ $(dpkg-deb -f "$deb" Version) == "$version" ]] ||
    fail "Version $(dpkg-deb -f "$deb" Version) is not the project's $version"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libc6 libssl3 libp11-kit0 openssl; do
    grep -qE "(^|, )$lib( |,|$)" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
modules_dir=$(pkg-config --variable=modulesdir libcrypto)
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\.||' >"$work/contents"
for f in /usr/bin/tokensign "$modules_dir/tokensign.so" /usr/share/man/man1/tokensign.1.gz \
    /usr/share/man/man7/tokensign-provider.7.gz /usr/share/bash-completion/completions/tokensign \
    /usr/share/doc/tokensign/openssl-tokensign.cnf; do
    grep -qxF "$f" "$work/contents" || fail "the .deb lacks $f"
done

echo "== dpkg -i"
installed=yes
dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log"; fail "dpkg -i failed"; }
dpkg -L tokensign >"$work/installed-files"
# With the build tree's tokensign.so still there, the installed binary must not pick it.
/usr/bin/tokensign --version | grep -qxF "provider: $modules_dir/tokensign.so" ||
    fail "installed tokensign loads $(/usr/bin/tokensign --version | sed -n 's/^provider: //p')"

# From here on nothing of the build tree can be found: its provider is renamed away, PATH and
# the environment name no build directory.
mv "$so" "$so.hidden-by-package-test"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
unset TOKENSIGN_PROVIDER_DIR TOKENSIGN_MODULE TOKENSIGN_PIN OPENSSL_MODULES OPENSSL_CONF TS_CLI TS_PROVIDER_DIR
[[ $(command -v tokensign) == /usr/bin/tokensign ]] || fail "tokensign on PATH is $(command -v tokensign)"

echo "== openssl finds the installed provider by name"
openssl list -providers -provider tokensign | tee "$work/providers.txt"
grep -q 'tokensign' "$work/providers.txt" || fail "openssl list -provider tokensign did not load it"
tokensign --version | tee "$work/version.txt"
grep -qxF "provider: $modules_dir/tokensign.so" "$work/version.txt" ||
    fail "installed tokensign does not load $modules_dir/tokensign.so"

echo "== the demo on the installed files"
demo="$work/demo"
(cd / && bash "$src/scripts/demo.sh" --installed "$demo") >"$work/demo.log" 2>&1 ||
    { cat "$work/demo.log"; fail "the demo failed on the installed package"; }
tail -15 "$work/demo.log"
# openssl ca loaded the provider from that openssl.cnf with the build's module renamed away:
# whatever its module line says, it is not the build tree.
if grep -qF "$build" "$demo/ca/openssl.cnf"; then fail "the CA's openssl.cnf names the build tree"; fi
grep -q "Backup host certificate (signed by stock openssl ca)" "$work/demo.log" ||
    fail "the demo did not reach openssl ca"

echo "== man pages and completion"
man_text=$(MANWIDTH=100 man tokensign 2>"$work/man.err") || { cat "$work/man.err"; fail "man tokensign failed"; }
for w in "ca sign" "--signing-threads" "EXIT STATUS"; do
    grep -qF -- "$w" <<<"$man_text" || fail "man tokensign does not show '$w'"
done
MANWIDTH=100 man 7 tokensign-provider | grep -q 'pkcs11' || fail "man 7 tokensign-provider failed"
# shellcheck source=/dev/null
source /usr/share/bash-completion/completions/tokensign
COMP_LINE="tokensign ca "
COMP_POINT=${#COMP_LINE}
COMP_WORDS=(tokensign ca "")
COMP_CWORD=2
_tokensign
[[ " ${COMPREPLY[*]} " == *" sign "* ]] || fail "the installed completion does not offer 'ca sign'"

echo "== dpkg -r"
mv "$so.hidden-by-package-test" "$so"
dpkg -r tokensign >"$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log"; fail "dpkg -r failed"; }
installed=no
left=0
while IFS= read -r f; do
    if [[ -f $f || -L $f ]]; then echo "left behind: $f"; left=1; fi
done <"$work/installed-files"
[[ $left -eq 0 ]] || fail "dpkg -r left files behind"
if dpkg-query -W -f='${db:Status-Status}' tokensign 2>/dev/null | grep -q '^installed'; then
    fail "tokensign is still installed"
fi
echo "package: built, installed, used without the build tree, removed cleanly"
