// SPDX-License-Identifier: Apache-2.0
// The newcerts/ text of a certificate whose public key was set as the request's bytes: the same
// as X509_print of the certificate read back from its DER, for RSA, EC and Ed25519 keys.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "hsm/ossl.hpp"
#include "signer/issue.hpp"

namespace ts::signer {
namespace {

OsslPtr<EVP_PKEY> key_of(const char* alg, const char* param = nullptr,
                         const char* value = nullptr) {
    OsslPtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, alg, nullptr));
    EVP_PKEY* k = nullptr;
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) return nullptr;
    if (param != nullptr && EVP_PKEY_CTX_ctrl_str(ctx.get(), param, value) != 1) return nullptr;
    if (EVP_PKEY_generate(ctx.get(), &k) != 1) return nullptr;
    return OsslPtr<EVP_PKEY>(k);
}

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
    void* param = ptype == V_ASN1_OBJECT
                      ? static_cast<void*>(OBJ_dup(static_cast<const ASN1_OBJECT*>(pval)))
                      : nullptr;
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
    X509_sign(x.get(), ca, EVP_sha256());
    return x;
}

void expect_same_text_as_x509_print(EVP_PKEY* subject) {
    auto ca = key_of("EC", "ec_paramgen_curve", "P-256");
    ASSERT_TRUE(ca && subject);
    auto x = certificate_with_key_bytes(subject, ca.get());
    auto der = to_der(x.get(), i2d_X509);
    const unsigned char* p = der.data();
    OsslPtr<X509> reread(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
    ASSERT_TRUE(reread);
    std::string ours = certificate_file_text(x.get(), subject);
    EXPECT_EQ(ours, print(reread.get()));
    EXPECT_EQ(ours.find("Unable to load"), std::string::npos) << ours;
}

TEST(NewcertsTextTest, RsaKeyPrintsAsX509PrintDoes) {
    auto k = key_of("RSA", "rsa_keygen_bits", "2048");
    expect_same_text_as_x509_print(k.get());
}

TEST(NewcertsTextTest, EcKeyPrintsAsX509PrintDoes) {
    auto k = key_of("EC", "ec_paramgen_curve", "P-384");
    expect_same_text_as_x509_print(k.get());
}

TEST(NewcertsTextTest, Ed25519KeyPrintsAsX509PrintDoes) {
    auto k = key_of("ED25519");
    expect_same_text_as_x509_print(k.get());
}

}  // namespace
}  // namespace ts::signer
