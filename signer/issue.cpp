// SPDX-License-Identifier: Apache-2.0
#include "signer/issue.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "signer/error.hpp"
#include "signer/profile.hpp"
#include "signer/spki.hpp"

namespace ts::signer {

namespace {

std::string asn1_time_string(const ASN1_TIME* t) {
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(t)),
                       static_cast<std::size_t>(ASN1_STRING_length(t)));
}

// rand_serial: 159 random bits, as openssl ca's rand_serial (SERIAL_RAND_BITS), so the DER
// INTEGER stays within 20 octets and positive.
OsslPtr<BIGNUM> random_serial() {
    OsslPtr<BIGNUM> bn(BN_new());
    if (!bn || !BN_priv_rand_ex(bn.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY, 0, nullptr))
        throw OpenSslError("cannot draw a random serial");
    return bn;
}

// The request's SubjectPublicKeyInfo, copied as it is encoded. X509_set_pubkey would re-encode
// the decoded key through OSSL_ENCODER and decode it again (≈ 0.3 ms a certificate in 3.0, more
// than the token's signature); the bytes are the same.
void copy_public_key(X509* cert, X509_REQ* req) {
    X509_PUBKEY* src = X509_REQ_get_X509_PUBKEY(req);
    ASN1_OBJECT* alg = nullptr;
    const unsigned char* key = nullptr;
    int key_len = 0;
    X509_ALGOR* algor = nullptr;
    if (src == nullptr || !X509_PUBKEY_get0_param(&alg, &key, &key_len, &algor, src))
        throw OpenSslError("cannot read the request's public key");
    const ASN1_OBJECT* aobj = nullptr;
    int ptype = V_ASN1_UNDEF;
    const void* pval = nullptr;
    X509_ALGOR_get0(&aobj, &ptype, &pval, algor);
    void* param = nullptr;
    if (ptype == V_ASN1_OBJECT)
        param = OBJ_dup(static_cast<const ASN1_OBJECT*>(pval));
    else if (ptype == V_ASN1_SEQUENCE)
        param = ASN1_STRING_dup(static_cast<const ASN1_STRING*>(pval));
    else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
        throw InputError("the request's public key algorithm has unexpected parameters");
    auto* bits = static_cast<unsigned char*>(OPENSSL_memdup(key, static_cast<size_t>(key_len)));
    ASN1_OBJECT* oid = OBJ_dup(aobj);
    if ((ptype == V_ASN1_OBJECT || ptype == V_ASN1_SEQUENCE) && param == nullptr) {
        ASN1_OBJECT_free(oid);  // the parameters could not be copied: fail below
        oid = nullptr;
    }
    if (oid == nullptr || (key_len > 0 && bits == nullptr) ||
        !X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), oid, ptype, param, bits, key_len)) {
        ASN1_OBJECT_free(oid);
        OPENSSL_free(bits);
        if (ptype == V_ASN1_OBJECT) ASN1_OBJECT_free(static_cast<ASN1_OBJECT*>(param));
        if (ptype == V_ASN1_SEQUENCE) ASN1_STRING_free(static_cast<ASN1_STRING*>(param));
        throw OpenSslError("cannot copy the request's public key");
    }
}

}  // namespace

std::string name_text(const X509_NAME* name) {
    OsslPtr<char> s(X509_NAME_oneline(name, nullptr, 0));
    if (!s) throw OpenSslError("X509_NAME_oneline");
    return s.get();
}

std::string certificate_pem(X509* cert) {
    OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio || !PEM_write_bio_X509(bio.get(), cert)) throw OpenSslError("PEM_write_bio_X509");
    return bio_text(bio.get());
}

namespace {

// X509_print_ex's flags that print only `keep` (one of X509_FLAG_NO_*) of the parts before the
// public key.
constexpr unsigned long kAllParts =
    X509_FLAG_NO_HEADER | X509_FLAG_NO_VERSION | X509_FLAG_NO_SERIAL | X509_FLAG_NO_SIGNAME |
    X509_FLAG_NO_ISSUER | X509_FLAG_NO_VALIDITY | X509_FLAG_NO_SUBJECT | X509_FLAG_NO_PUBKEY |
    X509_FLAG_NO_IDS | X509_FLAG_NO_EXTENSIONS | X509_FLAG_NO_SIGDUMP | X509_FLAG_NO_AUX;
constexpr unsigned long only(unsigned long keep) { return kAllParts & ~keep; }
// The flags the extensions are printed with after the key (X509V3_EXT_print gets them).
constexpr unsigned long kAfterKey = only(X509_FLAG_NO_IDS | X509_FLAG_NO_EXTENSIONS);

}  // namespace

