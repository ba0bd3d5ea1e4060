// SPDX-License-Identifier: Apache-2.0
#include "signer/spki.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace ts::signer {

namespace {

struct AsnSequenceFree {
    void operator()(ASN1_SEQUENCE_ANY* s) const noexcept {
        sk_ASN1_TYPE_pop_free(s, ASN1_TYPE_free);
    }
};

OsslPtr<EVP_PKEY> key_from_params(OSSL_LIB_CTX* libctx, const char* type, OSSL_PARAM* params) {
    OsslPtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(libctx, type, nullptr));
    EVP_PKEY* key = nullptr;
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
        return nullptr;
    return OsslPtr<EVP_PKEY>(key);
}

// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }, both positive (DER:
// OpenSSL's INTEGER decoding refuses non-minimal encodings). Nothing if it is not exactly that.
std::optional<std::pair<OsslPtr<BIGNUM>, OsslPtr<BIGNUM>>> rsa_numbers(const unsigned char* der,
                                                                       int len) {
    // d2i_ASN1_SEQUENCE_ANY also takes a primitive SEQUENCE tag (0x10), which OpenSSL's RSA
    // decoder refuses: only the constructed SEQUENCE tag is an RSAPublicKey (found by fuzzing).
    if (len < 2 || der[0] != (V_ASN1_SEQUENCE | V_ASN1_CONSTRUCTED)) return std::nullopt;
    const unsigned char* p = der;
    std::unique_ptr<ASN1_SEQUENCE_ANY, AsnSequenceFree> seq(
        d2i_ASN1_SEQUENCE_ANY(nullptr, &p, len));
    if (!seq || p != der + len || sk_ASN1_TYPE_num(seq.get()) != 2) return std::nullopt;
    OsslPtr<BIGNUM> ne[2];
    for (int i = 0; i < 2; ++i) {
        const ASN1_TYPE* t = sk_ASN1_TYPE_value(seq.get(), i);
        if (ASN1_TYPE_get(t) != V_ASN1_INTEGER) return std::nullopt;
        ne[i].reset(ASN1_INTEGER_to_BN(t->value.integer, nullptr));
        if (!ne[i] || BN_is_zero(ne[i].get()) || BN_is_negative(ne[i].get())) return std::nullopt;
    }
    return std::make_pair(std::move(ne[0]), std::move(ne[1]));
}

OsslPtr<EVP_PKEY> rsa_from_bytes(OSSL_LIB_CTX* libctx, const unsigned char* der, int len) {
    auto ne = rsa_numbers(der, len);
    if (!ne) return nullptr;
    OsslPtr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
    if (!bld || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, ne->first.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, ne->second.get()))
        return nullptr;
    OsslPtr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
    return params ? key_from_params(libctx, "RSA", params.get()) : nullptr;
}

// The forms OpenSSL decodes without anything special: rsaEncryption (NULL or absent
// parameters), id-ecPublicKey on a named curve, Ed25519 and Ed448 (no parameters).
OsslPtr<EVP_PKEY> decode_plain_key(const X509_PUBKEY* spki, OSSL_LIB_CTX* libctx) {
    ASN1_OBJECT* alg = nullptr;
    const unsigned char* bytes = nullptr;
    int len = 0;
    X509_ALGOR* algor = nullptr;
    if (X509_PUBKEY_get0_param(&alg, &bytes, &len, &algor, spki) != 1 || len <= 0) return nullptr;
    int ptype = V_ASN1_UNDEF;
    const void* pval = nullptr;
    X509_ALGOR_get0(nullptr, &ptype, &pval, algor);
    switch (OBJ_obj2nid(alg)) {
        case NID_rsaEncryption:
            if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF) return nullptr;
            return rsa_from_bytes(libctx, bytes, len);
        case NID_X9_62_id_ecPublicKey: {
            if (ptype != V_ASN1_OBJECT) return nullptr;  // explicit parameters: the decoders
            // A key on the SM2 curve is an "SM2" key to OpenSSL, not "EC": the decoders.
            const int curve_nid = OBJ_obj2nid(static_cast<const ASN1_OBJECT*>(pval));
            const char* curve = curve_nid == NID_sm2 ? nullptr : OBJ_nid2sn(curve_nid);
            if (curve == nullptr) return nullptr;
            OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                                    const_cast<char*>(curve), 0),
                                   OSSL_PARAM_construct_octet_string(
                                       OSSL_PKEY_PARAM_PUB_KEY, const_cast<unsigned char*>(bytes),
                                       static_cast<std::size_t>(len)),
                                   OSSL_PARAM_construct_end()};
            return key_from_params(libctx, "EC", params);
        }
        case NID_ED25519:
        case NID_ED448:
            if (ptype != V_ASN1_UNDEF) return nullptr;
            return OsslPtr<EVP_PKEY>(EVP_PKEY_new_raw_public_key_ex(
                libctx, OBJ_obj2nid(alg) == NID_ED25519 ? "ED25519" : "ED448", nullptr, bytes,
                static_cast<std::size_t>(len)));
        default:
            return nullptr;
    }
}

