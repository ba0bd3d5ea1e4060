// SPDX-License-Identifier: Apache-2.0
// tokensign.so in-process: concurrent signing over the session pool, fork, error reasons,
// key/certificate matching, no export of the private half. Verification never uses tokensign.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "tests/provider/provider_libs.hpp"
#include "tests/support/process.hpp"
#include "tests/support/softhsm.hpp"

namespace {

using ts::test::run;
using ts::test::SoftHsm;

class ProviderTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        s_hsm = new SoftHsm();
        s_hsm->add_token("prov");
        s_hsm->add_token("other");
        setenv("TOKENSIGN_MODULE", s_hsm->module().c_str(), 1);
        setenv("TOKENSIGN_PIN", "1234", 1);
        keygen("prov", "rsa:2048", "rsa", "01");
        keygen("prov", "EC:prime256v1", "ec", "02");
        keygen("other", "EC:prime256v1", "k", "01");

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

    static void keygen(const std::string& token, const std::string& type, const std::string& label,
                       const std::string& id) {
        auto r = run({"pkcs11-tool", "--module", s_hsm->module(), "--token-label", token, "--login",
                      "--pin", "1234", "--keypairgen", "--key-type", type, "--label", label, "--id",
                      id});
        ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }

    // The first key of the wanted kind a URI gives through tokensign's store.
    static EVP_PKEY* load(const std::string& uri, int expect) {
        return ts::test::store_load_key(s_ctx, uri, expect);
    }

    // The public key of a token key as a default-provider key (re-decoded from its SPKI).
    static EVP_PKEY* plain_public(EVP_PKEY* pkey) {
        return ts::test::plain_public_key(pkey, s_plain);
    }

    static std::vector<unsigned char> sign(EVP_PKEY* pkey, const std::string& data) {
        std::vector<unsigned char> sig;
        EVP_MD_CTX* md = EVP_MD_CTX_new();
        size_t len = 0;
        if (EVP_DigestSignInit_ex(md, nullptr, "SHA256", s_ctx, nullptr, pkey, nullptr) == 1 &&
            EVP_DigestSign(md, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                           data.size()) == 1) {
            sig.resize(len);
            if (EVP_DigestSign(md, sig.data(), &len,
                               reinterpret_cast<const unsigned char*>(data.data()),
                               data.size()) == 1) {
                sig.resize(len);
            } else {
                sig.clear();
            }
        }
        EVP_MD_CTX_free(md);
        return sig;
    }

