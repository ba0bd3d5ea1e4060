// SPDX-License-Identifier: Apache-2.0
// tokensign.so in-process, operation by operation against what OpenSSL's default provider does
// with the same call: ECDH parameters and output sizes, RSA TLS padding, mechanism choice for
// keys the token restricts (CKA_ALLOWED_MECHANISMS). Results are checked with the default
// provider only.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
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

class OperationsTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        s_hsm = new SoftHsm();
        s_hsm->add_token("ops");
        setenv("TOKENSIGN_MODULE", s_hsm->module().c_str(), 1);
        setenv("TOKENSIGN_PIN", "1234", 1);
        keygen("EC:prime256v1", "ec", "01");
        keygen("rsa:2048", "rsa", "02");
        // Keys the token restricts to mechanisms that hash on the token (HSM policies).
        keygen("rsa:2048", "pss-only", "03", "SHA256-RSA-PKCS-PSS");
        keygen("rsa:2048", "pkcs-sha256", "04", "SHA256-RSA-PKCS");
        keygen("EC:prime256v1", "ecdsa-sha256", "05", "ECDSA-SHA256");
        keygen("rsa:2048", "rsa-pkcs1", "06", "RSA-PKCS");  // no CKM_RSA_X_509

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

    // pkcs11-tool key pair; `allowed` (comma-separated pkcs11-tool names) sets
    // CKA_ALLOWED_MECHANISMS on both halves.
    static void keygen(const std::string& type, const std::string& label, const std::string& id,
                       const std::string& allowed = "") {
        std::vector<std::string> argv{
            "pkcs11-tool", "--module", s_hsm->module(), "--token-label", "ops",
            "--login",     "--pin",    "1234",          "--keypairgen",  "--key-type",
            type,          "--label",  label,           "--id",          id};
        if (!allowed.empty()) {
            argv.push_back("--allowed-mechanisms");
            argv.push_back(allowed);
        }
        auto r = run(argv);
        ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }

    static EVP_PKEY* load(const std::string& uri) {
        return ts::test::store_load_key(s_ctx, uri, OSSL_STORE_INFO_PKEY);
    }

    // The public key as a default-provider key (re-decoded from its SPKI).
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

// An ECDH context of `key` against `peer`, in `ctx`.
EVP_PKEY_CTX* ecdh_ctx(OSSL_LIB_CTX* ctx, EVP_PKEY* key, EVP_PKEY* peer) {
    EVP_PKEY_CTX* d = EVP_PKEY_CTX_new_from_pkey(ctx, key, nullptr);
    if (d == nullptr || EVP_PKEY_derive_init(d) != 1 || EVP_PKEY_derive_set_peer(d, peer) != 1) {
        EVP_PKEY_CTX_free(d);
        return nullptr;
    }
    return d;
}

TEST_F(OperationsTest, EcdhIntoAShorterBufferTruncatesAsTheDefaultProviderDoes) {
    EVP_PKEY* tok = load("pkcs11:token=ops;object=ec");
    ASSERT_NE(tok, nullptr) << errors();
    EVP_PKEY* tok_pub = plain_public(tok);
    EVP_PKEY* peer = EVP_PKEY_Q_keygen(s_plain, nullptr, "EC", "P-256");
    ASSERT_TRUE(tok_pub && peer);

    // The reference: the peer's side with the default provider only, full length.
    EVP_PKEY_CTX* ref = ecdh_ctx(s_plain, peer, tok_pub);
    ASSERT_NE(ref, nullptr);
    Bytes full(32);
    size_t full_len = full.size();
    ASSERT_EQ(EVP_PKEY_derive(ref, full.data(), &full_len), 1);
    ASSERT_EQ(full_len, 32u);
    // What the default provider does with a 20-byte buffer: the first 20 bytes.
    Bytes ref_short(20);
    size_t ref_short_len = ref_short.size();
    ASSERT_EQ(EVP_PKEY_derive(ref, ref_short.data(), &ref_short_len), 1) << errors();
    ASSERT_EQ(ref_short_len, 20u);

    EVP_PKEY_CTX* d = ecdh_ctx(s_ctx, tok, peer);
    ASSERT_NE(d, nullptr) << errors();
    Bytes out(20);
    size_t out_len = out.size();
    ASSERT_EQ(EVP_PKEY_derive(d, out.data(), &out_len), 1) << errors();
    EXPECT_EQ(out_len, 20u);
    EXPECT_EQ(out, ref_short);
    EXPECT_EQ(out, Bytes(full.begin(), full.begin() + 20));

    EVP_PKEY_CTX_free(d);
    EVP_PKEY_CTX_free(ref);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(tok_pub);
    EVP_PKEY_free(tok);
}

