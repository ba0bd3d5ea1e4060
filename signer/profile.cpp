// SPDX-License-Identifier: Apache-2.0
#include "signer/profile.hpp"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <memory>
#include <utility>

#include "signer/error.hpp"

namespace ts::signer {

namespace {

std::string entry_text(const ASN1_STRING* s) {
    if (s == nullptr) return "";
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n < 0) {
        ERR_clear_error();
        return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                           static_cast<std::size_t>(ASN1_STRING_length(s)));
    }
    std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
    OPENSSL_free(utf8);
    return out;
}

std::string field_name(const ASN1_OBJECT* obj) {
    int nid = OBJ_obj2nid(obj);
    if (nid != NID_undef) return OBJ_nid2ln(nid);
    char buf[80];
    OBJ_obj2txt(buf, sizeof buf, obj, 1);
    return buf;
}

// The string checks of openssl ca's do_body, before the policy.
void check_subject_strings(const X509_NAME* name, bool email_in_dn, const std::string& what) {
    for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
        const X509_NAME_ENTRY* ne = X509_NAME_get_entry(name, i);
        const ASN1_STRING* str = X509_NAME_ENTRY_get_data(ne);
        int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne));
        if (nid == NID_pkcs9_emailAddress && !email_in_dn) continue;
        if (nid == NID_pkcs9_emailAddress && ASN1_STRING_type(str) != V_ASN1_IA5STRING)
            throw PolicyError(what + ": the emailAddress field must be an IA5String");
        int type = ASN1_STRING_type(str);
        if (type != V_ASN1_BMPSTRING && type != V_ASN1_UTF8STRING) {
            int j = ASN1_PRINTABLE_type(ASN1_STRING_get0_data(str), ASN1_STRING_length(str));
            if ((j == V_ASN1_T61STRING && type != V_ASN1_T61STRING) ||
                (j == V_ASN1_IA5STRING && type == V_ASN1_PRINTABLESTRING))
                throw PolicyError(what + ": the " + field_name(X509_NAME_ENTRY_get_object(ne)) +
                                  " field contains characters illegal for its ASN.1 type");
        }
    }
}

}  // namespace

SubjectPolicy::SubjectPolicy(const Conf& conf, std::string policy_section)
    : m_section(std::move(policy_section)) {
    if (m_section.empty()) {
        m_error =
            "policy is not set in the CA section: name a policy section (e.g. "
            "policy = policy_match)";
        return;
    }
    std::vector<std::pair<std::string, std::string>> entries;
    try {
        entries = conf.section(m_section);
    } catch (const InputError& e) {
        m_error = e.what();  // thrown when a request is checked, after its own checks
        return;
    }
    for (const auto& [field, rule] : entries) {
        Field f{field, nullptr, Rule::Optional, {}};
        const int fnid = OBJ_txt2nid(field.c_str());
        if (fnid == NID_undef) {
            f.error = "[" + m_section + "] names an unknown field '" + field +
                      "' (a DN attribute such as countryName or commonName)";
        } else if (rule != "optional" && rule != "supplied" && rule != "match") {
            f.error = "[" + m_section + "] " + field + " = " + rule +
                      " is not one of match, supplied, optional";
        } else {
            f.obj = OBJ_nid2obj(fnid);
            f.rule = rule == "optional"   ? Rule::Optional
                     : rule == "supplied" ? Rule::Supplied
                                          : Rule::Match;
        }
        m_fields.push_back(std::move(f));
    }
    ERR_clear_error();
}

