// SPDX-License-Identifier: Apache-2.0
// KEYMGMT for RSA, RSA-PSS, EC, Ed25519 and Ed448 token keys (provider-keymgmt(7)). Public
// parameters are answered by the host copy of the public key; the private half stays on the
// token and is never exported.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hsm/error.hpp"
#include "hsm/keygen.hpp"
#include "hsm/resolve.hpp"
#include "provider/algorithms.hpp"
#include "provider/dispatch.hpp"
#include "provider/key.hpp"

namespace ts::prov {
namespace {

/// What differs between the keymgmt tables: the key type and its operation names.
struct Alg {
    const char* type;       // OpenSSL key type
    hsm::KeyKind kind;      // token key kind
    const char* signature;  // query_operation_name(OSSL_OP_SIGNATURE)
    const char* keyexch;    // ... (OSSL_OP_KEYEXCH), nullptr if none
};

constexpr Alg kRsa{"RSA", hsm::KeyKind::Rsa, "RSA", nullptr};
constexpr Alg kRsaPss{"RSA-PSS", hsm::KeyKind::Rsa, "RSA", nullptr};
constexpr Alg kEc{"EC", hsm::KeyKind::Ec, "ECDSA", "ECDH"};
constexpr Alg kEd25519{"ED25519", hsm::KeyKind::Ed25519, "ED25519", nullptr};
constexpr Alg kEd448{"ED448", hsm::KeyKind::Ed448, "ED448", nullptr};

template <const Alg& A>
void* km_new(void* provctx) noexcept {
    auto* prov = static_cast<ProvCtx*>(provctx);
    return TS_GUARD(prov, static_cast<void*>(nullptr), [&]() -> void* {
        auto k = std::make_unique<Key>();
        k->prov = prov;
        k->type = A.type;
        return k.release();
    });
}

void km_free(void* keydata) noexcept { delete static_cast<Key*>(keydata); }

template <const Alg& A>
void* km_load(const void* reference, size_t reference_sz) noexcept {
    // No provctx here: errors are raised through the referenced key's provider.
    if (reference == nullptr || reference_sz != kKeyReferenceSize) return nullptr;
    const Key* src = nullptr;
    std::memcpy(&src, reference, sizeof src);
    if (src == nullptr || src->prov == nullptr) return nullptr;
    return TS_GUARD(src->prov, static_cast<void*>(nullptr), [&]() -> void* {
        auto k = std::make_unique<Key>(*src);
        k->type = A.type;  // an RSA key loaded by the RSA-PSS keymgmt becomes RSA-PSS
        if (k->type != src->type) k->set_public(*src->pub);
        return k.release();
    });
}

void* km_dup(const void* keydata_from, int selection) noexcept {
    auto* src = static_cast<const Key*>(keydata_from);
    return TS_GUARD(src->prov, static_cast<void*>(nullptr), [&]() -> void* {
        auto k = std::make_unique<Key>(*src);
        if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) == 0 && k->ref) k->ref.reset();
        return k.release();
    });
}

int km_get_params(void* keydata, OSSL_PARAM params[]) noexcept {
    auto* k = static_cast<Key*>(keydata);
    return TS_GUARD(k->prov, 0, [&] {
        if (!k->host) return 0;
        // bits, security-bits, max-size, default digest, n, e, group, public point: the host
        // copy of the public key knows them all (and names EC curves).
        return EVP_PKEY_get_params(k->host.get(), params) == 1 ? 1 : 0;
    });
}

const OSSL_PARAM* km_gettable_params(void*) noexcept {
    static const OSSL_PARAM kGettable[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, nullptr),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, nullptr),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, nullptr),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, nullptr, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, nullptr, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, nullptr, 0),
        OSSL_PARAM_END};
    return kGettable;
}

