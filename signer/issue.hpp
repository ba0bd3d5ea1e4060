// SPDX-License-Identifier: Apache-2.0
// Issuing certificates: CSR checks, key check, policy, the certificate, the signature on the
// token, its verification, and the database entries: in that order, nothing written until all
// pass.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "hsm/ossl.hpp"
#include "signer/ca_db.hpp"
#include "signer/chain.hpp"
#include "signer/config.hpp"
#include "signer/csr.hpp"
#include "signer/libctx.hpp"
#include "signer/profile.hpp"
#include "signer/spki.hpp"

namespace ts::signer {

/// Command-line overrides of the CA section.
struct IssueOptions {
    std::string extensions;        // --extensions: replaces x509_extensions ("" keeps it)
    long days = 0;                 // --days: replaces default_days / default_enddate (0 keeps them)
    std::string extfile;           // --extfile: the extension section from this file instead
    std::vector<std::string> san;  // --san: the subjectAltName (replaces the profile's, the CSR's)
};

/// A certificate built and (after sign()) signed, with its index line.
struct PendingCertificate {
    std::string csr_name;
    OsslPtr<X509> cert;
    OsslPtr<EVP_PKEY> subject_key;  // for the text: the request's key, or its Csr::stand_in
    IndexEntry entry;
    std::string file_text;           // newcerts/ contents, after signing
    std::string pem;                 // the certificate's PEM, after signing
    std::string newcert_tmp;         // newcerts/ file already written (batch), renamed in by commit
    std::vector<std::string> notes;  // e.g. "validity clipped to the CA certificate's end"
    bool journaled = false;          // signed, verified and in the database's journal
};

/// What a signing run did. Every certificate the CA key signed and that verified is in `issued`
/// and staged in the database (the caller commits), also when the run stopped early: a
/// certificate that exists must be on record, so the operator can revoke it.
struct IssueOutcome {
    std::vector<PendingCertificate> issued;  // in input order
    std::vector<std::string> not_processed;  // names of the inputs not issued, in input order
    std::exception_ptr error;                // why the run stopped early; null when it did not
    int signal = 0;                          // the signal that stopped it (SIGINT, SIGTERM), or 0
};

/// A CSR not parsed yet: its bytes, or (data empty) the file `name` to read them from.
struct CsrInput {
    std::string name;
    std::string data;
};

/// certificate_file_text for many certificates of one CA (a batch), the same bytes: the parts
/// of the text that every certificate of the CA shares (version, signature algorithm, issuer,
/// an extension with the same value) are printed by OpenSSL once and kept, keyed by what they
/// print (up to kCacheSize each). Not thread-safe: one per thread.
class CertificateText {
  public:
    std::string text(X509* cert, const EVP_PKEY* subject_key = nullptr,
                     std::span<const unsigned char> der = {});

  private:
    static constexpr std::size_t kCacheSize = 32;
    using Cache = std::vector<std::pair<std::string, std::string>>;  // key, text
    static void print(std::string& out, BIO* b, X509* cert, unsigned long flags);
    const std::string& cached(Cache& cache, std::string key, BIO* b,
                              const std::function<void(BIO*)>& make);
    OsslPtr<BIO> m_bio;
    Cache m_header, m_sigalg, m_issuer, m_extensions;
    std::string m_scratch;  // an uncached part's text
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

    /// Reserves the serials prepare() assigned (CaDb::reserve_serials: durable before the first
    /// signature), then signs each certificate with the CA key (X509_sign_ctx through the key's
    /// provider), verifies the signature with the CA certificate's public key, records it in the
    /// journal, and stages newcerts/ and the index line in `db` (the caller commits). The first
    /// failure, or the stop flag, ends the run: what was signed until then is staged all the same
    /// and the failure is in the outcome, not thrown. `progress(done, total)` is called after each.
    IssueOutcome sign(std::vector<PendingCertificate> pending, CaDb& db,
                      const std::function<void(std::size_t, std::size_t)>& progress = {});

