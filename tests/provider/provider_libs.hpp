// SPDX-License-Identifier: Apache-2.0
// The two library contexts the provider tests use: one with tokensign.so (from this build) and
// the default provider, and the independent verifier with the default provider only.
#pragma once

#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include <string>

#include "tests/support/process.hpp"

namespace ts::test {

struct ProviderLibs {
    OSSL_LIB_CTX* ctx = nullptr;  // tokensign, then default
    OSSL_PROVIDER* tokensign = nullptr;
    OSSL_PROVIDER* default_provider = nullptr;
    OSSL_LIB_CTX* plain = nullptr;  // default only: what verifies our results
    OSSL_PROVIDER* plain_default = nullptr;

    void load() {
        ctx = OSSL_LIB_CTX_new();
        OSSL_PROVIDER_set_default_search_path(ctx, provider_dir().c_str());
        tokensign = OSSL_PROVIDER_load(ctx, "tokensign");
        default_provider = OSSL_PROVIDER_load(ctx, "default");
        plain = OSSL_LIB_CTX_new();
        plain_default = OSSL_PROVIDER_load(plain, "default");
    }
    void unload() {
        OSSL_PROVIDER_unload(plain_default);
        OSSL_LIB_CTX_free(plain);
        OSSL_PROVIDER_unload(default_provider);
        OSSL_PROVIDER_unload(tokensign);
        OSSL_LIB_CTX_free(ctx);
        *this = ProviderLibs{};
    }
};

/// The first key `uri` yields through OSSL_STORE in `ctx` (private, or with `expect` public),
/// or nullptr.
inline EVP_PKEY* store_load_key(OSSL_LIB_CTX* ctx, const std::string& uri, int expect) {
    OSSL_STORE_CTX* st =
        OSSL_STORE_open_ex(uri.c_str(), ctx, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    if (st == nullptr) return nullptr;
    OSSL_STORE_expect(st, expect);
    EVP_PKEY* pkey = nullptr;
    while (pkey == nullptr && !OSSL_STORE_eof(st)) {
        OSSL_STORE_INFO* info = OSSL_STORE_load(st);
        if (info == nullptr) break;
        if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY) {
            pkey = OSSL_STORE_INFO_get1_PKEY(info);
        } else if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PUBKEY) {
            pkey = OSSL_STORE_INFO_get1_PUBKEY(info);
        }
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(st);
    return pkey;
}

/// A key's public half as a key of `plain` (re-decoded from its SPKI), or nullptr.
inline EVP_PKEY* plain_public_key(EVP_PKEY* pkey, OSSL_LIB_CTX* plain) {
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(pkey, &der);
    if (len <= 0) return nullptr;
    const unsigned char* p = der;
    EVP_PKEY* out = d2i_PUBKEY_ex(nullptr, &p, len, plain, nullptr);
    OPENSSL_free(der);
    return out;
}

/// The OpenSSL error queue, drained: one line per error, with its data.
inline std::string drain_errors() {
    std::string out;
    unsigned long e;
    const char* data = nullptr;
    int flags = 0;
    while ((e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        out += buf;
        if ((flags & ERR_TXT_STRING) != 0 && data != nullptr) out += std::string(": ") + data;
        out += "\n";
    }
    return out;
}

}  // namespace ts::test