void CertificateText::print(std::string& out, BIO* b, X509* cert, unsigned long flags) {
    (void)BIO_reset(b);
    if (X509_print_ex(b, cert, XN_FLAG_COMPAT, flags) != 1)
        throw OpenSslError("writing the certificate text");
    out += bio_text(b);
}

const std::string& CertificateText::cached(Cache& cache, std::string key, BIO* b,
                                           const std::function<void(BIO*)>& make) {
    for (auto& [k, text] : cache)
        if (k == key) return text;
    (void)BIO_reset(b);
    make(b);
    std::string text = bio_text(b);
    if (cache.size() >= kCacheSize) {  // a part that differs every time: not kept
        m_scratch = std::move(text);
        return m_scratch;
    }
    cache.emplace_back(std::move(key), std::move(text));
    return cache.back().second;
}

std::string CertificateText::text(X509* cert, const EVP_PKEY* subject_key,
                                  std::span<const unsigned char> der) {
    if (!m_bio) m_bio.reset(BIO_new(BIO_s_mem()));
    BIO* b = m_bio.get();
    if (b == nullptr) throw OpenSslError("BIO_new");
    std::string out;
    if (subject_key == nullptr) {
        (void)BIO_reset(b);
        if (X509_print(b, cert) != 1) throw OpenSslError("writing the certificate text");
        out = bio_text(b);
    } else {
        // X509_print in parts, byte for byte: a certificate built with the request's key bytes
        // has no decoded key of its own (X509_print would say "Unable to load Public Key"), and
        // OpenSSL 3.0 prints a key and dumps a signature through a new encoder context and a
        // BIO_printf per byte, which cost more than the rest of the text; spki.hpp writes both
        // directly for the common key types. The parts that are the same for every
        // certificate of a CA (the version, the signature algorithm, the issuer, most
        // extensions) are printed by OpenSSL once and kept, keyed by what they print.
        const X509_PUBKEY* spki = X509_get_X509_PUBKEY(cert);
        ASN1_OBJECT* alg = nullptr;
        X509_PUBKEY_get0_param(&alg, nullptr, nullptr, nullptr, spki);
        const std::string alg_name = object_text(alg);
        std::string key_text =
            "        Subject Public Key Info:\n            Public Key Algorithm: " + alg_name +
            "\n";
        const ASN1_BIT_STRING* sig = nullptr;
        const X509_ALGOR* sig_alg = nullptr;
        X509_get0_signature(&sig, &sig_alg, cert);
        std::string sig_text;
        if (alg_name.empty() || !append_public_key_text(key_text, spki, subject_key, 16) ||
            !append_signature_text(sig_text, sig_alg, sig))
            throw OpenSslError("writing the certificate text");

        auto print_part = [&](unsigned long keep) {
            return [cert, keep](BIO* bio) {
                if (X509_print_ex(bio, cert, XN_FLAG_COMPAT, only(keep)) != 1)
                    throw OpenSslError("writing the certificate text");
            };
        };
        out += cached(m_header, std::to_string(X509_get_version(cert)), b,
                      print_part(X509_FLAG_NO_HEADER | X509_FLAG_NO_VERSION));
        print(out, b, cert, only(X509_FLAG_NO_SERIAL));
        const auto tbs_alg =
            to_der(const_cast<X509_ALGOR*>(X509_get0_tbs_sigalg(cert)), i2d_X509_ALGOR);
        out += cached(m_sigalg, std::string(tbs_alg.begin(), tbs_alg.end()), b,
                      print_part(X509_FLAG_NO_SIGNAME));
        const unsigned char* name_der = nullptr;
        std::size_t name_len = 0;
        if (X509_NAME_get0_der(X509_get_issuer_name(cert), &name_der, &name_len) != 1)
            throw OpenSslError("encoding the issuer name");
        out += cached(m_issuer, std::string(reinterpret_cast<const char*>(name_der), name_len), b,
                      print_part(X509_FLAG_NO_ISSUER));
        print(out, b, cert, only(X509_FLAG_NO_VALIDITY | X509_FLAG_NO_SUBJECT));
        out += key_text;
        // What X509_print_ex prints after the key: unique IDs (tokensign issues none), then
        // X509V3_extensions_print(bp, "X509v3 extensions", exts, flags, 8). Each extension's
        // block is that function's output for the extension alone, at the indent the title
        // gives the entries.
        const ASN1_BIT_STRING* issuer_uid = nullptr;
        const ASN1_BIT_STRING* subject_uid = nullptr;
        X509_get0_uids(cert, &issuer_uid, &subject_uid);
        const STACK_OF(X509_EXTENSION)* exts = X509_get0_extensions(cert);
        if (issuer_uid != nullptr || subject_uid != nullptr) {
            print(out, b, cert, kAfterKey);
        } else if (sk_X509_EXTENSION_num(exts) > 0) {
            out += "        X509v3 extensions:\n";
            for (int i = 0; i < sk_X509_EXTENSION_num(exts); ++i) {
                X509_EXTENSION* ext = sk_X509_EXTENSION_value(exts, i);
                const ASN1_OBJECT* obj = X509_EXTENSION_get_object(ext);
                const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(ext);
                std::string key(reinterpret_cast<const char*>(OBJ_get0_data(obj)), OBJ_length(obj));
                key += X509_EXTENSION_get_critical(ext) ? '\1' : '\0';
                key.append(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                           static_cast<std::size_t>(ASN1_STRING_length(data)));
                out += cached(m_extensions, std::move(key), b, [ext](BIO* bio) {
                    struct Free {
                        void operator()(STACK_OF(X509_EXTENSION) * s) const noexcept {
                            sk_X509_EXTENSION_free(s);  // borrowed entries: not freed
                        }
                    };
                    std::unique_ptr<STACK_OF(X509_EXTENSION), Free> one(
                        sk_X509_EXTENSION_new_null());
                    if (!one || sk_X509_EXTENSION_push(one.get(), ext) != 1 ||
                        X509V3_extensions_print(bio, nullptr, one.get(), kAfterKey, 12) != 1)
                        throw OpenSslError("writing the certificate text");
                });
            }
        }
        out += sig_text;
    }
    std::vector<unsigned char> own;
    if (der.empty()) {
        own = to_der(cert, i2d_X509);
        if (own.empty()) throw OpenSslError("encoding the certificate");
        der = own;
    }
    return out + certificate_pem_from_der(der);
}