void SubjectPolicy::apply(X509* cert, const X509_NAME* request, const X509_NAME* ca_subject,
                          bool preserve, bool email_in_dn, const std::string& what) const {
    check_subject_strings(request, email_in_dn, what);
    if (!m_error.empty()) throw InputError(m_error);

    // Built in the certificate's own (empty) subject: no copy of a name made elsewhere. With
    // `preserve` the policy is still checked, on a name of its own.
    OsslPtr<X509_NAME> scratch;
    X509_NAME* subject = X509_get_subject_name(cert);
    if (preserve || X509_NAME_entry_count(subject) != 0) {
        scratch.reset(X509_NAME_new());
        if (!scratch) throw OpenSslError("X509_NAME_new");
        subject = scratch.get();
    }
    for (const Field& f : m_fields) {
        if (!f.error.empty()) throw InputError(f.error);
        const std::string& field = f.name;
        // Every occurrence of the field in the request, as openssl ca iterates them.
        int last = -1;
        for (;;) {
            int j = X509_NAME_get_index_by_OBJ(request, f.obj, last);
            const X509_NAME_ENTRY* tne = nullptr;
            if (j < 0) {
                if (last != -1) break;
            } else {
                tne = X509_NAME_get_entry(request, j);
            }
            last = j;
            const X509_NAME_ENTRY* push = nullptr;
            if (f.rule == Rule::Optional) {
                push = tne;
            } else if (f.rule == Rule::Supplied) {
                if (tne == nullptr)
                    throw PolicyError(what + ": the " + field +
                                      " field must be supplied (policy [" + m_section +
                                      "]) and the request has none");
                push = tne;
            } else {  // match
                if (tne == nullptr)
                    throw PolicyError(what + ": the " + field + " field is mandatory (policy [" +
                                      m_section + "]: match) and the request has none");
                int k = X509_NAME_get_index_by_OBJ(ca_subject, f.obj, -1);
                if (k < 0)
                    throw InputError("policy [" + m_section + "] requires " + field +
                                     " to match the CA certificate, which has no " + field +
                                     " field: the policy is misconfigured");
                std::string ca_values;
                const ASN1_STRING* want = X509_NAME_ENTRY_get_data(tne);
                for (; k >= 0; k = X509_NAME_get_index_by_OBJ(ca_subject, f.obj, k)) {
                    const X509_NAME_ENTRY* ce = X509_NAME_get_entry(ca_subject, k);
                    // ASN1_STRING_cmp compares type and bytes, as openssl ca does.
                    if (ASN1_STRING_cmp(want, X509_NAME_ENTRY_get_data(ce)) == 0) {
                        push = ce;
                        break;
                    }
                    ca_values += (ca_values.empty() ? "'" : ", '") +
                                 entry_text(X509_NAME_ENTRY_get_data(ce)) + "'";
                }
                if (push == nullptr)
                    throw PolicyError(what + ": the " + field + " field must match the CA (" +
                                      ca_values + ", policy [" + m_section +
                                      "]) and the request has '" + entry_text(want) + "'");
            }
            if (push != nullptr && !X509_NAME_add_entry(subject, push, -1, 0))
                throw OpenSslError("X509_NAME_add_entry");
            if (j < 0) break;
        }
    }
    if (subject != X509_get_subject_name(cert) &&
        !X509_set_subject_name(cert, preserve ? request : subject))
        throw OpenSslError("X509_set_subject_name");
    if (!email_in_dn) {
        X509_NAME* name = X509_get_subject_name(cert);
        int i;
        while ((i = X509_NAME_get_index_by_NID(name, NID_pkcs9_emailAddress, -1)) >= 0)
            X509_NAME_ENTRY_free(X509_NAME_delete_entry(name, i));
    }
}

void check_extension_section(const Conf& conf, const std::string& section,
                             const std::string& setting) {
    if (!conf.has_section(section))
        throw InputError("unknown extension section [" + section + "] (" + setting +
                         "): " + conf.path() + " has no such section");
    X509V3_CTX ctx;
    X509V3_set_ctx_test(&ctx);
    X509V3_set_nconf(&ctx, conf.get());
    if (!X509V3_EXT_add_nconf(conf.get(), &ctx, section.c_str(), nullptr)) {
        OpenSslError detail("X509V3_EXT_add_nconf");
        throw InputError("the extension section [" + section + "] in " + conf.path() +
                         " does not parse: " + detail.what());
    }
}

void add_profile_extensions(const Conf& conf, const std::string& section, X509* issuer,
                            X509* cert) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, X509V3_CTX_REPLACE);
    X509V3_set_nconf(&ctx, conf.get());
    if (!X509V3_EXT_add_nconf(conf.get(), &ctx, section.c_str(), cert)) {
        OpenSslError detail("X509V3_EXT_add_nconf");
        throw InputError("cannot add the extensions of [" + section + "]: " + detail.what());
    }
}