    /// The non-interactive batch path: check_request + prepare | sign on the token | verify +
    /// format | write temp files, as a pipeline of threads (the token signs certificate i while
    /// the next request is checked and built and earlier ones are verified and written), each
    /// certificate still going through every step in order. Serials for all inputs are reserved
    /// once the first request passed its checks, before its signature (one durable write).
    /// `written(i, cert)` runs on the writer thread after certificate i's temp file exists (for the
    /// caller's own temp copies). The first failure, or the stop flag, stops the pipeline: nothing
    /// more is signed, what the token already signed is verified, journaled and staged, and the
    /// outcome says why it stopped and which inputs were not processed. Stages like sign(). Needs
    /// use_key().
    IssueOutcome issue_batch(
        const std::vector<CsrInput>& inputs, CaDb& db,
        const std::function<void(std::size_t, std::size_t)>& progress = {},
        const std::function<void(std::size_t, const PendingCertificate&)>& written = {});

    /// How many threads sign concurrently in issue_batch (each on its own token session).
    void set_signing_threads(unsigned n) noexcept { m_signing_threads = n == 0 ? 1 : n; }
    /// A flag (a signal number, 0 while running) that sign() and issue_batch() poll before each
    /// signature: set from a signal handler, it stops the run after the signatures under way.
    void set_stop_flag(const std::atomic<int>* flag) noexcept { m_stop = flag; }

  private:
    struct PrepareState {
        bool unique = true;
        std::set<std::string> serials;                // this run's, serial_key form
        std::map<std::string, std::string> subjects;  // this run's subject -> serial
    };
    void begin_prepare(const CaDb& db);
    PendingCertificate prepare_one(const Csr& csr, const CaDb& db);
    int stop_signal() const noexcept { return m_stop != nullptr ? m_stop->load() : 0; }
    /// An EVP_DigestSignInit_ex context on the CA key, never used itself: sign_one copies it.
    OsslPtr<EVP_MD_CTX> signing_template() const;
    void sign_one(PendingCertificate& p, const EVP_MD_CTX* tmpl);
    /// `verifier` checks with the CA certificate's key (ca_verifier()): one per thread.
    void finish_one(PendingCertificate& p, CaDb& db, CertificateVerifier& verifier,
                    CertificateText& text) const;
    CertificateVerifier ca_verifier() const noexcept;
    void stage(std::vector<PendingCertificate>& issued, CaDb& db);

    LibCtx& m_ctx;
    const Conf& m_conf;
    CaConfig m_cfg;
    OsslPtr<X509> m_ca;
    OsslPtr<EVP_PKEY> m_key;
    IssueOptions m_opts;
    std::string m_md;
    std::string m_ext;
    std::optional<SubjectPolicy> m_policy;  // the policy section, read once
    std::optional<ExtensionPlan> m_plan;    // the extensions (section, --extfile, --san, copy)
    std::optional<CaChain> m_chain;         // the CA certificate up to its anchor (tokensign_chain)
    OsslPtr<BIGNUM> m_next_serial;          // set by prepare() when serials come from the file
    PrepareState m_prep;
    unsigned m_signing_threads = 1;
    const std::atomic<int>* m_stop = nullptr;
};

/// The index.txt line openssl ca writes for a certificate it issued: V, notAfter as the
/// certificate holds it, serial, "unknown", the subject (or the serial when it is empty).
IndexEntry index_entry_for(X509* cert);

/// What openssl ca writes to newcerts/<SERIAL>.pem: X509_print text, then the PEM. With
/// `subject_key` (the certificate's public key, decoded), the key is printed from it: a
/// certificate whose key was set as bytes has none decoded.
/// With `der` (the certificate's DER, which the caller has already), it is not encoded again.
std::string certificate_file_text(X509* cert, const EVP_PKEY* subject_key = nullptr,
                                  std::span<const unsigned char> der = {});

/// The PEM of a certificate.
std::string certificate_pem(X509* cert);
/// X509_NAME_oneline form ("/C=US/O=Example/CN=Root"), as index.txt holds subjects.
std::string name_text(const X509_NAME* name);
/// A time as "2026-11-27 16:11:10 UTC".
std::string time_text(const ASN1_TIME* t);

}  // namespace ts::signer
