// SPDX-License-Identifier: Apache-2.0
// STORE for the pkcs11 scheme (provider-storemgmt(7)): private keys by reference, public keys
// and certificates as DER for OpenSSL's own decoders. Public objects never need a PIN.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/params.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include <memory>
#include <optional>
#include <span>
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
    CK_OBJECT_CLASS cls = CKO_VENDOR_DEFINED;
    std::vector<unsigned char> id;
    std::string uri;  // the object's own URI, for messages that list candidates
    const hsm::Token* token = nullptr;
};

/// The search criteria of OSSL_STORE_find (OSSL_STORE_SEARCH(3)), from set_ctx_params.
struct Criteria {
    std::optional<std::string> alias;                   // CKA_LABEL
    std::optional<std::vector<unsigned char>> subject;  // CKA_SUBJECT (DER name)
    std::optional<std::vector<unsigned char>> issuer;   // CKA_ISSUER (DER name)
    std::optional<std::vector<unsigned char>> serial;   // CKA_SERIAL_NUMBER (DER INTEGER)
    std::string digest;                                 // fingerprint digest name
    std::optional<std::vector<unsigned char>> fingerprint;
    bool any() const { return alias || subject || issuer || serial || fingerprint; }
};

struct StoreCtx {
    ProvCtx* prov = nullptr;
    hsm::Uri uri;
    int expect = 0;  // OSSL_STORE_INFO_* the caller wants; 0: anything
    Criteria criteria;
    std::string refused;  // a store parameter not supported: the search fails with this
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
    return p.use_env && hsm::environment_pin_available();
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
    // OpenSSL frames it as "Enter pass phrase for <info>:" (ossl_pw_get_passphrase); the
    // frame is fixed, so <info> names what is really asked for.
    std::string info = token.what() + " (user PIN)";
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
    it.cls = obj.cls;
    it.id = obj.id;
    it.uri = hsm::object_uri(token->info().token_info, obj.id, obj.label, obj.cls);
    it.token = token.get();
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
    it.cls = obj.cls;
    it.id = obj.id;
    it.uri = hsm::object_uri(s.token().info().token_info, obj.id, obj.label, obj.cls);
    it.token = &s.token();
    return it;
}

Item certificate_item(hsm::Session& s, hsm::CertificateObject& cert) {
    Item it;
    it.object_type = OSSL_OBJECT_CERT;
    it.data_type = "CERTIFICATE";
    it.der = std::move(cert.der);
    it.desc = cert.object.describe();
    it.cls = CKO_CERTIFICATE;
    it.id = cert.object.id;
    it.uri = hsm::object_uri(s.token().info().token_info, cert.object.id, cert.object.label,
                             CKO_CERTIFICATE);
    it.token = &s.token();
    return it;
}

// The URI's id/object/type plus the OSSL_STORE_find criteria, as one C_FindObjects template.
hsm::ObjectQuery store_query(const StoreCtx& c) {
    hsm::ObjectQuery q = hsm::ObjectQuery::from_uri(c.uri);
    const Criteria& k = c.criteria;
    if (k.alias) {
        if (q.label && *q.label != *k.alias) {
            throw hsm::SelectionError("the alias searched for ('" + *k.alias +
                                      "') contradicts object= in " + c.uri.to_string());
        }
        q.label = k.alias;
    }
    if (k.issuer.has_value() != k.serial.has_value()) {
        throw hsm::UnsupportedError("a search by issuer needs the serial number too");
    }
    q.subject = k.subject;
    q.issuer = k.issuer;
    q.serial = k.serial;
    return q;
}

std::vector<unsigned char> digest_of(ProvCtx* prov, const std::string& name,
                                     std::span<const unsigned char> data) {
    OsslPtr<EVP_MD> md(EVP_MD_fetch(prov->host_ctx(), name.c_str(), nullptr));
    if (!md) throw hsm::UnsupportedError("unknown fingerprint digest '" + name + "'");
    std::vector<unsigned char> out(EVP_MAX_MD_SIZE);
    unsigned int len = 0;
    host_check(EVP_Digest(data.data(), data.size(), out.data(), &len, md.get(), nullptr) == 1,
               "computing a fingerprint");
    out.resize(len);
    return out;
}