std::string certificate_file_text(X509* cert, const EVP_PKEY* subject_key,
                                  std::span<const unsigned char> der) {
    CertificateText writer;
    return writer.text(cert, subject_key, der);
}

IndexEntry index_entry_for(X509* cert) {
    IndexEntry e;
    e.status = 'V';
    e.expiry = asn1_time_string(X509_get0_notAfter(cert));
    e.serial = serial_hex(X509_get0_serialNumber(cert));
    e.file = "unknown";
    e.subject = name_text(X509_get_subject_name(cert));
    if (e.subject.empty()) e.subject = e.serial;  // as openssl ca
    return e;
}

std::string time_text(const ASN1_TIME* t) {
    OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio || !ASN1_TIME_print(bio.get(), t)) return asn1_time_string(t);
    return bio_text(bio.get());
}

Issuer::Issuer(LibCtx& ctx, const Conf& conf, CaConfig cfg, OsslPtr<X509> ca_cert,
               IssueOptions opts)
    : m_ctx(ctx),
      m_conf(conf),
      m_cfg(std::move(cfg)),
      m_ca(std::move(ca_cert)),
      m_opts(std::move(opts)) {
    const std::string where = "[" + m_cfg.section + "] in " + conf.path();
    m_md = check_digest(m_cfg.default_md, "default_md in " + where, X509_get0_pubkey(m_ca.get()));

    m_plan.emplace(conf, m_cfg, ExtensionOptions{m_opts.extensions, m_opts.extfile, m_opts.san},
                   m_ctx.get());
    m_policy.emplace(conf, m_cfg.policy);
    m_ext = m_plan->section();

    if (!m_cfg.default_startdate.empty() && m_cfg.default_startdate != "today" &&
        !ASN1_TIME_set_string_X509(nullptr, m_cfg.default_startdate.c_str())) {
        ERR_clear_error();
        throw InputError("default_startdate = " + m_cfg.default_startdate + " in " + where +
                         " is invalid: it should be YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ");
    }
    if (!m_cfg.default_enddate.empty() &&
        !ASN1_TIME_set_string_X509(nullptr, m_cfg.default_enddate.c_str())) {
        ERR_clear_error();
        throw InputError("default_enddate = " + m_cfg.default_enddate + " in " + where +
                         " is invalid: it should be YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ");
    }
    if (m_opts.days < 0) throw InputError("--days must be positive");
    if (m_opts.days == 0 && m_cfg.default_days <= 0 && m_cfg.default_enddate.empty())
        throw InputError(
            "cannot tell how long to certify for: set default_days (or "
            "default_enddate) in " +
            where + ", or pass --days");

    if (X509_cmp_current_time(X509_get0_notAfter(m_ca.get())) < 0)
        throw InputError("the CA certificate " + m_cfg.certificate + " expired on " +
                         time_text(X509_get0_notAfter(m_ca.get())) +
                         "; it cannot issue certificates until it is renewed");
    if (X509_cmp_current_time(X509_get0_notBefore(m_ca.get())) > 0)
        throw InputError("the CA certificate " + m_cfg.certificate + " is not valid before " +
                         time_text(X509_get0_notBefore(m_ca.get())));
    m_chain.emplace(CaChain::load(m_ctx, m_ca.get(), m_cfg.chain));
    if (!m_cfg.chain.empty())
        check_ca_chain(*m_chain, m_cfg.certificate + ", tokensign_chain = " + m_cfg.chain);
    ERR_clear_error();
}

