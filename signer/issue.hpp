// SPDX-License-Identifier: Apache-2.0
// Issuing certificates: CSR checks, key check, policy, the certificate, the signature on the
// token, its verification, and the database entries: in that order, nothing written until all
// pass.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "hsm/ossl.hpp"
#include "signer/ca_db.hpp"
#include "signer/chain.hpp"
#include "signer/config.hpp"
#include "signer/csr.hpp"
#include "signer/libctx.hpp"
#include "signer/profile.hpp"

namespace ts::signer {

/// Command-line overrides of the CA section.
struct IssueOptions {
    std::string extensions;  // --extensions: replaces x509_extensions ("" keeps it)
    long days = 0;           // --days: replaces default_days / default_enddate (0 keeps them)
    std::string extfile;     // --extfile: the extension section from this file instead
    std::vector<std::string> san;  // --san: the subjectAltName (replaces the profile's, the CSR's)
};

/// A certificate built and (after sign()) signed, with its index line.
struct PendingCertificate {
    std::string csr_name;
    OsslPtr<X509> cert;
    OsslPtr<EVP_PKEY> subject_key;  // the request's public key, decoded (for the text)
    IndexEntry entry;
    std::string file_text;           // newcerts/ contents, after signing
    std::string pem;                 // the certificate's PEM, after signing
    std::string newcert_tmp;         // newcerts/ file already written (batch), renamed in by commit
    std::vector<std::string> notes;  // e.g. "validity clipped to the CA certificate's end"
};

/// A CSR not parsed yet: its bytes, or (data empty) the file `name` to read them from.
struct CsrInput {
    std::string name;
    std::string data;
};

/// Issues certificates for one CA section.
class Issuer {
  public:
    /// Checks what needs no request: the digest policy (default_md), the extension section
    /// (unknown or unparsable: InputError), the dates settings, and that the CA certificate is
    /// valid now. Throws InputError.
    Issuer(LibCtx& ctx, const Conf& conf, CaConfig cfg, OsslPtr<X509> ca_cert, IssueOptions opts);

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

    /// The non-interactive batch path: check_request + prepare | sign on the token | verify +
    /// format | write temp files, as a pipeline of threads (the token signs certificate i while
    /// the next request is checked and built and earlier ones are verified and written), each
    /// certificate still going through every step in order. `written(i, cert)` runs on the
    /// writer thread after certificate i's temp file exists (for the caller's own temp copies).
    /// The first failure stops the pipeline, removes the temp files and is rethrown; nothing is
    /// staged unless every certificate passed. Stages like sign(). Needs use_key().
    std::vector<PendingCertificate> issue_batch(
        const std::vector<CsrInput>& inputs, CaDb& db,
        const std::function<void(std::size_t, std::size_t)>& progress = {},
        const std::function<void(std::size_t, const PendingCertificate&)>& written = {});

    /// How many threads sign concurrently in issue_batch (each on its own token session).
    void set_signing_threads(unsigned n) noexcept { m_signing_threads = n == 0 ? 1 : n; }

  private:
    struct PrepareState {
        bool unique = true;
        std::set<std::string> serials;                // this run's, serial_key form
        std::map<std::string, std::string> subjects;  // this run's subject -> serial
    };
    void begin_prepare(const CaDb& db);
    PendingCertificate prepare_one(const Csr& csr, const CaDb& db);
    void sign_one(PendingCertificate& p);
    void finish_one(PendingCertificate& p) const;
    void stage(std::vector<PendingCertificate>& pending, CaDb& db);

    LibCtx& m_ctx;
    const Conf& m_conf;
    CaConfig m_cfg;
    OsslPtr<X509> m_ca;
    OsslPtr<EVP_PKEY> m_key;
    IssueOptions m_opts;
    std::string m_md;
    std::string m_ext;
    std::optional<ExtensionPlan> m_plan;  // the extensions (section, --extfile, --san, copy)
    std::optional<CaChain> m_chain;       // the CA certificate up to its anchor (tokensign_chain)
    OsslPtr<BIGNUM> m_next_serial;  // set by prepare() when serials come from the file
    PrepareState m_prep;
    unsigned m_signing_threads = 1;
};

/// What openssl ca writes to newcerts/<SERIAL>.pem: X509_print text, then the PEM. With
/// `subject_key` (the certificate's public key, decoded), the key is printed from it: a
/// certificate whose key was set as bytes has none decoded.
std::string certificate_file_text(X509* cert, const EVP_PKEY* subject_key = nullptr);
/// The PEM of a certificate.
std::string certificate_pem(X509* cert);
/// X509_NAME_oneline form ("/C=US/O=Example/CN=Root"), as index.txt holds subjects.
std::string name_text(const X509_NAME* name);
/// A time as "2026-11-27 16:11:10 UTC".
std::string time_text(const ASN1_TIME* t);

}  // namespace ts::signer
