// SPDX-License-Identifier: Apache-2.0
// The newcerts/ text of a certificate whose public key was set as the request's bytes: the same
// as X509_print of the certificate read back from its DER, for every subject key type and every
// CA key type (signer/spki.cpp writes the key and signature text itself for most of them).
// And decode_public_key: the key OpenSSL's own decoders give, for the same keys.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hsm/ossl.hpp"
#include "signer/issue.hpp"
#include "signer/spki.hpp"
#include "test_keys.hpp"

namespace ts::signer {
namespace {

std::string print(X509* x) {
    OsslPtr<BIO> b(BIO_new(BIO_s_mem()));
    X509_print(b.get(), x);
    PEM_write_bio_X509(b.get(), x);
    char* data = nullptr;
    long n = BIO_get_mem_data(b.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

// A certificate for `subject` signed by `ca`, its key set from the SubjectPublicKeyInfo bytes
// the way the issuer copies a request's key: no decoded key in the certificate.
OsslPtr<X509> certificate_with_key_bytes(EVP_PKEY* subject, EVP_PKEY* ca) {
    OsslPtr<X509> holder(X509_new());
    X509_set_pubkey(holder.get(), subject);  // only to obtain the SubjectPublicKeyInfo
    auto spki = to_der(X509_get_X509_PUBKEY(holder.get()), i2d_X509_PUBKEY);
    const unsigned char* p = spki.data();
    std::unique_ptr<X509_PUBKEY, decltype(&X509_PUBKEY_free)> parsed(
        d2i_X509_PUBKEY(nullptr, &p, static_cast<long>(spki.size())), &X509_PUBKEY_free);
    ASN1_OBJECT* alg = nullptr;
    const unsigned char* bits = nullptr;
    int len = 0;
    X509_ALGOR* algor = nullptr;
    X509_PUBKEY_get0_param(&alg, &bits, &len, &algor, parsed.get());
    const ASN1_OBJECT* aobj = nullptr;
    int ptype = 0;
    const void* pval = nullptr;
    X509_ALGOR_get0(&aobj, &ptype, &pval, algor);
    void* param = nullptr;
    if (ptype == V_ASN1_OBJECT) param = OBJ_dup(static_cast<const ASN1_OBJECT*>(pval));
    if (ptype == V_ASN1_SEQUENCE) param = ASN1_STRING_dup(static_cast<const ASN1_STRING*>(pval));
    OsslPtr<X509> x(X509_new());
    X509_set_version(x.get(), X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 0x1234);
    X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400);
    X509_NAME* name = X509_get_subject_name(x.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("text test"), -1, -1, 0);
    X509_set_issuer_name(x.get(), name);
    X509_PUBKEY_set0_param(
        X509_get_X509_PUBKEY(x.get()), OBJ_dup(aobj),
        ptype == V_ASN1_OBJECT ? V_ASN1_OBJECT : ptype, param,
        static_cast<unsigned char*>(OPENSSL_memdup(bits, static_cast<size_t>(len))), len);
    const bool eddsa = EVP_PKEY_is_a(ca, "ED25519") || EVP_PKEY_is_a(ca, "ED448");
    if (X509_sign(x.get(), ca, eddsa ? nullptr : EVP_sha256()) <= 0) return nullptr;
    return x;
}

void expect_same_text_as_x509_print(EVP_PKEY* subject, EVP_PKEY* ca) {
    ASSERT_TRUE(ca && subject);
    auto x = certificate_with_key_bytes(subject, ca);
    ASSERT_TRUE(x);
    auto der = to_der(x.get(), i2d_X509);
    const unsigned char* p = der.data();
    OsslPtr<X509> reread(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    ASSERT_TRUE(reread);
    std::string ours = certificate_file_text(x.get(), subject);
    EXPECT_EQ(ours, print(reread.get()));
    EXPECT_EQ(ours.find("Unable to load"), std::string::npos) << ours;
}

// Certificate `i` of a varied run: two issuers and two digests taking turns, small and large
// serials, a multi-valued RDN now and then, extensions that are the same in every certificate
// and one that differs in each; the key set as bytes, as the issuer does.
OsslPtr<X509> varied_certificate(EVP_PKEY* subject, EVP_PKEY* ca, int i) {
    OsslPtr<X509> x = certificate_with_key_bytes(subject, ca);
    if (!x) return nullptr;
    OsslPtr<BIGNUM> serial(BN_new());
    BN_set_word(serial.get(), static_cast<BN_ULONG>(0x1000 + i));
    if (i % 2 == 1) BN_lshift(serial.get(), serial.get(), 70);
    BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x.get()));
    OsslPtr<X509_NAME> issuer(X509_NAME_new());
    X509_NAME_add_entry_by_txt(issuer.get(), "O", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>("Text Org"), -1, -1, 0);
    const std::string ca_cn = i % 3 == 0 ? "CA one" : "CA \xc3\xa9two";
    X509_NAME_add_entry_by_txt(issuer.get(), "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(ca_cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x.get(), issuer.get());
    X509_NAME* name = X509_get_subject_name(x.get());
    const std::string host = "host" + std::to_string(i) + ".example";
    X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1,
                               i % 4 == 0 ? -1 : 0);  // every fourth: joined to the CN's RDN
    auto add = [&](int nid, const std::string& value) {
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, x.get(), x.get(), nullptr, nullptr, 0);
        OsslPtr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
        return ext && X509_add_ext(x.get(), ext.get(), -1) == 1;
    };
    if (!add(NID_basic_constraints, "critical, CA:FALSE") ||
        !add(NID_key_usage, "critical, digitalSignature, keyEncipherment") ||
        !add(NID_subject_alt_name, "DNS:" + host + ", DNS:www." + host) ||
        !add(NID_netscape_comment, i % 5 == 0 ? "another comment" : "the same comment") ||
        !add(NID_subject_key_identifier, "hash"))
        return nullptr;
    const bool eddsa = EVP_PKEY_is_a(ca, "ED25519") || EVP_PKEY_is_a(ca, "ED448");
    if (X509_sign(x.get(), ca, eddsa ? nullptr : i % 2 == 0 ? EVP_sha256() : EVP_sha384()) <= 0)
        return nullptr;
    return x;
}

OsslPtr<EVP_PKEY> rsa_key(const char* bits, const char* exponent = nullptr) {
    OsslPtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
    EVP_PKEY* k = nullptr;
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_ctrl_str(ctx.get(), "rsa_keygen_bits", bits) != 1)
        return nullptr;
    if (exponent != nullptr && EVP_PKEY_CTX_ctrl_str(ctx.get(), "rsa_keygen_pubexp", exponent) != 1)
        return nullptr;
    if (EVP_PKEY_generate(ctx.get(), &k) != 1) return nullptr;
    return OsslPtr<EVP_PKEY>(k);
}

