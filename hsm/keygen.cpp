// SPDX-License-Identifier: Apache-2.0
#include "hsm/keygen.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>

#include "hsm/attributes.hpp"
#include "hsm/error.hpp"
#include "hsm/mechanism.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"

namespace ts::hsm {

namespace {

constexpr const char* kAccepted =
    "rsa:2048, rsa:3072, rsa:4096, ec:p-256, ec:p-384, ec:p-521, ed25519, ed448";

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool key_exists(Session& s, const ObjectQuery& base) {
    for (CK_OBJECT_CLASS cls : {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY}) {
        ObjectQuery q = base;
        q.cls = cls;
        if (!find_objects(s, q).empty()) return true;
    }
    return false;
}

// C_GenerateKeyPair failed with `rv`. A token may have made the objects before it failed: remove
// what it left under the new id (unique on the token, checked before generating) and say so, or
// name what is still there. Always throws the Pkcs11Error of the failed call.
[[noreturn]] void remove_failed_generation(Session& s, const std::vector<unsigned char>& id,
                                           const std::string& label, CK_RV rv,
                                           const std::string& context) {
    std::string msg =
        context + ": C_GenerateKeyPair failed: " + rv_advice(rv) + " (" + rv_name(rv) + ")";
    std::string uri = "pkcs11:token=" + percent_encode_text(s.token().info().label()) +
                      ";object=" + percent_encode_text(label) + ";id=" + percent_encode(id) +
                      ";type=private";
    try {
        ObjectQuery q;
        q.id = id;
        q.token_objects_only = true;
        std::string removed, left;
        for (const ObjectInfo& o : find_objects(s, q)) {
            // Only the halves of this key: no key had the id before, other objects may.
            if ((o.cls != CKO_PRIVATE_KEY && o.cls != CKO_PUBLIC_KEY) || o.label != label) continue;
            CK_RV drv = s.fn()->C_DestroyObject(s.handle(), o.handle);
            std::string& list = drv == CKR_OK ? removed : left;
            list += (list.empty() ? "" : ", ") + o.describe();
            if (drv != CKR_OK) list += " (C_DestroyObject: " + rv_name(drv) + ")";
        }
        if (!removed.empty())
            msg += "; the token had made " + removed + " nonetheless, now deleted";
        if (!left.empty())
            msg += "; the token made " + left + " nonetheless and it could not be deleted: " +
                   "check it and delete it (tokensign key delete '" + uri + "')";
    } catch (const Error& e) {
        msg += "; whether the token made objects under label '" + label + "' id " + to_hex(id) +
               " is unknown (" + e.what() + "): list its objects (tokensign key list)";
    }
    throw Pkcs11Error(rv, "C_GenerateKeyPair", msg);
}

}  // namespace

KeySpec KeySpec::parse(std::string_view text) {
    const std::string t = lower(text);
    KeySpec k;
    if (t == "rsa:2048" || t == "rsa:3072" || t == "rsa:4096") {
        k.kind = KeyKind::Rsa;
        k.rsa_bits = std::stoul(t.substr(4));
    } else if (t == "ec:p-256" || t == "ec:p256" || t == "ec:prime256v1" || t == "ec:secp256r1") {
        k.kind = KeyKind::Ec;
        k.group = "prime256v1";
    } else if (t == "ec:p-384" || t == "ec:p384" || t == "ec:secp384r1") {
        k.kind = KeyKind::Ec;
        k.group = "secp384r1";
    } else if (t == "ec:p-521" || t == "ec:p521" || t == "ec:secp521r1") {
        k.kind = KeyKind::Ec;
        k.group = "secp521r1";
    } else if (t == "ed25519") {
        k.kind = KeyKind::Ed25519;
    } else if (t == "ed448") {
        k.kind = KeyKind::Ed448;
    } else {
        throw UnsupportedError("key type '" + std::string(text) + "' is not supported; use one of " +
                               kAccepted);
    }
    return k;
}

std::string KeySpec::to_string() const {
    switch (kind) {
        case KeyKind::Rsa: return "rsa:" + std::to_string(rsa_bits);
        case KeyKind::Ec:
            return group == "prime256v1" ? "ec:p-256" : group == "secp384r1" ? "ec:p-384" : "ec:p-521";
        case KeyKind::Ed25519: return "ed25519";
        case KeyKind::Ed448: return "ed448";
    }
    return "?";
}

GeneratedKey generate_key_pair(Session& s, const KeySpec& spec, const std::string& label,
                               std::optional<std::vector<unsigned char>> id,
                               bool allow_existing_label) {
    Token& token = s.token();
    if (label.empty()) throw Error("a key needs a label");
    CK_MECHANISM_TYPE mech_type = spec.kind == KeyKind::Rsa   ? CKM_RSA_PKCS_KEY_PAIR_GEN
                                  : spec.kind == KeyKind::Ec ? CKM_EC_KEY_PAIR_GEN
                                                             : CKM_EC_EDWARDS_KEY_PAIR_GEN;
    if (!has_mechanism(token.module(), token.info().slot, mech_type)) {
        throw UnsupportedError(token.what() + " cannot generate " + spec.to_string() + " keys (no " +
                               mechanism_name(mech_type) + ")");
    }

    // No silent duplicates: a second key with the same label or id makes every URI ambiguous.
    // A new id under an existing label (key rollover keeping the name) only when asked for:
    // URIs must then name the id.
    ObjectQuery by_label;
    by_label.label = label;
    if (key_exists(s, by_label)) {
        if (!allow_existing_label) {
            throw SelectionError("a key labelled '" + label + "' already exists on " +
                                 token.what() +
                                 "; choose another label, or give a new id and allow the "
                                 "existing label (tokensign key generate --allow-existing-label; "
                                 "genpkey -pkeyopt pkcs11_allow_existing_label:yes)");
        }
        if (!id) {
            throw SelectionError("a key labelled '" + label + "' already exists on " +
                                 token.what() +
                                 "; a second key under that label needs an explicit new id "
                                 "(--id, or id= in the URI) so that URIs can tell them apart");
        }
    }
    if (id) {
        if (id->empty()) throw Error("the key id must not be empty");
        ObjectQuery by_id;
        by_id.id = *id;
        if (key_exists(s, by_id)) {
            throw SelectionError("a key with id " + to_hex(*id) + " already exists on " +
                                 token.what() + "; choose another id or omit --id");
        }
    } else {
        std::vector<unsigned char> fresh(8);
        for (int attempt = 0;; ++attempt) {
            if (RAND_bytes(fresh.data(), static_cast<int>(fresh.size())) != 1) {
                throw Error("cannot get random bytes for a key id");
            }
            ObjectQuery by_id;
            by_id.id = fresh;
            if (!key_exists(s, by_id)) break;
            if (attempt == 8) throw Error("cannot find an unused key id");
        }
        id = fresh;
    }

    AttributeTemplate pub, priv;
    pub.add_bool(CKA_TOKEN, true)
        .add_bool(CKA_PRIVATE, false)
        .add_bool(CKA_VERIFY, true)
        .add_string(CKA_LABEL, label)
        .add_bytes(CKA_ID, *id);
    priv.add_bool(CKA_TOKEN, true)
        .add_bool(CKA_PRIVATE, true)
        .add_bool(CKA_SENSITIVE, true)
        .add_bool(CKA_EXTRACTABLE, false)
        .add_bool(CKA_SIGN, true)
        .add_bool(CKA_UNWRAP, false)  // a signing key wraps nothing; tokens default it on
        .add_string(CKA_LABEL, label)
        .add_bytes(CKA_ID, *id);
    pub.add_bool(CKA_WRAP, false);
    static const unsigned char kF4[] = {0x01, 0x00, 0x01};
    switch (spec.kind) {
        case KeyKind::Rsa:
            pub.add_ulong(CKA_MODULUS_BITS, spec.rsa_bits)
                .add_bytes(CKA_PUBLIC_EXPONENT, kF4)
                .add_bool(CKA_ENCRYPT, true);
            priv.add_bool(CKA_DECRYPT, true);
            break;
        case KeyKind::Ec:
            pub.add_bytes(CKA_EC_PARAMS, curve_params_der(spec.group));
            priv.add_bool(CKA_DERIVE, true).add_bool(CKA_DECRYPT, false);
            break;
        case KeyKind::Ed25519:
        case KeyKind::Ed448:
            pub.add_bytes(CKA_EC_PARAMS, curve_params_der(key_kind_name(spec.kind)));
            priv.add_bool(CKA_DECRYPT, false).add_bool(CKA_DERIVE, false);
            break;
    }

    QueueGuard quiet;
    CK_MECHANISM mech{mech_type, nullptr, 0};
    CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
    std::string generating = "generating a " + spec.to_string() + " key on " + token.what();
    CK_RV rv = s.fn()->C_GenerateKeyPair(s.handle(), &mech, pub.data(), pub.count(), priv.data(),
                                         priv.count(), &hpub, &hpriv);
    if (rv != CKR_OK) remove_failed_generation(s, *id, label, rv, generating);

    GeneratedKey out;
    try {
        out.public_params = read_public_key(s, hpub);
        const auto& p = out.public_params;
        std::string problem;
        if (p.kind != spec.kind) {
            problem = "the token made a key of another type";
        } else if (spec.kind == KeyKind::Rsa) {
            if (p.bits() != spec.rsa_bits) problem = "the token made an RSA key of " +
                                                     std::to_string(p.bits()) + " bits";
            std::vector<unsigned char> e = p.exponent;
            while (!e.empty() && e.front() == 0) e.erase(e.begin());
            if (e != std::vector<unsigned char>(std::begin(kF4), std::end(kF4)))
                problem = "the token did not use the public exponent 65537";
        } else if (spec.kind == KeyKind::Ec && p.group != spec.group) {
            problem = "the token made a key on curve " + p.group;
        }
        if (!problem.empty()) throw Error(problem + "; the key was deleted");
    } catch (...) {
        s.fn()->C_DestroyObject(s.handle(), hpriv);
        s.fn()->C_DestroyObject(s.handle(), hpub);
        throw;
    }
    out.private_key = {hpriv, CKO_PRIVATE_KEY,
                       spec.kind == KeyKind::Rsa  ? CKK_RSA
                       : spec.kind == KeyKind::Ec ? CKK_EC
                                                  : CKK_EC_EDWARDS,
                       *id, label};
    out.public_key = out.private_key;
    out.public_key.handle = hpub;
    out.public_key.cls = CKO_PUBLIC_KEY;
    return out;
}

}  // namespace ts::hsm
