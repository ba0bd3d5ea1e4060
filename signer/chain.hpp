// SPDX-License-Identifier: Apache-2.0
// A CA certificate and the certificates above it: chains built and verified to a trust anchor
// as verifiers build them, for an intermediate CA as well as a root.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "hsm/ossl.hpp"
#include "signer/libctx.hpp"

namespace ts::signer {

/// Every certificate of a PEM file, in file order, or the one certificate of a DER file.
/// Throws InputError naming the file when it holds none or a malformed one.
std::vector<OsslPtr<X509>> load_certificates(LibCtx& ctx, const std::string& path);

/// True when `cert` is self-issued and its signature verifies with its own key (a root).
bool is_self_signed(X509* cert);

/// The CA certificate and its issuers, as an X509_STORE for X509_verify_cert.
///
/// The trust anchors are the self-signed certificates among the CA certificate and `above`;
/// the other certificates are intermediates the verifier may use. Without any self-signed one,
/// the last certificate of `above` (the CA certificate when `above` is empty) is the anchor,
/// with X509_V_FLAG_PARTIAL_CHAIN: a chain then ends there, without its root.
class CaChain {
  public:
    /// `above` may list the CA certificate itself, its issuers in any order, and unrelated
    /// certificates (which the verifier never uses). Throws OpenSslError.
    CaChain(LibCtx& ctx, X509* ca, std::vector<OsslPtr<X509>> above);

    /// The CA certificate and `chain_file`'s certificates ("" for none). Throws InputError.
    static CaChain load(LibCtx& ctx, X509* ca, const std::string& chain_file);

    /// True when a certificate this CA issues needs more than its signature checked for its
    /// chain to verify: the CA is an intermediate, a certificate of the chain carries
    /// nameConstraints or policyConstraints, or `cert` is itself a CA (pathlen applies).
    bool constrains(X509* cert) const;

    /// The checks of `cert`'s chain that need no signature, made before the token signs it:
    /// its names against the nameConstraints of every certificate of the CA's verified chain
    /// (NAME_CONSTRAINTS_check, and the commonName when it has no DNS subjectAltName, as
    /// X509_verify_cert does for an end certificate), and, when `cert` is a CA, room for it under
    /// every pathlen above. Throws PolicyError naming the constraint and where it comes from;
    /// does nothing when the CA's own chain does not verify (check_ca_chain reports that).
    void check_before_signing(X509* cert, const std::string& what) const;

    /// False when no self-signed root is known (the chain ends at a partial anchor).
    bool rooted() const noexcept { return m_rooted; }
    X509* ca() const noexcept { return m_ca.get(); }

    struct Result {
        int error = 0;       // X509_V_OK when the chain verifies
        int depth = 0;       // where it failed: 0 is `cert`
        std::string reason;  // the verifier's reason and, above `cert`, the subject it failed at
        explicit operator bool() const noexcept { return error == 0; }
    };
    /// Builds and verifies `cert`'s chain (X509_verify_cert, plus `flags` such as
    /// X509_V_FLAG_X509_STRICT or X509_V_FLAG_NO_CHECK_TIME). When `path` is given and the
    /// chain verifies, it receives the chain: `cert`, its issuers, the anchor.
    Result verify(X509* cert, unsigned long flags,
                  std::vector<OsslPtr<X509>>* path = nullptr) const;

  private:
    OSSL_LIB_CTX* m_libctx;
    OsslPtr<X509> m_ca;
    std::vector<OsslPtr<X509>> m_above;
    OsslPtr<X509_STORE> m_store;
    struct StackFree {
        void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }
    };
    // Borrowed pointers into m_ca and m_above (heap objects: moves keep them valid).
    std::unique_ptr<STACK_OF(X509), StackFree> m_untrusted;
    bool m_rooted = false;
    bool m_partial = false;
    bool m_constrained = false;            // an intermediate, or constraints somewhere in the chain
    std::vector<OsslPtr<X509>> m_ca_path;  // the CA certificate's verified chain, CA first
};

/// Refuses (InputError) a CA certificate that does not verify under its own chain, dates aside
/// (`where` names the files): checked once before a run signs anything.
void check_ca_chain(const CaChain& chain, const std::string& where);

/// The check after signing, beside the signature's (X509_verify with the CA certificate's key):
/// when the chain constrains the new certificate (CaChain::constrains), its whole chain
/// verifies under `chain` with the CA's and its issuers' constraints (pathlen,
/// nameConstraints), dates aside, and a CA certificate leaves room below it (no CA certificate
/// under a pathlen:0 CA). The chain check runs on a re-parsed copy: a certificate built from a
/// request's key bytes has no decoded key, which X509_verify_cert needs. Throws PolicyError for
/// a certificate the chain does not allow (e.g. a name outside its nameConstraints), Error for a
/// signature the chain check finds broken.
void check_issued_chain(const CaChain& chain, X509* cert, const std::string& what);

}  // namespace ts::signer
