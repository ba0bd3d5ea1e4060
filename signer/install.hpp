// SPDX-License-Identifier: Apache-2.0
// Completing an intermediate CA: the certificate a parent CA issued for `ca init --csr-out`.
#pragma once

#include <iosfwd>
#include <string>

#include "hsm/resolve.hpp"
#include "signer/libctx.hpp"

namespace ts::signer {

struct InstallOptions {
    std::string dir;    // the CA directory made by ca init --csr-out
    std::string cert;   // the certificate the parent issued (PEM, may hold its chain after it)
    std::string chain;  // the parent's certificate and its issuers up to the root (PEM)
};

/// tokensign ca install-cert. Refuses, with nothing written: a directory that is not a CA
/// directory or already has its certificate (CaDbError); a self-signed certificate, one without
/// basicConstraints CA:TRUE or keyUsage keyCertSign, an expired one, one whose key is not the
/// one certs/ca.csr was made with (PolicyError / InputError); no chain, or a chain that does not
/// verify (X509_verify_cert with X509_V_FLAG_X509_STRICT; the anchors are the self-signed
/// certificates given, see CaChain); then loads the CA key (private_key of the directory's
/// openssl.cnf, logging in to the token) and refuses a certificate that is not its key's. Then
/// writes the chain file (tokensign_chain, or certs/chain.pem: the certificate, its issuers,
/// the anchor, in the verified order) and certs/ca.pem, each atomically. Progress to `log`.
void install_ca_certificate(LibCtx& ctx, const InstallOptions& opts, const hsm::Config& cfg,
                            std::ostream& log);

}  // namespace ts::signer
