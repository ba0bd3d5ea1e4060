// SPDX-License-Identifier: Apache-2.0
// parse_csr decodes a request's key its own way (signer/spki.cpp) instead of through d2i's
// decoders: a differential test against OpenSSL's own path. Thousands of corrupted copies of
// real requests (RSA, P-256, P-384 with a compressed point, Ed25519) must get the same verdict
// from both: parsed and self-signature verified, or refused; and the same key when accepted.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <random>
#include <string>
#include <vector>

#include "hsm/ossl.hpp"
#include "signer/csr.hpp"
#include "signer/error.hpp"
#include "test_keys.hpp"

namespace ts::signer {
namespace {

std::vector<unsigned char> request_der(EVP_PKEY* key) {
    OsslPtr<X509_REQ> req(X509_REQ_new());
    X509_NAME* name = X509_REQ_get_subject_name(req.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("Differential"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("host.example"), -1, -1, 0);
    X509_REQ_set_pubkey(req.get(), key);
    const bool eddsa = EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448");
    if (X509_REQ_sign(req.get(), key, eddsa ? nullptr : EVP_sha256()) <= 0) return {};
    return to_der(req.get(), i2d_X509_REQ);
}

// OpenSSL's own route: d2i_X509_REQ (the key decoded by its decoders), every byte consumed,
// and the request's signature verified with that key. The key, or null if refused.
OsslPtr<EVP_PKEY> openssl_verdict(const std::vector<unsigned char>& der) {
    const unsigned char* p = der.data();
    OsslPtr<X509_REQ> req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
    ERR_clear_error();
    if (!req || p != der.data() + der.size()) return nullptr;
    EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
    if (key == nullptr || X509_REQ_verify(req.get(), key) != 1) {
        ERR_clear_error();
        return nullptr;
    }
    EVP_PKEY_up_ref(key);
    return OsslPtr<EVP_PKEY>(key);
}

// Ours: parse_csr, then the same signature check with the key it decoded. With `keys`, the
// batch's way: one decoder for many requests, whose first EC key on a curve is the template
// of the later ones.
// With `reuse`, decode_reusing, as the batch parses: the key returned is then a copy made here
// (the decoder's own changes with the next request), compared before the next parse.
OsslPtr<EVP_PKEY> our_verdict(const std::vector<unsigned char>& der,
                              PublicKeyDecoder* keys = nullptr, bool reuse = false) {
    try {
        const std::string_view data(reinterpret_cast<const char*>(der.data()), der.size());
        Csr csr = keys != nullptr ? parse_csr(data, "req.der", *keys, reuse)
                                  : parse_csr(data, "req.der", nullptr);
        if (!csr.stand_in ||
            EVP_PKEY_get_bits(csr.stand_in.get()) != EVP_PKEY_get_bits(csr.key.get())) {
            ADD_FAILURE() << "no stand-in of the request key's size";
        }
        if (X509_REQ_get0_pubkey(csr.req.get()) != nullptr) {
            ADD_FAILURE() << "the request was parsed with a decoded key: the slow path ran";
        }
        ERR_clear_error();
        if (X509_REQ_verify_ex(csr.req.get(), csr.key.get(), nullptr, nullptr) != 1) {
            ERR_clear_error();
            return nullptr;
        }
        if (reuse) return OsslPtr<EVP_PKEY>(EVP_PKEY_dup(csr.key.get()));
        return std::move(csr.key);
    } catch (const InputError&) {
        ERR_clear_error();
        return nullptr;
    }
}

void expect_same_verdicts(EVP_PKEY* key, unsigned seed) {
    ASSERT_NE(key, nullptr);
    const auto original = request_der(key);
    ASSERT_FALSE(original.empty());
    auto theirs = openssl_verdict(original);
    auto ours = our_verdict(original);
    ASSERT_TRUE(theirs);
    ASSERT_TRUE(ours);
    EXPECT_EQ(EVP_PKEY_eq(ours.get(), theirs.get()), 1);
    // A batch's decoder, its template made from the original: every corrupted point below then
    // goes through the template copy.
    PublicKeyDecoder batch(nullptr), reusing(nullptr);
    auto first = our_verdict(original, &batch);
    ASSERT_TRUE(first);
    EXPECT_EQ(EVP_PKEY_eq(first.get(), theirs.get()), 1);
    auto first_reused = our_verdict(original, &reusing, true);
    ASSERT_TRUE(first_reused);
    EXPECT_EQ(EVP_PKEY_eq(first_reused.get(), theirs.get()), 1);

    std::mt19937 rng(seed);
    int accepted = 0, refused = 0;
    for (int round = 0; round < 1500; ++round) {
        auto der = original;
        switch (rng() % 8) {
            case 0:  // cut short
                der.resize(rng() % der.size());
                break;
            case 1:  // followed by stray bytes
                for (auto extra = 1 + rng() % 3; extra > 0; --extra)
                    der.push_back(static_cast<unsigned char>(rng()));
                break;
            default:  // one to three bits flipped anywhere: tags, lengths, names, key, signature
                for (auto f = 1 + rng() % 3; f > 0; --f)
                    der[rng() % der.size()] ^= static_cast<unsigned char>(1u << (rng() % 8));
        }
        auto a = openssl_verdict(der);
        auto b = our_verdict(der);
        auto c = our_verdict(der, &batch);
        auto d = our_verdict(der, &reusing, true);
        ASSERT_EQ(static_cast<bool>(a), static_cast<bool>(d))
            << "round " << round << ": OpenSSL " << (a ? "accepts" : "refuses")
            << ", parse_csr reusing a batch's keys " << (d ? "accepts" : "refuses");
        ASSERT_EQ(static_cast<bool>(a), static_cast<bool>(b))
            << "round " << round << ": OpenSSL " << (a ? "accepts" : "refuses") << ", parse_csr "
            << (b ? "accepts" : "refuses");
        ASSERT_EQ(static_cast<bool>(a), static_cast<bool>(c))
            << "round " << round << ": OpenSSL " << (a ? "accepts" : "refuses")
            << ", parse_csr with a batch's decoder " << (c ? "accepts" : "refuses");
        if (a) {
            EXPECT_EQ(EVP_PKEY_eq(a.get(), b.get()), 1) << "round " << round;
            EXPECT_EQ(EVP_PKEY_eq(a.get(), c.get()), 1) << "round " << round;
            EXPECT_EQ(EVP_PKEY_eq(a.get(), d.get()), 1) << "round " << round;
            ++accepted;
        } else {
            ++refused;
        }
    }
    EXPECT_GT(refused, 1000);  // the corruption reached the checks
}

TEST(CsrParseTest, Rsa2048RequestsGetOpenSslsVerdict) {
    auto k = generate_key("RSA", "rsa_keygen_bits", "2048");
    expect_same_verdicts(k.get(), 1);
}

TEST(CsrParseTest, P256RequestsGetOpenSslsVerdict) {
    auto k = generate_key("EC", "ec_paramgen_curve", "P-256");
    expect_same_verdicts(k.get(), 2);
}

TEST(CsrParseTest, P384CompressedPointRequestsGetOpenSslsVerdict) {
    auto k = generate_key("EC", "ec_paramgen_curve", "P-384");
    ASSERT_TRUE(k);
    ASSERT_EQ(EVP_PKEY_set_utf8_string_param(k.get(), "point-format", "compressed"), 1);
    expect_same_verdicts(k.get(), 3);
}

// One decoder, many keys on the same curves: each request gets its own key, never the
// template's (a copy that kept the first point would make every later request's signature
// check use the first requester's key).
TEST(CsrParseTest, BatchDecoderGivesEachRequestItsOwnKey) {
    std::vector<OsslPtr<EVP_PKEY>> keys;
    for (int i = 0; i < 3; ++i) keys.push_back(generate_key("EC", "ec_paramgen_curve", "P-256"));
    keys.push_back(generate_key("EC", "ec_paramgen_curve", "P-384"));
    keys.push_back(generate_key("EC", "ec_paramgen_curve", "P-384"));
    ASSERT_EQ(EVP_PKEY_set_utf8_string_param(keys.back().get(), "point-format", "compressed"), 1);
    keys.push_back(generate_key("RSA", "rsa_keygen_bits", "2048"));
    keys.push_back(generate_key("EC", "ec_paramgen_curve", "P-256"));
    for (bool reuse : {false, true}) {
        SCOPED_TRACE(reuse ? "decode_reusing" : "decode");
        PublicKeyDecoder batch(nullptr);
        for (int pass = 0; pass < 2; ++pass) {
            for (std::size_t i = 0; i < keys.size(); ++i) {
                ASSERT_TRUE(keys[i]);
                auto der = request_der(keys[i].get());
                auto got = our_verdict(der, &batch, reuse);
                ASSERT_TRUE(got) << "key " << i << " pass " << pass;
                for (std::size_t j = 0; j < keys.size(); ++j)
                    EXPECT_EQ(EVP_PKEY_eq(got.get(), keys[j].get()) == 1, i == j)
                        << "key " << i << " compared with key " << j << ", pass " << pass;
            }
        }
    }
}

// decode_reusing's stand-in outlives the next requests unchanged: the curve's first key, of the
// request's curve and size; the working key it hands out does change.
TEST(CsrParseTest, StandInKeysAreNotChangedByLaterRequests) {
    auto k1 = generate_key("EC", "ec_paramgen_curve", "P-256");
    auto k2 = generate_key("EC", "ec_paramgen_curve", "P-256");
    auto k3 = generate_key("EC", "ec_paramgen_curve", "P-256");
    PublicKeyDecoder batch(nullptr);
    auto parse = [&](EVP_PKEY* k) {
        auto der = request_der(k);
        return parse_csr(std::string_view(reinterpret_cast<const char*>(der.data()), der.size()),
                         "req.der", batch, true);
    };
    Csr first = parse(k1.get());
    OsslPtr<EVP_PKEY> kept = std::move(first.stand_in);
    Csr second = parse(k2.get());
    EXPECT_EQ(EVP_PKEY_eq(second.key.get(), k2.get()), 1);
    OsslPtr<EVP_PKEY> kept2 = std::move(second.stand_in);
    Csr third = parse(k3.get());
    EXPECT_EQ(EVP_PKEY_eq(third.key.get(), k3.get()), 1);
    EXPECT_EQ(EVP_PKEY_eq(second.key.get(), k3.get()), 1) << "the working key was not reused";
    EXPECT_EQ(EVP_PKEY_eq(kept.get(), k1.get()), 1);
    EXPECT_EQ(EVP_PKEY_eq(kept2.get(), k1.get()), 1);
    EXPECT_EQ(EVP_PKEY_get_bits(kept2.get()), 256);
}

TEST(CsrParseTest, Ed25519RequestsGetOpenSslsVerdict) {
    auto k = generate_key("ED25519");
    expect_same_verdicts(k.get(), 4);
}

}  // namespace
}  // namespace ts::signer