void Issuer::check_request(const Csr& csr) const {
    check_csr(csr, m_cfg.min_rsa_bits, m_ctx.get());
}

void Issuer::use_key(OsslPtr<EVP_PKEY> key) {
    if (!key_matches_certificate(m_ctx, key.get(), m_ca.get()))
        throw InputError("the CA key " + m_cfg.private_key + " does not match the CA certificate " +
                         m_cfg.certificate + " (private_key and certificate in [" + m_cfg.section +
                         "] name different keys)");
    m_key = std::move(key);
}

void Issuer::begin_prepare(const CaDb& db) {
    m_prep = PrepareState{};
    if (!m_cfg.rand_serial) m_next_serial = db.next_serial();
    m_prep.unique = m_cfg.unique_subject.value_or(db.unique_subject());
}

std::vector<PendingCertificate> Issuer::prepare(const std::vector<Csr>& csrs, const CaDb& db) {
    std::vector<PendingCertificate> out;
    out.reserve(csrs.size());
    begin_prepare(db);
    for (const auto& csr : csrs) out.push_back(prepare_one(csr, db));
    ERR_clear_error();
    return out;
}

PendingCertificate Issuer::prepare_one(const Csr& csr, const CaDb& db) {
    PendingCertificate p;
    p.csr_name = csr.name;
    p.cert.reset(X509_new_ex(m_ctx.get(), m_ctx.propq()));
    X509* x = p.cert.get();
    if (!x || !X509_set_version(x, X509_VERSION_3)) throw OpenSslError("X509_new_ex");
    // The subject first: a request the policy refuses takes no serial.
    m_policy->apply(x, X509_REQ_get_subject_name(csr.req.get()), X509_get_subject_name(m_ca.get()),
                    m_cfg.preserve, m_cfg.email_in_dn, csr.name);

    OsslPtr<BIGNUM> serial;
    if (m_cfg.rand_serial) {
        for (;;) {
            serial = random_serial();
            std::string hex = serial_hex(serial.get());
            bool taken =
                db.find_serial(hex) != nullptr || m_prep.serials.count(serial_key(hex)) != 0;
            if (!taken) break;
        }
    } else {
        serial.reset(BN_dup(m_next_serial.get()));
        if (!BN_add_word(m_next_serial.get(), 1)) throw OpenSslError("BN_add_word");
    }
    if (!BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x)))
        throw OpenSslError("BN_to_ASN1_INTEGER");
    if (!X509_set_issuer_name(x, X509_get_subject_name(m_ca.get())))
        throw OpenSslError("X509_set_issuer_name");

    // set_cert_times() of apps/lib/apps.c: "today" or a fixed start; the end from days
    // counted from now, or a fixed end date. --days replaces both default_days and
    // default_enddate.
    const std::string& start = m_cfg.default_startdate;
    if (start.empty() || start == "today") {
        if (!X509_gmtime_adj(X509_getm_notBefore(x), 0)) throw OpenSslError("notBefore");
    } else if (!ASN1_TIME_set_string_X509(X509_getm_notBefore(x), start.c_str())) {
        throw OpenSslError("notBefore");
    }
    if (m_opts.days > 0 || m_cfg.default_enddate.empty()) {
        long days = m_opts.days > 0 ? m_opts.days : m_cfg.default_days;
        if (days > 365L * 200) throw InputError("--days " + std::to_string(days) + " is too large");
        if (!X509_time_adj_ex(X509_getm_notAfter(x), static_cast<int>(days), 0, nullptr))
            throw OpenSslError("notAfter");
    } else if (!ASN1_TIME_set_string_X509(X509_getm_notAfter(x), m_cfg.default_enddate.c_str())) {
        throw OpenSslError("notAfter");
    }
    if (ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(m_ca.get())) > 0) {
        if (!m_cfg.clip_to_ca)
            throw InputError(csr.name + ": the certificate would be valid until " +
                             time_text(X509_get0_notAfter(x)) +
                             ", after the CA certificate ends (" +
                             time_text(X509_get0_notAfter(m_ca.get())) +
                             "), and tokensign_clip_to_ca = no: ask for fewer days (--days) "
                             "or renew the CA certificate");
        // A certificate cannot be trusted past its issuer: end it with the CA.
        p.notes.push_back("validity clipped from " + time_text(X509_get0_notAfter(x)) +
                          " to the CA certificate's end, " +
                          time_text(X509_get0_notAfter(m_ca.get())));
        if (!X509_set1_notAfter(x, X509_get0_notAfter(m_ca.get())))
            throw OpenSslError("X509_set1_notAfter");
    }

    copy_public_key(x, csr.req.get());
    // For the newcerts/ text (certificate_file_text): a key like the request's, kept.
    if (EVP_PKEY* k = csr.stand_in.get(); k != nullptr && EVP_PKEY_up_ref(k) == 1)
        p.subject_key.reset(k);
    m_plan->apply(m_ca.get(), x, csr.req.get(), csr.name, p.notes);
    m_chain->check_before_signing(x, csr.name);  // nameConstraints, pathlen: before the token

    p.entry = index_entry_for(x);

    if (m_prep.unique) {
        const IndexEntry* clash = db.find_valid_subject(p.entry.subject);
        std::string clash_serial = clash ? clash->serial : "";
        if (auto it = m_prep.subjects.find(p.entry.subject); it != m_prep.subjects.end())
            clash_serial = it->second + " (this run)";
        if (!clash_serial.empty())
            throw PolicyError(csr.name + ": a valid certificate for " + p.entry.subject +
                              " already exists (serial " + clash_serial +
                              ") and unique_subject = yes; revoke it first, or set "
                              "unique_subject = no in [" +
                              m_cfg.section + "]");
    }
    if (const IndexEntry* e = db.find_serial(p.entry.serial))
        throw CaDbError("serial " + e->serial + " has already been issued (" + e->subject +
                        "); the serial file " + m_cfg.serial +
                        " is behind the database: check it for corruption");
    m_prep.serials.insert(serial_key(p.entry.serial));
    m_prep.subjects.emplace(p.entry.subject, p.entry.serial);
    return p;
}

