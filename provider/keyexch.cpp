// SPDX-License-Identifier: Apache-2.0
// KEYEXCH: ECDH with a token EC key (provider-keyexch(7)), CKM_ECDH1_DERIVE with CKD_NULL.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <cstring>
#include <memory>

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

int ecdh_init(void* vctx, void* provkey, const OSSL_PARAM[]) noexcept {
    auto* c = static_cast<EcdhCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        auto* k = static_cast<const Key*>(provkey);
        if (k == nullptr || !k->has_private() || !k->host) {
            throw std::invalid_argument("ECDH needs a private EC key on a token");
        }
        c->key = std::make_shared<const Key>(*k);
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

int ecdh_derive(void* vctx, unsigned char* secret, size_t* secretlen, size_t outlen) noexcept {
    auto* c = static_cast<EcdhCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (!c->key || !c->peer) throw std::invalid_argument("derive before init and set_peer");
        if (c->key->soft_private) {  // an in-memory key (see Key): the host derives
            OsslPtr<EVP_PKEY_CTX> d(
                EVP_PKEY_CTX_new_from_pkey(c->prov->host_ctx(), c->key->host.get(), nullptr));
            size_t len = secret == nullptr ? 0 : outlen;
            host_check(d && EVP_PKEY_derive_init(d.get()) == 1 &&
                           EVP_PKEY_derive_set_peer(d.get(), c->peer->host.get()) == 1 &&
                           EVP_PKEY_derive(d.get(), secret, &len) == 1,
                       "ECDH");
            *secretlen = len;
            return 1;
        }
        if (!c->peer->pub) throw std::invalid_argument("the peer key has no public point");
        // The shared secret is the x coordinate: as long as the field.
        std::size_t len = (c->key->pub->bits() + 7) / 8;
        if (secret == nullptr) {
            *secretlen = len;
            return 1;
        }
        if (outlen < len) throw std::invalid_argument("secret buffer too small");
        hsm::SecureBytes s = ts::prov::ecdh_derive(*c->key, c->peer->pub->point, len);
        std::memcpy(secret, s.data(), s.size());
        *secretlen = s.size();
        return 1;
    });
}

int ecdh_set_ctx_params(void*, const OSSL_PARAM[]) noexcept { return 1; }

const OSSL_PARAM* ecdh_settable_ctx_params(void*, void*) noexcept {
    static const OSSL_PARAM kSettable[] = {OSSL_PARAM_END};
    return kSettable;
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
    {0, nullptr}};

}  // namespace ts::prov
