// SPDX-License-Identifier: Apache-2.0
#include "signer/ceremony/x509.hpp"

#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "signer/error.hpp"

namespace ts::signer::ceremony {

namespace {

void set_time(ASN1_TIME* field, int64_t t, const char* what) {
    // ASN1_TIME_set chooses UTCTime for 1950-2049 and GeneralizedTime otherwise (RFC 5280).
    if (ASN1_TIME_set(field, static_cast<time_t>(t)) == nullptr) throw OpenSslError(what);
}

OsslPtr<X509_EXTENSION> make_ext(X509V3_CTX* v3, int nid, const std::string& value) {
    OsslPtr<X509_EXTENSION> ext(X509V3_EXT_nconf_nid(nullptr, v3, nid, value.c_str()));
    if (!ext) {
        OpenSslError detail(OBJ_nid2sn(nid));
        throw InputError(std::string("the ") + OBJ_nid2sn(nid) + " value '" + value +
                         "' is not accepted: " + detail.what());
    }
    return ext;
}

void add_ext(X509* cert, X509V3_CTX* v3, int nid, const std::string& value) {
    OsslPtr<X509_EXTENSION> ext = make_ext(v3, nid, value);
    if (!X509_add_ext(cert, ext.get(), -1)) throw OpenSslError("X509_add_ext");
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : ",") + x;
    return out;
}

template <class T, class Sign>
void sign_with(LibCtx& ctx, T* obj, EVP_PKEY* key, const std::string& md, Sign sign,
               const char* what) {
    ERR_clear_error();
    OsslPtr<EVP_MD_CTX> mctx(EVP_MD_CTX_new());
    if (!mctx ||
        EVP_DigestSignInit_ex(mctx.get(), nullptr, md.empty() ? nullptr : md.c_str(), ctx.get(),
                              ctx.propq(), key, nullptr) != 1 ||
        sign(obj, mctx.get()) <= 0)
        throw OpenSslError(what);
}

}  // namespace

OsslPtr<X509> build_certificate(LibCtx& ctx, const CertSpec& spec) {
    OsslPtr<X509> cert(X509_new_ex(ctx.get(), ctx.propq()));
    if (!cert || !X509_set_version(cert.get(), X509_VERSION_3)) throw OpenSslError("X509_new_ex");
    if (!BN_to_ASN1_INTEGER(spec.serial, X509_get_serialNumber(cert.get())))
        throw OpenSslError("serial number");
    const X509_NAME* issuer_name =
        spec.issuer != nullptr ? X509_get_subject_name(spec.issuer) : spec.subject;
    if (!X509_set_subject_name(cert.get(), spec.subject) ||
        !X509_set_issuer_name(cert.get(), issuer_name) ||
        !X509_set_pubkey(cert.get(), spec.subject_key))
        throw OpenSslError("certificate names and key");
    set_time(X509_getm_notBefore(cert.get()), spec.not_before, "notBefore");
    set_time(X509_getm_notAfter(cert.get()), spec.not_after, "notAfter");

    X509V3_CTX v3;
    X509* issuer = spec.issuer != nullptr ? spec.issuer : cert.get();
    X509V3_set_ctx(&v3, issuer, cert.get(), nullptr, nullptr, 0);
    // certificatePolicies is parsed by its own r2i function, which OpenSSL only calls with a
    // configuration database: an empty one (the file gives bare OIDs, no @sections).
    OsslPtr<CONF> db(NCONF_new_ex(ctx.get(), nullptr));
    if (!db) throw OpenSslError("NCONF_new_ex");
    X509V3_set_nconf(&v3, db.get());
    std::string bc = "critical,CA:TRUE";
    if (spec.pathlen) bc += ",pathlen:" + std::to_string(*spec.pathlen);
    add_ext(cert.get(), &v3, NID_basic_constraints, bc);
    add_ext(cert.get(), &v3, NID_key_usage, spec.key_usage);
    if (spec.ski != nullptr) {
        if (!X509_add_ext(cert.get(), const_cast<X509_EXTENSION*>(spec.ski), -1))
            throw OpenSslError("X509_add_ext subjectKeyIdentifier");
    } else {
        add_ext(cert.get(), &v3, NID_subject_key_identifier, "hash");
    }
    add_ext(cert.get(), &v3, NID_authority_key_identifier, "keyid:always");
    if (!spec.eku.empty()) add_ext(cert.get(), &v3, NID_ext_key_usage, join(spec.eku));
    if (!spec.policies.empty())
        add_ext(cert.get(), &v3, NID_certificate_policies, join(spec.policies));
    return cert;
}

OsslPtr<X509_CRL> build_crl(LibCtx& /*ctx*/, X509* issuer, int64_t this_update, int64_t next_update,
                            const BIGNUM* number) {
    OsslPtr<X509_CRL> crl(X509_CRL_new());
    if (!crl || !X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) ||
        !X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer)))
        throw OpenSslError("X509_CRL_new");
    OsslPtr<ASN1_TIME> t(ASN1_TIME_new());
    if (!t) throw OpenSslError("ASN1_TIME_new");
    set_time(t.get(), this_update, "thisUpdate");
    if (!X509_CRL_set1_lastUpdate(crl.get(), t.get())) throw OpenSslError("thisUpdate");
    set_time(t.get(), next_update, "nextUpdate");
    if (!X509_CRL_set1_nextUpdate(crl.get(), t.get())) throw OpenSslError("nextUpdate");
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, nullptr, nullptr, crl.get(), 0);
    OsslPtr<X509_EXTENSION> aki = make_ext(&v3, NID_authority_key_identifier, "keyid:always");
    if (!X509_CRL_add_ext(crl.get(), aki.get(), -1)) throw OpenSslError("CRL AKI");
    OsslPtr<ASN1_INTEGER> num(BN_to_ASN1_INTEGER(number, nullptr));
    if (!num || !X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, num.get(), 0, 0))
        throw OpenSslError("CRL number");
    return crl;
}