constexpr char kHex[] = "0123456789abcdef";

void append_hex_byte(std::string& out, unsigned char b) {
    out += kHex[b >> 4];
    out += kHex[b & 0x0f];
}

// The lines of `text` (each ending in '\n'), each after `indent` spaces: what BIO_f_prefix with
// that indent makes of an encoder's output in EVP_PKEY_print_public.
void append_indented(std::string& out, const std::string& text, int indent) {
    std::size_t at = 0;
    while (at < text.size()) {
        std::size_t nl = text.find('\n', at);
        std::size_t end = nl == std::string::npos ? text.size() : nl + 1;
        out.append(static_cast<std::size_t>(indent), ' ');
        out.append(text, at, end - at);
        at = end;
    }
}

// `n` bytes as "xx:xx:…", `per_line` a line, each line after `indent`, no colon after the last
// byte, and a newline at the end: the layout of both print_labeled_buf (OpenSSL's key-to-text
// encoder: 15 a line, 4 spaces) and X509_signature_dump (18 a line, 8 spaces).
void hex_lines(std::string& out, const unsigned char* p, std::size_t n, std::size_t per_line,
               const char* indent) {
    for (std::size_t i = 0; i < n; ++i) {
        if (i % per_line == 0) {
            if (i > 0) out += '\n';
            out += indent;
        }
        append_hex_byte(out, p[i]);
        if (i + 1 != n) out += ':';
    }
    out += '\n';
}

// print_labeled_buf: "label\n", then the bytes.
void labeled_bytes(std::string& out, const char* label, const unsigned char* p, std::size_t n) {
    out += label;
    out += '\n';
    hex_lines(out, p, n, 15, "    ");
}

// print_labeled_bignum of the same encoder, for a positive number: one word or less as
// "label N (0xN)", else "label\n" and the big-endian bytes (a 00 first when the top bit is set),
// 15 a line, each full line ending in ':'.
void labeled_bignum(std::string& out, const char* label, const BIGNUM* bn) {
    if (BN_num_bytes(bn) <= static_cast<int>(sizeof(BN_ULONG))) {
        char buf[96];
        unsigned long long w = BN_get_word(bn);
        std::snprintf(buf, sizeof buf, "%s %llu (0x%llx)\n", label, w, w);
        out += buf;
        return;
    }
    std::vector<unsigned char> bytes(static_cast<std::size_t>(BN_num_bytes(bn)) + 1);
    bytes[0] = 0;
    BN_bn2bin(bn, bytes.data() + 1);
    std::size_t first = bytes[1] & 0x80 ? 0 : 1;
    out += label;
    out += "\n    ";
    for (std::size_t i = first, count = 0; i < bytes.size(); ++i, ++count) {
        if (count > 0) out += count % 15 == 0 ? ":\n    " : ":";
        append_hex_byte(out, bytes[i]);
    }
    out += '\n';
}

bool rsa_text(std::string& out, const unsigned char* der, int len) {
    auto ne = rsa_numbers(der, len);
    if (!ne) return false;
    out += "Public-Key: (" + std::to_string(BN_num_bits(ne->first.get())) + " bit)\n";
    labeled_bignum(out, "Modulus:", ne->first.get());
    labeled_bignum(out, "Exponent:", ne->second.get());
    return true;
}

}  // namespace

OsslPtr<EVP_PKEY> decode_public_key(const X509_PUBKEY* spki, OSSL_LIB_CTX* libctx) {
    ERR_set_mark();
    if (auto key = decode_plain_key(spki, libctx)) {
        ERR_pop_to_mark();
        return key;
    }
    ERR_pop_to_mark();
    // Everything else, and whatever the plain forms refused, as OpenSSL decodes it.
    auto der = to_der(const_cast<X509_PUBKEY*>(spki), i2d_X509_PUBKEY);
    if (der.empty()) return nullptr;
    const unsigned char* p = der.data();
    return OsslPtr<EVP_PKEY>(
        d2i_PUBKEY_ex(nullptr, &p, static_cast<long>(der.size()), libctx, nullptr));
}

