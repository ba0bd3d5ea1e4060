// SPDX-License-Identifier: Apache-2.0
// Key generation on a real SoftHSM2 token: protection attributes, sizes, curves, refusals.
#include "hsm/keygen.hpp"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <string>
#include <vector>

#include "hsm/attributes.hpp"
#include "hsm/crypto.hpp"
#include "hsm/error.hpp"
#include "hsm/mechanism.hpp"
#include "hsm/object.hpp"
#include "hsm/ossl.hpp"
#include "hsm/pubkey.hpp"
#include "tests/hsm/hsm_fixture.hpp"

namespace ts::test {
namespace {

using Bytes = std::vector<unsigned char>;

class KeygenTest : public HsmTest {
  protected:
    /// Every property the issue requires of a generated key pair.
    static void expect_protected_pair(hsm::Session& s, const hsm::GeneratedKey& k,
                                      const std::string& label, const Bytes& id) {
        const CK_OBJECT_HANDLE priv = k.private_key.handle;
        const CK_OBJECT_HANDLE pub = k.public_key.handle;
        EXPECT_EQ(hsm::get_bool(s, priv, CKA_TOKEN), true);
        EXPECT_EQ(hsm::get_bool(s, priv, CKA_PRIVATE), true);
        EXPECT_EQ(hsm::get_bool(s, priv, CKA_SENSITIVE), true);
        EXPECT_EQ(hsm::get_bool(s, priv, CKA_EXTRACTABLE), false);
        EXPECT_EQ(hsm::get_bool(s, priv, CKA_NEVER_EXTRACTABLE), true);
        EXPECT_EQ(hsm::get_bool(s, priv, CKA_ALWAYS_SENSITIVE), true);
        EXPECT_EQ(hsm::get_bool(s, pub, CKA_TOKEN), true);
        for (CK_OBJECT_HANDLE h : {priv, pub}) {
            EXPECT_EQ(hsm::get_string(s, h, CKA_LABEL), label);
            EXPECT_EQ(hsm::get_attribute(s, h, CKA_ID), id);
        }
        EXPECT_EQ(k.private_key.label, label);
        EXPECT_EQ(k.private_key.id, id);
        EXPECT_EQ(k.public_key.id, id);
        EXPECT_EQ(hsm::get_ulong(s, priv, CKA_CLASS), CKO_PRIVATE_KEY);
        EXPECT_EQ(hsm::get_ulong(s, pub, CKA_CLASS), CKO_PUBLIC_KEY);
    }

