// SPDX-License-Identifier: Apache-2.0
// The key object tokensign's keymgmt hands to OpenSSL: public parameters on the host, and (for
// private keys) a reference to the object on the token. Key material never leaves the token.
#pragma once

#include <openssl/evp.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hsm/crypto.hpp"
#include "hsm/module.hpp"
#include "hsm/object.hpp"
#include "hsm/ossl.hpp"
#include "hsm/pubkey.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"
#include "provider/provider.hpp"

namespace ts::prov {

/// Where the private half lives: shared by every copy of a key (keymgmt load/dup).
struct TokenRef {
    std::shared_ptr<hsm::Token> token;
    hsm::Uri uri;            // the URI the key was loaded by (PIN sources, messages)
    hsm::ObjectInfo object;  // the private key object
    hsm::KeyHandle handle;
    hsm::PinSources pins;    // incl. a PIN the caller's passphrase callback gave, if any
    bool allow_copy = true;  // the provider's session-key-copy parameter
    // CKA_ALLOWED_MECHANISMS of the private key, read when it is loaded; unset: no restriction.
    std::optional<std::vector<CK_MECHANISM_TYPE>> allowed;
    std::string describe() const;

    /// True when the key may use `mech` (CKA_ALLOWED_MECHANISMS) and its token offers it
    /// (C_GetMechanismList, asked once per key and cached). Callers decide once per operation
    /// context, not per signature.
    bool permits(CK_MECHANISM_TYPE mech) const;
    /// "CKM_SHA256_RSA_PKCS_PSS, CKM_ECDSA_SHA256" (the key's allowed mechanisms), for messages.
    std::string allowed_names() const;

    /// The key's handle for session `s`: from the key's second use on, a session-object copy
    /// of the key owned by `s` when the token allows one (SoftHSM2 signs much faster with it;
    /// one per session, so sessions do not contend for one object), else the token object. Object
    /// handles are per application: after fork() the child re-initialises the module, so the key is
    /// found again (by class, id and label) once per fork generation.
    hsm::KeyHandle handle_for(hsm::Session& s) const;
    /// Forgets the copy `s` uses (after the token said its handle is invalid).
    void forget_copy(hsm::Session& s) const;

    TokenRef() = default;
    TokenRef(const TokenRef&) = delete;
    TokenRef& operator=(const TokenRef&) = delete;
    ~TokenRef();

  private:
    mutable std::mutex m_mutex;
    mutable unsigned long m_generation = hsm::fork_generation();
    // Session handle -> the copy that session owns (session objects die with their session).
    mutable std::map<CK_SESSION_HANDLE, CK_OBJECT_HANDLE> m_copies;
    mutable bool m_copy_refused = false;  // the token does not copy this key
    mutable unsigned m_uses = 0;          // uses without a copy so far
    // Not a std::once_flag: a failing C_GetMechanismList throws, and that exception leaving
    // std::call_once (through glibc's pthread_once) aborted stock openssl (SIGABRT).
    mutable std::mutex m_offered_mutex;
    mutable bool m_offered_known = false;
    mutable std::vector<CK_MECHANISM_TYPE> m_offered;  // sorted; what the token lists
};

/// keydata of every tokensign keymgmt. A token key has `ref`; a "soft" key (soft_private) is an
/// ordinary in-memory key held entirely in the host library context. OpenSSL 3.0 may pick
/// tokensign's keymgmt for any key when it is loaded before the default provider (SoftHSM2's
/// own Ed25519 key generation, TLS ephemeral keys, `openssl genpkey`); soft keys make those
/// work exactly as with the default provider.
struct Key {
    ProvCtx* prov = nullptr;
    std::string type;                     // OpenSSL key type: "RSA", "RSA-PSS", "EC", "ED25519"
    std::optional<hsm::PublicKey> pub;    // unset: an empty key (keymgmt new, before import)
    OsslPtr<EVP_PKEY> host;               // the public key in prov->host
    std::shared_ptr<const TokenRef> ref;  // unset: a public key only
    bool soft_private = false;            // host holds a private key (not a token key)

    Key() = default;
    Key(const Key& other);
    bool has_private() const noexcept { return ref != nullptr || soft_private; }
    bool on_token() const noexcept { return ref != nullptr; }
    /// Sets pub and builds host from it (RSA-PSS keys become RSA-PSS EVP_PKEYs).
    void set_public(hsm::PublicKey p);
};

/// The host EVP_PKEY of a public key (RSA-PSS by SPKI is not needed: fromdata with n, e).
OsslPtr<EVP_PKEY> host_pkey(ProvCtx* prov, const hsm::PublicKey& pub, const std::string& type);

/// DER SubjectPublicKeyInfo of a host key (EC keys keep their named curve). Encoded in the host
/// library context: hsm::spki_der() would use the application's, which can route back here.
std::vector<unsigned char> spki_der(EVP_PKEY* host);

/// The OpenSSL key type name for a token key kind.
std::string key_type_of(hsm::KeyKind kind);
/// The same, for a key the token restricts: an RSA key whose CKA_ALLOWED_MECHANISMS are all
/// PSS mechanisms is "RSA-PSS" (its SubjectPublicKeyInfo says id-RSASSA-PSS, as the default
/// provider writes for RSA-PSS keys), so certificates and requests do not claim rsaEncryption.
std::string key_type_of(hsm::KeyKind kind,
                        const std::optional<std::vector<CK_MECHANISM_TYPE>>& allowed);

/// Size of the reference the store passes in OSSL_OBJECT_PARAM_REFERENCE: a `const Key*`.
inline constexpr std::size_t kKeyReferenceSize = sizeof(const Key*);

}  // namespace ts::prov
