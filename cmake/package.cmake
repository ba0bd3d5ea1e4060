# SPDX-License-Identifier: Apache-2.0
# The Debian package, built by CPack (scripts/package.sh, or `cpack -G DEB` in the build dir):
# what `cmake --install` installs, under /usr, with Depends from dpkg-shlibdeps.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tokensign)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "OpenSSL 3 provider and CA tool for keys on PKCS#11 tokens")
set(CPACK_PACKAGE_DESCRIPTION
    "tokensign.so makes keys on PKCS#11 tokens (HSMs, smart cards, SoftHSM2) usable by stock
OpenSSL 3 programs through RFC 7512 pkcs11: URIs, without the ENGINE API. The tokensign
command lists tokens, generates keys on them, stores certificates and runs a CA whose
key never leaves the token, in a directory that openssl ca can read and continue.")
set(CPACK_PACKAGE_CONTACT "tokensign maintainers <tokensign@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The shared libraries the binaries link (libssl3, libp11-kit0, libc6, ...) come from
# dpkg-shlibdeps; the tools the CA directory's openssl.cnf and the docs rely on are added here.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "openssl (>= 3.0)")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "p11-kit-modules, bash-completion")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "softhsm2, opensc-pkcs11")
include(CPack)