    static std::size_t count_keys(hsm::Session& s) {
        hsm::ObjectQuery q;
        std::size_t n = 0;
        for (CK_OBJECT_CLASS c : {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY}) {
            q.cls = c;
            n += hsm::find_objects(s, q).size();
        }
        return n;
    }
};

TEST_F(KeygenTest, Rsa2048IsSensitiveNonExtractableOnBothHalves) {
    auto s = session();
    Bytes id{0xa1, 0x02};
    auto k = hsm::generate_key_pair(s, hsm::KeySpec::parse("rsa:2048"), "rsa-key", id);
    expect_protected_pair(s, k, "rsa-key", id);
    EXPECT_EQ(k.private_key.key_type, CKK_RSA);
    EXPECT_EQ(k.public_params.kind, hsm::KeyKind::Rsa);
    EXPECT_EQ(k.public_params.bits(), 2048u);
    EXPECT_EQ(k.public_params.exponent, (Bytes{0x01, 0x00, 0x01}));
    for (CK_ATTRIBUTE_TYPE secret :
         {CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_COEFFICIENT}) {
        EXPECT_EQ(hsm::probe_attribute(s, k.private_key.handle, secret), CKR_ATTRIBUTE_SENSITIVE)
            << "attribute 0x" << std::hex << secret;
        EXPECT_EQ(hsm::get_attribute(s, k.private_key.handle, secret), std::nullopt);
    }
    // The modulus is public and is the one the public key object holds.
    EXPECT_EQ(hsm::get_attribute(s, k.public_key.handle, CKA_MODULUS), k.public_params.modulus);
}

TEST_F(KeygenTest, Rsa3072HasTheRequestedSize) {
    auto s = session();
    auto k = hsm::generate_key_pair(s, hsm::KeySpec::parse("rsa:3072"), "rsa3072", Bytes{0x30});
    EXPECT_EQ(k.public_params.bits(), 3072u);
    EXPECT_EQ(hsm::get_ulong(s, k.public_key.handle, CKA_MODULUS_BITS), 3072u);
    expect_protected_pair(s, k, "rsa3072", Bytes{0x30});
}

TEST_F(KeygenTest, EcKeysOnEveryNistCurve) {
    auto s = session();
    struct Case {
        const char* spec;
        const char* group;
        std::size_t bits;
    };
    unsigned char n = 0;
    for (const Case& c : {Case{"ec:p-256", "prime256v1", 256}, Case{"ec:p-384", "secp384r1", 384},
                          Case{"ec:p-521", "secp521r1", 521}}) {
        SCOPED_TRACE(c.spec);
        Bytes id{0xec, ++n};
        std::string label = std::string("ec-") + c.group;
        auto k = hsm::generate_key_pair(s, hsm::KeySpec::parse(c.spec), label, id);
        expect_protected_pair(s, k, label, id);
        EXPECT_EQ(k.private_key.key_type, CKK_EC);
        EXPECT_EQ(k.public_params.kind, hsm::KeyKind::Ec);
        EXPECT_EQ(k.public_params.group, c.group);
        EXPECT_EQ(k.public_params.bits(), c.bits);
        EXPECT_EQ(hsm::probe_attribute(s, k.private_key.handle, CKA_VALUE),
                  CKR_ATTRIBUTE_SENSITIVE);
        EXPECT_EQ(hsm::get_attribute(s, k.public_key.handle, CKA_EC_PARAMS),
                  hsm::curve_params_der(c.group));
        // The public key read back through the private key (tokens keep no point there) is the
        // same key.
        auto via_private = hsm::read_public_key(s, k.private_key.handle);
        EXPECT_EQ(via_private.point, k.public_params.point);
        EXPECT_EQ(hsm::spki_fingerprint(via_private), hsm::spki_fingerprint(k.public_params));
    }
}

TEST_F(KeygenTest, Ed25519GeneratesExactlyWhenTheTokenOffersTheMechanism) {
    auto s = session();
    const bool offered =
        hsm::has_mechanism(module(), token().info().slot, CKM_EC_EDWARDS_KEY_PAIR_GEN);
    if (offered) {
        auto k = hsm::generate_key_pair(s, hsm::KeySpec::parse("ed25519"), "ed", Bytes{0xed});
        expect_protected_pair(s, k, "ed", Bytes{0xed});
        EXPECT_EQ(k.public_params.kind, hsm::KeyKind::Ed25519);
        EXPECT_EQ(k.public_params.point.size(), 32u);
        EXPECT_EQ(hsm::probe_attribute(s, k.private_key.handle, CKA_VALUE),
                  CKR_ATTRIBUTE_SENSITIVE);
        auto pkey = hsm::to_evp_pkey(k.public_params);
        ASSERT_NE(pkey, nullptr);
        EXPECT_TRUE(EVP_PKEY_is_a(pkey.get(), "ED25519"));
    } else {
        std::size_t before = count_keys(s);
        try {
            (void)hsm::generate_key_pair(s, hsm::KeySpec::parse("ed25519"), "ed", Bytes{0xed});
            ADD_FAILURE() << "generated Ed25519 without CKM_EC_EDWARDS_KEY_PAIR_GEN";
        } catch (const hsm::UnsupportedError& e) {
            EXPECT_NE(std::string(e.what()).find("ed25519"), std::string::npos) << e.what();
        }
        EXPECT_EQ(count_keys(s), before);
    }
}

TEST_F(KeygenTest, DuplicateLabelIsRefusedAndNothingIsCreated) {
    auto s = session();
    (void)hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "dup", Bytes{0x01});
    std::size_t before = count_keys(s);
    try {
        (void)hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "dup", Bytes{0x02});
        ADD_FAILURE() << "a second key labelled 'dup' was generated";
    } catch (const hsm::SelectionError& e) {
        EXPECT_NE(std::string(e.what()).find("dup"), std::string::npos) << e.what();
    }
    EXPECT_EQ(count_keys(s), before);
}

