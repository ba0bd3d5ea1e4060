// SPDX-License-Identifier: Apache-2.0
// The ceremony runner's X.509 building (no token): the to-be-signed bytes of two copies signed
// by different keys of one type are equal (the pre-issuance comparison works) and differ when
// the signer's type differs (it has teeth); the file's dates, serial, pathlen, EKU and policies
// land in the certificate as written; chains verify at their own time only; the token_state
// sentence.
#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include "signer/ceremony/file.hpp"
#include "signer/ceremony/runner.hpp"
#include "signer/ceremony/x509.hpp"
#include "signer/init.hpp"

namespace ts::signer::ceremony {
namespace {

int64_t at(const char* text) {
    // "2027-01-15T00:00:00Z" through the file parser's own reading of dates.
    File f = parse(std::string("tokensign-ceremony: 1\nname: t\ntokens:\n  - id: a\n    uri: "
                               "\"pkcs11:token=a\"\nsteps:\n  - id: k\n    step: key\n    token: "
                               "a\n    label: l\n    algorithm: ec:p-256\n  - id: r\n    step: "
                               "root\n    key: k\n    subject: /CN=x\n    not-before: ") +
                       text +
                       "\n    not-after: 2060-01-01T00:00:00Z\n    serial: \"01\"\n"
                       "    digest: sha256\n",
                   "t.yaml");
    return f.steps.at(1).not_before;
}

class CeremonyX509Test : public ::testing::Test {
  protected:
    LibCtx ctx;
    OsslPtr<EVP_PKEY> subject_key{EVP_PKEY_Q_keygen(ctx.get(), nullptr, "EC", "P-256")};
    OsslPtr<X509_NAME> name = parse_subject("/C=US/O=Example/CN=Example Root");
    OsslPtr<BIGNUM> serial{BN_new()};