// EVP_PKEY_set_params on our keys: in-memory keys only (libssl sets the peer's key share with
// OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY); a token key's parameters are the token's.
int km_set_params(void* keydata, const OSSL_PARAM params[]) noexcept {
    auto* k = static_cast<Key*>(keydata);
    return TS_GUARD(k->prov, 0, [&] {
        if (params == nullptr || params[0].key == nullptr) return 1;
        if (k->on_token() || !k->host) return 0;
        if (EVP_PKEY_set_params(k->host.get(), const_cast<OSSL_PARAM*>(params)) != 1) return 0;
        try {
            k->pub = hsm::from_evp_pkey(k->host.get());
        } catch (const hsm::Error&) {
            k->pub.reset();
        }
        return 1;
    });
}

const OSSL_PARAM* km_settable_params(void*) noexcept {
    static const OSSL_PARAM kSettable[] = {
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, nullptr, 0),
        OSSL_PARAM_END};
    return kSettable;
}

int km_has(const void* keydata, int selection) noexcept {
    auto* k = static_cast<const Key*>(keydata);
    if (k == nullptr || !k->host) return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 && !k->pub && !k->soft_private) return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && !k->has_private()) return 0;
    return 1;  // public key and (EC) domain parameters are always there
}

int km_match(const void* keydata1, const void* keydata2, int selection) noexcept {
    auto* a = static_cast<const Key*>(keydata1);
    auto* b = static_cast<const Key*>(keydata2);
    return TS_GUARD(a->prov, 0, [&] {
        if (!a->host || !b->host) return 0;
        if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0 &&
            (selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0) {
            return EVP_PKEY_parameters_eq(a->host.get(), b->host.get()) == 1 ? 1 : 0;
        }
        // A private half on the token matches the public key it was read with: comparing
        // public keys is what X509_check_private_key and `openssl ca` need.
        return EVP_PKEY_eq(a->host.get(), b->host.get()) == 1 ? 1 : 0;
    });
}

template <const Alg& A>
int km_import(void* keydata, int selection, const OSSL_PARAM params[]) noexcept {
    auto* k = static_cast<Key*>(keydata);
    return TS_GUARD(k->prov, 0, [&] {
        // Private material is never a token key: it becomes a soft key in the host context.
        bool priv = (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 &&
                    (OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PRIV_KEY) != nullptr ||
                     OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_D) != nullptr);
        bool pub = (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0;
        int what = priv ? EVP_PKEY_KEYPAIR : pub ? EVP_PKEY_PUBLIC_KEY : EVP_PKEY_KEY_PARAMETERS;
        OsslPtr<EVP_PKEY_CTX> pctx(
            EVP_PKEY_CTX_new_from_name(k->prov->host_ctx(), A.type, nullptr));
        EVP_PKEY* pkey = nullptr;
        if (!pctx || EVP_PKEY_fromdata_init(pctx.get()) != 1 ||
            EVP_PKEY_fromdata(pctx.get(), &pkey, what, const_cast<OSSL_PARAM*>(params)) != 1) {
            throw HostError(std::string("cannot import a ") + A.type + " key");
        }
        OsslPtr<EVP_PKEY> host(pkey);
        k->pub.reset();
        if (priv || pub) {
            try {
                k->pub = hsm::from_evp_pkey(host.get());
            } catch (const hsm::Error&) {
                // explicit curve parameters and the like: usable on the host, not a token key
            }
        }
        k->host = std::move(host);
        k->ref.reset();
        k->soft_private = priv;
        return 1;
    });
}

const OSSL_PARAM* rsa_key_types(int) noexcept {
    static const OSSL_PARAM kTypes[] = {OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, nullptr, 0),
                                        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, nullptr, 0),
                                        OSSL_PARAM_END};
    return kTypes;
}

const OSSL_PARAM* ec_key_types(int) noexcept {
    static const OSSL_PARAM kTypes[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0), OSSL_PARAM_END};
    return kTypes;
}

const OSSL_PARAM* ecx_key_types(int) noexcept {
    static const OSSL_PARAM kTypes[] = {
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0), OSSL_PARAM_END};
    return kTypes;
}

