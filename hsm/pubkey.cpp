// SPDX-License-Identifier: Apache-2.0
#include "hsm/pubkey.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <cstdio>

#include "hsm/attributes.hpp"
#include "hsm/error.hpp"
#include "hsm/object.hpp"
#include "hsm/token.hpp"

namespace ts::hsm {

namespace {

struct Curve {
    const char* group;  // OpenSSL group name
    int nid;
    std::size_t field_bytes;
    std::size_t bits;
};
constexpr Curve kCurves[] = {
    {"prime256v1", NID_X9_62_prime256v1, 32, 256},
    {"secp384r1", NID_secp384r1, 48, 384},
    {"secp521r1", NID_secp521r1, 66, 521},
};

const Curve* curve_by_group(const std::string& g) {
    for (const auto& c : kCurves)
        if (g == c.group) return &c;
    return nullptr;
}

// CKA_EC_POINT is a DER OCTET STRING (PKCS#11 v2.40 §2.3.3); a few tokens return the raw
// point. `raw_len` is the expected raw length when known (0: EdDSA, unknown here).
std::vector<unsigned char> unwrap_point(std::vector<unsigned char> v, std::size_t raw_len) {
    if (raw_len != 0 && v.size() == raw_len) return v;
    if (v.size() >= 2 && v[0] == 0x04) {
        std::size_t len = 0, hdr = 2;
        if (v[1] < 0x80) {
            len = v[1];
        } else if (v[1] == 0x81 && v.size() >= 3) {
            len = v[2];
            hdr = 3;
        } else if (v[1] == 0x82 && v.size() >= 4) {
            len = (std::size_t{v[2]} << 8) | v[3];
            hdr = 4;
        } else {
            return v;
        }
        if (hdr + len == v.size())
            return std::vector<unsigned char>(v.begin() + static_cast<long>(hdr), v.end());
    }
    return v;
}

std::vector<unsigned char> bn_bytes(const BIGNUM* bn) {
    std::vector<unsigned char> out(static_cast<std::size_t>(BN_num_bytes(bn)));
    BN_bn2bin(bn, out.data());
    return out;
}

[[noreturn]] void ossl_fail(const std::string& what) {
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    throw Error(what + (e ? std::string(": ") + buf : std::string()));
}

}  // namespace

const char* key_kind_name(KeyKind k) {
    switch (k) {
        case KeyKind::Rsa:
            return "RSA";
        case KeyKind::Ec:
            return "EC";
        case KeyKind::Ed25519:
            return "ED25519";
        case KeyKind::Ed448:
            return "ED448";
    }
    return "?";
}

std::size_t PublicKey::bits() const {
    switch (kind) {
        case KeyKind::Rsa: {
            std::size_t i = 0;
            while (i < modulus.size() && modulus[i] == 0) ++i;
            if (i == modulus.size()) return 0;
            std::size_t b = (modulus.size() - i) * 8;
            for (unsigned char top = modulus[i]; !(top & 0x80);
                 top = static_cast<unsigned char>(top << 1))
                --b;
            return b;
        }
        case KeyKind::Ec: {
            const Curve* c = curve_by_group(group);
            return c ? c->bits : 0;
        }
        case KeyKind::Ed25519:
            return 253;  // as EVP_PKEY_get_bits reports
        case KeyKind::Ed448:
            return 456;
    }
    return 0;
}

std::vector<unsigned char> curve_params_der(const std::string& group) {
    int nid = OBJ_sn2nid(group.c_str());
    if (nid == NID_undef) nid = OBJ_txt2nid(group.c_str());
    if (nid == NID_undef) throw UnsupportedError("unknown curve '" + group + "'");
    OsslPtr<ASN1_OBJECT> obj(OBJ_nid2obj(nid));
    auto out = to_der(obj.get(), i2d_ASN1_OBJECT);
    if (out.empty()) throw UnsupportedError("cannot encode curve '" + group + "'");
    return out;
}

std::string curve_from_params(std::span<const unsigned char> der) {
    if (der.empty()) throw UnsupportedError("the key has empty EC parameters");
    if (der[0] == 0x13) {  // PrintableString: PKCS#11 3.0 allows "edwards25519" / "edwards448"
        std::string name(der.begin() + 2, der.end());
        if (name == "edwards25519") return "ED25519";
        if (name == "edwards448") return "ED448";
        throw UnsupportedError("unknown curve name '" + name + "' in CKA_EC_PARAMS");
    }
    if (der[0] != 0x06) {
        throw UnsupportedError(
            "the key has explicit EC parameters; only named curves are supported");
    }
    const unsigned char* p = der.data();
    OsslPtr<ASN1_OBJECT> obj(d2i_ASN1_OBJECT(nullptr, &p, static_cast<long>(der.size())));
    if (!obj) throw UnsupportedError("malformed CKA_EC_PARAMS");
    int nid = OBJ_obj2nid(obj.get());
    switch (nid) {
        case NID_X9_62_prime256v1:
            return "prime256v1";
        case NID_secp384r1:
            return "secp384r1";
        case NID_secp521r1:
            return "secp521r1";
        case NID_ED25519:
            return "ED25519";
        case NID_ED448:
            return "ED448";
        default:
            break;
    }
    char txt[80];
    OBJ_obj2txt(txt, sizeof txt, obj.get(), 1);
    throw UnsupportedError(std::string("curve ") + txt +
                           " is not supported (supported: P-256, P-384, P-521, Ed25519, Ed448)");
}

PublicKey read_public_key(Session& s, CK_OBJECT_HANDLE obj) {
    // Everything a key of any supported type may have, in one round trip; what the object does
    // not have comes back empty.
    static constexpr CK_ATTRIBUTE_TYPE kRead[] = {CKA_CLASS,           CKA_KEY_TYPE,  CKA_MODULUS,
                                                  CKA_PUBLIC_EXPONENT, CKA_EC_PARAMS, CKA_EC_POINT};
    auto v = get_attributes(s, obj, kRead);
    CK_OBJECT_CLASS cls = as_ulong(v[0]).value_or(CKO_VENDOR_DEFINED);
    if (cls == CKO_CERTIFICATE) {
        auto der = get_attribute(s, obj, CKA_VALUE);
        if (!der) throw Error("the certificate on " + s.token().what() + " has no value");
        const unsigned char* p = der->data();
        OsslPtr<X509> x(d2i_X509(nullptr, &p, static_cast<long>(der->size())));
        if (!x) ossl_fail("the certificate on " + s.token().what() + " is not valid DER");
        return from_evp_pkey(X509_get0_pubkey(x.get()));
    }
    if (cls != CKO_PUBLIC_KEY && cls != CKO_PRIVATE_KEY) {
        throw UnsupportedError(class_name(cls) + " has no public key");
    }
    CK_KEY_TYPE kt = as_ulong(v[1]).value_or(CKK_VENDOR_DEFINED);
    PublicKey pk;
    if (kt == CKK_RSA) {
        pk.kind = KeyKind::Rsa;
        auto& n = v[2];
        auto& e = v[3];
        if (n && e && !n->empty() && !e->empty()) {
            pk.modulus = std::move(*n);
            pk.exponent = std::move(*e);
            return pk;
        }
    } else if (kt == CKK_EC || kt == CKK_EC_EDWARDS) {
        auto& params = v[4];
        if (!params) throw Error("the EC key on " + s.token().what() + " has no CKA_EC_PARAMS");
        std::string g = curve_from_params(*params);
        if (g == "ED25519" || g == "ED448") {
            pk.kind = g == "ED25519" ? KeyKind::Ed25519 : KeyKind::Ed448;
        } else {
            pk.kind = KeyKind::Ec;
            pk.group = g;
        }
        if (auto& point = v[5]; point && !point->empty()) {
            const Curve* c = curve_by_group(g);
            pk.point = unwrap_point(std::move(*point), c ? 1 + 2 * c->field_bytes : 0);
            return pk;
        }
    } else {
        throw UnsupportedError("key type " + key_type_name(kt) + " is not supported");
    }
    // A private key without its public values: use the public key, else the certificate, with
    // the same CKA_ID (the PKCS#11 convention that ties the halves together).
    // The partner must be of the same kind (and curve): ids are sometimes reused across keys.
    auto id = get_attribute(s, obj, CKA_ID);
    if (id && !id->empty() && cls == CKO_PRIVATE_KEY) {
        for (CK_OBJECT_CLASS other : {CKO_PUBLIC_KEY, CKO_CERTIFICATE}) {
            ObjectQuery q;
            q.cls = other;
            q.id = *id;
            auto found = find_objects(s, q);
            if (found.size() != 1) continue;
            PublicKey partner = read_public_key(s, found.front().handle);
            if (partner.kind == pk.kind && partner.group == pk.group) return partner;
        }
    }
    throw Error("the public part of the key on " + s.token().what() +
                " cannot be read: it is not on the private key, and no single public key or "
                "certificate with the same id is on the token");
}

OsslPtr<EVP_PKEY> to_evp_pkey(const PublicKey& key, OSSL_LIB_CTX* libctx, const char* propq) {
    if (key.kind == KeyKind::Ed25519 || key.kind == KeyKind::Ed448) {
        OsslPtr<EVP_PKEY> p(EVP_PKEY_new_raw_public_key_ex(libctx, key_kind_name(key.kind), propq,
                                                           key.point.data(), key.point.size()));
        if (!p) ossl_fail("cannot build the EdDSA public key");
        return p;
    }
    OsslPtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
    OsslPtr<BIGNUM> n, e;
    if (key.kind == KeyKind::Rsa) {
        n.reset(BN_bin2bn(key.modulus.data(), static_cast<int>(key.modulus.size()), nullptr));
        e.reset(BN_bin2bn(key.exponent.data(), static_cast<int>(key.exponent.size()), nullptr));
        if (!n || !e || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
            !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get())) {
            ossl_fail("cannot build the RSA public key");
        }
    } else {
        if (!OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                             key.group.c_str(), 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, key.point.data(),
                                              key.point.size())) {
            ossl_fail("cannot build the EC public key");
        }
    }
    OsslPtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
    OsslPtr<EVP_PKEY_CTX> ctx(
        EVP_PKEY_CTX_new_from_name(libctx, key.kind == KeyKind::Rsa ? "RSA" : "EC", propq));
    EVP_PKEY* out = nullptr;
    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
        EVP_PKEY_fromdata(ctx.get(), &out, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
        ossl_fail(std::string("cannot build the ") + key_kind_name(key.kind) + " public key");
    }
    return OsslPtr<EVP_PKEY>(out);
}