    CertSpec root_spec() {
        BN_set_word(serial.get(), 0x2027cc01);
        CertSpec s;
        s.subject = name.get();
        s.not_before = at("2027-01-15T00:00:00Z");
        s.not_after = at("2051-01-15T00:00:00Z");
        s.serial = serial.get();
        s.subject_key = subject_key.get();
        s.pathlen = 1;
        s.key_usage = "critical,keyCertSign,cRLSign";
        s.eku = {"serverAuth"};
        s.policies = {"2.23.140.1.2.1", "1.3.6.1.4.1.99999.1"};
        return s;
    }
};

TEST_F(CeremonyX509Test, CopiesSignedByKeysOfOneTypeHaveEqualToBeSignedBytes) {
    CertSpec spec = root_spec();
    OsslPtr<EVP_PKEY> one = host_key_like(ctx, subject_key.get());
    OsslPtr<EVP_PKEY> two = host_key_like(ctx, subject_key.get());
    OsslPtr<X509> a = build_certificate(ctx, spec);
    OsslPtr<X509> b = build_certificate(ctx, spec);
    sign_object(ctx, a.get(), one.get(), "sha384");
    sign_object(ctx, b.get(), two.get(), "sha384");
    EXPECT_EQ(tbs_der(a.get()), tbs_der(b.get()));
    EXPECT_NE(to_der(a.get(), i2d_X509), to_der(b.get(), i2d_X509));
    // Another digest or another key type is another to-be-signed certificate.
    OsslPtr<X509> c = build_certificate(ctx, spec);
    sign_object(ctx, c.get(), one.get(), "sha256");
    EXPECT_NE(tbs_der(a.get()), tbs_der(c.get()));
    OsslPtr<EVP_PKEY> rsa(EVP_PKEY_Q_keygen(ctx.get(), nullptr, "RSA", size_t{2048}));
    OsslPtr<X509> d = build_certificate(ctx, spec);
    sign_object(ctx, d.get(), rsa.get(), "sha384");
    EXPECT_NE(tbs_der(a.get()), tbs_der(d.get()));
}

TEST_F(CeremonyX509Test, TheFileValuesLandInTheCertificateAsWritten) {
    OsslPtr<X509> cert = build_certificate(ctx, root_spec());
    OsslPtr<EVP_PKEY> host = host_key_like(ctx, subject_key.get());
    sign_object(ctx, cert.get(), host.get(), "sha384");
    EXPECT_EQ(ASN1_STRING_type(X509_get0_notBefore(cert.get())), V_ASN1_UTCTIME);
    EXPECT_EQ(ASN1_STRING_type(X509_get0_notAfter(cert.get())), V_ASN1_GENERALIZEDTIME);
    EXPECT_EQ(ASN1_TIME_cmp_time_t(X509_get0_notBefore(cert.get()), at("2027-01-15T00:00:00Z")), 0);
    OsslPtr<BIGNUM> sn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
    EXPECT_EQ(BN_get_word(sn.get()), 0x2027cc01u);
    EXPECT_EQ(X509_get_pathlen(cert.get()), 1);
    EXPECT_TRUE(X509_get_extension_flags(cert.get()) & EXFLAG_CA);
    EXPECT_EQ(X509_get_extended_key_usage(cert.get()), static_cast<uint32_t>(XKU_SSL_SERVER));
    auto* pol = static_cast<CERTIFICATEPOLICIES*>(
        X509_get_ext_d2i(cert.get(), NID_certificate_policies, nullptr, nullptr));
    ASSERT_NE(pol, nullptr);
    EXPECT_EQ(sk_POLICYINFO_num(pol), 2);
    char oid[80];
    OBJ_obj2txt(oid, sizeof oid, sk_POLICYINFO_value(pol, 0)->policyid, 1);
    EXPECT_STREQ(oid, "2.23.140.1.2.1");
    CERTIFICATEPOLICIES_free(pol);
    EXPECT_NE(X509_get0_subject_key_id(cert.get()), nullptr);
    EXPECT_NE(X509_get0_authority_key_id(cert.get()), nullptr);
}

TEST_F(CeremonyX509Test, AChainVerifiesAtItsOwnTimeOnly) {
    CertSpec spec = root_spec();
    spec.eku.clear();
    spec.policies.clear();
    // Self-signed: the host key is the subject key here.
    OsslPtr<X509> root = build_certificate(ctx, spec);
    sign_object(ctx, root.get(), subject_key.get(), "sha256");
    EXPECT_EQ(verify_chain(root.get(), root.get(), {}, spec.not_before), "");
    EXPECT_NE(verify_chain(root.get(), root.get(), {}, spec.not_before - 1), "");

    OsslPtr<EVP_PKEY> sub_key(EVP_PKEY_Q_keygen(ctx.get(), nullptr, "EC", "P-256"));
    OsslPtr<X509_NAME> sub_name = parse_subject("/CN=Sub");
    CertSpec sub = spec;
    sub.subject = sub_name.get();
    sub.issuer = root.get();
    sub.subject_key = sub_key.get();
    sub.pathlen = 0;
    OsslPtr<X509> cert = build_certificate(ctx, sub);
    sign_object(ctx, cert.get(), subject_key.get(), "sha256");
    EXPECT_EQ(verify_chain(cert.get(), root.get(), {}, sub.not_before), "");
    // Signed by another key than the issuer's: refused.
    OsslPtr<X509> forged = build_certificate(ctx, sub);
    sign_object(ctx, forged.get(), sub_key.get(), "sha256");
    EXPECT_NE(verify_chain(forged.get(), root.get(), {}, sub.not_before), "");
}

TEST_F(CeremonyX509Test, ACrlAndARequestCompareTheSameWay) {
    OsslPtr<X509> root = build_certificate(ctx, root_spec());
    sign_object(ctx, root.get(), subject_key.get(), "sha256");
    OsslPtr<BIGNUM> number(BN_new());
    BN_set_word(number.get(), 1);
    OsslPtr<EVP_PKEY> host = host_key_like(ctx, subject_key.get());
    OsslPtr<X509_CRL> a = build_crl(ctx, root.get(), at("2027-01-15T00:00:00Z"),
                                    at("2028-01-15T00:00:00Z"), number.get());
    OsslPtr<X509_CRL> b = build_crl(ctx, root.get(), at("2027-01-15T00:00:00Z"),
                                    at("2028-01-15T00:00:00Z"), number.get());
    sign_object(ctx, a.get(), host.get(), "sha256");
    sign_object(ctx, b.get(), subject_key.get(), "sha256");
    EXPECT_EQ(tbs_der(a.get()), tbs_der(b.get()));
    EXPECT_EQ(X509_CRL_verify(b.get(), X509_get0_pubkey(root.get())), 1);
    OsslPtr<X509_REQ> r1 = build_request(ctx, name.get(), subject_key.get());
    OsslPtr<X509_REQ> r2 = build_request(ctx, name.get(), subject_key.get());
    sign_object(ctx, r1.get(), host.get(), "sha256");
    sign_object(ctx, r2.get(), subject_key.get(), "sha256");
    EXPECT_EQ(tbs_der(r1.get()), tbs_der(r2.get()));
}

TEST(CeremonyTokenState, NamesWhatTheStepLeftOrNothing) {
    EXPECT_EQ(token_state_text({}), "nothing");
    EXPECT_EQ(token_state_text({"a"}), "a");
    EXPECT_EQ(token_state_text({"a", "b", "c"}), "a, b and c");
}

}  // namespace
}  // namespace ts::signer::ceremony
