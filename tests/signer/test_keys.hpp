// SPDX-License-Identifier: Apache-2.0
// Keys generated in memory for the signer's unit tests.
#pragma once

#include <openssl/evp.h>

#include "hsm/ossl.hpp"

namespace ts::signer {

/// A new key of OpenSSL type `alg` ("RSA", "EC", "ED25519", …), with one keygen option set when
/// `param` is given ("rsa_keygen_bits" "2048", "ec_paramgen_curve" "P-256"). Null on failure.
inline OsslPtr<EVP_PKEY> generate_key(const char* alg, const char* param = nullptr,
                                      const char* value = nullptr) {
    OsslPtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, alg, nullptr));
    EVP_PKEY* k = nullptr;
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) return nullptr;
    if (param != nullptr && EVP_PKEY_CTX_ctrl_str(ctx.get(), param, value) != 1) return nullptr;
    if (EVP_PKEY_generate(ctx.get(), &k) != 1) return nullptr;
    return OsslPtr<EVP_PKEY>(k);
}

}  // namespace ts::signer
