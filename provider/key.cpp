// SPDX-License-Identifier: Apache-2.0
// Key objects: public parameters on the host, the private half by reference on the token.
#include "provider/key.hpp"

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>

#include <algorithm>

#include "hsm/mechanism.hpp"
#include "hsm/object.hpp"
#include "hsm/provider_extra.hpp"

namespace ts::prov {

std::string TokenRef::describe() const { return object.describe() + " on " + token->what(); }

bool TokenRef::permits(CK_MECHANISM_TYPE mech) const {
    if (allowed && std::find(allowed->begin(), allowed->end(), mech) == allowed->end()) {
        return false;
    }
    std::lock_guard lock(m_offered_mutex);
    if (!m_offered_known) {
        m_offered = hsm::mechanism_types(token->module(), token->info().slot);
        m_offered_known = true;
    }
    return std::binary_search(m_offered.begin(), m_offered.end(), mech);
}

std::string TokenRef::allowed_names() const {
    if (!allowed) return "any";
    std::string out;
    for (CK_MECHANISM_TYPE m : *allowed) {
        if (!out.empty()) out += ", ";
        out += hsm::mechanism_name(m);
    }
    return out;
}

hsm::KeyHandle TokenRef::handle_for(hsm::Session& s) const {
    std::lock_guard lock(m_mutex);
    if (m_generation != hsm::fork_generation()) {
        // The parent's handles (and its sessions' copies) are not ours.
        m_copies.clear();
        m_copy_refused = false;
        hsm::ObjectQuery q;
        q.cls = CKO_PRIVATE_KEY;
        q.id = object.id;
        q.label = object.label;
        const_cast<TokenRef*>(this)->handle.handle = hsm::find_one(s, q).handle;
        m_generation = hsm::fork_generation();
    }
    hsm::KeyHandle h = handle;
    // A key that needs a PIN per use keeps its token object: a copy would be a second object
    // with the same restriction, not worth the surprise.
    if (!allow_copy || m_copy_refused || handle.always_authenticate) return h;
    auto it = m_copies.find(s.handle());
    if (it == m_copies.end()) {
        // The copy pays off from the second use: a one-shot `openssl dgst` or `x509 -req`
        // signs once with the token object and saves the copy and its destruction (two
        // round trips to the token).
        if (++m_uses < 2) return h;
        CK_OBJECT_HANDLE copy = hsm::copy_to_session_object(s, handle.handle);
        if (copy == CK_INVALID_HANDLE) {
            m_copy_refused = true;
            return h;
        }
        it = m_copies.emplace(s.handle(), copy).first;
    }
    h.handle = it->second;
    return h;
}

void TokenRef::forget_copy(hsm::Session& s) const {
    std::lock_guard lock(m_mutex);
    m_copies.erase(s.handle());
}

TokenRef::~TokenRef() {
    if (m_copies.empty() || m_generation != hsm::fork_generation()) return;
    // Session objects are visible to every session of the process: one session destroys all.
    try {
        hsm::Session s = token->acquire();
        for (const auto& [session, copy] : m_copies) {
            try {
                hsm::destroy_object(s, copy);
            } catch (...) {
                // its session is closed already, and the copy with it
            }
        }
    } catch (...) {
    }
}

Key::Key(const Key& other)
    : prov(other.prov),
      type(other.type),
      pub(other.pub),
      ref(other.ref),
      soft_private(other.soft_private) {
    if (other.host) {
        host_check(EVP_PKEY_up_ref(other.host.get()) == 1, "EVP_PKEY_up_ref");
        host.reset(other.host.get());
    }
}

void Key::set_public(hsm::PublicKey p) {
    host = host_pkey(prov, p, type);
    pub = std::move(p);
}

std::vector<unsigned char> spki_der(EVP_PKEY* host) {
    auto out = to_der(host, i2d_PUBKEY);
    host_check(!out.empty(), "encoding the public key");
    return out;
}

std::string key_type_of(hsm::KeyKind kind) { return hsm::key_kind_name(kind); }

std::string key_type_of(hsm::KeyKind kind,
                        const std::optional<std::vector<CK_MECHANISM_TYPE>>& allowed) {
    if (kind != hsm::KeyKind::Rsa || !allowed) return key_type_of(kind);
    for (CK_MECHANISM_TYPE m : *allowed) {
        switch (m) {
            case CKM_RSA_PKCS_PSS:
            case CKM_SHA1_RSA_PKCS_PSS:
            case CKM_SHA224_RSA_PKCS_PSS:
            case CKM_SHA256_RSA_PKCS_PSS:
            case CKM_SHA384_RSA_PKCS_PSS:
            case CKM_SHA512_RSA_PKCS_PSS:
                break;
            default:
                return key_type_of(kind);  // PKCS#1 v1.5, OAEP, raw: an ordinary RSA key
        }
    }
    return "RSA-PSS";
}

OsslPtr<EVP_PKEY> host_pkey(ProvCtx* prov, const hsm::PublicKey& pub, const std::string& type) {
    if (type != "RSA-PSS") return hsm::to_evp_pkey(pub, prov->host_ctx());
    // An RSA-PSS key has no SubjectPublicKeyInfo of its own in PKCS#11 terms: build it from
    // n and e so its EVP_PKEY type stays RSA-PSS (restricted to PSS signatures).
    OsslPtr<BIGNUM> n(BN_bin2bn(pub.modulus.data(), static_cast<int>(pub.modulus.size()), nullptr));
    OsslPtr<BIGNUM> e(
        BN_bin2bn(pub.exponent.data(), static_cast<int>(pub.exponent.size()), nullptr));
    OsslPtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
    host_check(n && e && bld && OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) &&
                   OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()),
               "building RSA-PSS public key parameters");
    OsslPtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
    OsslPtr<EVP_PKEY_CTX> pctx(EVP_PKEY_CTX_new_from_name(prov->host_ctx(), "RSA-PSS", nullptr));
    EVP_PKEY* pkey = nullptr;
    host_check(params && pctx && EVP_PKEY_fromdata_init(pctx.get()) == 1 &&
                   EVP_PKEY_fromdata(pctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) == 1,
               "building an RSA-PSS public key");
    return OsslPtr<EVP_PKEY>(pkey);
}

}  // namespace ts::prov
