// SPDX-License-Identifier: Apache-2.0
#include "signer/chain.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "signer/error.hpp"
#include "signer/issue.hpp"

namespace ts::signer {

std::vector<OsslPtr<X509>> load_certificates(LibCtx& ctx, const std::string& path) {
    std::string data = read_file(path);
    std::vector<OsslPtr<X509>> out;
    if (data.find("-----BEGIN") == std::string::npos) {
        out.push_back(load_certificate(ctx, path));  // DER: exactly one
        return out;
    }
    OsslPtr<BIO> bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
    if (!bio) throw OpenSslError("BIO_new_mem_buf");
    for (;;) {
        OsslPtr<X509> cert(X509_new_ex(ctx.get(), ctx.propq()));
        if (!cert) throw OpenSslError("X509_new_ex");
        X509* p = cert.get();
        ERR_set_mark();
        if (PEM_read_bio_X509(bio.get(), &p, nullptr, nullptr) == nullptr) {
            cert.release();  // as in load_certificate: freed by a failed d2i unless p is set
            cert.reset(p);
            unsigned long e = ERR_peek_last_error();
            // The end of the file: no further PEM block. Anything else is a broken one.
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE &&
                !out.empty()) {
                ERR_pop_to_mark();
                break;
            }
            ERR_clear_last_mark();
            OpenSslError detail("PEM_read_bio_X509");
            throw InputError(out.empty() ? "no PEM certificate in " + path + ": " + detail.what()
                                         : "certificate " + std::to_string(out.size() + 1) +
                                               " in " + path + " is malformed: " + detail.what());
        }
        ERR_clear_last_mark();
        out.push_back(std::move(cert));
    }
    return out;
}

bool is_self_signed(X509* cert) {
    // X509_self_signed(cert, 1): names match, the key identifiers agree and the signature
    // verifies with the certificate's own key.
    int r = X509_self_signed(cert, 1);
    ERR_clear_error();
    return r == 1;
}

CaChain::CaChain(LibCtx& ctx, X509* ca, std::vector<OsslPtr<X509>> above)
    : m_libctx(ctx.get()), m_above(std::move(above)) {
    if (!X509_up_ref(ca)) throw OpenSslError("X509_up_ref");
    m_ca.reset(ca);
    m_store.reset(X509_STORE_new());
    m_untrusted.reset(sk_X509_new_null());
    if (!m_store || m_untrusted == nullptr) throw OpenSslError("X509_STORE_new");
    std::vector<X509*> all{m_ca.get()};
    for (const auto& c : m_above) all.push_back(c.get());
    for (X509* c : all) {
        if (is_self_signed(c)) {
            if (!X509_STORE_add_cert(m_store.get(), c)) {
                unsigned long e = ERR_peek_last_error();
                // The same root listed twice is fine.
                if (ERR_GET_REASON(e) != X509_R_CERT_ALREADY_IN_HASH_TABLE)
                    throw OpenSslError("X509_STORE_add_cert");
                ERR_clear_error();
            }
            m_rooted = true;
        } else if (!sk_X509_push(m_untrusted.get(), c)) {
            throw OpenSslError("sk_X509_push");
        }
    }
    m_constrained = !is_self_signed(m_ca.get());
    for (X509* c : all)
        if (X509_get_ext_by_NID(c, NID_name_constraints, -1) >= 0 ||
            X509_get_ext_by_NID(c, NID_policy_constraints, -1) >= 0)
            m_constrained = true;
    if (!m_rooted) {
        // No root known: the top of what was given is where chains end.
        X509* top = m_above.empty() ? m_ca.get() : m_above.back().get();
        if (!X509_STORE_add_cert(m_store.get(), top)) throw OpenSslError("X509_STORE_add_cert");
        m_partial = true;
    }
    {  // the CA's own verified chain, for check_before_signing (once: cheap)
        OsslPtr<X509> parsed(X509_dup(m_ca.get()));
        std::vector<OsslPtr<X509>> path;
        if (parsed && verify(parsed.get(), X509_V_FLAG_NO_CHECK_TIME, &path))
            m_ca_path = std::move(path);
        ERR_clear_error();
    }
}