bool is_ca_certificate(const X509* cert) {
    int crit = 0;
    auto* bc = static_cast<BASIC_CONSTRAINTS*>(
        X509_get_ext_d2i(cert, NID_basic_constraints, &crit, nullptr));
    bool ca = bc != nullptr && bc->ca != 0;
    BASIC_CONSTRAINTS_free(bc);
    ERR_clear_error();
    return ca;
}

namespace {

std::string dotted(const ASN1_OBJECT* obj) {
    char buf[128];
    OBJ_obj2txt(buf, sizeof buf, obj, 1);
    return buf;
}

bool listed(const std::vector<std::string>* only, const ASN1_OBJECT* obj) {
    if (only == nullptr) return true;
    const std::string oid = dotted(obj);
    for (const auto& o : *only)
        if (o == oid) return true;
    return false;
}

}  // namespace

void copy_request_extensions(X509* cert, X509_REQ* req, CopyExtensions mode,
                             const std::string& profile, const std::string& what,
                             const std::vector<std::string>* only) {
    if (mode == CopyExtensions::None) return;
    STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
    if (exts == nullptr) {
        ERR_clear_error();
        return;
    }
    struct Free {
        void operator()(STACK_OF(X509_EXTENSION) * s) const noexcept {
            sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
        }
    };
    std::unique_ptr<STACK_OF(X509_EXTENSION), Free> owned(exts);
    bool profile_is_ca = is_ca_certificate(cert);
    for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
        X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
        ASN1_OBJECT* obj = X509_EXTENSION_get_object(ext);
        if (!listed(only, obj)) continue;
        int idx = X509_get_ext_by_OBJ(cert, obj, -1);
        if (idx != -1 && mode == CopyExtensions::Copy) continue;
        if (!profile_is_ca) {
            int nid = OBJ_obj2nid(obj);
            if (nid == NID_basic_constraints) {
                auto* bc = static_cast<BASIC_CONSTRAINTS*>(X509V3_EXT_d2i(ext));
                bool ca = bc != nullptr && bc->ca != 0;
                BASIC_CONSTRAINTS_free(bc);
                if (ca)
                    throw PolicyError(what +
                                      " asks for basicConstraints CA:TRUE, and the "
                                      "profile [" +
                                      profile +
                                      "] does not issue CA "
                                      "certificates; use a CA profile (e.g. --extensions "
                                      "sub_ca) if a subordinate CA is intended");
            } else if (nid == NID_key_usage) {
                auto* ku = static_cast<ASN1_BIT_STRING*>(X509V3_EXT_d2i(ext));
                bool cert_sign = ku != nullptr && ASN1_BIT_STRING_get_bit(ku, 5);
                ASN1_BIT_STRING_free(ku);
                if (cert_sign)
                    throw PolicyError(what + " asks for keyUsage keyCertSign, and the profile [" +
                                      profile + "] does not issue CA certificates");
            }
        }
        while (idx != -1) {
            X509_EXTENSION_free(X509_delete_ext(cert, idx));
            idx = X509_get_ext_by_OBJ(cert, obj, -1);
        }
        if (!X509_add_ext(cert, ext, -1)) throw OpenSslError("X509_add_ext");
    }
}