OsslPtr<EVP_PKEY> compressed(OsslPtr<EVP_PKEY> k) {
    if (!k || EVP_PKEY_set_utf8_string_param(k.get(), "point-format", "compressed") != 1)
        return nullptr;
    return k;
}

struct Keys {
    std::vector<std::pair<std::string, OsslPtr<EVP_PKEY>>> all;
    Keys() {
        all.emplace_back("RSA-2048", rsa_key("2048"));
        all.emplace_back("RSA-3072 e=3", rsa_key("3072", "3"));
        all.emplace_back("RSA-2049 e=2^64+1", rsa_key("2049", "18446744073709551617"));
        all.emplace_back("P-256", generate_key("EC", "ec_paramgen_curve", "P-256"));
        all.emplace_back("P-384", generate_key("EC", "ec_paramgen_curve", "P-384"));
        all.emplace_back("P-521", generate_key("EC", "ec_paramgen_curve", "P-521"));
        all.emplace_back("secp256k1 (no NIST name)",
                         generate_key("EC", "ec_paramgen_curve", "secp256k1"));
        all.emplace_back("P-256 compressed point",
                         compressed(generate_key("EC", "ec_paramgen_curve", "P-256")));
        all.emplace_back("Ed25519", generate_key("ED25519"));
        all.emplace_back("Ed448", generate_key("ED448"));
        all.emplace_back("RSA-PSS", generate_key("RSA-PSS", "rsa_keygen_bits", "2048"));
        all.emplace_back("SM2 (an EC curve OpenSSL types apart)", generate_key("SM2"));
    }
};

const Keys& keys() {
    static const Keys k;
    return k;
}

