// SPDX-License-Identifier: Apache-2.0
// ASYM_CIPHER for token RSA keys (provider-asym_cipher(7)): decryption on the token
// (PKCS#1 v1.5, OAEP, raw), encryption on the host with the public key. A host mirror context
// parses the parameters (padding, OAEP digest, MGF1 digest, label) as the default provider does.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include <cstring>
#include <memory>
#include <string>

#include "hsm/pin.hpp"
#include "provider/algorithms.hpp"
#include "provider/dispatch.hpp"
#include "provider/key.hpp"
#include "provider/token_ops.hpp"

namespace ts::prov {
namespace {

struct CipherCtx {
    ProvCtx* prov = nullptr;
    std::shared_ptr<const Key> key;
    OsslPtr<EVP_PKEY_CTX> mirror;  // encrypt context on the host public key
};

void* rsa_ac_newctx(void* provctx) noexcept {
    auto* prov = static_cast<ProvCtx*>(provctx);
    return TS_GUARD(prov, static_cast<void*>(nullptr), [&]() -> void* {
        auto c = std::make_unique<CipherCtx>();
        c->prov = prov;
        return c.release();
    });
}

void rsa_ac_freectx(void* vctx) noexcept { delete static_cast<CipherCtx*>(vctx); }

void* rsa_ac_dupctx(void* vctx) noexcept {
    auto* src = static_cast<CipherCtx*>(vctx);
    return TS_GUARD(src->prov, static_cast<void*>(nullptr), [&]() -> void* {
        auto c = std::make_unique<CipherCtx>();
        c->prov = src->prov;
        c->key = src->key;
        if (src->mirror) {
            c->mirror.reset(EVP_PKEY_CTX_dup(src->mirror.get()));
            host_check(c->mirror != nullptr, "copying a cipher context");
        }
        return c.release();
    });
}

int init(CipherCtx& c, void* provkey, const OSSL_PARAM params[], bool decrypting) {
    auto* k = static_cast<const Key*>(provkey);
    if (k == nullptr || !k->host) throw std::invalid_argument("no key given for RSA");
    if (decrypting && !k->has_private()) {
        throw std::invalid_argument("this key has no private half on a token: it cannot decrypt");
    }
    c.key = std::make_shared<const Key>(*k);
    c.mirror.reset(EVP_PKEY_CTX_new_from_pkey(c.prov->host_ctx(), c.key->host.get(), nullptr));
    bool soft = decrypting && c.key->soft_private;  // an in-memory key decrypts on the host
    host_check(c.mirror && (soft ? EVP_PKEY_decrypt_init(c.mirror.get())
                                 : EVP_PKEY_encrypt_init(c.mirror.get())) == 1,
               "preparing the host RSA context");
    if (params != nullptr && params[0].key != nullptr) {
        host_check(EVP_PKEY_CTX_set_params(c.mirror.get(), params) == 1, "invalid RSA parameter");
    }
    return 1;
}

int rsa_ac_decrypt_init(void* vctx, void* provkey, const OSSL_PARAM params[]) noexcept {
    auto* c = static_cast<CipherCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] { return init(*c, provkey, params, true); });
}

int rsa_ac_encrypt_init(void* vctx, void* provkey, const OSSL_PARAM params[]) noexcept {
    auto* c = static_cast<CipherCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] { return init(*c, provkey, params, false); });
}

int rsa_ac_encrypt(void* vctx, unsigned char* out, size_t* outlen, size_t outsize,
                   const unsigned char* in, size_t inlen) noexcept {
    auto* c = static_cast<CipherCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (!c->mirror) throw std::invalid_argument("encrypt before encrypt_init");
        size_t len = outsize;
        if (out == nullptr) {
            return EVP_PKEY_encrypt(c->mirror.get(), nullptr, outlen, in, inlen) == 1 ? 1 : 0;
        }
        host_check(EVP_PKEY_encrypt(c->mirror.get(), out, &len, in, inlen) == 1, "RSA encryption");
        *outlen = len;
        return 1;
    });
}

// RSA_PKCS1_WITH_TLS_PADDING as the default provider (providers/implementations/asymciphers/
// rsa_enc.c): the client version must be set, the output holds 48 bytes, and what comes out is
// the pre-master secret or, for any bad padding or version, random bytes (rsa_decrypt_tls).
int tls_decrypt(CipherCtx& c, unsigned char* out, size_t* outlen, size_t outsize,
                const unsigned char* in, size_t inlen) {
    unsigned int client_version = 0, alt_version = 0;
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, &client_version),
        OSSL_PARAM_construct_uint(OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, &alt_version),
        OSSL_PARAM_END};
    host_check(EVP_PKEY_CTX_get_params(c.mirror.get(), p) == 1, "reading the TLS versions");
    if (client_version == 0) {
        throw std::invalid_argument(
            "RSA TLS padding needs the client version (tls-client-version)");
    }
    if (outsize < 48) throw std::invalid_argument("the pre-master secret needs 48 bytes");
    hsm::SecureBytes pms = rsa_decrypt_tls(*c.key, client_version, alt_version, {in, inlen});
    std::memcpy(out, pms.data(), pms.size());
    *outlen = pms.size();
    return 1;
}

