// SPDX-License-Identifier: Apache-2.0
// Issuing certificates: CSR checks, key check, policy, the certificate, the signature on the
// token, its verification, and the database entries: in that order, nothing written until all
// pass.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "hsm/ossl.hpp"
#include "signer/ca_db.hpp"
#include "signer/config.hpp"
#include "signer/csr.hpp"
#include "signer/libctx.hpp"

namespace ts::signer {

/// Command-line overrides of the CA section.
struct IssueOptions {
    std::string extensions;  // --extensions: replaces x509_extensions ("" keeps it)
    long days = 0;           // --days: replaces default_days / default_enddate (0 keeps them)
};

/// A certificate built and (after sign()) signed, with its index line.
struct PendingCertificate {
    std::string csr_name;
    OsslPtr<X509> cert;
    IndexEntry entry;
    std::vector<std::string> notes;  // e.g. "validity clipped to the CA certificate's end"
};

/// Issues certificates for one CA section.
class Issuer {
public:
    /// Checks what needs no request: the digest policy (default_md), the extension section
    /// (unknown or unparsable: InputError), the dates settings, and that the CA certificate is
    /// valid now. Throws InputError.
    Issuer(LibCtx& ctx, const Conf& conf, CaConfig cfg, OsslPtr<X509> ca_cert,
           IssueOptions opts);

    const CaConfig& config() const noexcept { return m_cfg; }
    X509* ca_certificate() const noexcept { return m_ca.get(); }
    /// The digest name used ("" for EdDSA).
    const std::string& digest() const noexcept { return m_md; }
    const std::string& extensions() const noexcept { return m_ext; }

    /// The request's own signature and key floor (check_csr).
    void check_request(const Csr& csr) const;

    /// Takes the CA key and checks it belongs to the CA certificate (InputError when not).
    void use_key(OsslPtr<EVP_PKEY> key);

    /// For each request, in order: policy, the to-be-signed certificate (serial from the
    /// database or random with rand_serial, dates, subject, key, profile extensions, copied
    /// extensions), the validity against the CA certificate's (a certificate that would outlive
    /// the CA is clipped to the CA's notAfter with a note, or refused with
    /// tokensign_clip_to_ca = no), and the database clashes (unique_subject, serial).
    /// Nothing is signed or staged. Throws PolicyError / InputError / CaDbError.
    std::vector<PendingCertificate> prepare(const std::vector<Csr>& csrs, const CaDb& db);

    /// Signs each certificate with the CA key (X509_sign_ctx through the key's provider),
    /// verifies the signature with the CA certificate's public key, and stages newcerts/, the
    /// index line and the next serial in `db` (the caller commits). `progress(done, total)`
    /// is called after each.
    void sign(std::vector<PendingCertificate>& pending, CaDb& db,
              const std::function<void(std::size_t, std::size_t)>& progress = {});

private:
    LibCtx& m_ctx;
    const Conf& m_conf;
    CaConfig m_cfg;
    OsslPtr<X509> m_ca;
    OsslPtr<EVP_PKEY> m_key;
    IssueOptions m_opts;
    std::string m_md;
    std::string m_ext;
    OsslPtr<BIGNUM> m_next_serial;  // set by prepare() when serials come from the file
};

/// What openssl ca writes to newcerts/<SERIAL>.pem: X509_print text, then the PEM.
std::string certificate_file_text(X509* cert);
/// The PEM of a certificate.
std::string certificate_pem(X509* cert);
/// X509_NAME_oneline form ("/C=US/O=Example/CN=Root"), as index.txt holds subjects.
std::string name_text(const X509_NAME* name);
/// A time as "2026-11-27 16:11:10 UTC".
std::string time_text(const ASN1_TIME* t);

}  // namespace ts::signer
