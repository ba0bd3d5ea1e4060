// SPDX-License-Identifier: Apache-2.0
// Finding objects and storing certificates on a real SoftHSM2 token.
#include "hsm/object.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>
#include <vector>

#include "hsm/attributes.hpp"
#include "hsm/cert.hpp"
#include "hsm/error.hpp"
#include "hsm/keygen.hpp"
#include "hsm/ossl.hpp"
#include "hsm/pubkey.hpp"
#include "hsm/uri.hpp"
#include "tests/hsm/hsm_fixture.hpp"

namespace ts::test {
namespace {

using Bytes = std::vector<unsigned char>;

class ObjectTest : public HsmTest {
  protected:
    /// A self-signed certificate made by OpenSSL for `pub` (signed with a throwaway host key,
    /// subject CN=cn): what a CA would hand back for a token key.
    static Bytes certificate_for(const hsm::PublicKey& pub, const std::string& cn) {
        OsslPtr<EVP_PKEY> signer(EVP_EC_gen("P-256"));
        OsslPtr<EVP_PKEY> subject_key = hsm::to_evp_pkey(pub);
        OsslPtr<X509> x(X509_new());
        X509_set_version(x.get(), 2);
        ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 7);
        X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
        X509_gmtime_adj(X509_getm_notAfter(x.get()), 3600);
        X509_NAME* name = X509_get_subject_name(x.get());
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
        X509_set_issuer_name(x.get(), name);
        X509_set_pubkey(x.get(), subject_key.get());
        EXPECT_GT(X509_sign(x.get(), signer.get(), EVP_sha256()), 0);
        unsigned char* der = nullptr;
        int len = i2d_X509(x.get(), &der);
        Bytes out(der, der + len);
        OPENSSL_free(der);
        return out;
    }
};

TEST_F(ObjectTest, FindOneNamesWhatIsMissing) {
    auto s = session();
    hsm::ObjectQuery q;
    q.cls = CKO_PRIVATE_KEY;
    q.label = "no-such-key";
    try {
        (void)hsm::find_one(s, q);
        ADD_FAILURE() << "found a key that does not exist";
    } catch (const hsm::SelectionError& e) {
        EXPECT_NE(std::string(e.what()).find("no-such-key"), std::string::npos) << e.what();
    }
}

TEST_F(ObjectTest, FindOneListsSeveralMatches) {
    auto s = session();
    (void)hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "alpha", Bytes{0x0a});
    (void)hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "beta", Bytes{0x0b});
    hsm::ObjectQuery q;
    q.cls = CKO_PRIVATE_KEY;
    try {
        (void)hsm::find_one(s, q);
        ADD_FAILURE() << "find_one chose among several keys";
    } catch (const hsm::SelectionError& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("alpha"), std::string::npos) << m;
        EXPECT_NE(m.find("beta"), std::string::npos) << m;
    }
    q.id = Bytes{0x0b};
    auto one = hsm::find_one(s, q);
    EXPECT_EQ(one.label, "beta");
    EXPECT_EQ(one.cls, CKO_PRIVATE_KEY);
    EXPECT_EQ(one.key_type, CKK_EC);
}

TEST_F(ObjectTest, QueryFromUriUsesIdObjectAndType) {
    auto q =
        hsm::ObjectQuery::from_uri(hsm::parse_uri("pkcs11:token=x;id=%01%02;object=k;type=cert"));
    EXPECT_EQ(q.id, (Bytes{1, 2}));
    EXPECT_EQ(q.label, "k");
    EXPECT_EQ(q.cls, CKO_CERTIFICATE);
    auto empty = hsm::ObjectQuery::from_uri(hsm::parse_uri("pkcs11:token=x"));
    EXPECT_FALSE(empty.id);
    EXPECT_FALSE(empty.label);
    EXPECT_FALSE(empty.cls);
}

