// SPDX-License-Identifier: Apache-2.0
// KEYEXCH: ECDH with a token EC key (provider-keyexch(7)), CKM_ECDH1_DERIVE (or
// CKM_ECDH1_COFACTOR_DERIVE) with CKD_NULL. The parameters are those of OpenSSL's default ECDH:
// cofactor mode, and the ANSI X9.63 KDF (digest, output length, user keying material) applied
// on the host to the token's shared secret, as CMS (RFC 5753) and ECIES callers need.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "hsm/error.hpp"
#include "provider/algorithms.hpp"
#include "provider/dispatch.hpp"
#include "provider/key.hpp"
#include "provider/token_ops.hpp"

namespace ts::prov {
namespace {

struct EcdhCtx {
    ProvCtx* prov = nullptr;
    std::shared_ptr<const Key> key;
    std::shared_ptr<const Key> peer;
    // OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE: -1 the key's default (token keys: off), 0, 1.
    int cofactor_mode = -1;
    bool x963_kdf = false;  // OSSL_EXCHANGE_PARAM_KDF_TYPE "X963KDF" (else none)
    std::string kdf_md;
    std::string kdf_md_props;
    std::size_t kdf_outlen = 0;
    std::vector<unsigned char> kdf_ukm;
};

void* ecdh_newctx(void* provctx) noexcept {
    auto* prov = static_cast<ProvCtx*>(provctx);
    return TS_GUARD(prov, static_cast<void*>(nullptr), [&]() -> void* {
        auto c = std::make_unique<EcdhCtx>();
        c->prov = prov;
        return c.release();
    });
}

void ecdh_freectx(void* vctx) noexcept { delete static_cast<EcdhCtx*>(vctx); }

void* ecdh_dupctx(void* vctx) noexcept {
    auto* src = static_cast<EcdhCtx*>(vctx);
    return TS_GUARD(src->prov, static_cast<void*>(nullptr),
                    [&]() -> void* { return new EcdhCtx(*src); });
}

void set_params(EcdhCtx& c, const OSSL_PARAM params[]);

int ecdh_init(void* vctx, void* provkey, const OSSL_PARAM params[]) noexcept {
    auto* c = static_cast<EcdhCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        auto* k = static_cast<const Key*>(provkey);
        if (k == nullptr || !k->has_private() || !k->host) {
            throw std::invalid_argument("ECDH needs a private EC key on a token");
        }
        c->key = std::make_shared<const Key>(*k);
        // A new init starts from the defaults (the default provider's ecdh_init does too).
        c->cofactor_mode = -1;
        c->x963_kdf = false;
        c->kdf_md.clear();
        c->kdf_md_props.clear();
        c->kdf_outlen = 0;
        c->kdf_ukm.clear();
        set_params(*c, params);
        return 1;
    });
}

int ecdh_set_peer(void* vctx, void* provkey) noexcept {
    auto* c = static_cast<EcdhCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        auto* k = static_cast<const Key*>(provkey);
        if (k == nullptr || !k->host) throw std::invalid_argument("no peer key");
        if (c->key && c->key->on_token() && k->pub && k->pub->group != c->key->pub->group) {
            throw std::invalid_argument("the peer key is on curve " + k->pub->group +
                                        ", the token key on " + c->key->pub->group);
        }
        c->peer = std::make_shared<const Key>(*k);
        return 1;
    });
}

// The curve's cofactor (1 for the prime curves tokens offer).
bool cofactor_is_one(const Key& key) {
    BIGNUM* h = nullptr;
    if (EVP_PKEY_get_bn_param(key.host.get(), OSSL_PKEY_PARAM_EC_COFACTOR, &h) != 1) return true;
    OsslPtr<BIGNUM> owned(h);
    return BN_is_one(h) == 1;
}

