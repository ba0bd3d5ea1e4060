// SPDX-License-Identifier: Apache-2.0
#include "signer/crl.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <strings.h>

#include <array>
#include <cstring>

#include "signer/error.hpp"
#include "signer/profile.hpp"

namespace ts::signer {

namespace {

// apps/ca.c crl_reasons[]: the index is the CRLReason code except removeFromCRL (code 8).
constexpr std::array<const char*, 8> kReasons = {
    "unspecified", "keyCompromise",        "CACompromise",    "affiliationChanged",
    "superseded",  "cessationOfOperation", "certificateHold", "removeFromCRL"};

int reason_code(std::string_view name) {
    for (std::size_t i = 0; i < kReasons.size(); ++i)
        if (name.size() == std::strlen(kReasons[i]) &&
            strncasecmp(name.data(), kReasons[i], name.size()) == 0)
            return i == 7 ? 8 : static_cast<int>(i);
    return -2;
}

std::string now_utc_string() {
    OsslPtr<ASN1_TIME> t(X509_gmtime_adj(nullptr, 0));
    if (!t) throw OpenSslError("X509_gmtime_adj");
    return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(t.get())),
                       static_cast<std::size_t>(ASN1_STRING_length(t.get())));
}

}  // namespace

std::string canonical_reason(std::string_view name) {
    for (const char* r : kReasons)
        if (name.size() == std::strlen(r) && strncasecmp(name.data(), r, name.size()) == 0)
            return r;
    std::string list;
    for (const char* r : kReasons) list += (list.empty() ? "" : ", ") + std::string(r);
    throw InputError("unknown revocation reason '" + std::string(name) + "'; use one of " + list);
}

void revoke_serial(CaDb& db, const std::string& serial, const std::string& reason) {
    const IndexEntry* e = db.find_serial(serial);
    if (e == nullptr)
        throw InputError("serial " + serial + " is not in the CA database " + db.paths().database);
    if (e->status == 'R')
        throw InputError("serial " + e->serial + " (" + e->subject + ") is already revoked (" +
                         e->revocation + ")");
    IndexEntry& u = db.entry_for_update(serial);
    u.status = 'R';
    u.revocation = now_utc_string() + (reason.empty() ? "" : "," + canonical_reason(reason));
}

std::string revoke_certificate(CaDb& db, X509* cert, X509* ca, const std::string& reason) {
    if (X509_verify(cert, X509_get0_pubkey(ca)) != 1) {
        ERR_clear_error();
        throw InputError(
            "the certificate was not issued by this CA (its signature does not "
            "verify with the CA certificate's key)");
    }
    std::string serial = serial_hex(X509_get0_serialNumber(cert));
    OsslPtr<char> name(X509_NAME_oneline(X509_get_subject_name(cert), nullptr, 0));
    std::string subject = name ? name.get() : "";
    if (subject.empty()) subject = serial;
    const IndexEntry* e = db.find_serial(serial);
    if (e == nullptr) {
        // openssl ca -revoke adds an unknown certificate before revoking it.
        IndexEntry n;
        n.status = 'V';
        const ASN1_TIME* na = X509_get0_notAfter(cert);
        n.expiry.assign(reinterpret_cast<const char*>(ASN1_STRING_get0_data(na)),
                        static_cast<std::size_t>(ASN1_STRING_length(na)));
        n.serial = serial;
        n.subject = subject;
        db.add(n);
    } else if (e->subject != subject) {
        throw InputError("the certificate's subject " + subject +
                         " differs from the database entry for serial " + serial + " (" +
                         e->subject + ")");
    }
    revoke_serial(db, serial, reason);
    return serial;
}

int update_expired(CaDb& db) {
    std::vector<std::string> expired;
    for (const auto& e : db.entries()) {
        if (e.status != 'V') continue;
        OsslPtr<ASN1_TIME> t(ASN1_TIME_new());
        if (!t || !ASN1_TIME_set_string_X509(t.get(), e.expiry.c_str()))
            throw CaDbError("invalid expiry date '" + e.expiry + "' for serial " + e.serial);
        if (X509_cmp_current_time(t.get()) <= 0) expired.push_back(e.serial);
    }
    for (const auto& s : expired) db.entry_for_update(s).status = 'E';
    return static_cast<int>(expired.size());
}

std::string crl_pem(X509_CRL* crl) {
    OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio || !PEM_write_bio_X509_CRL(bio.get(), crl))
        throw OpenSslError("PEM_write_bio_X509_CRL");
    return bio_text(bio.get());
}