    static bool verify(EVP_PKEY* plain_pub, const std::string& data,
                       const std::vector<unsigned char>& sig) {
        EVP_MD_CTX* md = EVP_MD_CTX_new();
        bool ok =
            EVP_DigestVerifyInit_ex(md, nullptr, "SHA256", s_plain, nullptr, plain_pub, nullptr) ==
                1 &&
            EVP_DigestVerify(md, sig.data(), sig.size(),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
        EVP_MD_CTX_free(md);
        return ok;
    }

    static std::string errors() {
        std::string out;
        unsigned long e;
        while ((e = ERR_get_error()) != 0) {
            char buf[256];
            ERR_error_string_n(e, buf, sizeof buf);
            out += buf;
            out += "\n";
        }
        return out;
    }

    static inline SoftHsm* s_hsm = nullptr;
    static inline ts::test::ProviderLibs s_libs;
    static inline OSSL_LIB_CTX* s_ctx = nullptr;
    static inline OSSL_PROVIDER* s_tokensign = nullptr;
    static inline OSSL_PROVIDER* s_default = nullptr;
    static inline OSSL_LIB_CTX* s_plain = nullptr;
    static inline OSSL_PROVIDER* s_plain_default = nullptr;
};

TEST_F(ProviderTest, ConcurrentSigningFromEightThreadsAllVerify) {
    EVP_PKEY* ec = load("pkcs11:token=prov;object=ec", OSSL_STORE_INFO_PKEY);
    EVP_PKEY* rsa = load("pkcs11:token=prov;object=rsa", OSSL_STORE_INFO_PKEY);
    ASSERT_NE(ec, nullptr) << errors();
    ASSERT_NE(rsa, nullptr) << errors();
    EVP_PKEY* ec_pub = plain_public(ec);
    EVP_PKEY* rsa_pub = plain_public(rsa);
    ASSERT_NE(ec_pub, nullptr);
    ASSERT_NE(rsa_pub, nullptr);

    constexpr int kThreads = 8, kPerThread = 40;
    std::atomic<int> good{0}, bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                bool use_rsa = (t + i) % 4 == 0;
                std::string data = "thread " + std::to_string(t) + " message " + std::to_string(i);
                auto sig = sign(use_rsa ? rsa : ec, data);
                bool ok = !sig.empty() && verify(use_rsa ? rsa_pub : ec_pub, data, sig);
                (ok ? good : bad)++;
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(bad.load(), 0) << errors();
    EXPECT_EQ(good.load(), kThreads * kPerThread);
    EVP_PKEY_free(ec_pub);
    EVP_PKEY_free(rsa_pub);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(rsa);
}

TEST_F(ProviderTest, ForkedChildSignsWithItsOwnSessionsAndParentGoesOn) {
    EVP_PKEY* ec = load("pkcs11:token=prov;object=ec", OSSL_STORE_INFO_PKEY);
    ASSERT_NE(ec, nullptr) << errors();
    EVP_PKEY* pub = plain_public(ec);
    ASSERT_NE(pub, nullptr);
    ASSERT_TRUE(verify(pub, "before fork", sign(ec, "before fork")));  // parent logged in

    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        // The child re-initialises the module, logs in and finds the key again.
        bool ok = true;
        for (int i = 0; i < 5 && ok; ++i) ok = verify(pub, "in child", sign(ec, "in child"));
        _exit(ok ? 0 : 3);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "the child could not sign";
    // The child's exit did not take the parent's sessions or login with it.
    EXPECT_TRUE(verify(pub, "after fork", sign(ec, "after fork"))) << errors();
    EVP_PKEY_free(pub);
    EVP_PKEY_free(ec);
}

TEST_F(ProviderTest, WrongPinIsReportedWithTheCkRvAsReasonAndTheTokenNamed) {
    EVP_PKEY* k = load("pkcs11:token=other;object=k?pin-value=0000", OSSL_STORE_INFO_PKEY);
    EXPECT_EQ(k, nullptr);
    bool found = false;
    unsigned long e;
    const char* data = nullptr;
    int flags = 0;
    while ((e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
        const char* reason = ERR_reason_error_string(e);
        if (reason != nullptr && std::string(reason) == "CKR_PIN_INCORRECT") {
            found = true;
            ASSERT_TRUE(flags & ERR_TXT_STRING);
            EXPECT_NE(std::string(data).find("token 'other'"), std::string::npos) << data;
        }
    }
    EXPECT_TRUE(found) << "no CKR_PIN_INCORRECT error was queued";
    EVP_PKEY_free(k);
}

TEST_F(ProviderTest, TokenKeyMatchesItsOwnCertificateOnly) {
    EVP_PKEY* ec = load("pkcs11:token=prov;object=ec", OSSL_STORE_INFO_PKEY);
    ASSERT_NE(ec, nullptr) << errors();
    auto make_cert = [&](EVP_PKEY* subject_key, EVP_PKEY* signer) {
        X509* x = X509_new_ex(s_ctx, nullptr);
        X509_set_version(x, X509_VERSION_3);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("match"), -1, -1, 0);
        X509_set_issuer_name(x, X509_get_subject_name(x));
        X509_gmtime_adj(X509_getm_notBefore(x), 0);
        X509_gmtime_adj(X509_getm_notAfter(x), 3600);
        X509_set_pubkey(x, subject_key);
        EXPECT_GT(X509_sign(x, signer, EVP_sha256()), 0) << errors();
        return x;
    };
    X509* own = make_cert(ec, ec);
    EXPECT_EQ(X509_check_private_key(own, ec), 1) << errors();

    EVP_PKEY* other = EVP_PKEY_Q_keygen(s_plain, nullptr, "EC", "P-256");
    ASSERT_NE(other, nullptr);
    X509* foreign = make_cert(other, ec);
    EXPECT_EQ(X509_check_private_key(foreign, ec), 0);
    ERR_clear_error();
    X509_free(own);
    X509_free(foreign);
    EVP_PKEY_free(other);
    EVP_PKEY_free(ec);
}

TEST_F(ProviderTest, PublicPartExportsPrivateHalfDoesNot) {
    EVP_PKEY* rsa = load("pkcs11:token=prov;object=rsa", OSSL_STORE_INFO_PKEY);
    ASSERT_NE(rsa, nullptr) << errors();
    OSSL_PARAM* params = nullptr;
    EXPECT_EQ(EVP_PKEY_todata(rsa, EVP_PKEY_KEYPAIR, &params), 0);
    OSSL_PARAM_free(params);
    params = nullptr;
    ASSERT_EQ(EVP_PKEY_todata(rsa, EVP_PKEY_PUBLIC_KEY, &params), 1) << errors();
    EXPECT_NE(OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_RSA_N), nullptr);
    EXPECT_EQ(OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_RSA_D), nullptr);
    OSSL_PARAM_free(params);
    EXPECT_EQ(EVP_PKEY_get_bits(rsa), 2048);
    EXPECT_EQ(EVP_PKEY_get_security_bits(rsa), 112);
    EXPECT_EQ(EVP_PKEY_get_size(rsa), 256);
    char md[32] = {0};
    EXPECT_EQ(EVP_PKEY_get_default_digest_name(rsa, md, sizeof md), 1);  // 1: advisory
    EXPECT_STREQ(md, "SHA256");
    ERR_clear_error();
    EVP_PKEY_free(rsa);
}