// The plain ECDH secret: the x coordinate of the shared point, as long as the field.
hsm::SecureBytes plain_secret(const EcdhCtx& c) {
    if (!c.peer->pub) throw std::invalid_argument("the peer key has no public point");
    std::size_t len = (c.key->pub->bits() + 7) / 8;
    // SP 800-56A §5.7.1.2: with a cofactor of 1, cofactor ECDH is plain ECDH; otherwise the
    // token multiplies by the cofactor (CKM_ECDH1_COFACTOR_DERIVE).
    bool cofactor = c.cofactor_mode == 1 && !cofactor_is_one(*c.key);
    return ts::prov::ecdh_derive(*c.key, c.peer->pub->point, len, cofactor);
}

// ANSI X9.63 KDF (the default provider's ossl_ecdh_kdf_X9_63) in the host library context.
void x963_kdf(const EcdhCtx& c, const hsm::SecureBytes& z, unsigned char* out) {
    if (c.kdf_md.empty()) throw std::invalid_argument("the X9.63 KDF needs a digest (kdf-digest)");
    if (c.kdf_outlen == 0) {
        throw std::invalid_argument("the X9.63 KDF needs an output length (kdf-outlen)");
    }
    OsslPtr<EVP_KDF> kdf(EVP_KDF_fetch(c.prov->host_ctx(), OSSL_KDF_NAME_X963KDF, nullptr));
    OsslPtr<EVP_KDF_CTX> kctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
    std::string md = c.kdf_md;
    std::string props = c.kdf_md_props;
    std::vector<OSSL_PARAM> p;
    p.push_back(OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, md.data(), 0));
    if (!props.empty()) {
        p.push_back(OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_PROPERTIES, props.data(), 0));
    }
    p.push_back(OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                  const_cast<unsigned char*>(z.data()), z.size()));
    if (!c.kdf_ukm.empty()) {
        p.push_back(OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_INFO, const_cast<unsigned char*>(c.kdf_ukm.data()), c.kdf_ukm.size()));
    }
    p.push_back(OSSL_PARAM_construct_end());
    host_check(kctx && EVP_KDF_derive(kctx.get(), out, c.kdf_outlen, p.data()) == 1,
               "the X9.63 KDF");
}

int ecdh_derive(void* vctx, unsigned char* secret, size_t* secretlen, size_t outlen) noexcept {
    auto* c = static_cast<EcdhCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (!c->key || !c->peer) throw std::invalid_argument("derive before init and set_peer");
        if (c->key->soft_private) {  // an in-memory key (see Key): the host derives
            OsslPtr<EVP_PKEY_CTX> d(
                EVP_PKEY_CTX_new_from_pkey(c->prov->host_ctx(), c->key->host.get(), nullptr));
            size_t len = secret == nullptr ? 0 : outlen;
            host_check(d && EVP_PKEY_derive_init(d.get()) == 1 &&
                           EVP_PKEY_derive_set_peer(d.get(), c->peer->host.get()) == 1,
                       "ECDH");
            OSSL_PARAM p[8];
            std::size_t n = 0;
            std::string md = c->kdf_md, props = c->kdf_md_props;
            char x963[] = OSSL_KDF_NAME_X963KDF;
            p[n++] = OSSL_PARAM_construct_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE,
                                              &c->cofactor_mode);
            if (c->x963_kdf) {
                p[n++] = OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, x963, 0);
                p[n++] =
                    OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, md.data(), 0);
                if (!props.empty()) {
                    p[n++] = OSSL_PARAM_construct_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST_PROPS,
                                                              props.data(), 0);
                }
                p[n++] =
                    OSSL_PARAM_construct_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, &c->kdf_outlen);
                if (!c->kdf_ukm.empty()) {
                    p[n++] = OSSL_PARAM_construct_octet_string(
                        OSSL_EXCHANGE_PARAM_KDF_UKM, c->kdf_ukm.data(), c->kdf_ukm.size());
                }
            }
            p[n] = OSSL_PARAM_construct_end();
            host_check(EVP_PKEY_CTX_set_params(d.get(), p) == 1 &&
                           EVP_PKEY_derive(d.get(), secret, &len) == 1,
                       "ECDH");
            *secretlen = len;
            return 1;
        }
        if (c->x963_kdf) {
            // provider-keyexch(7) and the default provider: the KDF's output length is the
            // secret's length, and a smaller buffer is an error.
            if (secret == nullptr) {
                *secretlen = c->kdf_outlen;
                return 1;
            }
            if (outlen < c->kdf_outlen) {
                throw std::invalid_argument("the buffer for the derived key is too small (" +
                                            std::to_string(outlen) + " bytes, the KDF makes " +
                                            std::to_string(c->kdf_outlen) + ")");
            }
            x963_kdf(*c, plain_secret(*c), secret);
            *secretlen = c->kdf_outlen;
            return 1;
        }
        std::size_t len = (c->key->pub->bits() + 7) / 8;
        if (secret == nullptr) {
            *secretlen = len;
            return 1;
        }
        // A shorter buffer gets the secret's leading bytes: the default provider truncates
        // (ECDH_compute_key copies min(outlen, field size) bytes).
        hsm::SecureBytes s = plain_secret(*c);
        std::size_t n = std::min(outlen, s.size());
        std::memcpy(secret, s.data(), n);
        *secretlen = n;
        return 1;
    });
}