TEST(NewcertsTextTest, EverySubjectKeyPrintsAsX509PrintDoes) {
    auto ca = generate_key("EC", "ec_paramgen_curve", "P-256");
    for (const auto& [name, key] : keys().all) {
        SCOPED_TRACE("subject key " + name);
        expect_same_text_as_x509_print(key.get(), ca.get());
    }
}

TEST(NewcertsTextTest, EverySignatureAlgorithmPrintsAsX509PrintDoes) {
    auto subject = generate_key("EC", "ec_paramgen_curve", "P-256");
    for (const auto& [name, key] : keys().all) {
        // A CA key on a token is RSA, RSA-PSS, EC or EdDSA: tokensign never signs with SM2.
        if (EVP_PKEY_is_a(key.get(), "SM2")) continue;
        SCOPED_TRACE("CA key " + name);
        expect_same_text_as_x509_print(subject.get(), key.get());
    }
}

// One CertificateText over a varied run (more distinct extension values than it keeps): every
// certificate's text is X509_print's, whatever was printed before it.
TEST(NewcertsTextTest, OneWriterForManyCertificatesPrintsEachAsX509PrintDoes) {
    auto subject = generate_key("EC", "ec_paramgen_curve", "P-256");
    auto ca_rsa = rsa_key("2048");
    auto ca_ec = generate_key("EC", "ec_paramgen_curve", "P-384");
    CertificateText writer;
    for (int i = 0; i < 80; ++i) {
        SCOPED_TRACE("certificate " + std::to_string(i));
        auto x = varied_certificate(subject.get(), i % 7 < 4 ? ca_rsa.get() : ca_ec.get(), i);
        ASSERT_TRUE(x);
        auto der = to_der(x.get(), i2d_X509);
        const unsigned char* p = der.data();
        OsslPtr<X509> reread(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
        ASSERT_TRUE(reread);
        EXPECT_EQ(writer.text(x.get(), subject.get(), der), print(reread.get()));
    }
}

TEST(PublicKeyDecodeTest, GivesTheKeyOpenSslDecodes) {
    for (const auto& [name, key] : keys().all) {
        SCOPED_TRACE(name);
        ASSERT_TRUE(key);
        OsslPtr<X509> holder(X509_new());
        ASSERT_EQ(X509_set_pubkey(holder.get(), key.get()), 1);
        auto ours = decode_public_key(X509_get_X509_PUBKEY(holder.get()), nullptr);
        ASSERT_TRUE(ours);
        EXPECT_EQ(EVP_PKEY_eq(ours.get(), key.get()), 1);
        EXPECT_STREQ(EVP_PKEY_get0_type_name(ours.get()), EVP_PKEY_get0_type_name(key.get()));
        EXPECT_EQ(EVP_PKEY_get_bits(ours.get()), EVP_PKEY_get_bits(key.get()));
    }
}

// What the plain path refuses goes to OpenSSL's decoders, so odd keys get OpenSSL's verdict:
// a point off the curve (refused), a negative RSA modulus and trailing bytes after the
// RSAPublicKey (which OpenSSL 3.0 accepts; the request's signature check then decides).
TEST(PublicKeyDecodeTest, OddKeysGetOpenSslsVerdict) {
    auto spki_with = [](int nid, int ptype, void* param, std::vector<unsigned char> bits) {
        OsslPtr<X509> x(X509_new());
        auto* copy = static_cast<unsigned char*>(OPENSSL_memdup(bits.data(), bits.size()));
        X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(x.get()), OBJ_nid2obj(nid), ptype, param, copy,
                               static_cast<int>(bits.size()));
        return x;
    };
    auto openssl_decodes = [](X509* x) {
        auto der = to_der(X509_get_X509_PUBKEY(x), i2d_X509_PUBKEY);
        const unsigned char* p = der.data();
        OsslPtr<EVP_PKEY> k(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
        return static_cast<bool>(k);
    };
    std::vector<unsigned char> off_curve(65, 0x01);
    off_curve[0] = 0x04;
    auto ec = spki_with(NID_X9_62_id_ecPublicKey, V_ASN1_OBJECT, OBJ_nid2obj(NID_X9_62_prime256v1),
                        off_curve);
    EXPECT_FALSE(openssl_decodes(ec.get()));
    EXPECT_FALSE(decode_public_key(X509_get_X509_PUBKEY(ec.get()), nullptr));

    // SEQUENCE { INTEGER -1 (0xff), INTEGER 3 }
    auto neg = spki_with(NID_rsaEncryption, V_ASN1_NULL, nullptr,
                         {0x30, 0x06, 0x02, 0x01, 0xff, 0x02, 0x01, 0x03});
    EXPECT_EQ(static_cast<bool>(decode_public_key(X509_get_X509_PUBKEY(neg.get()), nullptr)),
              openssl_decodes(neg.get()));

    auto rsa = rsa_key("2048");
    unsigned char* der = nullptr;
    int len = i2d_PublicKey(rsa.get(), &der);
    ASSERT_GT(len, 0);
    std::vector<unsigned char> bytes(der, der + len);
    OPENSSL_free(der);
    bytes.push_back(0);
    auto trailing = spki_with(NID_rsaEncryption, V_ASN1_NULL, nullptr, bytes);
    EXPECT_EQ(static_cast<bool>(decode_public_key(X509_get_X509_PUBKEY(trailing.get()), nullptr)),
              openssl_decodes(trailing.get()));

    // Not an RSAPublicKey at all: refused by both.
    auto junk = spki_with(NID_rsaEncryption, V_ASN1_NULL, nullptr, {0x04, 0x01, 0x00});
    EXPECT_FALSE(openssl_decodes(junk.get()));
    EXPECT_FALSE(decode_public_key(X509_get_X509_PUBKEY(junk.get()), nullptr));

    // A batch's decoder, with a template on P-256 already: the point off the curve is refused
    // all the same, and the next good key is its own.
    PublicKeyDecoder batch(nullptr);
    auto good = generate_key("EC", "ec_paramgen_curve", "P-256");
    OsslPtr<X509> holder(X509_new());
    ASSERT_EQ(X509_set_pubkey(holder.get(), good.get()), 1);
    ASSERT_TRUE(batch.decode(X509_get_X509_PUBKEY(holder.get())));
    EXPECT_FALSE(batch.decode(X509_get_X509_PUBKEY(ec.get())));
    std::vector<unsigned char> infinity{0x00};
    auto at_infinity = spki_with(NID_X9_62_id_ecPublicKey, V_ASN1_OBJECT,
                                 OBJ_nid2obj(NID_X9_62_prime256v1), infinity);
    EXPECT_EQ(static_cast<bool>(batch.decode(X509_get_X509_PUBKEY(at_infinity.get()))),
              openssl_decodes(at_infinity.get()));
    auto other = generate_key("EC", "ec_paramgen_curve", "P-256");
    ASSERT_EQ(X509_set_pubkey(holder.get(), other.get()), 1);
    auto decoded = batch.decode(X509_get_X509_PUBKEY(holder.get()));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(EVP_PKEY_eq(decoded.get(), other.get()), 1);
    EXPECT_NE(EVP_PKEY_eq(decoded.get(), good.get()), 1);
}

// The batch's decoder, twice over every key type (the second time from the templates the
// first pass left): the key OpenSSL decodes, of the same type and size.
TEST(PublicKeyDecodeTest, BatchDecoderGivesTheKeyOpenSslDecodes) {
    PublicKeyDecoder batch(nullptr);
    for (int pass = 0; pass < 2; ++pass) {
        for (const auto& [name, key] : keys().all) {
            SCOPED_TRACE(name + ", pass " + std::to_string(pass));
            ASSERT_TRUE(key);
            OsslPtr<X509> holder(X509_new());
            ASSERT_EQ(X509_set_pubkey(holder.get(), key.get()), 1);
            auto ours = batch.decode(X509_get_X509_PUBKEY(holder.get()));
            ASSERT_TRUE(ours);
            EXPECT_EQ(EVP_PKEY_eq(ours.get(), key.get()), 1);
            EXPECT_STREQ(EVP_PKEY_get0_type_name(ours.get()), EVP_PKEY_get0_type_name(key.get()));
            EXPECT_EQ(EVP_PKEY_get_bits(ours.get()), EVP_PKEY_get_bits(key.get()));
        }
    }
}

// certificate_pem_from_der is PEM_write_bio's "CERTIFICATE" block for every length around the
// 48-byte lines (short, exactly one line, one byte over...).
TEST(CertificatePemTest, SameBytesAsPemWriteBio) {
    for (std::size_t len = 1; len <= 200; ++len) {
        std::vector<unsigned char> der(len);
        for (std::size_t i = 0; i < len; ++i) der[i] = static_cast<unsigned char>(i * 37 + len);
        OsslPtr<BIO> b(BIO_new(BIO_s_mem()));
        ASSERT_GT(PEM_write_bio(b.get(), "CERTIFICATE", "", der.data(), static_cast<long>(len)), 0);
        EXPECT_EQ(certificate_pem_from_der(der), bio_text(b.get())) << "length " << len;
    }
}

// CertificateVerifier: the signatures X509_verify accepts, and no other. Per CA key type: a
// good certificate, then each part of it damaged (the signature, the TBSCertificate, the outer
// algorithm, trailing bytes, a cut), then the good one again on the same verifier.
TEST(CertificateVerifierTest, AcceptsWhatX509VerifyAccepts) {
    auto subject = generate_key("EC", "ec_paramgen_curve", "P-256");
    for (const auto& [name, ca] : keys().all) {
        if (EVP_PKEY_is_a(ca.get(), "SM2")) continue;
        SCOPED_TRACE("CA key " + name);
        auto x = certificate_with_key_bytes(subject.get(), ca.get());
        ASSERT_TRUE(x);
        const auto der = to_der(x.get(), i2d_X509);
        ASSERT_FALSE(der.empty());
        CertificateVerifier verifier(ca.get(), nullptr, nullptr);
        EXPECT_TRUE(verifier.verify(x.get(), der));
        EXPECT_EQ(X509_verify(x.get(), ca.get()), 1);

        auto damaged = [&](std::vector<unsigned char> bad) {
            const unsigned char* p = bad.data();
            OsslPtr<X509> y(d2i_X509(nullptr, &p, static_cast<long>(bad.size())));
            ERR_clear_error();
            // Damage the parser refuses never reaches a verifier; the rest must not verify.
            if (!y) return;
            const bool theirs = X509_verify(y.get(), ca.get()) == 1;
            const bool ours = verifier.verify(y.get(), bad);
            ERR_clear_error();
            EXPECT_FALSE(ours);
            EXPECT_EQ(ours, theirs);
        };
        auto flip = der;
        flip[der.size() - 5] ^= 0x01;  // in the signature
        damaged(flip);
        flip = der;
        flip[der.size() / 3] ^= 0x01;  // in the TBSCertificate
        damaged(flip);
        auto cut = der;
        cut.resize(der.size() - 1);
        EXPECT_FALSE(verifier.verify(x.get(), cut));
        auto longer = der;
        longer.push_back(0);
        EXPECT_FALSE(verifier.verify(x.get(), longer));
        EXPECT_FALSE(verifier.verify(x.get(), {}));
        // And the good certificate again, on the same verifier after the failures.
        EXPECT_TRUE(verifier.verify(x.get(), der));
    }
}

// A certificate signed by another key of the same type does not verify.
TEST(CertificateVerifierTest, RefusesAnotherKeysSignature) {
    auto subject = generate_key("EC", "ec_paramgen_curve", "P-256");
    for (const char* curve : {"P-256", "P-384"}) {
        auto ca = generate_key("EC", "ec_paramgen_curve", curve);
        auto impostor = generate_key("EC", "ec_paramgen_curve", curve);
        auto x = certificate_with_key_bytes(subject.get(), impostor.get());
        ASSERT_TRUE(x);
        CertificateVerifier verifier(ca.get(), nullptr, nullptr);
        EXPECT_FALSE(verifier.verify(x.get(), to_der(x.get(), i2d_X509))) << curve;
        ERR_clear_error();
    }
    auto ca = rsa_key("2048");
    auto impostor = rsa_key("2048");
    auto x = certificate_with_key_bytes(subject.get(), impostor.get());
    ASSERT_TRUE(x);
    CertificateVerifier verifier(ca.get(), nullptr, nullptr);
    EXPECT_FALSE(verifier.verify(x.get(), to_der(x.get(), i2d_X509)));
    ERR_clear_error();
}

}  // namespace
}  // namespace ts::signer