namespace {

// The named curve of an id-ecPublicKey SubjectPublicKeyInfo and its point's bytes; NID_undef
// for anything else (and for SM2, which OpenSSL types "SM2": decode_public_key's decoders).
int ec_curve(const X509_PUBKEY* spki, const unsigned char** bytes, int* len) {
    ASN1_OBJECT* alg = nullptr;
    X509_ALGOR* algor = nullptr;
    if (X509_PUBKEY_get0_param(&alg, bytes, len, &algor, spki) != 1 || *len <= 0 ||
        OBJ_obj2nid(alg) != NID_X9_62_id_ecPublicKey)
        return NID_undef;
    int ptype = V_ASN1_UNDEF;
    const void* pval = nullptr;
    X509_ALGOR_get0(nullptr, &ptype, &pval, algor);
    if (ptype != V_ASN1_OBJECT) return NID_undef;
    const int curve = OBJ_obj2nid(static_cast<const ASN1_OBJECT*>(pval));
    return curve == NID_sm2 ? NID_undef : curve;
}

}  // namespace

PublicKeyDecoder::Curve* PublicKeyDecoder::curve_of(const X509_PUBKEY* spki,
                                                    const unsigned char** bytes, int* len,
                                                    int* nid) {
    *nid = ec_curve(spki, bytes, len);
    if (*nid == NID_undef) return nullptr;
    for (auto& c : m_curves)
        if (c.nid == *nid) return &c;
    return nullptr;
}

OsslPtr<EVP_PKEY> PublicKeyDecoder::decode(const X509_PUBKEY* spki) {
    const unsigned char* bytes = nullptr;
    int len = 0, nid = NID_undef;
    if (Curve* c = curve_of(spki, &bytes, &len, &nid)) {
        ERR_set_mark();
        OsslPtr<EVP_PKEY> key(EVP_PKEY_dup(c->first.get()));
        if (key && EVP_PKEY_set1_encoded_public_key(key.get(), bytes,
                                                    static_cast<std::size_t>(len)) == 1) {
            ERR_pop_to_mark();
            return key;
        }
        ERR_pop_to_mark();
        return decode_public_key(spki, m_libctx);  // says why, or decodes what this refused
    }
    OsslPtr<EVP_PKEY> key = decode_public_key(spki, m_libctx);
    // Kept only when it is the plain named-curve EC key later copies are meant to be.
    if (nid != NID_undef && key && EVP_PKEY_is_a(key.get(), "EC")) {
        if (EVP_PKEY* first = key.get(); EVP_PKEY_up_ref(first) == 1)
            m_curves.push_back(Curve{nid, OsslPtr<EVP_PKEY>(first), nullptr});
    }
    return key;
}

PublicKeyDecoder::Reused PublicKeyDecoder::decode_reusing(const X509_PUBKEY* spki) {
    auto shared = [](const OsslPtr<EVP_PKEY>& k) {
        EVP_PKEY* p = k.get();
        return OsslPtr<EVP_PKEY>(p != nullptr && EVP_PKEY_up_ref(p) == 1 ? p : nullptr);
    };
    const unsigned char* bytes = nullptr;
    int len = 0, nid = NID_undef;
    if (Curve* c = curve_of(spki, &bytes, &len, &nid)) {
        ERR_set_mark();
        if (!c->working) c->working.reset(EVP_PKEY_dup(c->first.get()));
        if (c->working && EVP_PKEY_set1_encoded_public_key(c->working.get(), bytes,
                                                           static_cast<std::size_t>(len)) == 1) {
            ERR_pop_to_mark();
            return Reused{shared(c->working), shared(c->first)};
        }
        ERR_pop_to_mark();
        c->working.reset();  // its point may be half set: made again from `first` next time
    }
    OsslPtr<EVP_PKEY> key = decode(spki);
    OsslPtr<EVP_PKEY> stand_in = shared(key);
    return Reused{std::move(key), std::move(stand_in)};
}

std::string object_text(const ASN1_OBJECT* obj) {
    int n = OBJ_obj2txt(nullptr, 0, obj, 0);
    if (n <= 0) return {};
    std::string s(static_cast<std::size_t>(n) + 1, '\0');
    if (OBJ_obj2txt(s.data(), n + 1, obj, 0) != n) return {};
    s.resize(static_cast<std::size_t>(n));
    return s;
}