PublicKey from_evp_pkey(const EVP_PKEY* pkey) {
    PublicKey pk;
    if (EVP_PKEY_is_a(pkey, "RSA") || EVP_PKEY_is_a(pkey, "RSA-PSS")) {
        pk.kind = KeyKind::Rsa;
        BIGNUM *n = nullptr, *e = nullptr;
        if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
            !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)) {
            BN_free(n);
            ossl_fail("cannot read the RSA public key");
        }
        OsslPtr<BIGNUM> nn(n), ee(e);
        pk.modulus = bn_bytes(n);
        pk.exponent = bn_bytes(e);
    } else if (EVP_PKEY_is_a(pkey, "EC")) {
        pk.kind = KeyKind::Ec;
        char group[64];
        std::size_t glen = 0;
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                            &glen)) {
            throw UnsupportedError("the EC key does not use a named curve");
        }
        pk.group = group;
        std::size_t len = 0;
        if (!EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, nullptr, 0, &len)) {
            ossl_fail("cannot read the EC public key");
        }
        pk.point.resize(len);
        EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, pk.point.data(), len, &len);
        pk.point.resize(len);
    } else if (EVP_PKEY_is_a(pkey, "ED25519") || EVP_PKEY_is_a(pkey, "ED448")) {
        pk.kind = EVP_PKEY_is_a(pkey, "ED25519") ? KeyKind::Ed25519 : KeyKind::Ed448;
        std::size_t len = 0;
        EVP_PKEY_get_raw_public_key(pkey, nullptr, &len);
        pk.point.resize(len);
        if (!EVP_PKEY_get_raw_public_key(pkey, pk.point.data(), &len)) {
            ossl_fail("cannot read the EdDSA public key");
        }
    } else {
        throw UnsupportedError(std::string("key type ") + EVP_PKEY_get0_type_name(pkey) +
                               " is not supported");
    }
    return pk;
}

std::vector<unsigned char> spki_der(const PublicKey& key) {
    auto pkey = to_evp_pkey(key);
    auto out = to_der(pkey.get(), i2d_PUBKEY);
    if (out.empty()) ossl_fail("cannot encode the public key");
    return out;
}

std::string spki_fingerprint(const PublicKey& key) {
    auto der = spki_der(key);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(der.data(), der.size(), md, &mdlen, EVP_sha256(), nullptr)) {
        ossl_fail("cannot hash the public key");
    }
    std::string out;
    char buf[4];
    for (unsigned int i = 0; i < mdlen; ++i) {
        std::snprintf(buf, sizeof buf, i ? ":%02X" : "%02X", md[i]);
        out += buf;
    }
    return out;
}

std::string spki_pem(const PublicKey& key) {
    auto pkey = to_evp_pkey(key);
    OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
    if (!PEM_write_bio_PUBKEY(bio.get(), pkey.get())) ossl_fail("cannot encode the public key");
    return bio_text(bio.get());
}

}  // namespace ts::hsm