TEST_F(ProviderTest, UriPemWrittenByTheEncoderLoadsBackThroughTheDecoder) {
    EVP_PKEY* ec = load("pkcs11:token=prov;object=ec", OSSL_STORE_INFO_PKEY);
    ASSERT_NE(ec, nullptr) << errors();
    BIO* mem = BIO_new(BIO_s_mem());
    ASSERT_EQ(
        PEM_write_bio_PrivateKey_ex(mem, ec, nullptr, nullptr, 0, nullptr, nullptr, s_ctx, nullptr),
        1)
        << errors();
    char* text = nullptr;
    long len = BIO_get_mem_data(mem, &text);
    std::string pem(text, static_cast<std::size_t>(len));
    EXPECT_NE(pem.find("-----BEGIN TOKENSIGN EC KEY-----"), std::string::npos) << pem;
    EXPECT_EQ(pem.find("PRIVATE KEY"), std::string::npos) << "key material written: " << pem;
    // A program that only reads key files (PEM_read_bio_PrivateKey) gets the token key back.
    EVP_PKEY* back = PEM_read_bio_PrivateKey_ex(mem, nullptr, nullptr, nullptr, s_ctx, nullptr);
    ASSERT_NE(back, nullptr) << errors();
    EXPECT_EQ(EVP_PKEY_eq(back, ec), 1);
    EVP_PKEY* pub = plain_public(ec);
    EXPECT_TRUE(verify(pub, "from a key file", sign(back, "from a key file"))) << errors();
    EVP_PKEY_free(pub);
    EVP_PKEY_free(back);
    BIO_free(mem);
    EVP_PKEY_free(ec);
}

TEST_F(ProviderTest, InMemoryKeysFromTokensignBehaveAsWithTheDefaultProvider) {
    // What OpenSSL 3.0 does when tokensign wins a fetch for an ordinary key (loaded first):
    // generation without pkcs11_uri, signing, PKCS#8 export, all on the host.
    EVP_PKEY* soft = EVP_PKEY_Q_keygen(s_ctx, "provider=tokensign", "EC", "P-256");
    ASSERT_NE(soft, nullptr) << errors();
    EXPECT_STREQ(EVP_PKEY_get0_description(soft), "EC keys on a PKCS#11 token");
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    std::vector<unsigned char> sig(128);
    size_t len = sig.size();
    const std::string data = "soft key";
    ASSERT_EQ(
        EVP_DigestSignInit_ex(md, nullptr, "SHA256", s_ctx, "provider=tokensign", soft, nullptr), 1)
        << errors();
    ASSERT_EQ(EVP_DigestSign(md, sig.data(), &len,
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()),
              1)
        << errors();
    sig.resize(len);
    EVP_MD_CTX_free(md);
    EVP_PKEY* pub = plain_public(soft);
    ASSERT_NE(pub, nullptr);
    EXPECT_TRUE(verify(pub, data, sig));

    // The private key travels as PKCS#8 (it is not a token key) and the default provider reads it.
    BIO* mem = BIO_new(BIO_s_mem());
    ASSERT_EQ(PEM_write_bio_PrivateKey_ex(mem, soft, nullptr, nullptr, 0, nullptr, nullptr, s_ctx,
                                          nullptr),
              1)
        << errors();
    EVP_PKEY* back = PEM_read_bio_PrivateKey_ex(mem, nullptr, nullptr, nullptr, s_plain, nullptr);
    ASSERT_NE(back, nullptr) << errors();
    EXPECT_EQ(EVP_PKEY_eq(back, pub), 1);
    EVP_PKEY_free(back);
    BIO_free(mem);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(soft);
}

TEST_F(ProviderTest, PublicKeyNeedsNoPin) {
    // A token never logged into, and no PIN anywhere: public objects still load.
    unsetenv("TOKENSIGN_PIN");
    EVP_PKEY* pub = load("pkcs11:token=other;object=k;type=public", OSSL_STORE_INFO_PUBKEY);
    setenv("TOKENSIGN_PIN", "1234", 1);
    ASSERT_NE(pub, nullptr) << errors();
    EXPECT_EQ(EVP_PKEY_get_bits(pub), 256);
    EVP_PKEY_free(pub);
}

}  // namespace