namespace {

bool has_dns_name(const GENERAL_NAMES* names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i)
        if (sk_GENERAL_NAME_value(names, i)->type == GEN_DNS) return true;
    return false;
}

}  // namespace

void CaChain::check_before_signing(X509* cert, const std::string& what) const {
    if (m_ca_path.empty()) return;
    auto* bc = static_cast<BASIC_CONSTRAINTS*>(
        X509_get_ext_d2i(cert, NID_basic_constraints, nullptr, nullptr));
    const bool is_ca = bc != nullptr && bc->ca != 0;
    BASIC_CONSTRAINTS_free(bc);
    ERR_clear_error();
    if (is_ca) {
        long below = 1;  // `cert` itself, as an intermediate of the paths it would start
        for (const auto& c : m_ca_path) {
            long pathlen = X509_get_pathlen(c.get());
            if (pathlen >= 0 && pathlen < below)
                throw PolicyError("the certificate for " + what +
                                  " would be a CA certificate that cannot issue anything that "
                                  "verifies: " +
                                  name_text(X509_get_subject_name(c.get())) +
                                  " has pathlen:" + std::to_string(pathlen) +
                                  " (use an end-entity profile, or a parent that allows more "
                                  "levels); not signed");
            if ((X509_get_extension_flags(c.get()) & EXFLAG_SI) == 0) ++below;
        }
    }
    bool any_nc = false;
    for (const auto& c : m_ca_path)
        if (X509_get_ext_by_NID(c.get(), NID_name_constraints, -1) >= 0) any_nc = true;
    if (!any_nc) return;
    // NAME_CONSTRAINTS_check reads the names from the certificate's cached extensions; `cert`
    // is still being built, so a scratch certificate with its subject and subjectAltName is
    // checked instead of caching (and freezing) `cert`'s.
    OsslPtr<X509> names(X509_new());
    if (!names || !X509_set_subject_name(names.get(), X509_get_subject_name(cert)))
        throw OpenSslError("X509_new");
    int san_at = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1);
    if (san_at >= 0 && !X509_add_ext(names.get(), X509_get_ext(cert, san_at), -1))
        throw OpenSslError("X509_add_ext");
    (void)X509_get_extension_flags(names.get());
    auto* san = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(names.get(), NID_subject_alt_name, nullptr, nullptr));
    const bool dns = san != nullptr && has_dns_name(san);
    GENERAL_NAMES_free(san);
    ERR_clear_error();
    for (const auto& c : m_ca_path) {
        auto* nc = static_cast<NAME_CONSTRAINTS*>(
            X509_get_ext_d2i(c.get(), NID_name_constraints, nullptr, nullptr));
        if (nc == nullptr) continue;
        int rv = NAME_CONSTRAINTS_check(names.get(), nc);
        if (rv == X509_V_OK && !dns) rv = NAME_CONSTRAINTS_check_CN(names.get(), nc);
        NAME_CONSTRAINTS_free(nc);
        ERR_clear_error();
        if (rv != X509_V_OK)
            throw PolicyError("the certificate for " + what +
                              " is outside the nameConstraints of " +
                              name_text(X509_get_subject_name(c.get())) + " (" +
                              X509_verify_cert_error_string(rv) + "); not signed");
    }
}

bool CaChain::constrains(X509* cert) const {
    if (m_constrained) return true;
    int crit = 0;
    auto* bc = static_cast<BASIC_CONSTRAINTS*>(
        X509_get_ext_d2i(cert, NID_basic_constraints, &crit, nullptr));
    bool ca = bc != nullptr && bc->ca != 0;
    BASIC_CONSTRAINTS_free(bc);
    ERR_clear_error();
    return ca;
}

CaChain CaChain::load(LibCtx& ctx, X509* ca, const std::string& chain_file) {
    std::vector<OsslPtr<X509>> above;
    if (!chain_file.empty()) above = load_certificates(ctx, chain_file);
    return CaChain(ctx, ca, std::move(above));
}