// The default provider's ECDH parameters (providers/implementations/exchange/ecdh_exch.c):
// unknown KDF types and out-of-range cofactor modes are refused when set, not when deriving.
void set_params(EcdhCtx& c, const OSSL_PARAM params[]) {
    if (params == nullptr) return;
    const OSSL_PARAM* p =
        OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE);
    if (p != nullptr) {
        int mode = 0;
        if (!OSSL_PARAM_get_int(p, &mode) || mode < -1 || mode > 1) {
            throw std::invalid_argument("ECDH cofactor mode must be -1, 0 or 1");
        }
        c.cofactor_mode = mode;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_TYPE);
    if (p != nullptr) {
        const char* type = nullptr;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &type)) {
            throw std::invalid_argument("the ECDH KDF type must be a string");
        }
        if (*type == '\0') {
            c.x963_kdf = false;
        } else if (OPENSSL_strcasecmp(type, OSSL_KDF_NAME_X963KDF) == 0) {
            c.x963_kdf = true;
        } else {
            throw hsm::UnsupportedError(std::string("ECDH KDF type '") + type +
                                        "' is not supported (X963KDF or none)");
        }
    }
    const OSSL_PARAM* props = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_DIGEST_PROPS);
    p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_DIGEST);
    if (p != nullptr) {
        const char* md = nullptr;
        const char* mdprops = nullptr;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &md) ||
            (props != nullptr && !OSSL_PARAM_get_utf8_string_ptr(props, &mdprops))) {
            throw std::invalid_argument("the ECDH KDF digest must be a string");
        }
        OsslPtr<EVP_MD> evp_md(EVP_MD_fetch(c.prov->host_ctx(), md, mdprops));
        if (!evp_md) throw hsm::UnsupportedError(std::string("unknown KDF digest '") + md + "'");
        if ((EVP_MD_get_flags(evp_md.get()) & EVP_MD_FLAG_XOF) != 0) {
            throw hsm::UnsupportedError("the X9.63 KDF takes no XOF digest");
        }
        c.kdf_md = md;
        c.kdf_md_props = mdprops != nullptr ? mdprops : "";
    }
    p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_OUTLEN);
    if (p != nullptr && !OSSL_PARAM_get_size_t(p, &c.kdf_outlen)) {
        throw std::invalid_argument("the ECDH KDF output length must be a size");
    }
    p = OSSL_PARAM_locate_const(params, OSSL_EXCHANGE_PARAM_KDF_UKM);
    if (p != nullptr) {
        void* ukm = nullptr;
        std::size_t len = 0;
        if (!OSSL_PARAM_get_octet_string(p, &ukm, 0, &len)) {
            throw std::invalid_argument("the ECDH KDF UKM must be an octet string");
        }
        c.kdf_ukm.assign(static_cast<unsigned char*>(ukm), static_cast<unsigned char*>(ukm) + len);
        OPENSSL_free(ukm);
    }
}