OsslPtr<EVP_MD_CTX> Issuer::signing_template() const {
    OsslPtr<EVP_MD_CTX> mctx(EVP_MD_CTX_new());
    if (!mctx || EVP_DigestSignInit_ex(mctx.get(), nullptr, m_md.empty() ? nullptr : m_md.c_str(),
                                       m_ctx.get(), m_ctx.propq(), m_key.get(), nullptr) != 1)
        throw OpenSslError("cannot start signing with the CA key " + m_cfg.private_key);
    return mctx;
}

void Issuer::sign_one(PendingCertificate& p, const EVP_MD_CTX* tmpl) {
    // A copy of the initialised, unused context for each certificate: what EVP_DigestSignFinal
    // itself does to sign without finalising its context, and a fraction of the cost of a new
    // EVP_DigestSignInit_ex (a key context, two fetches, the provider's init) each time.
    OsslPtr<EVP_MD_CTX> mctx(EVP_MD_CTX_new());
    if (!mctx || EVP_MD_CTX_copy_ex(mctx.get(), tmpl) != 1)
        throw OpenSslError("cannot start signing the certificate for " + p.csr_name);
    if (X509_sign_ctx(p.cert.get(), mctx.get()) <= 0)
        throw OpenSslError("signing the certificate for " + p.csr_name + " failed");
}