namespace {

struct ExtStackFree {
    void operator()(STACK_OF(X509_EXTENSION) * s) const noexcept {
        sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
    }
};
using ExtStack = std::unique_ptr<STACK_OF(X509_EXTENSION), ExtStackFree>;

// The name an openssl.cnf extension section uses (subjectAltName), or the dotted OID.
std::string extension_name(const X509_EXTENSION* ext) {
    const ASN1_OBJECT* obj = X509_EXTENSION_get_object(const_cast<X509_EXTENSION*>(ext));
    int nid = OBJ_obj2nid(obj);
    if (nid != NID_undef) return OBJ_nid2sn(nid);
    char buf[80];
    OBJ_obj2txt(buf, sizeof buf, obj, 1);
    return buf;
}

// The value as `openssl x509 -text` prints it, on one line and kept short.
std::string extension_value(X509_EXTENSION* ext) {
    OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
    std::string text;
    if (bio && X509V3_EXT_print(bio.get(), ext, 0, 0) == 1) {
        char* data = nullptr;
        long n = BIO_get_mem_data(bio.get(), &data);
        text.assign(data, static_cast<std::size_t>(n));
    }
    ERR_clear_error();
    if (text.empty())
        return std::to_string(ASN1_STRING_length(X509_EXTENSION_get_data(ext))) + " bytes";
    std::string one;
    for (char c : text) {
        if (c == '\n') {
            // A heading ("Full Name:") runs on into its value; separate lines get "; ".
            if (!one.empty() && one.back() != ' ') one += one.back() == ':' ? " " : "; ";
        } else if (c != ' ' || (!one.empty() && one.back() != ' ')) {
            one += c;
        }
    }
    while (!one.empty() && (one.back() == ' ' || one.back() == ';')) one.pop_back();
    if (one.size() > 200) one = one.substr(0, 197) + "...";
    return (X509_EXTENSION_get_critical(ext) ? "critical, " : "") + one;
}

// True when `cert` carries `ext` exactly (same criticality, same value).
bool carries(X509* cert, X509_EXTENSION* ext) {
    int idx = X509_get_ext_by_OBJ(cert, X509_EXTENSION_get_object(ext), -1);
    if (idx < 0) return false;
    X509_EXTENSION* have = X509_get_ext(cert, idx);
    return X509_EXTENSION_get_critical(have) == X509_EXTENSION_get_critical(ext) &&
           ASN1_STRING_cmp(X509_EXTENSION_get_data(have), X509_EXTENSION_get_data(ext)) == 0;
}

bool has_server_auth(const X509* cert) {
    auto* eku = static_cast<EXTENDED_KEY_USAGE*>(
        X509_get_ext_d2i(cert, NID_ext_key_usage, nullptr, nullptr));
    bool found = false;
    for (int i = 0; eku != nullptr && i < sk_ASN1_OBJECT_num(eku); ++i)
        if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == NID_server_auth) found = true;
    EXTENDED_KEY_USAGE_free(eku);
    ERR_clear_error();
    return found;
}

// What openssl ca 3.x does when it signs a certificate that has extensions (apps/lib/apps.c,
// do_X509_sign / adapt_keyid_ext): a subjectKeyIdentifier (hash) and an authorityKeyIdentifier
// (keyid, issuer) are added when the profile has none, and one the profile set to `none` (an
// empty value) is removed rather than issued empty.
void adapt_key_identifier(X509* issuer, X509* cert, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    int idx = X509_get_ext_by_NID(cert, nid, -1);
    if (idx >= 0) {
        if (ASN1_STRING_length(X509_EXTENSION_get_data(X509_get_ext(cert, idx))) <= 2)
            X509_EXTENSION_free(X509_delete_ext(cert, idx));
        return;
    }
    OsslPtr<X509_EXTENSION> ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
    if (!ext || !X509_add_ext(cert, ext.get(), -1))
        throw OpenSslError(std::string("cannot add the default ") + OBJ_nid2sn(nid));
}

}  // namespace