TEST_F(OperationsTest, EcdhRefusesAKdfItDoesNotApplyWhenItIsSet) {
    EVP_PKEY* tok = load("pkcs11:token=ops;object=ec");
    ASSERT_NE(tok, nullptr) << errors();
    EVP_PKEY* peer = EVP_PKEY_Q_keygen(s_plain, nullptr, "EC", "P-256");
    EVP_PKEY_CTX* d = ecdh_ctx(s_ctx, tok, peer);
    ASSERT_NE(d, nullptr) << errors();
    char hkdf[] = "HKDF";
    OSSL_PARAM bad_kdf[] = {OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, hkdf, 0),
                            OSSL_PARAM_END};
    EXPECT_EQ(EVP_PKEY_CTX_set_params(d, bad_kdf), 0);
    int mode = 5;
    OSSL_PARAM bad_mode[] = {
        OSSL_PARAM_construct_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, &mode), OSSL_PARAM_END};
    EXPECT_EQ(EVP_PKEY_CTX_set_params(d, bad_mode), 0);
    ERR_clear_error();

    // What it takes is applied: X9.63 with SHA-256 into 40 bytes equals the default provider's.
    char x963[] = "X963KDF", sha256[] = "SHA256";
    size_t outlen = 40;
    unsigned char ukm[] = {1, 2, 3};
    mode = 1;
    OSSL_PARAM kdf[] = {
        OSSL_PARAM_construct_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, &mode),
        OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, x963, 0),
        OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, sha256, 0),
        OSSL_PARAM_construct_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, &outlen),
        OSSL_PARAM_construct_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM, ukm, sizeof ukm),
        OSSL_PARAM_END};
    ASSERT_EQ(EVP_PKEY_CTX_set_params(d, kdf), 1) << errors();
    size_t len = 0;
    ASSERT_EQ(EVP_PKEY_derive(d, nullptr, &len), 1);
    EXPECT_EQ(len, 40u);
    Bytes out(len);
    ASSERT_EQ(EVP_PKEY_derive(d, out.data(), &len), 1) << errors();

    EVP_PKEY* tok_pub = plain_public(tok);
    EVP_PKEY_CTX* ref = ecdh_ctx(s_plain, peer, tok_pub);
    ASSERT_NE(ref, nullptr);
    ASSERT_EQ(EVP_PKEY_CTX_set_params(ref, kdf), 1);
    Bytes want(40);
    size_t want_len = want.size();
    ASSERT_EQ(EVP_PKEY_derive(ref, want.data(), &want_len), 1);
    EXPECT_EQ(out, want);

    EVP_PKEY_CTX_free(ref);
    EVP_PKEY_free(tok_pub);
    EVP_PKEY_CTX_free(d);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(tok);
}

// Signs `msg` with `pkey` (DigestSignUpdate in 64 KiB pieces, then Final) in `ctx`.
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

Bytes random_bytes(size_t n) {
    Bytes b(n);
    EXPECT_EQ(RAND_bytes(b.data(), static_cast<int>(n)), 1);
    return b;
}

// The AlgorithmIdentifier a signature context gives (what X509_sign writes into a certificate).
Bytes algorithm_id(EVP_MD_CTX* m) {
    unsigned char buf[256];
    OSSL_PARAM params[] = {
        OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, buf, sizeof buf),
        OSSL_PARAM_END};
    if (EVP_PKEY_CTX_get_params(EVP_MD_CTX_get_pkey_ctx(m), params) != 1) return {};
    return Bytes(buf, buf + params[0].return_size);
}