// OSSL_STORE_SEARCH_by_key_fingerprint: the fingerprint is the digest of a certificate (as
// `openssl x509 -fingerprint` prints it; the keys with that certificate's CKA_ID match too) or
// of a public key's SubjectPublicKeyInfo (as `tokensign key show` prints it).
void keep_fingerprint_matches(StoreCtx& c) {
    const std::string digest = c.criteria.digest.empty() ? "SHA1" : c.criteria.digest;
    const std::vector<unsigned char>& fp = *c.criteria.fingerprint;
    std::vector<std::vector<unsigned char>> cert_ids;
    std::vector<bool> keep(c.items.size(), false);
    for (std::size_t i = 0; i < c.items.size(); ++i) {
        Item& it = c.items[i];
        if (it.cls == CKO_CERTIFICATE) {
            if (digest_of(c.prov, digest, it.der) == fp) {
                keep[i] = true;
                if (!it.id.empty()) cert_ids.push_back(it.id);
                continue;
            }
            const unsigned char* p = it.der.data();
            OsslPtr<X509> x(d2i_X509(nullptr, &p, static_cast<long>(it.der.size())));
            if (x) {
                keep[i] = digest_of(c.prov, digest,
                                    to_der(X509_get_X509_PUBKEY(x.get()), i2d_X509_PUBKEY)) == fp;
            }
            continue;
        }
        std::vector<unsigned char> spki =
            it.key ? spki_der(it.key->host.get()) : it.der;  // public keys: der is the SPKI
        keep[i] = digest_of(c.prov, digest, spki) == fp;
    }
    for (std::size_t i = 0; i < c.items.size(); ++i) {
        const Item& it = c.items[i];
        if (it.cls == CKO_CERTIFICATE || keep[i] || it.id.empty()) continue;
        for (const auto& id : cert_ids) keep[i] = keep[i] || id == it.id;
    }
    std::vector<Item> kept;
    for (std::size_t i = 0; i < c.items.size(); ++i) {
        if (keep[i]) kept.push_back(std::move(c.items[i]));
    }
    c.items = std::move(kept);
}

/// Which object classes a search collects.
struct Wants {
    bool private_keys = false;
    bool public_keys = false;
    bool certificates = false;
    bool must_private = false;  // the caller loads one private key: log in for it
};

// One token's share of the search. `may_login` is false when several tokens are searched: a
// PIN is never sent to a token the URI does not single out, so only the private objects of
// tokens this process is logged in to already are listed then.
void search_token(StoreCtx& c, const std::shared_ptr<hsm::Token>& token, const hsm::ObjectQuery& q,
                  const Wants& w, bool may_login, OSSL_PASSPHRASE_CALLBACK* pw_cb, void* pw_cbarg) {
    if (may_login && c.prov->login == LoginBehaviour::Always) {
        token->login(private_key_pins(c.prov, c.uri, *token, pw_cb, pw_cbarg));
    }
    hsm::Session s = token->acquire();
    if (w.private_keys) {
        // Listing everything (storeutl without a PIN) shows the public objects only; a caller
        // that asked for a private key gets the login (private objects are hidden before it).
        hsm::PinSources pins = private_key_pins(
            c.prov, c.uri, *token, w.must_private && may_login ? pw_cb : nullptr, pw_cbarg);
        if (c.prov->login != LoginBehaviour::Never &&
            (token->logged_in() || (may_login && (w.must_private || pin_available(pins))))) {
            token->login(pins);
            hsm::ObjectQuery pq = q;
            pq.cls = CKO_PRIVATE_KEY;
            for (const hsm::ObjectInfo& obj : find_token_objects(s, pq)) {
                c.items.push_back(private_item(c.prov, c.uri, token, s, obj, pins));
            }
        }
    }
    if (w.public_keys) {
        hsm::ObjectQuery pq = q;
        pq.cls = CKO_PUBLIC_KEY;
        for (const hsm::ObjectInfo& obj : find_token_objects(s, pq)) {
            c.items.push_back(public_item(c.prov, s, obj));
        }
    }
    if (w.certificates) {
        for (hsm::CertificateObject& cert : hsm::read_certificates(s, q)) {
            c.items.push_back(certificate_item(s, cert));
        }
    }
}

// A caller that loads one key gets exactly one: OpenSSL would silently take the first.
void require_at_most_one(const StoreCtx& c, CK_OBJECT_CLASS cls) {
    std::size_t n = 0;
    std::string list;
    for (const Item& it : c.items) {
        if (it.cls != cls) continue;
        ++n;
        list += "\n  " + it.desc + "  " + it.uri;
    }
    if (n <= 1) return;
    throw hsm::SelectionError(std::to_string(n) + " " + hsm::class_name(cls) + "s match " +
                              c.uri.to_string() +
                              "; name one with id= (and type=, token=) in the URI:" + list);
}