int km_export(void* keydata, int selection, OSSL_CALLBACK* param_cb, void* cbarg) noexcept {
    auto* k = static_cast<Key*>(keydata);
    return TS_GUARD(k->prov, 0, [&] {
        // The private key stays on the token. Refusing makes OpenSSL 3.0 use tokensign's own
        // signature/decryption for it instead of another provider's.
        if (k->on_token() && (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0) return 0;
        if (!k->host) return 0;
        return EVP_PKEY_export(k->host.get(), selection, param_cb, cbarg) == 1 ? 1 : 0;
    });
}

template <const Alg& A>
const char* km_query_operation_name(int operation_id) noexcept {
    switch (operation_id) {
        case OSSL_OP_SIGNATURE:
            return A.signature;
        case OSSL_OP_KEYEXCH:
            return A.keyexch;
        default:
            return A.type;
    }
}

// Key generation on the token: `openssl genpkey -provider tokensign -propquery
// '?provider=tokensign' -algorithm RSA -pkeyopt pkcs11_uri:pkcs11:token=t;object=label`.
struct GenCtx {
    ProvCtx* prov = nullptr;
    int selection = 0;
    std::string uri;
    std::size_t rsa_bits = 2048;
    std::string group;
    bool allow_existing_label = false;        // pkcs11_allow_existing_label
    std::vector<OsslPtr<OSSL_PARAM>> params;  // every set, replayed for a soft key
};

constexpr const char* kParamUri = "pkcs11_uri";
constexpr const char* kParamAllowExistingLabel = "pkcs11_allow_existing_label";

bool yes_no(const OSSL_PARAM* p, const char* name) {
    int i = 0;
    if (p->data_type == OSSL_PARAM_INTEGER && OSSL_PARAM_get_int(p, &i)) return i != 0;
    const char* s = nullptr;
    if (OSSL_PARAM_get_utf8_string_ptr(p, &s) && s != nullptr) {
        std::string v = s;
        if (v == "yes" || v == "1" || v == "true") return true;
        if (v == "no" || v == "0" || v == "false") return false;
    }
    throw hsm::UnsupportedError(std::string(name) + " takes yes or no");
}

// On the token only what tokensign sets in the C_GenerateKeyPair templates can be honoured.
// Any other generation parameter would be dropped without a word (a key-usage list, an
// exponent, explicit curve parameters): refuse it, naming it.
void check_token_gen_params(const GenCtx& g, const Alg& alg) {
    auto str = [](const OSSL_PARAM& p) -> std::string {
        const char* s = nullptr;
        return OSSL_PARAM_get_utf8_string_ptr(&p, &s) && s != nullptr ? s : "";
    };
    auto refuse = [&](const std::string& key, const std::string& why) {
        throw hsm::UnsupportedError("key generation on the token does not support the parameter '" +
                                    key + "'" + why);
    };
    for (const auto& set : g.params) {
        for (const OSSL_PARAM* p = set.get(); p != nullptr && p->key != nullptr; ++p) {
            const std::string key = p->key;
            if (key == kParamUri || key == kParamAllowExistingLabel ||
                key == OSSL_PKEY_PARAM_PROPERTIES) {
                continue;
            }
            if (alg.kind == hsm::KeyKind::Rsa && key == OSSL_PKEY_PARAM_RSA_BITS) continue;
            if (alg.kind == hsm::KeyKind::Rsa && key == OSSL_PKEY_PARAM_RSA_PRIMES) {
                std::size_t n = 0;
                if (OSSL_PARAM_get_size_t(p, &n) && n == 2) continue;
                refuse(key, " other than 2 (the token makes two-prime RSA keys)");
            }
            if (alg.kind == hsm::KeyKind::Rsa && key == OSSL_PKEY_PARAM_RSA_E) {
                BIGNUM* e = nullptr;
                bool f4 = OSSL_PARAM_get_BN(p, &e) && BN_is_word(e, RSA_F4);
                BN_free(e);
                if (f4) continue;
                refuse(key, " other than 65537 (tokensign generates RSA keys with e = 65537)");
            }
            if (alg.kind == hsm::KeyKind::Ec && key == OSSL_PKEY_PARAM_GROUP_NAME) continue;
            if (alg.kind == hsm::KeyKind::Ec && key == OSSL_PKEY_PARAM_EC_ENCODING) {
                if (str(*p) == OSSL_PKEY_EC_ENCODING_GROUP) continue;
                refuse(key, " other than named_curve");
            }
            if (alg.kind == hsm::KeyKind::Ec && key == OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT) {
                if (str(*p) == OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) continue;
                refuse(key, " other than uncompressed");
            }
            refuse(key, " (only " + std::string(kParamUri) + ", " + kParamAllowExistingLabel +
                            (alg.kind == hsm::KeyKind::Rsa  ? ", bits, primes=2, e=65537"
                             : alg.kind == hsm::KeyKind::Ec ? ", group"
                                                            : "") +
                            " apply to a key generated on the token)");
        }
    }
}

int km_gen_set_params(void* genctx, const OSSL_PARAM params[]) noexcept {
    auto* g = static_cast<GenCtx*>(genctx);
    return TS_GUARD(g->prov, 0, [&] {
        if (params == nullptr) return 1;
        OsslPtr<OSSL_PARAM> copy(OSSL_PARAM_dup(params));
        if (copy) g->params.push_back(std::move(copy));
        const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, kParamUri);
        const char* s = nullptr;
        if (p != nullptr) {
            if (!OSSL_PARAM_get_utf8_string_ptr(p, &s)) return 0;
            g->uri = s;
        }
        p = OSSL_PARAM_locate_const(params, kParamAllowExistingLabel);
        if (p != nullptr) g->allow_existing_label = yes_no(p, kParamAllowExistingLabel);
        p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_BITS);
        if (p != nullptr && !OSSL_PARAM_get_size_t(p, &g->rsa_bits)) return 0;
        p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME);
        if (p != nullptr) {
            if (!OSSL_PARAM_get_utf8_string_ptr(p, &s)) return 0;
            g->group = s;
        }
        return 1;
    });
}