// The provider answers X509_sign's AlgorithmIdentifier question itself for PKCS#1 v1.5 RSA and
// ECDSA with SHA-2 (no host context made): byte for byte the default provider's answer, for
// every spelling of the digest EVP passes; and with RSA-PSS set, an RSASSA-PSS identifier.
TEST_F(OperationsTest, AlgorithmIdentifierIsTheDefaultProvidersForEveryDigest) {
    for (const char* object : {"ec", "rsa"}) {
        EVP_PKEY* tok = load(std::string("pkcs11:token=ops;object=") + object);
        ASSERT_NE(tok, nullptr) << errors();
        EVP_PKEY* pub = plain_public(tok);
        ASSERT_NE(pub, nullptr);
        for (const char* md : {"SHA224", "SHA256", "sha256", "SHA2-256", "SHA384", "sha512"}) {
            SCOPED_TRACE(std::string(object) + " " + md);
            EVP_MD_CTX* t = EVP_MD_CTX_new();
            EVP_MD_CTX* p = EVP_MD_CTX_new();
            ASSERT_EQ(EVP_DigestSignInit_ex(t, nullptr, md, s_ctx, nullptr, tok, nullptr), 1)
                << errors();
            ASSERT_EQ(EVP_DigestVerifyInit_ex(p, nullptr, md, s_plain, nullptr, pub, nullptr), 1)
                << errors();
            const Bytes theirs = algorithm_id(p);
            ASSERT_FALSE(theirs.empty());
            EXPECT_EQ(algorithm_id(t), theirs);
            if (std::string(object) == "rsa") {
                ASSERT_EQ(
                    EVP_PKEY_CTX_set_rsa_padding(EVP_MD_CTX_get_pkey_ctx(t), RSA_PKCS1_PSS_PADDING),
                    1);
                const Bytes pss = algorithm_id(t);
                const unsigned char* q = pss.data();
                X509_ALGOR* alg = d2i_X509_ALGOR(nullptr, &q, static_cast<long>(pss.size()));
                ASSERT_NE(alg, nullptr);
                const ASN1_OBJECT* oid = nullptr;
                X509_ALGOR_get0(&oid, nullptr, nullptr, alg);
                EXPECT_EQ(OBJ_obj2nid(oid), NID_rsassaPss);
                X509_ALGOR_free(alg);
            }
            EVP_MD_CTX_free(t);
            EVP_MD_CTX_free(p);
        }
        EVP_PKEY_free(pub);
        EVP_PKEY_free(tok);
    }
}

TEST_F(OperationsTest, KeyAllowedOnlySha256RsaPssSignsWithTheTokenHashingShortAndLongMessages) {
    EVP_PKEY* tok = load("pkcs11:token=ops;object=pss-only");
    ASSERT_NE(tok, nullptr) << errors();
    EVP_PKEY* pub = plain_public(tok);
    ASSERT_NE(pub, nullptr);
    for (size_t n : {size_t{0}, size_t{100}, size_t{3} << 20}) {  // one C_Sign; streamed
        Bytes msg = random_bytes(n);
        Bytes sig = sign_streamed(s_ctx, tok, "SHA256", msg);
        ASSERT_FALSE(sig.empty()) << n << " bytes: " << errors();
        EXPECT_TRUE(verify_plain(s_plain, pub, "SHA256", msg, sig)) << n << " bytes";
    }
    // One-shot EVP_DigestSign.
    Bytes msg = random_bytes(1000);
    EVP_MD_CTX* m = EVP_MD_CTX_new();
    ASSERT_EQ(EVP_DigestSignInit_ex(m, nullptr, "SHA256", s_ctx, nullptr, tok, nullptr), 1);
    Bytes sig(512);
    size_t len = sig.size();
    ASSERT_EQ(EVP_DigestSign(m, sig.data(), &len, msg.data(), msg.size()), 1) << errors();
    sig.resize(len);
    EXPECT_TRUE(verify_plain(s_plain, pub, "SHA256", msg, sig));
    EVP_MD_CTX_free(m);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(tok);
}