bool append_public_key_text(std::string& out, const X509_PUBKEY* spki, const EVP_PKEY* key,
                            int indent) {
    ASN1_OBJECT* alg = nullptr;
    const unsigned char* bytes = nullptr;
    int len = 0;
    X509_ALGOR* algor = nullptr;
    std::string text;
    bool done = false;
    if (X509_PUBKEY_get0_param(&alg, &bytes, &len, &algor, spki) == 1 && len > 0) {
        int ptype = V_ASN1_UNDEF;
        const void* pval = nullptr;
        X509_ALGOR_get0(nullptr, &ptype, &pval, algor);
        const auto n = static_cast<std::size_t>(len);
        switch (OBJ_obj2nid(alg)) {
            case NID_rsaEncryption:
                done =
                    (ptype == V_ASN1_NULL || ptype == V_ASN1_UNDEF) && rsa_text(text, bytes, len);
                break;
            case NID_X9_62_id_ecPublicKey: {
                // ec_to_text: the point as encoded (the key keeps the encoding's form), the
                // order's bits, the curve's short name and its NIST name if it has one.
                if (ptype != V_ASN1_OBJECT) break;
                int curve = OBJ_obj2nid(static_cast<const ASN1_OBJECT*>(pval));
                int bits = EVP_PKEY_get_bits(key);
                if (curve == NID_undef || bits <= 0) break;
                text = "Public-Key: (" + std::to_string(bits) + " bit)\n";
                labeled_bytes(text, "pub:", bytes, n);
                text += std::string("ASN1 OID: ") + OBJ_nid2sn(curve) + "\n";
                if (const char* nist = EC_curve_nid2nist(curve))
                    text += std::string("NIST CURVE: ") + nist + "\n";
                done = true;
                break;
            }
            case NID_ED25519:
            case NID_ED448:
                if (ptype != V_ASN1_UNDEF) break;
                text = OBJ_obj2nid(alg) == NID_ED25519 ? "ED25519 Public-Key:\n"
                                                       : "ED448 Public-Key:\n";
                labeled_bytes(text, "pub:", bytes, n);
                done = true;
                break;
            default:
                break;
        }
    }
    if (done) {
        append_indented(out, text, indent);
        return true;
    }
    OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio || EVP_PKEY_print_public(bio.get(), key, indent, nullptr) != 1) return false;
    out += bio_text(bio.get());
    return true;
}

bool append_signature_text(std::string& out, const X509_ALGOR* alg, const ASN1_BIT_STRING* sig) {
    const ASN1_OBJECT* oid = nullptr;
    X509_ALGOR_get0(&oid, nullptr, nullptr, alg);
    int digest_nid = NID_undef;
    int key_nid = NID_undef;
    const bool plain = OBJ_find_sigid_algs(OBJ_obj2nid(oid), &digest_nid, &key_nid) == 1 &&
                       (key_nid == NID_rsaEncryption || key_nid == NID_X9_62_id_ecPublicKey ||
                        key_nid == NID_ED25519 || key_nid == NID_ED448);
    const std::string name = plain ? object_text(oid) : std::string();
    if (name.empty()) {
        OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
        if (!bio || X509_signature_print(bio.get(), alg, sig) != 1) return false;
        out += bio_text(bio.get());
        return true;
    }
    // X509_signature_print and X509_signature_dump: 18 bytes a line, indented by 8.
    out += "    Signature Algorithm: ";
    out += name;
    out += "\n    Signature Value:\n";
    hex_lines(out, ASN1_STRING_get0_data(sig), static_cast<std::size_t>(ASN1_STRING_length(sig)),
              18, "        ");
    return true;
}

namespace {

// One DER element at `p` (of `left` bytes): its tag, and where its contents start and end.
// False for anything that is not exactly one definite-length element inside `left`.
struct Element {
    int tag = 0;
    int cls = 0;
    bool constructed = false;
    const unsigned char* begin = nullptr;  // the tag byte
    const unsigned char* content = nullptr;
    const unsigned char* end = nullptr;
};

bool next_element(const unsigned char* p, std::size_t left, Element& e) {
    if (left == 0 || left > static_cast<std::size_t>(LONG_MAX)) return false;
    const unsigned char* q = p;
    long len = 0;
    int tag = 0, cls = 0;
    const int r = ASN1_get_object(&q, &len, &tag, &cls, static_cast<long>(left));
    if ((r & 0x80) != 0 || r == 0x21) return false;  // an error, or an indefinite length
    e.tag = tag;
    e.cls = cls;
    e.constructed = (r & V_ASN1_CONSTRUCTED) != 0;
    e.begin = p;
    e.content = q;
    e.end = q + len;
    return true;
}

bool fast_digest(int md_nid) {
    return md_nid == NID_sha224 || md_nid == NID_sha256 || md_nid == NID_sha384 ||
           md_nid == NID_sha512;
}

}  // namespace