template <const Alg& A>
void* km_gen_init(void* provctx, int selection, const OSSL_PARAM params[]) noexcept {
    auto* prov = static_cast<ProvCtx*>(provctx);
    return TS_GUARD(prov, static_cast<void*>(nullptr), [&]() -> void* {
        auto g = std::make_unique<GenCtx>();
        g->prov = prov;
        g->selection = selection;
        prov->check_config();
        if (params != nullptr && !km_gen_set_params(g.get(), params)) return nullptr;
        return g.release();
    });
}

// Our pkcs11_uri plus whatever the default provider's generator takes (so -pkeyopt works the
// same for soft keys), built once per key type.
template <const Alg& A>
const OSSL_PARAM* km_gen_settable_params(void*, void* provctx) noexcept {
    static std::vector<OSSL_PARAM> table;
    static std::once_flag once;
    auto* prov = static_cast<ProvCtx*>(provctx);
    std::call_once(once, [&] {
        table.push_back(OSSL_PARAM_utf8_string(kParamUri, nullptr, 0));
        table.push_back(OSSL_PARAM_utf8_string(kParamAllowExistingLabel, nullptr, 0));
        if (prov == nullptr) return;
        OSSL_LIB_CTX* host = nullptr;
        try {
            host = prov->host_ctx();
        } catch (...) {
            return;  // our own parameter only
        }
        EVP_KEYMGMT* km = EVP_KEYMGMT_fetch(host, A.type, nullptr);
        const OSSL_PARAM* p = km != nullptr ? EVP_KEYMGMT_gen_settable_params(km) : nullptr;
        for (; p != nullptr && p->key != nullptr; ++p) table.push_back(*p);
        EVP_KEYMGMT_free(km);  // the table's keys are static strings of the default provider
    });
    static std::once_flag once_end;
    std::call_once(once_end, [] { table.push_back(OSSL_PARAM_construct_end()); });
    return table.data();
}

