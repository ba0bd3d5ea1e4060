// SPDX-License-Identifier: Apache-2.0
// Starting a CA: the guide's directory layout, a ready openssl.cnf, and the self-signed root.
#pragma once

#include <iosfwd>
#include <string>

#include "hsm/ossl.hpp"
#include "hsm/resolve.hpp"
#include "signer/libctx.hpp"

namespace ts::signer {

struct InitOptions {
    std::string dir;       // the CA directory (must not exist, or be empty)
    std::string key;       // pkcs11: URI of the CA key (or a key file, for file-key CAs)
    std::string generate;  // "" or a key spec (rsa:4096, ec:p-384, ed25519 ...): generate first
    std::string subject;   // "/C=US/O=Example/CN=Root CA" or "CN=Root CA,O=Example,C=US"
    long days = 3650;
    std::string serial = "1000";  // first serial of issued certificates (hex)
    bool store_cert = false;      // also import the root onto the token beside its key
    std::string md = "sha256";
    /// An intermediate CA: write a CSR made with the key here (and to certs/ca.csr) instead of
    /// a self-signed root; `tokensign ca install-cert` completes the directory once a parent
    /// CA has signed it.
    std::string csr_out;
    /// Where this CA's CRL and certificate are published ("" for none): written as
    /// crlDistributionPoints / authorityInfoAccess caIssuers into the issuing profiles
    /// (sub_ca, usr_cert, server, client).
    std::string crl_uri;
    std::string ca_issuers_uri;
};

/// Parses a DN in openssl's "/type=value/..." form or as "type=value,type=value" (kept in the
/// order given; "\," and "\/" escape separators). Throws InputError naming a bad part.
OsslPtr<X509_NAME> parse_subject(const std::string& text);

/// The directory OpenSSL loads a provider named without a path from: $OPENSSL_MODULES, else
/// libcrypto's built-in modules directory (OPENSSL_info(OPENSSL_INFO_MODULES_DIR), what
/// `openssl version -m` prints).
std::string openssl_modules_dir();

/// The `module =` value for the tokensign provider in a generated openssl.cnf: "tokensign.so"
/// (found by name in OpenSSL's modules directory, so independent of any path) when
/// `provider_dir`/tokensign.so is the file in `modules_dir`; else the absolute path of
/// `provider_dir`/tokensign.so (a build tree, or an install outside OpenSSL's modules directory).
std::string provider_module_setting(const std::string& provider_dir,
                                    const std::string& modules_dir);

/// The openssl.cnf tokensign ca init writes: [ca], CA_default ($dir, database, new_certs_dir,
/// certificate, private_key = `key_uri`, serial, crlnumber, default_md, default_days, policy,
/// x509_extensions, crl_extensions ...), policy_default/policy_strict, and the extension
/// sections v3_ca, usr_cert, server, client, sub_ca, crl_ext; unless `provider_dir` is empty (a
/// file-key CA), an openssl_conf section that activates the tokensign provider from
/// `provider_dir` so `openssl ca -config` can load the key (see provider_module_setting).
/// `dir` is only the default of TOKENSIGN_CA_DIR: `[CA_default] dir = $ENV::TOKENSIGN_CA_DIR`,
/// which tokensign ca sets to the configuration's own directory.
std::string ca_config_text(const std::string& dir, const std::string& key_uri,
                           const std::string& md, const std::string& provider_dir,
                           // an intermediate: tokensign_chain = $dir/certs/chain.pem
                           bool intermediate = false,
                           // crlDistributionPoints / authorityInfoAccess caIssuers URIs of the
                           // issuing profiles (sub_ca, usr_cert, server, client); "" for none
                           const std::string& crl_uri = "", const std::string& ca_issuers_uri = "");

/// tokensign ca init: refuses an existing non-empty directory (CaDbError), generates the key on
/// the token when asked (hsm::generate_key_pair, after login), loads it through the provider,
/// makes and verifies the self-signed root (v3_ca: basicConstraints critical CA:TRUE, keyUsage
/// critical keyCertSign+cRLSign, SKI, AKI), then writes the directory (built beside it and
/// renamed into place, so a failure leaves nothing) and, with store_cert, imports the root onto
/// the token with its key's label and id. crl_uri and ca_issuers_uri must be scheme://... URIs
/// without characters openssl.cnf would read as syntax (InputError). With csr_out, no root: a CSR
/// (subject, key; signed and verified) is written to csr_out and certs/ca.csr, certs/ca.pem is left
/// for install-cert, and store_cert is refused. Progress lines go to `log`.
void init_ca(LibCtx& ctx, const InitOptions& opts, const hsm::Config& cfg, std::ostream& log);

}  // namespace ts::signer