TEST_F(OperationsTest, KeyAllowedOnlyPssHasAnRsaPssSubjectPublicKeyInfo) {
    EVP_PKEY* tok = load("pkcs11:token=ops;object=pss-only");
    ASSERT_NE(tok, nullptr) << errors();
    EXPECT_TRUE(EVP_PKEY_is_a(tok, "RSA-PSS"));
    EVP_PKEY* pub = plain_public(tok);
    ASSERT_NE(pub, nullptr);
    EXPECT_EQ(EVP_PKEY_get_base_id(pub), EVP_PKEY_RSA_PSS);  // id-RSASSA-PSS, not rsaEncryption
    EVP_PKEY_free(pub);
    EVP_PKEY_free(tok);
    // A key that may also do PKCS#1 v1.5 stays an ordinary RSA key.
    EVP_PKEY* rsa = load("pkcs11:token=ops;object=pkcs-sha256");
    ASSERT_NE(rsa, nullptr) << errors();
    EVP_PKEY* rsa_pub = plain_public(rsa);
    ASSERT_NE(rsa_pub, nullptr);
    EXPECT_EQ(EVP_PKEY_get_base_id(rsa_pub), EVP_PKEY_RSA);
    EVP_PKEY_free(rsa_pub);
    EVP_PKEY_free(rsa);
}

TEST_F(OperationsTest, CopyOfAStreamingTokenHashedSignatureFinishesAndTheOriginalRefuses) {
    EVP_PKEY* tok = load("pkcs11:token=ops;object=pss-only");
    ASSERT_NE(tok, nullptr) << errors();
    EVP_PKEY* pub = plain_public(tok);
    Bytes msg = random_bytes(size_t{2} << 20);  // past the one-C_Sign size: streams
    EVP_MD_CTX* m = EVP_MD_CTX_new();
    ASSERT_EQ(EVP_DigestSignInit_ex(m, nullptr, "SHA256", s_ctx, nullptr, tok, nullptr), 1);
    ASSERT_EQ(EVP_DigestSignUpdate(m, msg.data(), msg.size()), 1) << errors();
    EVP_MD_CTX* copy = EVP_MD_CTX_new();
    ASSERT_EQ(EVP_MD_CTX_copy_ex(copy, m), 1) << errors();  // dupctx cannot fail in 3.0
    Bytes sig(512);
    size_t len = sig.size();
    ASSERT_EQ(EVP_DigestSignFinal(copy, sig.data(), &len), 1) << errors();
    sig.resize(len);
    EXPECT_TRUE(verify_plain(s_plain, pub, "SHA256", msg, sig));
    len = 512;
    Bytes again(512);
    EXPECT_EQ(EVP_DigestSignFinal(m, again.data(), &len), 0);
    EXPECT_NE(errors().find("taken over by a copy"), std::string::npos);
    EVP_MD_CTX_free(copy);
    EVP_MD_CTX_free(m);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(tok);
}

TEST_F(OperationsTest, KeyAllowedOnlySha256RsaPkcsSignsSha256AndRefusesOthersNamingWhatItAllows) {
    EVP_PKEY* tok = load("pkcs11:token=ops;object=pkcs-sha256");
    ASSERT_NE(tok, nullptr) << errors();
    EVP_PKEY* pub = plain_public(tok);
    Bytes msg = random_bytes(300);
    Bytes sig = sign_streamed(s_ctx, tok, "SHA256", msg);
    ASSERT_FALSE(sig.empty()) << errors();
    EXPECT_TRUE(verify_plain(s_plain, pub, "SHA256", msg, sig));
    ERR_clear_error();
    EXPECT_TRUE(sign_streamed(s_ctx, tok, "SHA384", msg).empty());
    EXPECT_NE(errors().find("CKM_SHA256_RSA_PKCS"), std::string::npos);
    // EVP_PKEY_sign over a precomputed digest needs CKM_RSA_PKCS: refused with the reason.
    EVP_PKEY_CTX* p = EVP_PKEY_CTX_new_from_pkey(s_ctx, tok, nullptr);
    EXPECT_NE(EVP_PKEY_sign_init(p), 1);
    EXPECT_NE(errors().find("precomputed digest"), std::string::npos);
    EVP_PKEY_CTX_free(p);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(tok);
}

