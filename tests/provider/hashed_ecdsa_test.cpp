// SPDX-License-Identifier: Apache-2.0
// tokensign.so with a token that signs ECDSA only with mechanisms that hash on the token
// (CKM_ECDSA_SHA256, CKM_ECDSA_SHA384; CKM_ECDSA refused): the fault module makes one from
// SoftHSM2 (TS_FAULT_HASHED_ECDSA), which offers no hashed ECDSA. Signatures are verified with
// the default provider only.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/provider/provider_libs.hpp"
#include "tests/support/process.hpp"
#include "tests/support/softhsm.hpp"

namespace {

using ts::test::run;
using ts::test::SoftHsm;
using Bytes = std::vector<unsigned char>;

class HashedEcdsaTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        s_hsm = new SoftHsm();
        s_hsm->add_token("hashed");
        auto r = run({"pkcs11-tool", "--module", s_hsm->module(), "--token-label", "hashed",
                      "--login", "--pin", "1234", "--keypairgen", "--key-type", "EC:prime256v1",
                      "--label", "ec", "--id", "01"});
        ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
        setenv("TS_FAULT_TARGET", s_hsm->module().c_str(), 1);
        setenv("TS_FAULT_HASHED_ECDSA", "1", 1);
        setenv("TOKENSIGN_MODULE", TS_TEST_FAULT_MODULE, 1);
        setenv("TOKENSIGN_PIN", "1234", 1);
        s_libs.load();
        s_ctx = s_libs.ctx;
        s_tokensign = s_libs.tokensign;
        s_default = s_libs.default_provider;
        s_plain = s_libs.plain;
        s_plain_default = s_libs.plain_default;
    }

    static void TearDownTestSuite() {
        s_libs.unload();
        delete s_hsm;
    }

    void SetUp() override {
        ASSERT_NE(s_tokensign, nullptr)
            << "tokensign.so did not load from " << ts::test::provider_dir();
        ERR_clear_error();
    }

    static EVP_PKEY* load(const std::string& uri) {
        return ts::test::store_load_key(s_ctx, uri, OSSL_STORE_INFO_PKEY);
    }

    static EVP_PKEY* plain_public(EVP_PKEY* pkey) {
        return ts::test::plain_public_key(pkey, s_plain);
    }

    static std::string errors() { return ts::test::drain_errors(); }

    static inline SoftHsm* s_hsm = nullptr;
    static inline ts::test::ProviderLibs s_libs;
    static inline OSSL_LIB_CTX* s_ctx = nullptr;
    static inline OSSL_PROVIDER* s_tokensign = nullptr;
    static inline OSSL_PROVIDER* s_default = nullptr;
    static inline OSSL_LIB_CTX* s_plain = nullptr;
    static inline OSSL_PROVIDER* s_plain_default = nullptr;
};

Bytes random_bytes(size_t n) {
    Bytes b(n);
    EXPECT_EQ(RAND_bytes(b.data(), static_cast<int>(n)), 1);
    return b;
}

// DigestSignUpdate in 64 KiB pieces, then Final (EVP duplicates the context there).
Bytes sign_streamed(OSSL_LIB_CTX* ctx, EVP_PKEY* pkey, const char* md, const Bytes& msg) {
    EVP_MD_CTX* m = EVP_MD_CTX_new();
    Bytes sig;
    size_t len = 0;
    bool ok = EVP_DigestSignInit_ex(m, nullptr, md, ctx, nullptr, pkey, nullptr) == 1;
    for (size_t off = 0; ok && off < msg.size(); off += 65536) {
        ok = EVP_DigestSignUpdate(m, msg.data() + off, std::min<size_t>(65536, msg.size() - off)) ==
             1;
    }
    if (ok && EVP_DigestSignFinal(m, nullptr, &len) == 1) {
        sig.resize(len);
        if (EVP_DigestSignFinal(m, sig.data(), &len) == 1) {
            sig.resize(len);
        } else {
            sig.clear();
        }
    }
    EVP_MD_CTX_free(m);
    return sig;
}

bool verify_plain(OSSL_LIB_CTX* plain, EVP_PKEY* pub, const char* md, const Bytes& msg,
                  const Bytes& sig) {
    EVP_MD_CTX* m = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit_ex(m, nullptr, md, plain, nullptr, pub, nullptr) == 1 &&
              EVP_DigestVerify(m, sig.data(), sig.size(), msg.data(), msg.size()) == 1;
    EVP_MD_CTX_free(m);
    return ok;
}

TEST_F(HashedEcdsaTest, TokenWithoutRawEcdsaSignsWithItsHashedMechanismsShortAndStreamed) {
    EVP_PKEY* tok = load("pkcs11:token=hashed;object=ec");
    ASSERT_NE(tok, nullptr) << errors();
    EVP_PKEY* pub = plain_public(tok);
    ASSERT_NE(pub, nullptr);
    for (const char* md : {"SHA256", "SHA384"}) {
        for (size_t n : {size_t{0}, size_t{5000}, size_t{3} << 20}) {  // C_Sign; streamed
            SCOPED_TRACE(std::string(md) + " " + std::to_string(n) + " bytes");
            Bytes msg = random_bytes(n);
            Bytes sig = sign_streamed(s_ctx, tok, md, msg);
            ASSERT_FALSE(sig.empty()) << errors();
            EXPECT_TRUE(verify_plain(s_plain, pub, md, msg, sig));
        }
    }
    // A precomputed digest needs CKM_ECDSA, which this token refuses: said at init.
    EVP_PKEY_CTX* p = EVP_PKEY_CTX_new_from_pkey(s_ctx, tok, nullptr);
    ERR_clear_error();
    Bytes dgst = random_bytes(32), sig(80);
    size_t len = sig.size();
    EXPECT_FALSE(EVP_PKEY_sign_init(p) == 1 &&
                 EVP_PKEY_sign(p, sig.data(), &len, dgst.data(), dgst.size()) == 1);
    EVP_PKEY_CTX_free(p);
    // SHA-512 has no hashed mechanism here and CKM_ECDSA is refused.
    ERR_clear_error();
    EXPECT_TRUE(sign_streamed(s_ctx, tok, "SHA512", random_bytes(10)).empty());
    EVP_PKEY_free(pub);
    EVP_PKEY_free(tok);
}

}  // namespace
