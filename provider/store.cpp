// SPDX-License-Identifier: Apache-2.0
// STORE for the pkcs11 scheme (provider-storemgmt(7)): private keys by reference, public keys
// and certificates as DER for OpenSSL's own decoders. Public objects never need a PIN.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/params.h>
#include <openssl/store.h>

#include <memory>
#include <string>
#include <vector>

#include "hsm/attributes.hpp"
#include "hsm/cert.hpp"
#include "hsm/error.hpp"
#include "hsm/object.hpp"
#include "hsm/provider_extra.hpp"
#include "hsm/pubkey.hpp"
#include "hsm/resolve.hpp"
#include "provider/algorithms.hpp"
#include "provider/dispatch.hpp"
#include "provider/key.hpp"
#include "provider/uri_pem.hpp"

namespace ts::prov {
namespace {

/// One object the URI matched, ready for the object callback.
struct Item {
    int object_type = OSSL_OBJECT_UNKNOWN;
    std::string data_type;  // "RSA", "EC", "ED25519", "CERTIFICATE"
    std::string structure;  // "SubjectPublicKeyInfo" for public keys
    std::vector<unsigned char> der;
    std::unique_ptr<Key> key;  // private keys: passed by reference to our keymgmt's load
    std::string desc;
};

struct StoreCtx {
    ProvCtx* prov = nullptr;
    hsm::Uri uri;
    int expect = 0;  // OSSL_STORE_INFO_* the caller wants; 0: anything
    bool searched = false;
    bool failed = false;
    std::vector<Item> items;
    std::size_t next = 0;
};

// Token objects only: a session object (such as tokensign's own session copy of a key it has
// used) is not what a URI names.
std::vector<hsm::ObjectInfo> find_token_objects(hsm::Session& s, const hsm::ObjectQuery& q) {
    std::vector<hsm::ObjectInfo> out;
    for (hsm::ObjectInfo& o : hsm::find_objects(s, q)) {
        if (hsm::is_token_object(s, o.handle)) out.push_back(std::move(o));
    }
    return out;
}

// Exactly one: none or several is a SelectionError that names the candidates.
hsm::ObjectInfo find_one_token_object(hsm::Session& s, const hsm::ObjectQuery& q,
                                      const hsm::Uri& uri) {
    std::vector<hsm::ObjectInfo> found = find_token_objects(s, q);
    if (found.size() == 1) return std::move(found.front());
    std::string what = q.cls ? hsm::class_name(*q.cls) : std::string("object");
    if (found.empty()) {
        throw hsm::SelectionError("no " + what + " matches " + uri.to_string() + " on " +
                                  s.token().what());
    }
    std::string list;
    for (const hsm::ObjectInfo& o : found) list += "\n  " + o.describe();
    throw hsm::SelectionError(std::to_string(found.size()) + " objects match " + uri.to_string() +
                              " on " + s.token().what() +
                              "; name one with id= (and type=) in the URI:" + list);
}

bool pin_available(const hsm::PinSources& p) {
    if (p.pin_value || !p.uri_pin_source.empty() || !p.option_pin_source.empty()) return true;
    const char* env = p.use_env ? std::getenv("TOKENSIGN_PIN") : nullptr;
    return env != nullptr && *env != '\0';
}

/// The PIN sources for private-key work; when nothing else gives a PIN and the caller passed a
/// passphrase callback (openssl's prompt), asks it once and keeps the answer for this key.
hsm::PinSources private_key_pins(ProvCtx* prov, const hsm::Uri& uri, hsm::Token& token,
                                 OSSL_PASSPHRASE_CALLBACK* pw_cb, void* pw_cbarg) {
    hsm::PinSources pins = hsm::pin_sources(prov->cfg, uri);
    pins.allow_prompt = false;
    bool needs_login = (token.info().token_info.flags & CKF_LOGIN_REQUIRED) != 0 &&
                       (token.info().token_info.flags & CKF_PROTECTED_AUTHENTICATION_PATH) == 0;
    if (!needs_login || token.logged_in() || pin_available(pins) || pw_cb == nullptr) return pins;
    std::string info = "PIN for " + token.what();
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PASSPHRASE_PARAM_INFO, info.data(), 0),
        OSSL_PARAM_END};
    hsm::SecureBytes buf(256);
    std::size_t len = 0;
    if (!pw_cb(reinterpret_cast<char*>(buf.data()), buf.size(), &len, params, pw_cbarg)) {
        throw hsm::PinError("no PIN given for " + token.what());
    }
    buf.resize(std::min(len, buf.size()));
    pins.pin_value = std::make_shared<const hsm::Pin>(std::move(buf));
    return pins;
}