int ecdh_set_ctx_params(void* vctx, const OSSL_PARAM params[]) noexcept {
    auto* c = static_cast<EcdhCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        set_params(*c, params);
        return 1;
    });
}

const OSSL_PARAM* ecdh_settable_ctx_params(void*, void*) noexcept {
    static const OSSL_PARAM kSettable[] = {
        OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, nullptr),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST_PROPS, nullptr, 0),
        OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, nullptr),
        OSSL_PARAM_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM, nullptr, 0),
        OSSL_PARAM_END};
    return kSettable;
}

int ecdh_get_ctx_params(void* vctx, OSSL_PARAM params[]) noexcept {
    auto* c = static_cast<EcdhCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE);
        if (p != nullptr) {
            int mode = c->cofactor_mode == -1 ? 0 : c->cofactor_mode;  // token keys: no flag
            if (!OSSL_PARAM_set_int(p, mode)) return 0;
        }
        p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_TYPE);
        if (p != nullptr &&
            !OSSL_PARAM_set_utf8_string(p, c->x963_kdf ? OSSL_KDF_NAME_X963KDF : "")) {
            return 0;
        }
        p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_DIGEST);
        if (p != nullptr && !OSSL_PARAM_set_utf8_string(p, c->kdf_md.c_str())) return 0;
        p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_OUTLEN);
        if (p != nullptr && !OSSL_PARAM_set_size_t(p, c->kdf_outlen)) return 0;
        p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_UKM);
        if (p != nullptr &&
            !OSSL_PARAM_set_octet_ptr(p, c->kdf_ukm.empty() ? nullptr : c->kdf_ukm.data(),
                                      c->kdf_ukm.size())) {
            return 0;
        }
        return 1;
    });
}

const OSSL_PARAM* ecdh_gettable_ctx_params(void*, void*) noexcept {
    static const OSSL_PARAM kGettable[] = {
        OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, nullptr),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, nullptr, 0),
        OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, nullptr),
        OSSL_PARAM_octet_ptr(OSSL_EXCHANGE_PARAM_KDF_UKM, nullptr, 0),
        OSSL_PARAM_END};
    return kGettable;
}

}  // namespace

const OSSL_DISPATCH ecdh_keyexch_functions[] = {
    TS_DISPATCH(KEYEXCH_NEWCTX, keyexch_newctx, ecdh_newctx),
    TS_DISPATCH(KEYEXCH_FREECTX, keyexch_freectx, ecdh_freectx),
    TS_DISPATCH(KEYEXCH_DUPCTX, keyexch_dupctx, ecdh_dupctx),
    TS_DISPATCH(KEYEXCH_INIT, keyexch_init, ecdh_init),
    TS_DISPATCH(KEYEXCH_SET_PEER, keyexch_set_peer, ecdh_set_peer),
    TS_DISPATCH(KEYEXCH_DERIVE, keyexch_derive, ecdh_derive),
    TS_DISPATCH(KEYEXCH_SET_CTX_PARAMS, keyexch_set_ctx_params, ecdh_set_ctx_params),
    TS_DISPATCH(KEYEXCH_SETTABLE_CTX_PARAMS, keyexch_settable_ctx_params, ecdh_settable_ctx_params),
    TS_DISPATCH(KEYEXCH_GET_CTX_PARAMS, keyexch_get_ctx_params, ecdh_get_ctx_params),
    TS_DISPATCH(KEYEXCH_GETTABLE_CTX_PARAMS, keyexch_gettable_ctx_params, ecdh_gettable_ctx_params),
    {0, nullptr}};

}  // namespace ts::prov