TEST_F(KeygenTest, ANewIdUnderAnExistingLabelOnlyWhenAskedAndNeverADuplicateId) {
    auto s = session();
    auto first =
        hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "rollover", Bytes{0x51});
    std::size_t before = count_keys(s);
    // Asked for, with a new id: a second pair under the label, told apart by its id.
    auto second = hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "rollover",
                                         Bytes{0x52}, /*allow_existing_label=*/true);
    EXPECT_EQ(second.private_key.label, "rollover");
    EXPECT_EQ(second.private_key.id, (Bytes{0x52}));
    EXPECT_NE(second.public_params.point, first.public_params.point);
    EXPECT_EQ(count_keys(s), before + 2);
    // Label and id both taken: refused even when an existing label is allowed.
    EXPECT_THROW(
        hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "rollover", Bytes{0x52}, true),
        hsm::SelectionError);
    // No id given: refused (a random id would leave object=rollover ambiguous unnoticed).
    EXPECT_THROW(
        hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "rollover", std::nullopt, true),
        hsm::SelectionError);
    EXPECT_EQ(count_keys(s), before + 2);
}

TEST_F(KeygenTest, DuplicateIdIsRefusedAndNothingIsCreated) {
    auto s = session();
    (void)hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "first", Bytes{0x42});
    std::size_t before = count_keys(s);
    try {
        (void)hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "second", Bytes{0x42});
        ADD_FAILURE() << "a second key with id 42 was generated";
    } catch (const hsm::SelectionError& e) {
        EXPECT_NE(std::string(e.what()).find("42"), std::string::npos) << e.what();
    }
    EXPECT_EQ(count_keys(s), before);
}

TEST_F(KeygenTest, RandomIdsWhenNoneGiven) {
    auto s = session();
    auto a = hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "rand-a", std::nullopt);
    auto b = hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "rand-b", std::nullopt);
    EXPECT_EQ(a.private_key.id.size(), 8u);
    EXPECT_EQ(a.public_key.id, a.private_key.id);
    EXPECT_NE(a.private_key.id, b.private_key.id);
}

TEST_F(KeygenTest, FingerprintIsSha256OfTheSpkiOpenSslEncodes) {
    auto s = session();
    auto k = hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-384"), "fp", Bytes{0xf0});
    auto pkey = hsm::to_evp_pkey(k.public_params);
    ASSERT_NE(pkey, nullptr);
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(pkey.get(), &der);
    ASSERT_GT(len, 0);
    Bytes spki(der, der + len);
    OPENSSL_free(der);
    EXPECT_EQ(spki, hsm::spki_der(k.public_params));
    unsigned char md[32];
    unsigned int mdlen = 0;
    ASSERT_EQ(EVP_Digest(spki.data(), spki.size(), md, &mdlen, EVP_sha256(), nullptr), 1);
    std::string expect;
    static const char* kHex = "0123456789ABCDEF";
    for (unsigned i = 0; i < mdlen; ++i) {
        if (i) expect += ':';
        expect += kHex[md[i] >> 4];
        expect += kHex[md[i] & 15];
    }
    EXPECT_EQ(hsm::spki_fingerprint(k.public_params), expect);
    EXPECT_NE(hsm::spki_pem(k.public_params).find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
}

TEST_F(KeygenTest, GeneratedKeysSignAndOpenSslVerifies) {
    auto s = session();
    const std::string msg = "tokensign keygen test";
    const Bytes data(msg.begin(), msg.end());

    auto rsa = hsm::generate_key_pair(s, hsm::KeySpec::parse("rsa:2048"), "sig-rsa", Bytes{0x51});
    CK_MECHANISM m{CKM_SHA256_RSA_PKCS, nullptr, 0};
    auto sig = hsm::sign(s, hsm::KeyHandle{rsa.private_key.handle, false}, m, data, pins());
    auto pkey = hsm::to_evp_pkey(rsa.public_params);
    OsslPtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
    ASSERT_EQ(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey.get()), 1);
    EXPECT_EQ(EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), data.data(), data.size()), 1);
    sig[10] ^= 1;
    OsslPtr<EVP_MD_CTX> ctx2(EVP_MD_CTX_new());
    ASSERT_EQ(EVP_DigestVerifyInit(ctx2.get(), nullptr, EVP_sha256(), nullptr, pkey.get()), 1);
    EXPECT_NE(EVP_DigestVerify(ctx2.get(), sig.data(), sig.size(), data.data(), data.size()), 1);

    auto ec = hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "sig-ec", Bytes{0x52});
    unsigned char digest[32];
    unsigned int dlen = 0;
    ASSERT_EQ(EVP_Digest(data.data(), data.size(), digest, &dlen, EVP_sha256(), nullptr), 1);
    CK_MECHANISM em{CKM_ECDSA, nullptr, 0};
    auto raw = hsm::sign(s, hsm::KeyHandle{ec.private_key.handle, false}, em,
                         std::span<const unsigned char>(digest, dlen), pins());
    ASSERT_EQ(raw.size(), 64u);  // r || s, PKCS#11 v2.40 §2.3.1
    ECDSA_SIG* esig = ECDSA_SIG_new();
    ECDSA_SIG_set0(esig, BN_bin2bn(raw.data(), 32, nullptr),
                   BN_bin2bn(raw.data() + 32, 32, nullptr));
    unsigned char* der = nullptr;
    int derlen = i2d_ECDSA_SIG(esig, &der);
    ECDSA_SIG_free(esig);
    ASSERT_GT(derlen, 0);
    auto ecpkey = hsm::to_evp_pkey(ec.public_params);
    OsslPtr<EVP_PKEY_CTX> vctx(EVP_PKEY_CTX_new(ecpkey.get(), nullptr));
    ASSERT_EQ(EVP_PKEY_verify_init(vctx.get()), 1);
    EXPECT_EQ(EVP_PKEY_verify(vctx.get(), der, static_cast<std::size_t>(derlen), digest, dlen), 1);
    OPENSSL_free(der);
}