// The token a fingerprint search for one key is about, found as a URI that names no token is
// (hsm::open_token): by the public keys and certificates that match, logging in to none. None
// matching is an empty result.
std::vector<std::shared_ptr<hsm::Token>> tokens_by_fingerprint(const StoreCtx& c,
                                                               const hsm::ObjectQuery& q) {
    std::vector<std::shared_ptr<hsm::Token>> all = hsm::open_tokens(c.prov->cfg, c.uri);
    if (all.size() == 1) return all;
    StoreCtx probe;
    probe.prov = c.prov;
    probe.uri = c.uri;
    probe.criteria = c.criteria;
    Wants visible;
    visible.public_keys = true;
    visible.certificates = true;
    for (const auto& token : all) search_token(probe, token, q, visible, false, nullptr, nullptr);
    keep_fingerprint_matches(probe);
    std::vector<std::shared_ptr<hsm::Token>> holders;
    std::string list;
    for (const auto& token : all) {
        bool holds = false;
        for (const Item& it : probe.items) {
            if (it.token != token.get()) continue;
            holds = true;
            list += "\n  " + it.desc + "  " + it.uri;
        }
        if (holds) holders.push_back(token);
    }
    if (holders.size() > 1) {
        throw hsm::SelectionError("objects with the fingerprint searched for are on " +
                                  std::to_string(holders.size()) +
                                  " tokens; name the token (token=, serial=):" + list);
    }
    return holders;
}