std::unique_ptr<Key> private_key(ProvCtx* prov, const hsm::Uri& uri,
                                 const std::shared_ptr<hsm::Token>& token, hsm::Session& s,
                                 const hsm::ObjectInfo& obj, const hsm::PinSources& pins) {
    auto ref = std::make_shared<TokenRef>();
    ref->token = token;
    ref->uri = uri;
    ref->object = obj;
    ref->handle.handle = obj.handle;
    ref->handle.always_authenticate =
        hsm::get_bool(s, obj.handle, CKA_ALWAYS_AUTHENTICATE).value_or(false);
    ref->pins = pins;
    ref->allow_copy = prov->session_key_copy;
    ref->allowed = hsm::get_allowed_mechanisms(s, obj.handle);
    auto key = std::make_unique<Key>();
    key->prov = prov;
    hsm::PublicKey pub = hsm::read_public_key(s, obj.handle);
    key->type = key_type_of(pub.kind, ref->allowed);
    key->set_public(std::move(pub));
    key->ref = std::move(ref);
    return key;
}

Item private_item(ProvCtx* prov, const hsm::Uri& uri, const std::shared_ptr<hsm::Token>& token,
                  hsm::Session& s, const hsm::ObjectInfo& obj, const hsm::PinSources& pins) {
    Item it;
    it.key = private_key(prov, uri, token, s, obj, pins);
    it.object_type = OSSL_OBJECT_PKEY;
    it.data_type = it.key->type;
    it.desc = obj.describe();
    return it;
}

Item public_item(ProvCtx* prov, hsm::Session& s, const hsm::ObjectInfo& obj) {
    hsm::PublicKey pub = hsm::read_public_key(s, obj.handle);
    Item it;
    it.object_type = OSSL_OBJECT_PKEY;
    it.data_type = key_type_of(pub.kind, hsm::get_allowed_mechanisms(s, obj.handle));
    it.structure = "SubjectPublicKeyInfo";
    it.der = spki_der(host_pkey(prov, pub, it.data_type).get());
    it.desc = obj.describe();
    return it;
}

void search(StoreCtx& c, OSSL_PASSPHRASE_CALLBACK* pw_cb, void* pw_cbarg) {
    std::shared_ptr<hsm::Token> token = hsm::open_token(c.prov->cfg, c.uri);
    hsm::ObjectQuery q = hsm::ObjectQuery::from_uri(c.uri);
    std::optional<CK_OBJECT_CLASS> type = c.uri.type();

    bool want_private, want_public, want_cert;
    if (type) {
        want_private = *type == CKO_PRIVATE_KEY;
        want_public = *type == CKO_PUBLIC_KEY;
        want_cert = *type == CKO_CERTIFICATE;
    } else {
        want_private = c.expect == 0 || c.expect == OSSL_STORE_INFO_PKEY;
        want_public = c.expect == 0 || c.expect == OSSL_STORE_INFO_PUBKEY;
        want_cert = c.expect == 0 || c.expect == OSSL_STORE_INFO_CERT;
    }
    if (want_private && (c.expect == OSSL_STORE_INFO_PUBKEY || c.expect == OSSL_STORE_INFO_CERT)) {
        want_private = false;  // the caller does not want it: no PIN for a public object
    }

    if (c.prov->login == LoginBehaviour::Always) {
        token->login(private_key_pins(c.prov, c.uri, *token, pw_cb, pw_cbarg));
    }
    hsm::Session s = token->acquire();
    if (want_private) {
        // Listing everything (storeutl without a PIN) shows the public objects only; a caller
        // that asked for a private key gets the login (private objects are hidden before it).
        bool must = c.expect == OSSL_STORE_INFO_PKEY || (type && *type == CKO_PRIVATE_KEY);
        hsm::PinSources pins =
            private_key_pins(c.prov, c.uri, *token, must ? pw_cb : nullptr, pw_cbarg);
        if (c.prov->login != LoginBehaviour::Never &&
            (must || pin_available(pins) || token->logged_in())) {
            token->login(pins);
            hsm::ObjectQuery pq = q;
            pq.cls = CKO_PRIVATE_KEY;
            if (must) {
                // One key or an error naming the candidates: OpenSSL would silently take the
                // first of several.
                hsm::ObjectInfo obj = find_one_token_object(s, pq, c.uri);
                c.items.push_back(private_item(c.prov, c.uri, token, s, obj, pins));
            } else {
                for (const hsm::ObjectInfo& obj : find_token_objects(s, pq)) {
                    c.items.push_back(private_item(c.prov, c.uri, token, s, obj, pins));
                }
            }
        }
    }
    if (want_public) {
        hsm::ObjectQuery pq = q;
        pq.cls = CKO_PUBLIC_KEY;
        std::vector<hsm::ObjectInfo> found = find_token_objects(s, pq);
        if (c.expect == OSSL_STORE_INFO_PUBKEY && found.size() > 1) {
            (void)find_one_token_object(s, pq, c.uri);  // throws SelectionError listing them
        }
        for (const hsm::ObjectInfo& obj : found) c.items.push_back(public_item(c.prov, s, obj));
    }
    if (want_cert) {
        for (hsm::CertificateObject& cert : hsm::read_certificates(s, q)) {
            Item it;
            it.object_type = OSSL_OBJECT_CERT;
            it.data_type = "CERTIFICATE";
            it.der = std::move(cert.der);
            it.desc = cert.object.describe();
            c.items.push_back(std::move(it));
        }
    }
    if (c.items.empty()) {
        std::string what = want_private && !want_public && !want_cert   ? "private key"
                           : want_public && !want_private && !want_cert ? "public key"
                           : want_cert && !want_private && !want_public ? "certificate"
                                                                        : "object";
        throw hsm::SelectionError("no " + what + " matches " + c.uri.to_string() + " on " +
                                  token->what());
    }
}

}  // namespace

