// SPDX-License-Identifier: Apache-2.0
// The two library contexts the provider tests use: one with tokensign.so (from this build) and
// the default provider, and the independent verifier with the default provider only.
#pragma once

#include <openssl/provider.h>

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

}  // namespace ts::test