bool CertificateVerifier::verify(X509* cert, std::span<const unsigned char> der) {
    const X509_ALGOR* outer = nullptr;
    X509_get0_signature(nullptr, &outer, cert);
    if (outer == nullptr || X509_ALGOR_cmp(outer, X509_get0_tbs_sigalg(cert)) != 0) return false;
    int md_nid = NID_undef, pkey_nid = NID_undef;
    const bool known = OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, &pkey_nid) == 1;
    const bool rsa = known && pkey_nid == NID_rsaEncryption && EVP_PKEY_is_a(m_key, "RSA");
    const bool ec = known && pkey_nid == NID_X9_62_id_ecPublicKey && EVP_PKEY_is_a(m_key, "EC");
    if (!(rsa || ec) || !fast_digest(md_nid)) {
        // The certificate as `der` holds it, read back, for X509_verify.
        const unsigned char* p = der.data();
        OsslPtr<X509> written(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
        return written && p == der.data() + der.size() && X509_verify(written.get(), m_key) == 1;
    }

    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
    Element whole, tbs, alg, sig;
    if (!next_element(der.data(), der.size(), whole) || whole.tag != V_ASN1_SEQUENCE ||
        !whole.constructed || whole.end != der.data() + der.size())
        return false;
    const auto left = [&](const unsigned char* at) {
        return static_cast<std::size_t>(whole.end - at);
    };
    if (!next_element(whole.content, left(whole.content), tbs) || tbs.tag != V_ASN1_SEQUENCE ||
        !next_element(tbs.end, left(tbs.end), alg) || alg.tag != V_ASN1_SEQUENCE ||
        !next_element(alg.end, left(alg.end), sig) || sig.tag != V_ASN1_BIT_STRING ||
        sig.constructed || sig.end != whole.end || sig.content == sig.end || sig.content[0] != 0)
        return false;
    // The algorithm the bytes name is the one the digest and key were chosen by.
    const auto outer_der = to_der(const_cast<X509_ALGOR*>(outer), i2d_X509_ALGOR);
    if (outer_der.size() != static_cast<std::size_t>(alg.end - alg.begin) ||
        !std::equal(outer_der.begin(), outer_der.end(), alg.begin))
        return false;

    Digest* d = nullptr;
    for (auto& have : m_digests)
        if (have.nid == md_nid) d = &have;
    if (d == nullptr) {
        Digest made{md_nid, OsslPtr<EVP_MD>(EVP_MD_fetch(m_libctx, OBJ_nid2sn(md_nid), m_propq)),
                    OsslPtr<EVP_PKEY_CTX>(EVP_PKEY_CTX_new_from_pkey(m_libctx, m_key, m_propq))};
        if (!made.md || !made.ctx || EVP_PKEY_verify_init(made.ctx.get()) != 1 ||
            (rsa && EVP_PKEY_CTX_set_rsa_padding(made.ctx.get(), RSA_PKCS1_PADDING) != 1) ||
            EVP_PKEY_CTX_set_signature_md(made.ctx.get(), made.md.get()) != 1)
            return false;
        m_digests.push_back(std::move(made));
        d = &m_digests.back();
    }
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int hash_len = 0;
    if (EVP_Digest(tbs.begin, static_cast<std::size_t>(tbs.end - tbs.begin), hash, &hash_len,
                   d->md.get(), nullptr) != 1)
        return false;
    return EVP_PKEY_verify(d->ctx.get(), sig.content + 1,
                           static_cast<std::size_t>(sig.end - sig.content - 1), hash,
                           hash_len) == 1;
}

std::string certificate_pem_from_der(std::span<const unsigned char> der) {
    static constexpr char kBegin[] = "-----BEGIN CERTIFICATE-----\n";
    static constexpr char kEnd[] = "-----END CERTIFICATE-----\n";
    std::string out;
    const std::size_t lines = (der.size() + 47) / 48;
    out.reserve(sizeof kBegin + sizeof kEnd + lines * 65);
    out += kBegin;
    unsigned char line[65];
    for (std::size_t at = 0; at < der.size(); at += 48) {
        const int n = static_cast<int>(std::min<std::size_t>(48, der.size() - at));
        const int chars = EVP_EncodeBlock(line, der.data() + at, n);
        out.append(reinterpret_cast<const char*>(line), static_cast<std::size_t>(chars));
        out += '\n';
    }
    out += kEnd;
    return out;
}

}  // namespace ts::signer