void search(StoreCtx& c, OSSL_PASSPHRASE_CALLBACK* pw_cb, void* pw_cbarg) {
    if (!c.refused.empty()) throw hsm::UnsupportedError(c.refused);
    hsm::ObjectQuery q = store_query(c);
    std::optional<CK_OBJECT_CLASS> type = c.uri.type();

    Wants w;
    if (type) {
        w.private_keys = *type == CKO_PRIVATE_KEY;
        w.public_keys = *type == CKO_PUBLIC_KEY;
        w.certificates = *type == CKO_CERTIFICATE;
    } else {
        w.private_keys = c.expect == 0 || c.expect == OSSL_STORE_INFO_PKEY;
        w.public_keys = c.expect == 0 || c.expect == OSSL_STORE_INFO_PUBKEY;
        w.certificates = c.expect == 0 || c.expect == OSSL_STORE_INFO_CERT;
    }
    if (w.private_keys &&
        (c.expect == OSSL_STORE_INFO_PUBKEY || c.expect == OSSL_STORE_INFO_CERT)) {
        w.private_keys = false;  // the caller does not want it: no PIN for a public object
    }
    w.must_private =
        w.private_keys && (c.expect == OSSL_STORE_INFO_PKEY || (type && *type == CKO_PRIVATE_KEY));
    const bool one_public = w.public_keys && c.expect == OSSL_STORE_INFO_PUBKEY;

    // One key is loaded from the one token that holds it (a URI that names no token is
    // resolved by its objects, see hsm::open_token); a listing covers every matching token.
    std::vector<std::shared_ptr<hsm::Token>> tokens;
    const bool by_fingerprint = c.criteria.fingerprint.has_value();
    if ((w.must_private || one_public) && by_fingerprint && !q.names_objects()) {
        tokens = tokens_by_fingerprint(c, q);
    } else if (w.must_private || one_public) {
        hsm::ObjectQuery rq = q;
        rq.cls = w.must_private ? CKO_PRIVATE_KEY : CKO_PUBLIC_KEY;
        tokens.push_back(hsm::open_token(c.prov->cfg, c.uri, rq));
    } else {
        tokens = hsm::open_tokens(c.prov->cfg, c.uri);
    }
    Wants collect = w;
    if (by_fingerprint) collect.certificates = true;  // a certificate's id leads to its keys
    for (const auto& token : tokens) {
        search_token(c, token, q, collect, tokens.size() == 1, pw_cb, pw_cbarg);
    }
    if (by_fingerprint) {
        keep_fingerprint_matches(c);
        if (!w.certificates) {
            std::erase_if(c.items, [](const Item& it) { return it.cls == CKO_CERTIFICATE; });
        }
    }
    if (w.must_private) require_at_most_one(c, CKO_PRIVATE_KEY);
    if (one_public) require_at_most_one(c, CKO_PUBLIC_KEY);

    // A search by OSSL_STORE_find criteria that finds nothing is an empty result (X509_STORE
    // lookups by subject ask for names that are not there); a URI that names nothing is an error.
    if (c.items.empty() && !c.criteria.any()) {
        std::string what = w.private_keys && !w.public_keys && !w.certificates   ? "private key"
                           : w.public_keys && !w.private_keys && !w.certificates ? "public key"
                           : w.certificates && !w.private_keys && !w.public_keys ? "certificate"
                                                                                 : "object";
        std::string where =
            tokens.size() == 1 ? tokens.front()->what() : std::to_string(tokens.size()) + " tokens";
        throw hsm::SelectionError("no " + what + " matches " + c.uri.to_string() + " on " + where);
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
    hsm::ObjectQuery q = hsm::ObjectQuery::from_uri(uri);
    q.cls = CKO_PRIVATE_KEY;
    std::shared_ptr<hsm::Token> token = hsm::open_token(prov->cfg, uri, q);
    hsm::PinSources pins = private_key_pins(prov, uri, *token, pw_cb, pw_cbarg);
    if (prov->login != LoginBehaviour::Never) token->login(pins);
    hsm::Session s = token->acquire();
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

// provider-storemgmt(7): OSSL_STORE_expect and the OSSL_STORE_find criteria arrive here.
// OSSL_STORE_supports_search() reads this table, so every criterion listed is implemented.
const OSSL_PARAM* store_settable_ctx_params(void*) noexcept {
    static const OSSL_PARAM kSettable[] = {
        OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, nullptr),
        OSSL_PARAM_utf8_string(OSSL_STORE_PARAM_PROPERTIES, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_STORE_PARAM_ALIAS, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_STORE_PARAM_SUBJECT, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_STORE_PARAM_ISSUER, nullptr, 0),
        OSSL_PARAM_BN(OSSL_STORE_PARAM_SERIAL, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_STORE_PARAM_DIGEST, nullptr, 0),
        OSSL_PARAM_octet_string(OSSL_STORE_PARAM_FINGERPRINT, nullptr, 0),
        OSSL_PARAM_END};
    return kSettable;
}

std::vector<unsigned char> octets(const OSSL_PARAM& p) {
    const void* data = nullptr;
    std::size_t len = 0;
    if (!OSSL_PARAM_get_octet_string_ptr(&p, &data, &len)) {
        throw std::invalid_argument(std::string("store parameter '") + p.key +
                                    "' is not an octet string");
    }
    auto* b = static_cast<const unsigned char*>(data);
    return std::vector<unsigned char>(b, b + len);
}

std::string utf8(const OSSL_PARAM& p) {
    const char* v = nullptr;
    if (!OSSL_PARAM_get_utf8_string_ptr(&p, &v) || v == nullptr) {
        throw std::invalid_argument(std::string("store parameter '") + p.key + "' is not a string");
    }
    return v;
}

// A parameter that cannot be honoured is never ignored (a search criterion dropped here would
// return every object), but it is refused at the first load, not here: OpenSSL 3.0's
// OSSL_STORE_open_ex() closes the loader when this fails and then goes on using it (a crash).
void set_store_params(StoreCtx* c, const OSSL_PARAM params[]) {
    Criteria& k = c->criteria;
    for (const OSSL_PARAM* p = params; p != nullptr && p->key != nullptr; ++p) {
        const std::string key = p->key;
        if (key == OSSL_STORE_PARAM_EXPECT) {
            if (!OSSL_PARAM_get_int(p, &c->expect)) {
                throw std::invalid_argument("store parameter 'expect' is not an integer");
            }
        } else if (key == OSSL_STORE_PARAM_PROPERTIES) {
            // For decoders of fetched objects: tokensign hands keys over by reference.
        } else if (key == OSSL_STORE_PARAM_ALIAS) {
            k.alias = utf8(*p);
        } else if (key == OSSL_STORE_PARAM_SUBJECT) {
            k.subject = octets(*p);
        } else if (key == OSSL_STORE_PARAM_ISSUER) {
            k.issuer = octets(*p);
        } else if (key == OSSL_STORE_PARAM_SERIAL) {
            BIGNUM* bn = nullptr;
            if (!OSSL_PARAM_get_BN(p, &bn)) {
                throw std::invalid_argument("store parameter 'serial' is not a number");
            }
            OsslPtr<BIGNUM> owned(bn);
            OsslPtr<ASN1_INTEGER> ai(BN_to_ASN1_INTEGER(bn, nullptr));
            host_check(ai != nullptr, "converting the serial number searched for");
            // CKA_SERIAL_NUMBER holds the DER INTEGER (PKCS#11 §4.6.3).
            k.serial = to_der(ai.get(), i2d_ASN1_INTEGER);
        } else if (key == OSSL_STORE_PARAM_DIGEST) {
            k.digest = utf8(*p);
        } else if (key == OSSL_STORE_PARAM_FINGERPRINT) {
            k.fingerprint = octets(*p);
        } else {
            throw hsm::UnsupportedError("the pkcs11 store does not support the parameter '" + key +
                                        "'");
        }
    }
}

int store_set_ctx_params(void* loaderctx, const OSSL_PARAM params[]) noexcept {
    auto* c = static_cast<StoreCtx*>(loaderctx);
    return TS_GUARD(c->prov, 0, [&] {
        try {
            set_store_params(c, params);
        } catch (const std::exception& e) {
            if (c->refused.empty()) c->refused = e.what();
        }
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
