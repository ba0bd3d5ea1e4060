// SPDX-License-Identifier: Apache-2.0
// tokensign req: a certificate signing request (PKCS#10) signed by a key on the token.
#pragma once

#include <string>
#include <vector>

#include "hsm/ossl.hpp"
#include "hsm/resolve.hpp"
#include "signer/libctx.hpp"

namespace ts::signer {

struct RequestOptions {
    std::string key;                // pkcs11: URI of the private key
    std::string subject;            // "/C=US/O=Example/CN=host" or "CN=host,O=Example,C=US"
    std::vector<std::string> sans;  // "DNS:a,IP:1.2.3.4" each (openssl's GENERAL_NAME syntax)
    std::string md = "sha256";
};

/// The subjectAltName extension for `sans` (joined with ','), parsed by OpenSSL's own
/// X509V3_EXT_nconf_nid (DNS:, IP:, email:, URI:, RID:, dirName: ...). Throws InputError naming
/// the bad entry. Null when `sans` is empty.
OsslPtr<X509_EXTENSION> san_extension(const std::vector<std::string>& sans);

/// Builds and signs the request: check_digest (md5/sha1 refused; none for EdDSA keys), the
/// subject (parse_subject), the key's public half read from the token (hsm::read_public_key,
/// after one login), the SANs as a requested extension, signed through the tokensign provider
/// (load_private_key, same PIN, no second prompt) and verified with the token's public key
/// before it is returned. Returns the PEM ("CERTIFICATE REQUEST"). Throws InputError, PinError,
/// Pkcs11Error, OpenSslError.
std::string make_request(LibCtx& ctx, const RequestOptions& opts, const hsm::Config& cfg);

}  // namespace ts::signer