TEST_F(OperationsTest, EcKeyAllowedOnlyAHashedEcdsaTheTokenLacksFailsSayingSo) {
    // SoftHSM2 2.6.1 (Debian) does not offer CKM_ECDSA_SHA256 at all.
    EVP_PKEY* tok = load("pkcs11:token=ops;object=ecdsa-sha256");
    ASSERT_NE(tok, nullptr) << errors();
    EXPECT_TRUE(sign_streamed(s_ctx, tok, "SHA256", random_bytes(10)).empty());
    std::string e = errors();
    EXPECT_NE(e.find("does not offer CKM_ECDSA_SHA256"), std::string::npos) << e;
    EVP_PKEY_free(tok);
}

// EVP_PKEY_decrypt with RSA_PKCS1_WITH_TLS_PADDING as libssl calls it; 0 on failure.
int tls_decrypt(OSSL_LIB_CTX* ctx, EVP_PKEY* key, unsigned int client_version, const Bytes& in,
                Bytes& out) {
    EVP_PKEY_CTX* d = EVP_PKEY_CTX_new_from_pkey(ctx, key, nullptr);
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, &client_version),
        OSSL_PARAM_END};
    out.assign(48, 0);
    size_t len = out.size();
    int ok = d != nullptr && EVP_PKEY_decrypt_init(d) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(d, RSA_PKCS1_WITH_TLS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_params(d, p) == 1 &&
             EVP_PKEY_decrypt(d, out.data(), &len, in.data(), in.size()) == 1;
    if (ok) out.resize(len);
    EVP_PKEY_CTX_free(d);
    return ok;
}

// Both ways: CKM_RSA_X_509 with the padding checked on the host, and a key that allows only
// CKM_RSA_PKCS (the token checks the padding).
TEST_F(OperationsTest, RsaTlsPaddingGivesThePremasterOrRandomBytesNeverAnError) {
    for (const char* label : {"rsa", "rsa-pkcs1"}) {
        SCOPED_TRACE(label);
        EVP_PKEY* tok = load(std::string("pkcs11:token=ops;object=") + label);
        ASSERT_NE(tok, nullptr) << errors();
        EVP_PKEY* pub = plain_public(tok);
        // The client's side: 48 bytes starting with its version (TLS 1.2), PKCS#1 v1.5 encrypted.
        Bytes pms = random_bytes(48);
        pms[0] = 0x03;
        pms[1] = 0x03;
        EVP_PKEY_CTX* e = EVP_PKEY_CTX_new_from_pkey(s_plain, pub, nullptr);
        ASSERT_EQ(EVP_PKEY_encrypt_init(e), 1);
        ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(e, RSA_PKCS1_PADDING), 1);
        Bytes ct(256);
        size_t ct_len = ct.size();
        ASSERT_EQ(EVP_PKEY_encrypt(e, ct.data(), &ct_len, pms.data(), pms.size()), 1);
        ct.resize(ct_len);
        EVP_PKEY_CTX_free(e);

        Bytes out;
        ASSERT_EQ(tls_decrypt(s_ctx, tok, 0x0303, ct, out), 1) << errors();
        EXPECT_EQ(out, pms);
        // Another client version in the block: 48 random bytes, and success.
        Bytes wrong_version;
        ASSERT_EQ(tls_decrypt(s_ctx, tok, 0x0302, ct, wrong_version), 1) << errors();
        EXPECT_EQ(wrong_version.size(), 48u);
        EXPECT_NE(wrong_version, pms);
        // A damaged ciphertext: the same, fresh random bytes each time.
        Bytes bad = ct;
        bad[100] ^= 0x40;
        Bytes r1, r2;
        ASSERT_EQ(tls_decrypt(s_ctx, tok, 0x0303, bad, r1), 1) << errors();
        ASSERT_EQ(tls_decrypt(s_ctx, tok, 0x0303, bad, r2), 1) << errors();
        EXPECT_EQ(r1.size(), 48u);
        EXPECT_NE(r1, pms);
        EXPECT_NE(r1, r2);
        EXPECT_EQ(ERR_peek_error(), 0u) << errors();
        EVP_PKEY_free(pub);
        EVP_PKEY_free(tok);
    }
}

}  // namespace
