// SPDX-License-Identifier: Apache-2.0
// tokensign's pkcs11 store as a libcrypto program sees it: OSSL_STORE_find criteria (alias,
// subject, issuer and serial, fingerprint), unsupported criteria refused, and URIs that name no
// token resolved across two initialised tokens plus SoftHSM2's spare slot, with each PIN sent
// only to the token that holds the key.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/softhsm.hpp"

namespace {

using ts::test::run;
using ts::test::SoftHsm;

/// What a store search yielded, by type, and the keys it gave.
struct Found {
    int pkeys = 0;
    int pubkeys = 0;
    int certs = 0;
    std::vector<EVP_PKEY*> keys;  // PKEY and PUBKEY results, owned
    std::vector<X509*> x509s;
    std::string errors;
    bool opened = false;
    ~Found() {
        for (EVP_PKEY* k : keys) EVP_PKEY_free(k);
        for (X509* x : x509s) X509_free(x);
    }
    int total() const { return pkeys + pubkeys + certs; }
};

class StoreSearchTest : public ::testing::Test {
  protected:
    // Two initialised tokens with different PINs; SoftHSM2 adds its spare uninitialised slot.
    static void SetUpTestSuite() {
        s_hsm = new SoftHsm();
        s_hsm->add_token("sa", "1234");
        s_hsm->add_token("sb", "5678");
        setenv("TOKENSIGN_MODULE", s_hsm->module().c_str(), 1);
        unsetenv("TOKENSIGN_PIN");
        keygen("sa", "1234", "ka", "01");
        keygen("sa", "1234", "other", "03");
        keygen("sa", "1234", "shared", "05");
        keygen("sb", "5678", "kb", "02");
        keygen("sb", "5678", "shared", "06");

        s_ctx = OSSL_LIB_CTX_new();
        OSSL_PROVIDER_set_default_search_path(s_ctx, ts::test::provider_dir().c_str());
        s_tokensign = OSSL_PROVIDER_load(s_ctx, "tokensign");
        s_default = OSSL_PROVIDER_load(s_ctx, "default");
        store_ca_certificate();
    }

    static void TearDownTestSuite() {
        X509_free(s_ca);
        OSSL_PROVIDER_unload(s_default);
        OSSL_PROVIDER_unload(s_tokensign);
        OSSL_LIB_CTX_free(s_ctx);
        delete s_hsm;
    }

    void SetUp() override {
        ASSERT_NE(s_tokensign, nullptr) << "tokensign.so did not load";
        ASSERT_NE(s_ca, nullptr) << "the CA certificate was not made";
        ERR_clear_error();
        unsetenv("TOKENSIGN_PIN");
    }

    static void keygen(const std::string& token, const std::string& pin, const std::string& label,
                       const std::string& id) {
        auto r = run({"pkcs11-tool", "--module", s_hsm->module(), "--token-label", token, "--login",
                      "--pin", pin, "--keypairgen", "--key-type", "EC:prime256v1", "--label", label,
                      "--id", id});
        ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }

    // A self-signed certificate for ka (CN=sa-ca), made by stock openssl with the token key and
    // stored beside it, in other processes: this one logs in to no token before its test.
    static void store_ca_certificate() {
        std::string path = s_hsm->dir() + "/ca.pem";
        auto r = run({"openssl",        "req",
                      "-new",           "-x509",
                      "-provider-path", ts::test::provider_dir(),
                      "-provider",      "tokensign",
                      "-provider",      "default",
                      "-key",           "pkcs11:token=sa;object=ka;type=private",
                      "-subj",          "/CN=sa-ca",
                      "-set_serial",    "0x1234567",
                      "-days",          "1",
                      "-out",           path},
                     {{"TOKENSIGN_PIN", "1234"}});
        if (r.exit_code != 0) {
            ADD_FAILURE() << "openssl req failed: " << r.err;
            return;
        }
        r = run({ts::test::cli_path(), "cert", "import", path, "--key",
                 "pkcs11:token=sa;object=ka;type=private"},
                {{"TOKENSIGN_PIN", "1234"}});
        if (r.exit_code != 0) {
            ADD_FAILURE() << "cert import failed: " << r.err;
            return;
        }
        FILE* fp = std::fopen(path.c_str(), "r");
        s_ca = PEM_read_X509(fp, nullptr, nullptr, nullptr);
        std::fclose(fp);
    }