ExtensionPlan::ExtensionPlan(const Conf& conf, const CaConfig& cfg, const ExtensionOptions& opts,
                             OSSL_LIB_CTX* libctx)
    : m_conf(&conf),
      m_copy(cfg.copy_extensions),
      m_copy_only(cfg.copy_only),
      m_ca_section(cfg.section) {
    if (!opts.extfile.empty()) {
        // openssl ca -extfile: the file's section replaces x509_extensions.
        m_extfile = Conf::load(opts.extfile, libctx);
        m_extfile_path = opts.extfile;
        m_section = !opts.extensions.empty()
                        ? opts.extensions
                        : m_extfile->get("default", "extensions").value_or("default");
        check_extension_section(*m_extfile, m_section, "--extfile " + opts.extfile);
        bool any = false;
        for (const auto& [name, value] : m_extfile->section(m_section))
            if (name != "extensions") any = true;
        if (!any)
            throw InputError("--extfile " + opts.extfile + ": the section [" + m_section +
                             "] has no extensions; name the section with --extensions, or "
                             "write `extensions = SECTION` at the top of the file");
    } else {
        m_section = opts.extensions.empty() ? cfg.x509_extensions : opts.extensions;
        if (!m_section.empty())
            check_extension_section(conf, m_section,
                                    opts.extensions.empty() ? "x509_extensions in [" + cfg.section +
                                                                  "] in " + conf.path()
                                                            : "--extensions");
    }
    for (const auto& v : opts.san) {
        if (v.empty() || v.find(':') == std::string::npos || v.back() == ':' || v.back() == ',')
            throw InputError("--san '" + v +
                             "' is not a subjectAltName value: write TYPE:VALUE, e.g. --san "
                             "DNS:www.example.com,IP:192.0.2.1");
        m_san += (m_san.empty() ? "" : ",") + v;
    }
    if (!m_san.empty()) {
        X509V3_CTX ctx;
        X509V3_set_ctx_test(&ctx);
        OsslPtr<X509_EXTENSION> ext(
            X509V3_EXT_nconf_nid(nullptr, &ctx, NID_subject_alt_name, m_san.c_str()));
        if (!ext) {
            OpenSslError detail("X509V3_EXT_nconf_nid");
            throw InputError("--san " + m_san + " is not a valid subjectAltName (" + detail.what() +
                             "); write TYPE:VALUE pairs such as DNS:www.example.com, "
                             "IP:192.0.2.1, email:a@example.com, URI:https://example.com/");
        }
    }
}

namespace {

// Extensions whose value openssl.cnf gives completely, or that depend on the issuer only
// (authorityKeyIdentifier with no issuer key in the context, issuerAltName issuer:copy): the
// same for every certificate of one CA. Everything else (subjectKeyIdentifier = hash,
// subjectAltName email:copy and email:move, an unknown name) is made for each certificate.
bool same_for_every_certificate(int nid) {
    switch (nid) {
        case NID_basic_constraints:
        case NID_key_usage:
        case NID_ext_key_usage:
        case NID_authority_key_identifier:
        case NID_issuer_alt_name:
        case NID_crl_distribution_points:
        case NID_freshest_crl:
        case NID_info_access:
        case NID_sinfo_access:
        case NID_certificate_policies:
        case NID_policy_constraints:
        case NID_policy_mappings:
        case NID_name_constraints:
        case NID_inhibit_any_policy:
        case NID_netscape_cert_type:
        case NID_netscape_comment:
        case NID_tlsfeature:
        case NID_id_pkix_OCSP_noCheck:
            return true;
        default:
            return false;
    }
}

}  // namespace

// X509V3_EXT_add_nconf(conf, ctx, section, cert) with X509V3_CTX_REPLACE, entry by entry: an
// entry replaces an extension of the same type an earlier entry added.
void ExtensionPlan::add_section_extensions(X509* issuer, X509* cert) const {
    const Conf& sconf = m_extfile ? *m_extfile : *m_conf;
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, X509V3_CTX_REPLACE);
    X509V3_set_nconf(&ctx, sconf.get());
    auto make = [&](const SectionEntry& e) {
        OsslPtr<X509_EXTENSION> ext(
            X509V3_EXT_nconf(sconf.get(), &ctx, e.name.c_str(), e.value.c_str()));
        if (!ext) {
            OpenSslError detail("X509V3_EXT_add_nconf");
            throw InputError("cannot add the extensions of [" + m_section + "]: " + detail.what());
        }
        return ext;
    };
    if (m_entries_issuer != issuer) {
        m_entries.clear();
        m_entries_issuer = nullptr;
        for (auto& [name, value] : sconf.section(m_section)) {
            SectionEntry e{name, value, nullptr};
            if (same_for_every_certificate(OBJ_sn2nid(name.c_str()))) e.made = make(e);
            m_entries.push_back(std::move(e));
        }
        m_entries_issuer = issuer;
    }
    for (const SectionEntry& e : m_entries) {
        OsslPtr<X509_EXTENSION> fresh = e.made ? nullptr : make(e);
        X509_EXTENSION* ext = e.made ? e.made.get() : fresh.get();
        int idx = X509_get_ext_by_OBJ(cert, X509_EXTENSION_get_object(ext), -1);
        if (idx >= 0) X509_EXTENSION_free(X509_delete_ext(cert, idx));
        if (!X509_add_ext(cert, ext, -1)) throw OpenSslError("X509_add_ext");
    }
}