CaChain::Result CaChain::verify(X509* cert, unsigned long flags,
                                std::vector<OsslPtr<X509>>* path) const {
    OsslPtr<X509_STORE_CTX> vctx(X509_STORE_CTX_new_ex(m_libctx, nullptr));
    if (!vctx || !X509_STORE_CTX_init(vctx.get(), m_store.get(), cert, m_untrusted.get()))
        throw OpenSslError("cannot set up certificate verification");
    X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(vctx.get()),
                                flags | (m_partial ? X509_V_FLAG_PARTIAL_CHAIN : 0));
    if (X509_verify_cert(vctx.get()) != 1) {
        Result r;
        r.error = X509_STORE_CTX_get_error(vctx.get());
        r.depth = X509_STORE_CTX_get_error_depth(vctx.get());
        X509* at = X509_STORE_CTX_get_current_cert(vctx.get());
        if (r.error == X509_V_OK) {
            // Not a verdict on the chain: the verifier itself failed (see the error queue).
            r.error = X509_V_ERR_UNSPECIFIED;
            r.reason = OpenSslError("X509_verify_cert").what();
        } else {
            ERR_clear_error();
            r.reason = X509_verify_cert_error_string(r.error);
        }
        if (at != nullptr && r.depth > 0)
            r.reason += " (at " + name_text(X509_get_subject_name(at)) + ")";
        return r;
    }
    if (path != nullptr) {
        path->clear();
        STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(vctx.get());
        for (int i = 0; i < sk_X509_num(chain); ++i) {
            X509* c = sk_X509_value(chain, i);
            if (!X509_up_ref(c)) throw OpenSslError("X509_up_ref");
            path->emplace_back(c);
        }
    }
    ERR_clear_error();
    return {};
}

void check_ca_chain(const CaChain& chain, const std::string& where) {
    OsslPtr<X509> ca(X509_dup(chain.ca()));
    if (!ca) throw OpenSslError("X509_dup");
    CaChain::Result r = chain.verify(ca.get(), X509_V_FLAG_NO_CHECK_TIME);
    if (!r)
        throw InputError("the CA certificate does not verify with its chain (" + where +
                         "): " + r.reason + "; check tokensign_chain");
}

void check_issued_chain(const CaChain& chain, X509* cert, const std::string& what) {
    // Dates are the CA section's business (default_startdate may lie ahead, fixed dates may
    // lie behind): only the chain and its constraints are checked here.
    if (!chain.constrains(cert)) return;  // a root's end-entity certificate: the signature is all
    OsslPtr<X509> parsed(X509_dup(cert));
    if (!parsed) throw OpenSslError("cannot re-read the new certificate for " + what);
    std::vector<OsslPtr<X509>> path;
    CaChain::Result r = chain.verify(parsed.get(), X509_V_FLAG_NO_CHECK_TIME, &path);
    if (r) {
        // A CA certificate is a valid end of its path even below pathlen:0 (RFC 5280 §4.2.1.9
        // counts the intermediates that follow), but nothing it issues could verify: for it
        // to be of use, every CA above must leave room for one more intermediate.
        if ((X509_get_extension_flags(parsed.get()) & EXFLAG_CA) == 0) return;
        long below = 1;  // the new CA certificate itself, as an intermediate
        for (std::size_t i = 1; i < path.size(); ++i) {
            X509* c = path[i].get();
            long pathlen = X509_get_pathlen(c);
            if (pathlen >= 0 && pathlen < below)
                throw PolicyError("the certificate for " + what +
                                  " would be a CA certificate that cannot issue anything that "
                                  "verifies: " +
                                  name_text(X509_get_subject_name(c)) +
                                  " has pathlen:" + std::to_string(pathlen) +
                                  " (use an end-entity profile, or a parent that allows more "
                                  "levels); it was not issued");
            if ((X509_get_extension_flags(c) & EXFLAG_SI) == 0) ++below;
        }
        return;
    }
    throw PolicyError("the certificate for " + what +
                      " would not verify under this CA's chain: " + r.reason +
                      (chain.rooted() ? "" : " (chain checked up to this CA's certificate)") +
                      "; it was not issued");
}

}  // namespace ts::signer