    static std::string errors() {
        std::string out;
        unsigned long e;
        const char* data = nullptr;
        int flags = 0;
        while ((e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
            char buf[256];
            ERR_error_string_n(e, buf, sizeof buf);
            out += buf;
            if ((flags & ERR_TXT_STRING) != 0 && data != nullptr) out += std::string(":") + data;
            out += "\n";
        }
        return out;
    }

    // Opens `uri` in tokensign's store, applies `criterion` (when given) and loads everything.
    static void search(const std::string& uri, const OSSL_STORE_SEARCH* criterion, Found& f,
                       int expect = 0, const OSSL_PARAM* params = nullptr) {
        OSSL_STORE_CTX* st = OSSL_STORE_open_ex(uri.c_str(), s_ctx, nullptr, nullptr, nullptr,
                                                params, nullptr, nullptr);
        if (st == nullptr) {
            f.errors = errors();
            return;
        }
        f.opened = true;
        if (expect != 0) OSSL_STORE_expect(st, expect);
        if (criterion != nullptr && OSSL_STORE_find(st, criterion) != 1) {
            f.errors = "OSSL_STORE_find failed: " + errors();
            OSSL_STORE_close(st);
            return;
        }
        while (!OSSL_STORE_eof(st)) {
            OSSL_STORE_INFO* info = OSSL_STORE_load(st);
            if (info == nullptr) break;
            switch (OSSL_STORE_INFO_get_type(info)) {
                case OSSL_STORE_INFO_PKEY:
                    ++f.pkeys;
                    f.keys.push_back(OSSL_STORE_INFO_get1_PKEY(info));
                    break;
                case OSSL_STORE_INFO_PUBKEY:
                    ++f.pubkeys;
                    f.keys.push_back(OSSL_STORE_INFO_get1_PUBKEY(info));
                    break;
                case OSSL_STORE_INFO_CERT:
                    ++f.certs;
                    f.x509s.push_back(OSSL_STORE_INFO_get1_CERT(info));
                    break;
                default:
                    break;
            }
            OSSL_STORE_INFO_free(info);
        }
        f.errors += errors();
        OSSL_STORE_close(st);
    }

    // The public key of the CA certificate (ka's).
    static EVP_PKEY* ca_key() { return X509_get0_pubkey(s_ca); }
    static bool all_keys_are_ka(const Found& f) {
        for (EVP_PKEY* k : f.keys)
            if (EVP_PKEY_eq(k, ca_key()) != 1) return false;
        return !f.keys.empty();
    }

    // "user PIN count low" in the token's flags: SoftHSM2 sets it after a rejected PIN.
    static bool pin_count_low(const std::string& label) {
        auto r = run({"pkcs11-tool", "--module", s_hsm->module(), "--list-token-slots"});
        auto pos = r.out.find("token label        : " + label + "\n");
        if (pos == std::string::npos) {
            ADD_FAILURE() << "token " << label << " not listed:\n" << r.out;
            return true;
        }
        auto flags = r.out.find("token flags", pos);
        auto eol = r.out.find('\n', flags);
        return r.out.substr(flags, eol - flags).find("user PIN count low") != std::string::npos;
    }

    static std::vector<unsigned char> digest(const EVP_MD* md,
                                             const std::vector<unsigned char>& d) {
        std::vector<unsigned char> out(EVP_MAX_MD_SIZE);
        unsigned int len = 0;
        EVP_Digest(d.data(), d.size(), out.data(), &len, md, nullptr);
        out.resize(len);
        return out;
    }

    static bool signs_and_verifies(EVP_PKEY* key) {
        const std::string data = "store search test";
        EVP_MD_CTX* md = EVP_MD_CTX_new();
        std::vector<unsigned char> sig(256);
        size_t len = sig.size();
        bool ok =
            EVP_DigestSignInit_ex(md, nullptr, "SHA256", s_ctx, nullptr, key, nullptr) == 1 &&
            EVP_DigestSign(md, sig.data(), &len,
                           reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
        EVP_MD_CTX_free(md);
        if (!ok) return false;
        sig.resize(len);
        // Verified with the public key re-read through the default provider only.
        unsigned char* der = nullptr;
        int n = i2d_PUBKEY(key, &der);
        OSSL_LIB_CTX* plain = OSSL_LIB_CTX_new();
        const unsigned char* p = der;
        EVP_PKEY* pub = d2i_PUBKEY_ex(nullptr, &p, n, plain, nullptr);
        OPENSSL_free(der);
        EVP_MD_CTX* v = EVP_MD_CTX_new();
        ok =
            pub != nullptr &&
            EVP_DigestVerifyInit_ex(v, nullptr, "SHA256", plain, nullptr, pub, nullptr) == 1 &&
            EVP_DigestVerify(v, sig.data(), sig.size(),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
        EVP_MD_CTX_free(v);
        EVP_PKEY_free(pub);
        OSSL_LIB_CTX_free(plain);
        return ok;
    }

    static inline SoftHsm* s_hsm = nullptr;
    static inline OSSL_LIB_CTX* s_ctx = nullptr;
    static inline OSSL_PROVIDER* s_tokensign = nullptr;
    static inline OSSL_PROVIDER* s_default = nullptr;
    static inline X509* s_ca = nullptr;
};

TEST_F(StoreSearchTest, TheStoreSupportsEverySearchOsslStoreDefines) {
    OSSL_STORE_CTX* st = OSSL_STORE_open_ex("pkcs11:token=sa", s_ctx, nullptr, nullptr, nullptr,
                                            nullptr, nullptr, nullptr);
    ASSERT_NE(st, nullptr) << errors();
    EXPECT_EQ(OSSL_STORE_supports_search(st, OSSL_STORE_SEARCH_BY_ALIAS), 1);
    EXPECT_EQ(OSSL_STORE_supports_search(st, OSSL_STORE_SEARCH_BY_NAME), 1);
    EXPECT_EQ(OSSL_STORE_supports_search(st, OSSL_STORE_SEARCH_BY_ISSUER_SERIAL), 1);
    EXPECT_EQ(OSSL_STORE_supports_search(st, OSSL_STORE_SEARCH_BY_KEY_FINGERPRINT), 1);
    OSSL_STORE_close(st);
}

TEST_F(StoreSearchTest, AnAliasSearchYieldsOnlyTheObjectsWithThatLabel) {
    setenv("TOKENSIGN_PIN", "1234", 1);
    OSSL_STORE_SEARCH* alias = OSSL_STORE_SEARCH_by_alias("ka");
    Found f;
    search("pkcs11:token=sa", alias, f);
    OSSL_STORE_SEARCH_free(alias);
    // ka's private key, public key and certificate; not 'other' or 'shared' (7 objects).
    EXPECT_EQ(f.pkeys, 1) << f.errors;
    EXPECT_EQ(f.pubkeys, 1) << f.errors;
    EXPECT_EQ(f.certs, 1) << f.errors;
    EXPECT_TRUE(all_keys_are_ka(f));

    // What a program that takes the first private key gets is the key it searched for.
    OSSL_STORE_SEARCH* other = OSSL_STORE_SEARCH_by_alias("other");
    Found g;
    search("pkcs11:token=sa", other, g, OSSL_STORE_INFO_PKEY);
    OSSL_STORE_SEARCH_free(other);
    ASSERT_EQ(g.pkeys, 1) << g.errors;
    EXPECT_NE(EVP_PKEY_eq(g.keys.front(), ca_key()), 1);
}

TEST_F(StoreSearchTest, ASubjectSearchFindsTheCertificateAndAnAbsentOneFindsNothing) {
    OSSL_STORE_SEARCH* by_name = OSSL_STORE_SEARCH_by_name(X509_get_subject_name(s_ca));
    Found f;
    search("pkcs11:", by_name, f);  // no token named: both tokens are searched
    OSSL_STORE_SEARCH_free(by_name);
    ASSERT_EQ(f.certs, 1) << f.errors;
    EXPECT_EQ(X509_cmp(f.x509s.front(), s_ca), 0);
    EXPECT_EQ(f.pkeys + f.pubkeys, 0) << "keys carry no subject here";

    X509_NAME* absent = X509_NAME_new();
    X509_NAME_add_entry_by_txt(absent, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("nobody"), -1, -1, 0);
    OSSL_STORE_SEARCH* none = OSSL_STORE_SEARCH_by_name(absent);
    Found g;
    search("pkcs11:token=sa", none, g);
    OSSL_STORE_SEARCH_free(none);
    X509_NAME_free(absent);
    EXPECT_EQ(g.total(), 0);
    EXPECT_TRUE(g.errors.empty()) << g.errors;
}

TEST_F(StoreSearchTest, AnIssuerAndSerialSearchFindsExactlyThatCertificate) {
    const ASN1_INTEGER* serial = X509_get0_serialNumber(s_ca);
    OSSL_STORE_SEARCH* by_is =
        OSSL_STORE_SEARCH_by_issuer_serial(X509_get_issuer_name(s_ca), serial);
    Found f;
    search("pkcs11:", by_is, f);
    OSSL_STORE_SEARCH_free(by_is);
    ASSERT_EQ(f.certs, 1) << f.errors;
    EXPECT_EQ(X509_cmp(f.x509s.front(), s_ca), 0);
    EXPECT_EQ(f.total(), 1);

    ASN1_INTEGER* wrong = ASN1_INTEGER_new();
    ASN1_INTEGER_set(wrong, 0x7654321);
    OSSL_STORE_SEARCH* other =
        OSSL_STORE_SEARCH_by_issuer_serial(X509_get_issuer_name(s_ca), wrong);
    Found g;
    search("pkcs11:token=sa", other, g);
    OSSL_STORE_SEARCH_free(other);
    ASN1_INTEGER_free(wrong);
    EXPECT_EQ(g.total(), 0) << g.errors;
}

TEST_F(StoreSearchTest, AFingerprintSearchFindsTheCertificateAndItsKeys) {
    setenv("TOKENSIGN_PIN", "1234", 1);
    unsigned char* der = nullptr;
    int n = i2d_X509(s_ca, &der);
    std::vector<unsigned char> cert_der(der, der + n);
    OPENSSL_free(der);
    std::vector<unsigned char> fp = digest(EVP_sha256(), cert_der);
    OSSL_STORE_SEARCH* by_fp =
        OSSL_STORE_SEARCH_by_key_fingerprint(EVP_sha256(), fp.data(), fp.size());
    Found f;
    search("pkcs11:token=sa", by_fp, f);
    OSSL_STORE_SEARCH_free(by_fp);
    EXPECT_EQ(f.certs, 1) << f.errors;
    EXPECT_EQ(f.pkeys, 1) << f.errors;
    EXPECT_EQ(f.pubkeys, 1) << f.errors;
    EXPECT_TRUE(all_keys_are_ka(f));

    // The public key's SubjectPublicKeyInfo fingerprint (SHA-1 by default in storeutl).
    der = nullptr;
    n = i2d_PUBKEY(ca_key(), &der);
    std::vector<unsigned char> spki(der, der + n);
    OPENSSL_free(der);
    std::vector<unsigned char> kfp = digest(EVP_sha1(), spki);
    OSSL_STORE_SEARCH* by_kfp =
        OSSL_STORE_SEARCH_by_key_fingerprint(EVP_sha1(), kfp.data(), kfp.size());
    Found g;
    search("pkcs11:token=sa", by_kfp, g, OSSL_STORE_INFO_PKEY);
    OSSL_STORE_SEARCH_free(by_kfp);
    ASSERT_EQ(g.pkeys, 1) << g.errors;
    EXPECT_TRUE(all_keys_are_ka(g));
}

TEST_F(StoreSearchTest, ASearchParameterTheStoreDoesNotKnowIsRefused) {
    char colour[] = "blue";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("colour", colour, 0), OSSL_PARAM_END};
    Found f;
    search("pkcs11:token=sa", nullptr, f, 0, params);
    // Refused at the first load (OpenSSL 3.0 crashes when a loader refuses it at open).
    EXPECT_EQ(f.total(), 0);
    EXPECT_NE(f.errors.find("colour"), std::string::npos) << f.errors;

    // An issuer without a serial number is half a criterion: refused, never ignored.
    unsigned char* der = nullptr;
    int n = i2d_X509_NAME(X509_get_issuer_name(s_ca), &der);
    OSSL_PARAM half[] = {
        OSSL_PARAM_construct_octet_string(OSSL_STORE_PARAM_ISSUER, der, static_cast<size_t>(n)),
        OSSL_PARAM_END};
    Found g;
    search("pkcs11:token=sa", nullptr, g, 0, half);
    OPENSSL_free(der);
    EXPECT_EQ(g.total(), 0);
    EXPECT_NE(g.errors.find("serial"), std::string::npos) << g.errors;
}

TEST_F(StoreSearchTest, AnAliasThatContradictsTheUriIsAnError) {
    OSSL_STORE_SEARCH* alias = OSSL_STORE_SEARCH_by_alias("other");
    Found f;
    search("pkcs11:token=sa;object=ka", alias, f);
    OSSL_STORE_SEARCH_free(alias);
    EXPECT_EQ(f.total(), 0);
    EXPECT_NE(f.errors.find("contradicts"), std::string::npos) << f.errors;
}

TEST_F(StoreSearchTest, AUriWithoutTokenFindsTheKeyOnTheTokenThatHoldsIt) {
    setenv("TOKENSIGN_PIN", "5678", 1);
    for (const char* uri : {"pkcs11:object=kb;type=private", "pkcs11:id=%02", "pkcs11:object=kb"}) {
        Found f;
        search(uri, nullptr, f, OSSL_STORE_INFO_PKEY);
        ASSERT_EQ(f.pkeys, 1) << uri << ": " << f.errors;
        EXPECT_TRUE(signs_and_verifies(f.keys.front())) << uri << ": " << errors();
    }
    EXPECT_FALSE(pin_count_low("sa")) << "sb's PIN was sent to sa";
}

TEST_F(StoreSearchTest, AUriWithoutTokenMatchingKeysOnTwoTokensListsBoth) {
    setenv("TOKENSIGN_PIN", "1234", 1);
    Found f;
    search("pkcs11:object=shared;type=private", nullptr, f, OSSL_STORE_INFO_PKEY);
    EXPECT_EQ(f.pkeys, 0);
    EXPECT_NE(f.errors.find("token=sa;id=%05;object=shared"), std::string::npos) << f.errors;
    EXPECT_NE(f.errors.find("token=sb;id=%06;object=shared"), std::string::npos) << f.errors;
    EXPECT_FALSE(pin_count_low("sb")) << "a PIN was sent to a token not singled out";
}

TEST_F(StoreSearchTest, APinGoesOnlyToTheTokenThatHoldsTheKey) {
    // TOKENSIGN_PIN is sa's PIN: kb on sb is refused by sb, and sa is not tried with it.
    setenv("TOKENSIGN_PIN", "1234", 1);
    Found ok;
    search("pkcs11:object=ka;type=private", nullptr, ok, OSSL_STORE_INFO_PKEY);
    ASSERT_EQ(ok.pkeys, 1) << ok.errors;
    EXPECT_TRUE(signs_and_verifies(ok.keys.front()));
    EXPECT_FALSE(pin_count_low("sb")) << "sa's PIN was sent to sb";

    Found wrong;
    search("pkcs11:object=kb;type=private", nullptr, wrong, OSSL_STORE_INFO_PKEY);
    EXPECT_EQ(wrong.pkeys, 0);
    EXPECT_NE(wrong.errors.find("CKR_PIN_INCORRECT"), std::string::npos) << wrong.errors;
    EXPECT_NE(wrong.errors.find("token 'sb'"), std::string::npos) << wrong.errors;
    EXPECT_TRUE(pin_count_low("sb"));
}

TEST_F(StoreSearchTest, ListingEveryTokenSendsNoPin) {
    setenv("TOKENSIGN_PIN", "1234", 1);  // right for sa, wrong for sb
    Found f;
    search("pkcs11:", nullptr, f);
    EXPECT_EQ(f.pubkeys, 5) << f.errors;  // ka, other, shared on sa; kb, shared on sb
    EXPECT_EQ(f.certs, 1) << f.errors;
    EXPECT_EQ(f.pkeys, 0) << "a private key listed means a PIN was sent";
    EXPECT_TRUE(f.errors.empty()) << f.errors;
    EXPECT_FALSE(pin_count_low("sa"));
    EXPECT_FALSE(pin_count_low("sb"));
}

// Key generation on the token through EVP (genpkey cannot pass a parameter the provider does
// not list; a program can).
class TokenKeygenTest : public StoreSearchTest {};

TEST_F(TokenKeygenTest, AGenerationParameterTheTokenCannotHonourIsRefusedNotDropped) {
    setenv("TOKENSIGN_PIN", "1234", 1);
    auto generate = [](const char* extra_key) -> std::string {
        EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_from_name(s_ctx, "EC", "?provider=tokensign");
        if (pctx == nullptr || EVP_PKEY_keygen_init(pctx) != 1) return "no keygen context";
        char group[] = "P-256";
        char uri[] = "pkcs11:token=sa;object=usage";
        char usage[] = "digitalSignature";
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
            OSSL_PARAM_construct_utf8_string("pkcs11_uri", uri, 0),
            OSSL_PARAM_construct_utf8_string(extra_key, usage, 0), OSSL_PARAM_END};
        EVP_PKEY* pkey = nullptr;
        std::string out;
        if (EVP_PKEY_CTX_set_params(pctx, params) == 1 && EVP_PKEY_generate(pctx, &pkey) == 1) {
            out = "generated";
        } else {
            out = errors();
        }
        EVP_PKEY_free(pkey);
        EVP_PKEY_CTX_free(pctx);
        return out;
    };
    std::string e = generate("pkcs11_key_usage");
    EXPECT_NE(e.find("'pkcs11_key_usage'"), std::string::npos) << e;
    // Nothing was created.
    auto r = run({"pkcs11-tool", "--module", s_hsm->module(), "--token-label", "sa", "-O"});
    EXPECT_EQ(r.out.find("usage"), std::string::npos) << r.out;
}

}  // namespace