CertificateVerifier Issuer::ca_verifier() const noexcept {
    return CertificateVerifier(X509_get0_pubkey(m_ca.get()), m_ctx.get(), m_ctx.propq());
}

void Issuer::finish_one(PendingCertificate& p, CaDb& db, CertificateVerifier& verifier,
                        CertificateText& text) const {
    // The signature is checked with the CA certificate's key, not the signing key object:
    // what verifiers will use.
    // Checked on the DER that is written, not on the structure in memory.
    const std::vector<unsigned char> der = to_der(p.cert.get(), i2d_X509);
    if (der.empty()) throw OpenSslError("encoding the certificate for " + p.csr_name);
    if (!verifier.verify(p.cert.get(), der))
        throw OpenSslError("the new signature on the certificate for " + p.csr_name +
                           " does not verify with the CA certificate's public key; "
                           "it was not issued");
    p.file_text = text.text(p.cert.get(), p.subject_key.get(), der);
    // And its chain up to the CA's trust anchor, with the constraints on the way (pathlen,
    // nameConstraints), as verifiers build it.
    check_issued_chain(*m_chain, p.cert.get(), p.csr_name);
    // The file ends with the PEM: no second encoding.
    auto pem_at = p.file_text.find("-----BEGIN CERTIFICATE-----");
    p.pem =
        pem_at == std::string::npos ? certificate_pem(p.cert.get()) : p.file_text.substr(pem_at);
    // On record from here on, whatever happens to this process.
    db.journal(p.pem);
    p.journaled = true;
}

void Issuer::stage(std::vector<PendingCertificate>& issued, CaDb& db) {
    // The serials were reserved before the first signature (reserve_serials): the serial file
    // is already past every one of them, used or not.
    for (auto& p : issued) {
        db.add(p.entry);
        if (!p.newcert_tmp.empty())
            db.add_prewritten_certificate_file(p.entry.serial, std::move(p.newcert_tmp));
        else
            db.add_certificate_file(p.entry.serial, p.file_text.empty()
                                                        ? certificate_file_text(p.cert.get())
                                                        : p.file_text);
        p.newcert_tmp.clear();
    }
    db.set_unique_subject(m_cfg.unique_subject.value_or(db.unique_subject()));
    ERR_clear_error();
}

IssueOutcome Issuer::sign(std::vector<PendingCertificate> pending, CaDb& db,
                          const std::function<void(std::size_t, std::size_t)>& progress) {
    if (!m_key) throw Error("Issuer::sign called without a CA key");
    IssueOutcome out;
    if (!m_cfg.rand_serial && !pending.empty()) {
        OsslPtr<BIGNUM> first = db.reserve_serials(pending.size());
        if (serial_key(serial_hex(first.get())) != serial_key(pending.front().entry.serial))
            throw CaDbError("the serial file " + m_cfg.serial +
                            " changed after the certificates were prepared; nothing was signed");
    }
    std::size_t done = 0;
    CertificateVerifier verifier = ca_verifier();
    CertificateText text;
    OsslPtr<EVP_MD_CTX> tmpl;
    for (auto& p : pending) {
        if (!out.error && out.signal == 0) out.signal = stop_signal();
        if (out.error || out.signal != 0) {
            out.not_processed.push_back(p.csr_name);
            continue;
        }
        try {
            if (!tmpl) tmpl = signing_template();
            sign_one(p, tmpl.get());
            finish_one(p, db, verifier, text);
        } catch (...) {
            out.error = std::current_exception();
            out.not_processed.push_back(p.csr_name);
            continue;
        }
        ++done;
        if (progress) progress(done, pending.size());
        out.issued.push_back(std::move(p));
    }
    stage(out.issued, db);
    return out;
}

