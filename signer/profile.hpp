// SPDX-License-Identifier: Apache-2.0
// What a CA section's profile decides: the policy (which subject fields a request must have and
// which reach the certificate) and the extensions (the profile's, and those copied from a CSR).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hsm/ossl.hpp"
#include "signer/config.hpp"

namespace ts::signer {

/// The subject the certificate gets, decided as openssl ca's do_body does: every field of the
/// request is checked (emailAddress must be an IA5String, strings must be legal for their ASN.1
/// type); then, per entry of the policy section in order, `match` fields must equal a value of
/// the same field in the CA subject, `supplied` fields must be present, `optional` ones may be;
/// only those fields, in policy order, reach the subject, unless `preserve` keeps the request's
/// subject whole. With email_in_dn = no, emailAddress fields are dropped from the result.
///
/// The policy section is read once, when this is made (a batch applies it to every request);
/// what is wrong with it (no policy set, no such section, an unknown field or rule) is thrown
/// by apply() at the point openssl ca would find it: after the request's own checks, and after
/// the fields before a bad one.
class SubjectPolicy {
  public:
    SubjectPolicy(const Conf& conf, std::string policy_section);
    /// Sets `cert`'s subject (built in the certificate's own, empty subject name). Throws
    /// PolicyError naming the field and what was expected (`what` names the CSR), InputError for
    /// a misconfigured policy section.
    void apply(X509* cert, const X509_NAME* request, const X509_NAME* ca_subject, bool preserve,
               bool email_in_dn, const std::string& what) const;

  private:
    enum class Rule { Optional, Supplied, Match };
    struct Field {
        std::string name;
        const ASN1_OBJECT* obj;  // OpenSSL's static object for the field's NID
        Rule rule;
        std::string error;  // an unknown field or rule: thrown when reached
    };
    std::string m_section;
    std::string m_error;  // the section itself is unusable
    std::vector<Field> m_fields;
};

/// Checks that `section` exists and that its extensions parse (X509V3_set_ctx_test, as openssl
/// ca does before signing). Throws InputError "unknown extension section".
void check_extension_section(const Conf& conf, const std::string& section,
                             const std::string& setting);

/// Adds the section's extensions (X509V3_EXT_add_nconf) to `cert`, with `issuer` as the issuer
/// for authorityKeyIdentifier (`issuer` == `cert` for a self-signed root). Throws InputError.
void add_profile_extensions(const Conf& conf, const std::string& section, X509* issuer, X509* cert);

/// Copies the request's extensions as copy_extensions says (copy: only those the certificate
/// does not have; copyall: replacing the profile's). A request can never make the certificate a
/// CA: basicConstraints CA:TRUE or keyUsage keyCertSign from the request is refused (PolicyError)
/// unless the profile itself issues CA certificates (its basicConstraints says CA:TRUE).
/// `only` (tokensign_copy_only: dotted OIDs), when given, limits what is copied.
void copy_request_extensions(X509* cert, X509_REQ* req, CopyExtensions mode,
                             const std::string& profile, const std::string& what,
                             const std::vector<std::string>* only = nullptr);

/// True when `cert` carries basicConstraints with CA:TRUE.
bool is_ca_certificate(const X509* cert);

/// What the command line adds to or puts in place of the CA section's extensions.
struct ExtensionOptions {
    std::string extensions;        // --extensions: the section ("" keeps x509_extensions)
    std::string extfile;           // --extfile: take the section from this file instead
    std::vector<std::string> san;  // --san values ("DNS:a,IP:1.2.3.4"), joined with ","
};

/// The extensions the certificates of one run get, settled (and checked) before any request is
/// read, in the order openssl ca applies them, then what only tokensign adds:
///   1. the extension section: --extensions, else x509_extensions of the CA section; with
///      --extfile the section comes from that file instead (openssl ca -extfile: --extensions,
///      else `extensions` at the top of the file, else the file's unnamed top section), and
///      the CA configuration's x509_extensions is not used;
///   2. the request's extensions as copy_extensions says (copy_request_extensions);
///   3. --san: the subjectAltName, replacing the profile's and the request's.
///   4. as openssl ca 3.x does for a certificate with extensions: subjectKeyIdentifier = hash
///      and authorityKeyIdentifier = keyid, issuer when not set, and either removed when the
///      profile says `none`.
/// Every extension a request asks for that the certificate does not carry as asked is named in
/// a note (why: copy_extensions = none, the profile sets its own, --san replaces it), and so is
/// a serverAuth certificate without a subjectAltName, which TLS clients reject.
class ExtensionPlan {
  public:
    /// Loads the --extfile (InputError naming the file and line), checks that the section
    /// exists and parses (X509V3_set_ctx_test), that an --extfile section is not empty, and
    /// that the --san values parse as a subjectAltName. Throws InputError.
    ExtensionPlan(const Conf& conf, const CaConfig& cfg, const ExtensionOptions& opts,
                  OSSL_LIB_CTX* libctx);

    /// The extension section used ("" for none).
    const std::string& section() const noexcept { return m_section; }

    /// Adds the extensions to `cert` (issuer: the CA certificate, for authorityKeyIdentifier)
    /// and appends the notes about `req`'s extensions to `notes`. Not thread-safe (the section's
    /// extensions are kept between calls). Throws InputError (a section
    /// that does not apply), PolicyError (a request that asks to be a CA, see
    /// copy_request_extensions).
    void apply(X509* issuer, X509* cert, X509_REQ* req, const std::string& what,
               std::vector<std::string>& notes) const;

  private:
    // The extension section for one issuer, read once (a batch applies it to every
    // certificate): each entry's extension made already when it depends only on the section and
    // the issuer, or, when it depends on the certificate (subjectKeyIdentifier, and anything
    // not known to be static), its name and value, made for each certificate. In section order.
    struct SectionEntry {
        std::string name;
        std::string value;
        OsslPtr<X509_EXTENSION> made;  // null: made for each certificate
    };
    void add_section_extensions(X509* issuer, X509* cert) const;

    const Conf* m_conf;
    mutable const X509* m_entries_issuer = nullptr;  // whom m_entries were made for
    mutable std::vector<SectionEntry> m_entries;
    std::optional<Conf> m_extfile;
    std::string m_extfile_path;
    std::string m_section;
    std::string m_san;
    CopyExtensions m_copy;
    std::optional<std::vector<std::string>> m_copy_only;
    std::string m_ca_section;
};

}  // namespace ts::signer