OsslPtr<X509_CRL> generate_crl(LibCtx& ctx, const Conf& conf, const CaConfig& cfg, X509* ca,
                               EVP_PKEY* key, const std::string& md, CaDb& db, long days,
                               long hours) {
    if (days == 0 && hours == 0) {
        days = cfg.default_crl_days;
        hours = cfg.default_crl_hours;
    }
    if (days <= 0 && hours <= 0)
        throw InputError("cannot tell when the next CRL is due: set default_crl_days in [" +
                         cfg.section + "] or pass --days");
    if (!cfg.crl_extensions.empty())
        check_extension_section(conf, cfg.crl_extensions,
                                "crl_extensions in [" + cfg.section + "]");

    OsslPtr<X509_CRL> crl(X509_CRL_new_ex(ctx.get(), ctx.propq()));
    if (!crl || !X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca)))
        throw OpenSslError("X509_CRL_new_ex");
    OsslPtr<ASN1_TIME> t(X509_gmtime_adj(nullptr, 0));
    if (!t || !X509_CRL_set1_lastUpdate(crl.get(), t.get())) throw OpenSslError("lastUpdate");
    if (!X509_time_adj_ex(t.get(), static_cast<int>(days), hours * 60 * 60, nullptr) ||
        !X509_CRL_set1_nextUpdate(crl.get(), t.get()))
        throw OpenSslError("nextUpdate");

    bool v2 = false;
    for (const auto& e : db.entries()) {
        if (e.status != 'R') continue;
        std::string date = e.revocation.substr(0, e.revocation.find(','));
        std::string reason;
        if (auto c = e.revocation.find(','); c != std::string::npos) {
            reason = e.revocation.substr(c + 1);
            reason = reason.substr(0, reason.find(','));
        }
        OsslPtr<X509_REVOKED> r(X509_REVOKED_new());
        OsslPtr<ASN1_TIME> rt(ASN1_TIME_new());
        if (!r || !rt || !ASN1_TIME_set_string_X509(rt.get(), date.c_str()))
            throw CaDbError("invalid revocation date '" + e.revocation + "' for serial " +
                            e.serial);
        if (!X509_REVOKED_set_revocationDate(r.get(), rt.get()))
            throw OpenSslError("revocationDate");
        if (!reason.empty()) {
            int code = reason_code(reason);
            if (code < 0)
                throw CaDbError("unknown revocation reason '" + reason + "' for serial " +
                                e.serial);
            OsslPtr<ASN1_ENUMERATED> en(ASN1_ENUMERATED_new());
            if (!en || !ASN1_ENUMERATED_set(en.get(), code) ||
                !X509_REVOKED_add1_ext_i2d(r.get(), NID_crl_reason, en.get(), 0, 0))
                throw OpenSslError("CRL reason");
            v2 = true;
        }
        BIGNUM* bn = nullptr;
        if (!BN_hex2bn(&bn, e.serial.c_str())) throw OpenSslError("BN_hex2bn");
        OsslPtr<BIGNUM> owned(bn);
        OsslPtr<ASN1_INTEGER> ai(BN_to_ASN1_INTEGER(bn, nullptr));
        if (!ai || !X509_REVOKED_set_serialNumber(r.get(), ai.get())) throw OpenSslError("serial");
        if (!X509_CRL_add0_revoked(crl.get(), r.get())) throw OpenSslError("X509_CRL_add0_revoked");
        r.release();
    }
    X509_CRL_sort(crl.get());

    if (!cfg.crl_extensions.empty()) {
        X509V3_CTX xctx;
        X509V3_set_ctx(&xctx, ca, nullptr, nullptr, crl.get(), 0);
        X509V3_set_nconf(&xctx, conf.get());
        if (!X509V3_EXT_CRL_add_nconf(conf.get(), &xctx, cfg.crl_extensions.c_str(), crl.get()))
            throw OpenSslError("cannot add the CRL extensions of [" + cfg.crl_extensions + "]");
        v2 = true;
    }
    if (!cfg.crlnumber.empty()) {
        // Reserved (the crlnumber file advanced, durably) before the CRL is signed: a number is
        // never on two CRLs, whatever happens after this.
        OsslPtr<BIGNUM> number = db.reserve_crlnumber();
        OsslPtr<ASN1_INTEGER> ai(BN_to_ASN1_INTEGER(number.get(), nullptr));
        if (!ai || !X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, ai.get(), 0, 0))
            throw OpenSslError("crlNumber");
        v2 = true;
    }
    if (v2 && !X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2)) throw OpenSslError("version");

    OsslPtr<EVP_MD_CTX> mctx(EVP_MD_CTX_new());
    if (!mctx ||
        EVP_DigestSignInit_ex(mctx.get(), nullptr, md.empty() ? nullptr : md.c_str(), ctx.get(),
                              ctx.propq(), key, nullptr) != 1 ||
        X509_CRL_sign_ctx(crl.get(), mctx.get()) <= 0)
        throw OpenSslError("signing the CRL failed");
    if (X509_CRL_verify(crl.get(), X509_get0_pubkey(ca)) != 1)
        throw OpenSslError("the new CRL signature does not verify with the CA certificate's key");
    ERR_clear_error();
    return crl;
}

}  // namespace ts::signer