namespace {

// A closable FIFO between the pipeline's threads.
template <class T>
class Channel {
  public:
    /// A consumer that found the channel empty sleeps until `wake_at` items are waiting, the
    /// channel is closed, or `wait_at_most` passed: a hand-over to a sleeping thread costs a
    /// futex wake and a context switch, which a stage that is not the bottleneck (verify and
    /// write, behind the token) need not pay for every item.
    explicit Channel(std::size_t wake_at = 1,
                     std::chrono::milliseconds wait_at_most = std::chrono::milliseconds(10))
        : m_wake_at(wake_at == 0 ? 1 : wake_at), m_wait(wait_at_most) {}
    void push(T v) {
        bool wake;
        {
            std::lock_guard<std::mutex> l(m_mu);
            m_q.push_back(std::move(v));
            wake = m_q.size() >= m_wake_at;
        }
        if (wake) m_cv.notify_one();
    }
    void close() {
        {
            std::lock_guard<std::mutex> l(m_mu);
            m_closed = true;
        }
        m_cv.notify_all();
    }
    /// False when closed and drained.
    bool pop(T& out) {
        std::unique_lock<std::mutex> l(m_mu);
        if (m_q.empty()) {
            while (m_q.size() < m_wake_at && !m_closed) {
                if (m_cv.wait_for(l, m_wait) == std::cv_status::timeout && !m_q.empty()) break;
            }
        }
        if (m_q.empty()) return false;
        out = std::move(m_q.front());
        m_q.pop_front();
        return true;
    }

  private:
    const std::size_t m_wake_at;
    const std::chrono::milliseconds m_wait;
    std::mutex m_mu;
    std::condition_variable m_cv;
    std::deque<T> m_q;
    bool m_closed = false;
};

}  // namespace