TEST_F(KeygenTest, PrivateKeysAreLimitedToTheirUses) {
    // Tokens default unwrap/decrypt on; a CA signing key must not double as a decryption or
    // key-unwrapping key.
    auto s = session();
    auto ec = hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "ec-uses", std::nullopt);
    EXPECT_EQ(hsm::get_bool(s, ec.private_key.handle, CKA_SIGN), true);
    EXPECT_EQ(hsm::get_bool(s, ec.private_key.handle, CKA_DERIVE), true);
    EXPECT_EQ(hsm::get_bool(s, ec.private_key.handle, CKA_DECRYPT), false);
    EXPECT_EQ(hsm::get_bool(s, ec.private_key.handle, CKA_UNWRAP), false);
    auto rsa =
        hsm::generate_key_pair(s, hsm::KeySpec::parse("rsa:2048"), "rsa-uses", std::nullopt);
    EXPECT_EQ(hsm::get_bool(s, rsa.private_key.handle, CKA_SIGN), true);
    EXPECT_EQ(hsm::get_bool(s, rsa.private_key.handle, CKA_DECRYPT), true);
    EXPECT_EQ(hsm::get_bool(s, rsa.private_key.handle, CKA_UNWRAP), false);
    EXPECT_EQ(hsm::get_bool(s, rsa.public_key.handle, CKA_WRAP), false);
}

TEST_F(KeygenTest, EcPrivateKeyIgnoresAPartnerOfAnotherKindWithTheSameId) {
    // An EC private key keeps no CKA_EC_POINT; its public half is found by CKA_ID. Remove the
    // real public half and put an RSA public key under the same id: that must not be taken
    // for the EC key's public key.
    auto s = session();
    Bytes id{0x5e, 0x5e};
    auto ec = hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "lonely-ec", id);
    auto rsa = hsm::generate_key_pair(s, hsm::KeySpec::parse("rsa:2048"), "donor", std::nullopt);
    hsm::destroy_object(s, ec.public_key.handle);
    hsm::AttributeTemplate t;
    t.add_ulong(CKA_CLASS, CKO_PUBLIC_KEY)
        .add_ulong(CKA_KEY_TYPE, CKK_RSA)
        .add_bool(CKA_TOKEN, false)
        .add_bytes(CKA_ID, id)
        .add_bytes(CKA_MODULUS, rsa.public_params.modulus)
        .add_bytes(CKA_PUBLIC_EXPONENT, rsa.public_params.exponent);
    CK_OBJECT_HANDLE impostor = CK_INVALID_HANDLE;
    ASSERT_EQ(s.fn()->C_CreateObject(s.handle(), t.data(), t.count(), &impostor), CKR_OK);
    EXPECT_THROW(hsm::read_public_key(s, ec.private_key.handle), hsm::Error);
    hsm::destroy_object(s, impostor);
}

}  // namespace
}  // namespace ts::test