OsslPtr<X509_REQ> build_request(LibCtx& ctx, const X509_NAME* subject, EVP_PKEY* key) {
    OsslPtr<X509_REQ> req(X509_REQ_new_ex(ctx.get(), ctx.propq()));
    if (!req || !X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) ||
        !X509_REQ_set_subject_name(req.get(), subject) || !X509_REQ_set_pubkey(req.get(), key))
        throw OpenSslError("building the request");
    return req;
}

std::vector<unsigned char> tbs_der(X509* cert) {
    auto out = to_der(cert, i2d_re_X509_tbs);
    if (out.empty()) throw OpenSslError("encoding the to-be-signed certificate");
    return out;
}

std::vector<unsigned char> tbs_der(X509_CRL* crl) {
    auto out = to_der(crl, i2d_re_X509_CRL_tbs);
    if (out.empty()) throw OpenSslError("encoding the to-be-signed CRL");
    return out;
}

std::vector<unsigned char> tbs_der(X509_REQ* req) {
    auto out = to_der(req, i2d_re_X509_REQ_tbs);
    if (out.empty()) throw OpenSslError("encoding the to-be-signed request");
    return out;
}

void sign_object(LibCtx& ctx, X509* cert, EVP_PKEY* key, const std::string& md) {
    sign_with(ctx, cert, key, md, X509_sign_ctx, "signing the certificate");
}
void sign_object(LibCtx& ctx, X509_CRL* crl, EVP_PKEY* key, const std::string& md) {
    sign_with(ctx, crl, key, md, X509_CRL_sign_ctx, "signing the CRL");
}
void sign_object(LibCtx& ctx, X509_REQ* req, EVP_PKEY* key, const std::string& md) {
    sign_with(ctx, req, key, md, X509_REQ_sign_ctx, "signing the request");
}

OsslPtr<EVP_PKEY> host_key_like(LibCtx& ctx, const EVP_PKEY* like) {
    EVP_PKEY* k = nullptr;
    if (EVP_PKEY_is_a(like, "RSA")) {
        k = EVP_PKEY_Q_keygen(ctx.get(), ctx.propq(), "RSA",
                              static_cast<size_t>(EVP_PKEY_get_bits(like)));
    } else if (EVP_PKEY_is_a(like, "EC")) {
        char group[80] = {0};
        size_t len = 0;
        if (!EVP_PKEY_get_utf8_string_param(like, "group", group, sizeof group, &len))
            throw OpenSslError("the EC key's curve");
        k = EVP_PKEY_Q_keygen(ctx.get(), ctx.propq(), "EC", group);
    } else if (EVP_PKEY_is_a(like, "ED25519")) {
        k = EVP_PKEY_Q_keygen(ctx.get(), ctx.propq(), "ED25519");
    } else if (EVP_PKEY_is_a(like, "ED448")) {
        k = EVP_PKEY_Q_keygen(ctx.get(), ctx.propq(), "ED448");
    } else {
        throw InputError("no host key type matches the key (RSA, EC, Ed25519, Ed448)");
    }
    if (k == nullptr) throw OpenSslError("generating the throwaway host key");
    return OsslPtr<EVP_PKEY>(k);
}

std::string verify_chain(X509* cert, X509* trusted, const std::vector<X509*>& untrusted,
                         int64_t at) {
    OsslPtr<X509_STORE> store(X509_STORE_new());
    OsslPtr<X509_STORE_CTX> sctx(X509_STORE_CTX_new());
    STACK_OF(X509)* chain = sk_X509_new_null();
    if (!store || !sctx || chain == nullptr || !X509_STORE_add_cert(store.get(), trusted)) {
        sk_X509_free(chain);
        throw OpenSslError("X509_STORE");
    }
    for (X509* c : untrusted) sk_X509_push(chain, c);
    std::string problem;
    if (!X509_STORE_CTX_init(sctx.get(), store.get(), cert, chain)) {
        sk_X509_free(chain);
        throw OpenSslError("X509_STORE_CTX_init");
    }
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(sctx.get());
    X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(at));
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT | X509_V_FLAG_CHECK_SS_SIGNATURE);
    if (X509_verify_cert(sctx.get()) != 1)
        problem = X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx.get()));
    sk_X509_free(chain);
    ERR_clear_error();
    return problem;
}

std::vector<unsigned char> name_der(const X509_NAME* name) {
    return to_der(const_cast<X509_NAME*>(name), i2d_X509_NAME);
}

std::vector<unsigned char> spki_der_of(X509* cert) {
    return to_der(X509_get_X509_PUBKEY(cert), i2d_X509_PUBKEY);
}

}  // namespace ts::signer::ceremony