IssueOutcome Issuer::issue_batch(
    const std::vector<CsrInput>& inputs, CaDb& db,
    const std::function<void(std::size_t, std::size_t)>& progress,
    const std::function<void(std::size_t, const PendingCertificate&)>& written) {
    if (!m_key) throw Error("Issuer::issue_batch called without a CA key");
    begin_prepare(db);
    const std::size_t n = inputs.size();
    std::vector<PendingCertificate> results(n);
    // The token's queue wakes its signer at once; the verifier is woken 8 certificates at a
    // time (or after 10 ms), as it keeps up easily.
    Channel<std::size_t> to_sign, to_finish(8);
    // Set by the first failure or a stop signal: nothing more is prepared or signed. What the
    // token signed already is still verified, journaled and staged.
    std::atomic<bool> stopping{false};
    std::mutex err_mu;
    IssueOutcome out;
    auto fail = [&](std::exception_ptr e) {
        std::lock_guard<std::mutex> l(err_mu);
        if (!out.error) out.error = e;
        stopping = true;
    };
    // A refused request stops the preparation only: the requests before it, prepared already,
    // are still signed, so a batch always issues exactly the inputs before the first refused
    // one.
    std::atomic<bool> refused{false};
    auto refuse = [&](std::exception_ptr e) {
        std::lock_guard<std::mutex> l(err_mu);
        if (!out.error) out.error = e;
        refused = true;
    };
    auto should_stop = [&] {
        if (stopping) return true;
        if (int sig = stop_signal(); sig != 0) {
            std::lock_guard<std::mutex> l(err_mu);
            if (out.signal == 0) out.signal = sig;
            stopping = true;
            return true;
        }
        return false;
    };

    // Thread 1: parse, check and build, in input order (serials are assigned in this order).
    // Busy time per stage (TOKENSIGN_TIMING=1), to see which stage bounds the pipeline.
    const bool timing = std::getenv("TOKENSIGN_TIMING") != nullptr;
    std::atomic<long> busy_prep{0}, busy_sign{0}, busy_fin{0}, busy_write{0};
    std::atomic<long> cpu_prep{0}, cpu_sign{0}, cpu_fin{0}, cpu_write{0}, cpu_fin_thread{0};
    auto thread_cpu_us = [] {
        timespec ts{};
        ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return static_cast<long>(ts.tv_sec) * 1000000L + ts.tv_nsec / 1000;
    };
    auto clock_us = [] {
        return std::chrono::duration_cast<std::chrono::microseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    };
    std::thread prep([&] {
        try {
            // This thread's: one EC curve set up per batch, and each request is done with
            // before the next is parsed, so its EC key can be the decoder's working key.
            PublicKeyDecoder keys(m_ctx.get());
            for (std::size_t i = 0; i < n && !refused && !should_stop(); ++i) {
                long t0 = clock_us();
                Csr csr = inputs[i].data.empty()
                              ? parse_csr(read_file(inputs[i].name), inputs[i].name, keys, true)
                              : parse_csr(inputs[i].data, inputs[i].name, keys, true);
                check_request(csr);
                results[i] = prepare_one(csr, db);
                // Every input's serial, reserved durably before the first signature (one write
                // per batch), and only once a request passed: a refused first request changes
                // nothing.
                if (i == 0 && !m_cfg.rand_serial) {
                    OsslPtr<BIGNUM> first = db.reserve_serials(n);
                    if (serial_key(serial_hex(first.get())) != serial_key(results[0].entry.serial))
                        throw CaDbError("the serial file " + m_cfg.serial +
                                        " changed under the lock; nothing was signed");
                }
                busy_prep += clock_us() - t0;
                to_sign.push(i);
            }
        } catch (...) {
            refuse(std::current_exception());
        }
        ERR_clear_error();
        cpu_prep = thread_cpu_us();
        to_sign.close();
    });
    // Thread 2: verify each new signature with the CA certificate's key, format it, and write
    // the newcerts/ file (and whatever `written` adds) to a temp file, off the token's critical
    // path; it only becomes visible when commit() renames it in. One thread for both: fewer
    // hand-offs between threads (each a futex wake and a context switch on a 2-core machine).
    std::thread fin([&] {
        std::size_t i = 0, done = 0;
        CertificateVerifier verifier = ca_verifier();
        CertificateText text;
        // Every certificate the token signed is finished, also after a failure or a stop:
        // once journaled it is issued and must be staged.
        while (to_finish.pop(i)) {
            try {
                long t0 = clock_us();
                long c0 = timing ? thread_cpu_us() : 0;
                finish_one(results[i], db, verifier, text);
                long t1 = clock_us();
                long c1 = timing ? thread_cpu_us() : 0;
                busy_fin += t1 - t0;
                PendingCertificate& r = results[i];
                r.newcert_tmp = CaDb::prewrite_certificate_file(m_cfg.new_certs_dir, r.entry.serial,
                                                                r.file_text);
                std::string().swap(r.file_text);  // on disk now: its memory serves the next one
                if (written) written(i, r);
                busy_write += clock_us() - t1;
                if (timing) {
                    long c2 = thread_cpu_us();
                    cpu_fin += c1 - c0;
                    cpu_write += c2 - c1;
                }
                if (progress) progress(++done, n);
            } catch (...) {
                fail(std::current_exception());
            }
        }
        ERR_clear_error();
        cpu_fin_thread = thread_cpu_us();  // all of it: waits and wake-ups, progress too
    });
    // The token signs: this thread, plus more on their own sessions when asked (a token, like
    // an HSM, serves parallel sessions in parallel; one that allows fewer sessions makes the
    // extra threads wait for one in the provider's session pool).
    auto signer_loop = [&] {
        long c0 = thread_cpu_us();
        std::size_t i = 0;
        OsslPtr<EVP_MD_CTX> tmpl;  // this thread's, made at its first certificate
        while (to_sign.pop(i)) {
            if (should_stop()) continue;  // drained, not signed
            try {
                long t0 = clock_us();
                if (!tmpl) tmpl = signing_template();
                sign_one(results[i], tmpl.get());
                busy_sign += clock_us() - t0;
                to_finish.push(i);
            } catch (...) {
                fail(std::current_exception());
            }
        }
        ERR_clear_error();
        cpu_sign += thread_cpu_us() - c0;
    };
    std::vector<std::thread> extra;
    for (unsigned t = 1; t < m_signing_threads; ++t) extra.emplace_back(signer_loop);
    const long pipeline_start = clock_us();
    signer_loop();
    for (auto& t : extra) t.join();
    const long signed_all = clock_us();
    to_finish.close();
    prep.join();
    fin.join();
    if (timing)
        std::fprintf(stderr, "timing: last signature at %ld ms, pipeline drained %ld ms later\n",
                     (signed_all - pipeline_start) / 1000, (clock_us() - signed_all) / 1000);
    if (timing)
        std::fprintf(stderr,
                     "timing: pipeline busy ms: check+build %ld, sign %ld, verify+format %ld, "
                     "write %ld\n",
                     busy_prep / 1000, busy_sign / 1000, busy_fin / 1000, busy_write / 1000);
    if (timing)
        std::fprintf(stderr,
                     "timing: pipeline cpu ms: check+build %ld, sign %ld, verify+format %ld, "
                     "write %ld, verify+format+write thread %ld\n",
                     cpu_prep / 1000, cpu_sign / 1000, cpu_fin / 1000, cpu_write / 1000,
                     cpu_fin_thread / 1000);
    for (std::size_t i = 0; i < n; ++i) {
        if (results[i].journaled)
            out.issued.push_back(std::move(results[i]));
        else
            out.not_processed.push_back(inputs[i].name);
    }
    stage(out.issued, db);
    return out;
}

}  // namespace ts::signer