int rsa_ac_decrypt(void* vctx, unsigned char* out, size_t* outlen, size_t outsize,
                   const unsigned char* in, size_t inlen) noexcept {
    auto* c = static_cast<CipherCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (!c->mirror || !c->key->has_private()) {
            throw std::invalid_argument("decrypt before decrypt_init");
        }
        if (c->key->soft_private) {
            size_t len = out == nullptr ? 0 : outsize;
            host_check(EVP_PKEY_decrypt(c->mirror.get(), out, &len, in, inlen) == 1,
                       "RSA decryption");
            *outlen = len;
            return 1;
        }
        // out == nullptr asks only for the size: at most the modulus length.
        if (out == nullptr) {
            *outlen = static_cast<size_t>(EVP_PKEY_get_size(c->key->host.get()));
            return 1;
        }
        int pad = RSA_PKCS1_PADDING;
        OSSL_PARAM pp[] = {OSSL_PARAM_construct_int(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, &pad),
                           OSSL_PARAM_END};
        host_check(EVP_PKEY_CTX_get_params(c->mirror.get(), pp) == 1, "reading RSA parameters");
        if (pad == RSA_PKCS1_WITH_TLS_PADDING)
            return tls_decrypt(*c, out, outlen, outsize, in, inlen);
        char oaep_md[64] = {0};
        char mgf1_md[64] = {0};
        void* label = nullptr;
        size_t label_len = 0;
        OSSL_PARAM p[] = {
            OSSL_PARAM_construct_int(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, &pad),
            OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, oaep_md,
                                             sizeof oaep_md),
            OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, mgf1_md,
                                             sizeof mgf1_md),
            OSSL_PARAM_construct_octet_ptr(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, &label, 0),
            OSSL_PARAM_END};
        host_check(EVP_PKEY_CTX_get_params(c->mirror.get(), p) == 1, "reading RSA parameters");
        if (OSSL_PARAM_modified(&p[3])) label_len = p[3].return_size;
        hsm::SecureBytes plain = rsa_decrypt(
            *c->key, pad, pad == RSA_PKCS1_OAEP_PADDING ? oaep_md : "", mgf1_md,
            {static_cast<const unsigned char*>(label), label == nullptr ? 0 : label_len},
            {in, inlen});
        if (plain.size() > outsize) throw std::invalid_argument("output buffer too small");
        if (!plain.empty()) std::memcpy(out, plain.data(), plain.size());
        *outlen = plain.size();
        return 1;
    });
}

int rsa_ac_get_ctx_params(void* vctx, OSSL_PARAM params[]) noexcept {
    auto* c = static_cast<CipherCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (!c->mirror) return 0;
        return EVP_PKEY_CTX_get_params(c->mirror.get(), params) == 1 ? 1 : 0;
    });
}

int rsa_ac_set_ctx_params(void* vctx, const OSSL_PARAM params[]) noexcept {
    auto* c = static_cast<CipherCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (params == nullptr || params[0].key == nullptr) return 1;
        if (!c->mirror) return 0;
        host_check(EVP_PKEY_CTX_set_params(c->mirror.get(), params) == 1, "invalid RSA parameter");
        return 1;
    });
}

const OSSL_PARAM* rsa_ac_gettable_ctx_params(void*, void*) noexcept {
    static const OSSL_PARAM kGettable[] = {
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, nullptr, 0),
        OSSL_PARAM_octet_ptr(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, nullptr, 0),
        OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, nullptr),
        OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, nullptr),
        OSSL_PARAM_END};
    return kGettable;
}

const OSSL_PARAM* rsa_ac_settable_ctx_params(void*, void*) noexcept {
    static const OSSL_PARAM kSettable[] = {
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST_PROPS, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST_PROPS, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, nullptr, 0),
        OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_CLIENT_VERSION, nullptr),
        OSSL_PARAM_uint(OSSL_ASYM_CIPHER_PARAM_TLS_NEGOTIATED_VERSION, nullptr),
        OSSL_PARAM_END};
    return kSettable;
}

}  // namespace

const OSSL_DISPATCH rsa_asym_cipher_functions[] = {
    TS_DISPATCH(ASYM_CIPHER_NEWCTX, asym_cipher_newctx, rsa_ac_newctx),
    TS_DISPATCH(ASYM_CIPHER_FREECTX, asym_cipher_freectx, rsa_ac_freectx),
    TS_DISPATCH(ASYM_CIPHER_DUPCTX, asym_cipher_dupctx, rsa_ac_dupctx),
    TS_DISPATCH(ASYM_CIPHER_ENCRYPT_INIT, asym_cipher_encrypt_init, rsa_ac_encrypt_init),
    TS_DISPATCH(ASYM_CIPHER_ENCRYPT, asym_cipher_encrypt, rsa_ac_encrypt),
    TS_DISPATCH(ASYM_CIPHER_DECRYPT_INIT, asym_cipher_decrypt_init, rsa_ac_decrypt_init),
    TS_DISPATCH(ASYM_CIPHER_DECRYPT, asym_cipher_decrypt, rsa_ac_decrypt),
    TS_DISPATCH(ASYM_CIPHER_GET_CTX_PARAMS, asym_cipher_get_ctx_params, rsa_ac_get_ctx_params),
    TS_DISPATCH(ASYM_CIPHER_GETTABLE_CTX_PARAMS, asym_cipher_gettable_ctx_params,
                rsa_ac_gettable_ctx_params),
    TS_DISPATCH(ASYM_CIPHER_SET_CTX_PARAMS, asym_cipher_set_ctx_params, rsa_ac_set_ctx_params),
    TS_DISPATCH(ASYM_CIPHER_SETTABLE_CTX_PARAMS, asym_cipher_settable_ctx_params,
                rsa_ac_settable_ctx_params),
    {0, nullptr}};

}  // namespace ts::prov