std::string key_uri(const Key& key) {
    if (!key.ref) throw std::invalid_argument("a public key has no token object URI");
    return hsm::object_uri(key.ref->token->info().token_info, key.ref->object.id,
                           key.ref->object.label, CKO_PRIVATE_KEY);
}

std::unique_ptr<Key> load_private_key(ProvCtx* prov, const hsm::Uri& uri,
                                      OSSL_PASSPHRASE_CALLBACK* pw_cb, void* pw_cbarg) {
    std::shared_ptr<hsm::Token> token = hsm::open_token(prov->cfg, uri);
    hsm::PinSources pins = private_key_pins(prov, uri, *token, pw_cb, pw_cbarg);
    if (prov->login != LoginBehaviour::Never) token->login(pins);
    hsm::Session s = token->acquire();
    hsm::ObjectQuery q = hsm::ObjectQuery::from_uri(uri);
    q.cls = CKO_PRIVATE_KEY;
    return private_key(prov, uri, token, s, find_one_token_object(s, q, uri), pins);
}

namespace {

void* store_open(void* provctx, const char* uri) noexcept {
    auto* prov = static_cast<ProvCtx*>(provctx);
    return TS_GUARD(prov, static_cast<void*>(nullptr), [&]() -> void* {
        prov->check_config();
        auto c = std::make_unique<StoreCtx>();
        c->prov = prov;
        c->uri = hsm::parse_uri(uri);
        return c.release();
    });
}

const OSSL_PARAM* store_settable_ctx_params(void*) noexcept {
    static const OSSL_PARAM kSettable[] = {OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, nullptr),
                                           OSSL_PARAM_END};
    return kSettable;
}

int store_set_ctx_params(void* loaderctx, const OSSL_PARAM params[]) noexcept {
    auto* c = static_cast<StoreCtx*>(loaderctx);
    return TS_GUARD(c->prov, 0, [&] {
        const OSSL_PARAM* p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
        if (p != nullptr && !OSSL_PARAM_get_int(p, &c->expect)) return 0;
        return 1;
    });
}

int store_load(void* loaderctx, OSSL_CALLBACK* object_cb, void* object_cbarg,
               OSSL_PASSPHRASE_CALLBACK* pw_cb, void* pw_cbarg) noexcept {
    auto* c = static_cast<StoreCtx*>(loaderctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (!c->searched) {
            c->searched = true;
            try {
                search(*c, pw_cb, pw_cbarg);
            } catch (...) {
                c->failed = true;  // eof from now on: the caller stops asking
                throw;
            }
        }
        if (c->next >= c->items.size()) return 0;
        Item& it = c->items[c->next++];
        std::vector<OSSL_PARAM> params;
        params.push_back(OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &it.object_type));
        params.push_back(
            OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE, it.data_type.data(), 0));
        const Key* ref = it.key.get();
        if (ref != nullptr) {
            // By reference (provider-object(7)): our keymgmt's load() copies the key.
            params.push_back(OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &ref,
                                                               kKeyReferenceSize));
        } else {
            params.push_back(OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA,
                                                               it.der.data(), it.der.size()));
        }
        if (!it.structure.empty()) {
            params.push_back(OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE,
                                                              it.structure.data(), 0));
        }
        params.push_back(
            OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC, it.desc.data(), 0));
        params.push_back(OSSL_PARAM_construct_end());
        return object_cb(params.data(), object_cbarg) ? 1 : 0;
    });
}

int store_eof(void* loaderctx) noexcept {
    auto* c = static_cast<StoreCtx*>(loaderctx);
    return c->failed || (c->searched && c->next >= c->items.size()) ? 1 : 0;
}

int store_close(void* loaderctx) noexcept {
    delete static_cast<StoreCtx*>(loaderctx);
    return 1;
}

}  // namespace

const OSSL_DISPATCH store_functions[] = {
    TS_DISPATCH(STORE_OPEN, store_open, store_open),
    TS_DISPATCH(STORE_SETTABLE_CTX_PARAMS, store_settable_ctx_params, store_settable_ctx_params),
    TS_DISPATCH(STORE_SET_CTX_PARAMS, store_set_ctx_params, store_set_ctx_params),
    TS_DISPATCH(STORE_LOAD, store_load, store_load),
    TS_DISPATCH(STORE_EOF, store_eof, store_eof),
    TS_DISPATCH(STORE_CLOSE, store_close, store_close),
    {0, nullptr}};

}  // namespace ts::prov