// A soft key: generated in the host context exactly as the default provider would.
void* soft_gen(GenCtx& g, const char* type) {
    OsslPtr<EVP_PKEY_CTX> pctx(EVP_PKEY_CTX_new_from_name(g.prov->host_ctx(), type, nullptr));
    bool keypair = (g.selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0;
    host_check(pctx && (keypair ? EVP_PKEY_keygen_init(pctx.get())
                                : EVP_PKEY_paramgen_init(pctx.get())) == 1,
               "preparing key generation");
    for (auto& p : g.params) {
        host_check(EVP_PKEY_CTX_set_params(pctx.get(), p.get()) == 1, "key generation parameter");
    }
    EVP_PKEY* pkey = nullptr;
    host_check(
        (keypair ? EVP_PKEY_keygen(pctx.get(), &pkey) : EVP_PKEY_paramgen(pctx.get(), &pkey)) == 1,
        "generating a key");
    auto k = std::make_unique<Key>();
    k->prov = g.prov;
    k->type = type;
    k->host.reset(pkey);
    k->soft_private = keypair;
    if (keypair) {
        try {
            k->pub = hsm::from_evp_pkey(pkey);
        } catch (const hsm::Error&) {
        }
    }
    return k.release();
}

template <const Alg& A>
void* km_gen(void* genctx, OSSL_CALLBACK*, void*) noexcept {
    auto* g = static_cast<GenCtx*>(genctx);
    return TS_GUARD(g->prov, static_cast<void*>(nullptr), [&]() -> void* {
        // Without a pkcs11_uri this is an ordinary key in memory (see Key).
        if (g->uri.empty()) return soft_gen(*g, A.type);
        if ((g->selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0) {
            throw hsm::UnsupportedError("a pkcs11_uri names a key pair, not domain parameters");
        }
        hsm::Uri uri = hsm::parse_uri(g->uri);
        check_token_gen_params(*g, A);
        std::optional<std::string> label = uri.object();
        if (!label || label->empty()) {
            throw hsm::UriError("the pkcs11_uri for a new key needs object=LABEL: " +
                                uri.to_string());
        }
        hsm::KeySpec spec;
        switch (A.kind) {
            case hsm::KeyKind::Rsa:
                spec = hsm::KeySpec::parse("rsa:" + std::to_string(g->rsa_bits));
                break;
            case hsm::KeyKind::Ec:
                if (g->group.empty()) {
                    throw hsm::UnsupportedError(
                        "an EC key needs a curve: -pkeyopt ec_paramgen_curve:P-256");
                }
                spec = hsm::KeySpec::parse("ec:" + g->group);
                break;
            case hsm::KeyKind::Ed25519:
                spec = hsm::KeySpec::parse("ed25519");
                break;
            case hsm::KeyKind::Ed448:
                spec = hsm::KeySpec::parse("ed448");
                break;
        }
        // The token by its attributes only (the key does not exist yet): a URI that names no
        // token is fine when one initialised token matches, and ambiguous when several do.
        std::shared_ptr<hsm::Token> token = hsm::open_one_token(g->prov->cfg, uri);
        hsm::PinSources pins = hsm::pin_sources(g->prov->cfg, uri);
        pins.allow_prompt = false;
        token->login(pins);
        hsm::Session s = token->acquire();
        hsm::GeneratedKey gen =
            hsm::generate_key_pair(s, spec, *label, uri.id(), g->allow_existing_label);

        auto ref = std::make_shared<TokenRef>();
        ref->token = token;
        // The key's own URI (token, id, label, type=private), so the URI PEM names exactly it.
        ref->uri = hsm::parse_uri(hsm::object_uri(token->info().token_info, gen.private_key.id,
                                                  gen.private_key.label, CKO_PRIVATE_KEY));
        ref->object = gen.private_key;
        ref->handle.handle = gen.private_key.handle;
        ref->pins = std::move(pins);
        ref->allow_copy = g->prov->session_key_copy;
        auto k = std::make_unique<Key>();
        k->prov = g->prov;
        k->type = A.type;
        k->set_public(gen.public_params);
        k->ref = std::move(ref);
        return k.release();
    });
}

// EC/DH parameter templates (EVP_PKEY_CTX_set1_... from a parameters-only key): the group.
int km_gen_set_template(void* genctx, void* templ) noexcept {
    auto* g = static_cast<GenCtx*>(genctx);
    auto* t = static_cast<Key*>(templ);
    return TS_GUARD(g->prov, 0, [&] {
        if (t == nullptr || !t->host) return 0;
        char group[64] = {0};
        std::size_t len = 0;
        if (EVP_PKEY_get_utf8_string_param(t->host.get(), OSSL_PKEY_PARAM_GROUP_NAME, group,
                                           sizeof group, &len) == 1) {
            g->group = group;
            OSSL_PARAM p[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
                OSSL_PARAM_END};
            g->params.emplace_back(OSSL_PARAM_dup(p));
        }
        return 1;
    });
}

void km_gen_cleanup(void* genctx) noexcept { delete static_cast<GenCtx*>(genctx); }

#define TS_KEYMGMT_TABLE(name, A, types)                                                      \
    const OSSL_DISPATCH name[] = {                                                            \
        TS_DISPATCH(KEYMGMT_NEW, keymgmt_new, km_new<A>),                                     \
        TS_DISPATCH(KEYMGMT_FREE, keymgmt_free, km_free),                                     \
        TS_DISPATCH(KEYMGMT_LOAD, keymgmt_load, km_load<A>),                                  \
        TS_DISPATCH(KEYMGMT_DUP, keymgmt_dup, km_dup),                                        \
        TS_DISPATCH(KEYMGMT_GET_PARAMS, keymgmt_get_params, km_get_params),                   \
        TS_DISPATCH(KEYMGMT_GETTABLE_PARAMS, keymgmt_gettable_params, km_gettable_params),    \
        TS_DISPATCH(KEYMGMT_SET_PARAMS, keymgmt_set_params, km_set_params),                   \
        TS_DISPATCH(KEYMGMT_SETTABLE_PARAMS, keymgmt_settable_params, km_settable_params),    \
        TS_DISPATCH(KEYMGMT_HAS, keymgmt_has, km_has),                                        \
        TS_DISPATCH(KEYMGMT_MATCH, keymgmt_match, km_match),                                  \
        TS_DISPATCH(KEYMGMT_IMPORT, keymgmt_import, km_import<A>),                            \
        TS_DISPATCH(KEYMGMT_IMPORT_TYPES, keymgmt_import_types, types),                       \
        TS_DISPATCH(KEYMGMT_EXPORT, keymgmt_export, km_export),                               \
        TS_DISPATCH(KEYMGMT_EXPORT_TYPES, keymgmt_export_types, types),                       \
        TS_DISPATCH(KEYMGMT_QUERY_OPERATION_NAME, keymgmt_query_operation_name,               \
                    km_query_operation_name<A>),                                              \
        TS_DISPATCH(KEYMGMT_GEN_INIT, keymgmt_gen_init, km_gen_init<A>),                      \
        TS_DISPATCH(KEYMGMT_GEN_SET_PARAMS, keymgmt_gen_set_params, km_gen_set_params),       \
        TS_DISPATCH(KEYMGMT_GEN_SET_TEMPLATE, keymgmt_gen_set_template, km_gen_set_template), \
        TS_DISPATCH(KEYMGMT_GEN_SETTABLE_PARAMS, keymgmt_gen_settable_params,                 \
                    km_gen_settable_params<A>),                                               \
        TS_DISPATCH(KEYMGMT_GEN, keymgmt_gen, km_gen<A>),                                     \
        TS_DISPATCH(KEYMGMT_GEN_CLEANUP, keymgmt_gen_cleanup, km_gen_cleanup),                \
        {0, nullptr}}

}  // namespace

TS_KEYMGMT_TABLE(rsa_keymgmt_functions, kRsa, rsa_key_types);
TS_KEYMGMT_TABLE(rsa_pss_keymgmt_functions, kRsaPss, rsa_key_types);
TS_KEYMGMT_TABLE(ec_keymgmt_functions, kEc, ec_key_types);
TS_KEYMGMT_TABLE(ed25519_keymgmt_functions, kEd25519, ecx_key_types);
TS_KEYMGMT_TABLE(ed448_keymgmt_functions, kEd448, ecx_key_types);

}  // namespace ts::prov