void ExtensionPlan::apply(X509* issuer, X509* cert, X509_REQ* req, const std::string& what,
                          std::vector<std::string>& notes) const {
    if (!m_section.empty()) add_section_extensions(issuer, cert);

    // What the profile says, before the request's extensions are copied (for the notes).
    ExtStack requested(X509_REQ_get_extensions(req));
    ERR_clear_error();
    std::vector<bool> profile_has;
    for (int i = 0; requested && i < sk_X509_EXTENSION_num(requested.get()); ++i)
        profile_has.push_back(
            X509_get_ext_by_OBJ(
                cert, X509_EXTENSION_get_object(sk_X509_EXTENSION_value(requested.get(), i)), -1) >=
            0);

    copy_request_extensions(cert, req, m_copy, m_section.empty() ? "(no extensions)" : m_section,
                            what, m_copy_only ? &*m_copy_only : nullptr);

    if (!m_san.empty()) {
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, issuer, cert, req, nullptr, 0);
        OsslPtr<X509_EXTENSION> ext(
            X509V3_EXT_nconf_nid(nullptr, &ctx, NID_subject_alt_name, m_san.c_str()));
        if (!ext) {
            OpenSslError detail("X509V3_EXT_nconf_nid");
            throw InputError("--san " + m_san + " cannot be added: " + detail.what());
        }
        int idx;
        while ((idx = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1)) >= 0)
            X509_EXTENSION_free(X509_delete_ext(cert, idx));
        if (!X509_add_ext(cert, ext.get(), -1)) throw OpenSslError("X509_add_ext");
    }

    if (X509_get_ext_count(cert) > 0) {
        adapt_key_identifier(issuer, cert, NID_subject_key_identifier, "hash");
        adapt_key_identifier(issuer, cert, NID_authority_key_identifier, "keyid, issuer");
    }

    const std::string where = m_extfile ? "--extfile " + m_extfile_path : "[" + m_section + "]";
    for (int i = 0; requested && i < sk_X509_EXTENSION_num(requested.get()); ++i) {
        X509_EXTENSION* ext = sk_X509_EXTENSION_value(requested.get(), i);
        if (carries(cert, ext)) continue;
        const std::string name = extension_name(ext);
        std::string why;
        if (OBJ_obj2nid(X509_EXTENSION_get_object(ext)) == NID_subject_alt_name && !m_san.empty())
            why = "--san replaces it";
        else if (m_copy == CopyExtensions::None)
            why = "copy_extensions = none in [" + m_ca_section + "] copies nothing from requests" +
                  (name == "subjectAltName" ? " (give the names with --san, or set "
                                              "copy_extensions = copy)"
                                            : "");
        else if (!listed(m_copy_only ? &*m_copy_only : nullptr, X509_EXTENSION_get_object(ext)))
            why = "not in tokensign_copy_only of [" + m_ca_section + "]";
        else
            why =
                (profile_has[static_cast<std::size_t>(i)] ? "the profile " + where + " sets its own"
                                                          : "not copied");
        notes.push_back("dropped the request's " + name + " (" + extension_value(ext) +
                        "): " + why);
    }
    if (X509_get_ext_by_NID(cert, NID_subject_alt_name, -1) < 0 && has_server_auth(cert))
        notes.push_back(
            "no subjectAltName in this serverAuth certificate: TLS clients (browsers) match the "
            "host name only there and will reject it; give --san DNS:NAME");
}

}  // namespace ts::signer