TEST_F(ObjectTest, CertificateImportReadsBackAndRefusesDuplicates) {
    auto s = session();
    auto k = hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "leaf", Bytes{0xce});
    Bytes der = certificate_for(k.public_params, "leaf.example");
    auto stored = hsm::import_certificate(s, der, "leaf", Bytes{0xce});
    EXPECT_EQ(stored.cls, CKO_CERTIFICATE);
    EXPECT_EQ(stored.label, "leaf");
    EXPECT_EQ(stored.id, (Bytes{0xce}));
    EXPECT_EQ(hsm::get_bool(s, stored.handle, CKA_TOKEN), true);
    EXPECT_EQ(hsm::get_ulong(s, stored.handle, CKA_CERTIFICATE_TYPE), CKC_X_509);

    hsm::ObjectQuery q;
    q.label = "leaf";
    auto certs = hsm::read_certificates(s, q);
    ASSERT_EQ(certs.size(), 1u);
    EXPECT_EQ(certs[0].der, der);
    EXPECT_EQ(certs[0].object.cls, CKO_CERTIFICATE);

    // The certificate's public key is the key's.
    auto from_cert = hsm::read_public_key(s, stored.handle);
    EXPECT_EQ(hsm::spki_fingerprint(from_cert), hsm::spki_fingerprint(k.public_params));

    EXPECT_THROW(hsm::import_certificate(s, der, "leaf", Bytes{0xcf}), hsm::SelectionError);
    EXPECT_THROW(hsm::import_certificate(s, der, "other", Bytes{0xce}), hsm::SelectionError);
    EXPECT_EQ(hsm::read_certificates(s, hsm::ObjectQuery{}).size(), 1u);

    Bytes garbage{0x30, 0x03, 0x02, 0x01, 0x01};
    EXPECT_THROW(hsm::import_certificate(s, garbage, "bad", Bytes{0xbd}), hsm::Error);
}

TEST_F(ObjectTest, DestroyedObjectsAreGone) {
    auto s = session();
    auto k = hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "doomed", Bytes{0xdd});
    hsm::destroy_object(s, k.private_key.handle);
    hsm::destroy_object(s, k.public_key.handle);
    hsm::ObjectQuery q;
    q.label = "doomed";
    EXPECT_TRUE(hsm::find_objects(s, q).empty());
}

}  // namespace
}  // namespace ts::test

namespace ts::test {
namespace {

class AttributeBatchTest : public HsmTest {};

// Several attributes in one request: a sensitive one (the private exponent) and one the object
// does not have (EC params on an RSA key) come back empty; the others with their values, the
// same as one-by-one reads give.
TEST_F(AttributeBatchTest, SensitiveAndMissingAttributesComeBackEmptyAndTheRestIntact) {
    auto s = session();
    auto k = hsm::generate_key_pair(s, hsm::KeySpec::parse("rsa:2048"), "batch-rsa",
                                    std::vector<unsigned char>{0x42, 0x43});
    const CK_ATTRIBUTE_TYPE types[] = {CKA_CLASS, CKA_PRIVATE_EXPONENT, CKA_EC_PARAMS, CKA_LABEL,
                                       CKA_ID,    CKA_MODULUS};
    auto v = hsm::get_attributes(s, k.private_key.handle, types);
    ASSERT_EQ(v.size(), 6u);
    EXPECT_EQ(hsm::as_ulong(v[0]), std::optional<CK_ULONG>(CKO_PRIVATE_KEY));
    EXPECT_FALSE(v[1].has_value()) << "the private exponent was read";
    EXPECT_FALSE(v[2].has_value());
    ASSERT_TRUE(v[3].has_value());
    EXPECT_EQ(std::string(v[3]->begin(), v[3]->end()), "batch-rsa");
    EXPECT_EQ(v[4], (std::vector<unsigned char>{0x42, 0x43}));
    ASSERT_TRUE(v[5].has_value());
    EXPECT_EQ(v[5], hsm::get_attribute(s, k.private_key.handle, CKA_MODULUS));
    EXPECT_EQ(v[5]->size(), 256u);
}

}  // namespace
}  // namespace ts::test
