// SPDX-License-Identifier: Apache-2.0
// Private-key operations on the token through hsm/ (hsm::sign, hsm::decrypt, hsm::derive_ecdh).
#include "provider/token_ops.hpp"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>

#include "hsm/crypto.hpp"
#include "hsm/error.hpp"
#include "hsm/mechanism.hpp"
#include "hsm/token.hpp"

namespace ts::prov {
namespace {

const TokenRef& token_ref(const Key& key) {
    if (!key.ref) throw std::invalid_argument("this key has no private half on a token");
    return *key.ref;
}

// A pooled session, after the one login per process (no-op once logged in; never with
// login-behaviour=never). Sessions run in parallel: there is no lock around C_Sign.
template <class F>
auto on_token(const Key& key, F&& op) {
    const TokenRef& ref = token_ref(key);
    if (key.prov->login != LoginBehaviour::Never) ref.token->login(ref.pins);
    hsm::Session s = ref.token->acquire();
    try {
        return op(s, ref, ref.handle_for(s));
    } catch (const hsm::Pkcs11Error& e) {
        // A session copy can vanish (its session closed, a token reset): once more with a
        // fresh one, or the token object.
        if (e.rv() != CKR_KEY_HANDLE_INVALID && e.rv() != CKR_OBJECT_HANDLE_INVALID) throw;
        ref.forget_copy(s);
        hsm::Session again = ref.token->acquire();
        return op(again, ref, ref.handle_for(again));
    }
}

std::vector<unsigned char> sign_on_token(const Key& key, const CK_MECHANISM& mech,
                                         std::span<const unsigned char> data,
                                         std::size_t size_hint = 0) {
    return on_token(key, [&](hsm::Session& s, const TokenRef& ref, const hsm::KeyHandle& h) {
        return hsm::sign(s, h, mech, data, ref.pins, size_hint);
    });
}

// The token's raw signature size (PKCS#11 §2: modulus bytes; r||s; EdDSA R||S), so hsm::sign
// skips the size query on the hot path.
std::size_t raw_size(const Key& key) {
    const hsm::PublicKey& p = *key.pub;
    switch (p.kind) {
        case hsm::KeyKind::Rsa:
            return static_cast<std::size_t>(EVP_PKEY_get_size(key.host.get()));
        case hsm::KeyKind::Ec:
            return 2 * ((p.bits() + 7) / 8);
        case hsm::KeyKind::Ed25519:
            return 64;
        case hsm::KeyKind::Ed448:
            return 114;
    }
    return 0;
}

struct MdInfo {
    int nid;
    CK_MECHANISM_TYPE hash;
    CK_RSA_PKCS_MGF_TYPE mgf;
};

MdInfo md_info(OSSL_LIB_CTX* host, const std::string& name) {
    OsslPtr<EVP_MD> md(EVP_MD_fetch(host, name.c_str(), nullptr));
    if (!md) throw hsm::UnsupportedError("unknown digest '" + name + "'");
    switch (EVP_MD_get_type(md.get())) {
        case NID_sha1:
            return {NID_sha1, CKM_SHA_1, CKG_MGF1_SHA1};
        case NID_sha224:
            return {NID_sha224, CKM_SHA224, CKG_MGF1_SHA224};
        case NID_sha256:
            return {NID_sha256, CKM_SHA256, CKG_MGF1_SHA256};
        case NID_sha384:
            return {NID_sha384, CKM_SHA384, CKG_MGF1_SHA384};
        case NID_sha512:
            return {NID_sha512, CKM_SHA512, CKG_MGF1_SHA512};
        default:
            throw hsm::UnsupportedError("digest '" + name +
                                        "' is not supported with token RSA keys (SHA-1, SHA-2)");
    }
}

int get_int_param(EVP_PKEY_CTX* ctx, const char* name, int dflt) {
    int v = dflt;
    OSSL_PARAM p[] = {OSSL_PARAM_construct_int(name, &v), OSSL_PARAM_END};
    if (EVP_PKEY_CTX_get_params(ctx, p) != 1 || !OSSL_PARAM_modified(p)) return dflt;
    return v;
}

std::string get_string_param(EVP_PKEY_CTX* ctx, const char* name) {
    char buf[80] = {0};
    OSSL_PARAM p[] = {OSSL_PARAM_construct_utf8_string(name, buf, sizeof buf), OSSL_PARAM_END};
    if (EVP_PKEY_CTX_get_params(ctx, p) != 1 || !OSSL_PARAM_modified(p)) return {};
    return buf;
}

// DER DigestInfo (RFC 8017 §9.2) around a digest.
std::vector<unsigned char> digest_info(int md_nid, std::span<const unsigned char> dgst) {
    OsslPtr<X509_SIG> sig(X509_SIG_new());
    host_check(sig != nullptr, "X509_SIG_new");
    X509_ALGOR* alg = nullptr;
    ASN1_OCTET_STRING* digest = nullptr;
    X509_SIG_getm(sig.get(), &alg, &digest);
    host_check(X509_ALGOR_set0(alg, OBJ_nid2obj(md_nid), V_ASN1_NULL, nullptr) == 1 &&
                   ASN1_OCTET_STRING_set(digest, dgst.data(), static_cast<int>(dgst.size())) == 1,
               "building a DigestInfo");
    auto out = to_der(sig.get(), i2d_X509_SIG);
    host_check(!out.empty(), "encoding a DigestInfo");
    return out;
}

// RFC 8017 §9.1.1: emLen = ceil((modBits - 1) / 8); the salt fits in emLen - hLen - 2.
int pss_salt_length(const Key& key, int saltlen, int md_size) {
    int bits = EVP_PKEY_get_bits(key.host.get());
    int em_len = (bits - 1 + 7) / 8;
    int max = em_len - md_size - 2;
    if (max < 0) throw hsm::UnsupportedError("the RSA key is too small for PSS with this digest");
    switch (saltlen) {
        case RSA_PSS_SALTLEN_DIGEST:
            return md_size;
        case RSA_PSS_SALTLEN_AUTO:  // signing: as large as fits, as OpenSSL does
        case RSA_PSS_SALTLEN_MAX:
            return max;
        default:
            if (saltlen < 0 || saltlen > max) {
                throw hsm::UnsupportedError("PSS salt length " + std::to_string(saltlen) +
                                            " does not fit (0.." + std::to_string(max) + ")");
            }
            return saltlen;
    }
}

}  // namespace

std::string mirror_digest(EVP_PKEY_CTX* mirror) {
    return get_string_param(mirror, OSSL_SIGNATURE_PARAM_DIGEST);
}

void pin_pss_salt_length(const Key& key, EVP_PKEY_CTX* mirror) {
    if (get_int_param(mirror, OSSL_SIGNATURE_PARAM_PAD_MODE, 0) != RSA_PKCS1_PSS_PADDING) return;
    int salt = get_int_param(mirror, OSSL_SIGNATURE_PARAM_PSS_SALTLEN, RSA_PSS_SALTLEN_AUTO);
    if (salt >= 0) return;
    std::string md = mirror_digest(mirror);
    if (md.empty()) return;
    OsslPtr<EVP_MD> evp_md(EVP_MD_fetch(key.prov->host_ctx(), md.c_str(), nullptr));
    if (!evp_md) return;
    int n = pss_salt_length(key, salt, EVP_MD_get_size(evp_md.get()));
    OSSL_PARAM p[] = {OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &n),
                      OSSL_PARAM_END};
    host_check(EVP_PKEY_CTX_set_params(mirror, p) == 1, "setting the PSS salt length");
}

std::vector<unsigned char> rsa_sign_digest(const Key& key, EVP_PKEY_CTX* mirror,
                                           const std::string& mdname,
                                           std::span<const unsigned char> tbs) {
    int pad = mirror != nullptr
                  ? get_int_param(mirror, OSSL_SIGNATURE_PARAM_PAD_MODE, RSA_PKCS1_PADDING)
                  : RSA_PKCS1_PADDING;
    std::string md = mirror != nullptr ? mirror_digest(mirror) : mdname;
    switch (pad) {
        case RSA_PKCS1_PADDING: {
            CK_MECHANISM mech{CKM_RSA_PKCS, nullptr, 0};
            if (md.empty()) return sign_on_token(key, mech, tbs, raw_size(key));
            MdInfo mi = md_info(key.prov->host_ctx(), md);
            return sign_on_token(key, mech, digest_info(mi.nid, tbs), raw_size(key));
        }
        case RSA_PKCS1_PSS_PADDING: {
            if (md.empty()) throw hsm::UnsupportedError("RSA-PSS needs a digest");
            MdInfo mi = md_info(key.prov->host_ctx(), md);
            std::string mgf1 = get_string_param(mirror, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
            MdInfo mgf = mgf1.empty() ? mi : md_info(key.prov->host_ctx(), mgf1);
            OsslPtr<EVP_MD> evp_md(EVP_MD_fetch(key.prov->host_ctx(), md.c_str(), nullptr));
            int md_size = EVP_MD_get_size(evp_md.get());
            if (tbs.size() != static_cast<std::size_t>(md_size)) {
                throw std::invalid_argument("the data to sign is not a " + md + " digest");
            }
            int salt = pss_salt_length(
                key, get_int_param(mirror, OSSL_SIGNATURE_PARAM_PSS_SALTLEN, RSA_PSS_SALTLEN_AUTO),
                md_size);
            CK_RSA_PKCS_PSS_PARAMS pss{mi.hash, mgf.mgf, static_cast<CK_ULONG>(salt)};
            CK_MECHANISM mech{CKM_RSA_PKCS_PSS, &pss, sizeof pss};
            return sign_on_token(key, mech, tbs, raw_size(key));
        }
        case RSA_NO_PADDING: {
            // RSA_padding_add_none, as the default provider: the input is exactly one modulus
            // long. The token would zero-pad shorter input (PKCS#11 §2.1.7), which signs a
            // different value than the caller gave.
            const std::size_t k = raw_size(key);
            if (tbs.size() != k) {
                throw std::invalid_argument(std::string(tbs.size() < k
                                                            ? "data too small for key size"
                                                            : "data too large for key size") +
                                            ": pad-mode none signs exactly " + std::to_string(k) +
                                            " bytes, not " + std::to_string(tbs.size()));
            }
            CK_MECHANISM mech{CKM_RSA_X_509, nullptr, 0};
            return sign_on_token(key, mech, tbs, k);
        }
        default:
            throw hsm::UnsupportedError("RSA padding mode " + std::to_string(pad) +
                                        " is not supported for signing with a token key");
    }
}

namespace {

// PKCS#11 §2.3.1: r || s, each as long as the order; X9.62 wants SEQUENCE { r, s }.
std::vector<unsigned char> ecdsa_der(const std::vector<unsigned char>& rs) {
    if (rs.empty() || rs.size() % 2 != 0) {
        throw hsm::Error("the token returned a malformed ECDSA signature (" +
                         std::to_string(rs.size()) + " bytes)");
    }
    const int half = static_cast<int>(rs.size() / 2);
    OsslPtr<BIGNUM> r(BN_bin2bn(rs.data(), half, nullptr));
    OsslPtr<BIGNUM> s(BN_bin2bn(rs.data() + half, half, nullptr));
    OsslPtr<ECDSA_SIG> sig(ECDSA_SIG_new());
    host_check(r && s && sig && ECDSA_SIG_set0(sig.get(), r.get(), s.get()) == 1,
               "building an ECDSA signature");
    r.release();
    s.release();
    auto out = to_der(sig.get(), i2d_ECDSA_SIG);
    host_check(!out.empty(), "encoding an ECDSA signature");
    return out;
}

// The hashing mechanisms by digest: PKCS#1 v1.5, PSS, ECDSA (PKCS#11 v2.40 §2.1.15, §2.3.1).
struct HashedFamily {
    CK_MECHANISM_TYPE hash;
    CK_MECHANISM_TYPE rsa_pkcs;
    CK_MECHANISM_TYPE rsa_pss;
    CK_MECHANISM_TYPE ecdsa;
};
constexpr HashedFamily kHashed[] = {
    {CKM_SHA_1, CKM_SHA1_RSA_PKCS, CKM_SHA1_RSA_PKCS_PSS, CKM_ECDSA_SHA1},
    {CKM_SHA224, CKM_SHA224_RSA_PKCS, CKM_SHA224_RSA_PKCS_PSS, CKM_ECDSA_SHA224},
    {CKM_SHA256, CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS, CKM_ECDSA_SHA256},
    {CKM_SHA384, CKM_SHA384_RSA_PKCS, CKM_SHA384_RSA_PKCS_PSS, CKM_ECDSA_SHA384},
    {CKM_SHA512, CKM_SHA512_RSA_PKCS, CKM_SHA512_RSA_PKCS_PSS, CKM_ECDSA_SHA512},
};

int rsa_pad_mode(const Key& key, EVP_PKEY_CTX* mirror) {
    if (mirror != nullptr) {
        return get_int_param(mirror, OSSL_SIGNATURE_PARAM_PAD_MODE, RSA_PKCS1_PADDING);
    }
    return key.type == "RSA-PSS" ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING;
}

// The mechanism that signs a host digest, or CKM_VENDOR_DEFINED for paddings without one.
CK_MECHANISM_TYPE raw_mechanism(const Key& key, bool ecdsa, EVP_PKEY_CTX* mirror) {
    if (ecdsa) return CKM_ECDSA;
    switch (rsa_pad_mode(key, mirror)) {
        case RSA_PKCS1_PADDING:
            return CKM_RSA_PKCS;
        case RSA_PKCS1_PSS_PADDING:
            return CKM_RSA_PKCS_PSS;
        case RSA_NO_PADDING:
            return CKM_RSA_X_509;
        default:
            return CKM_VENDOR_DEFINED;
    }
}

}  // namespace

CK_MECHANISM HashedMechanism::mechanism() const {
    return {type, has_pss ? const_cast<CK_RSA_PKCS_PSS_PARAMS*>(&pss) : nullptr,
            has_pss ? static_cast<CK_ULONG>(sizeof pss) : 0};
}

std::optional<HashedMechanism> choose_sign_mechanism(const Key& key, bool ecdsa,
                                                     EVP_PKEY_CTX* mirror, const std::string& md) {
    const TokenRef& ref = token_ref(key);
    const CK_MECHANISM_TYPE raw = raw_mechanism(key, ecdsa, mirror);
    if (raw == CKM_VENDOR_DEFINED || raw == CKM_RSA_X_509) return std::nullopt;  // no variant
    // The fast path: most keys, and the first question, so it costs one cached lookup.
    if (ref.permits(raw)) return std::nullopt;
    if (md.empty()) return std::nullopt;  // nothing to hash with: the raw attempt reports it
    const MdInfo mi = md_info(key.prov->host_ctx(), md);
    HashedMechanism out;
    out.ecdsa = ecdsa;
    for (const HashedFamily& f : kHashed) {
        if (f.hash != mi.hash) continue;
        out.type = ecdsa ? f.ecdsa : raw == CKM_RSA_PKCS_PSS ? f.rsa_pss : f.rsa_pkcs;
    }
    if (out.type == CKM_VENDOR_DEFINED || !ref.permits(out.type)) {
        // A key without restrictions on a token that does not list the raw mechanism: try it
        // anyway (and let the token say no), as before mechanism lists were asked.
        if (!ref.allowed) return std::nullopt;
        if (out.type != CKM_VENDOR_DEFINED &&
            std::find(ref.allowed->begin(), ref.allowed->end(), out.type) != ref.allowed->end()) {
            throw hsm::UnsupportedError(ref.describe() + " may be used only with " +
                                        ref.allowed_names() + ", and the token does not offer " +
                                        hsm::mechanism_name(out.type) +
                                        " (C_GetMechanismList): it cannot sign with this key");
        }
        throw hsm::UnsupportedError(ref.describe() + " may be used only with " +
                                    ref.allowed_names() + "; none of them makes this signature (" +
                                    hsm::mechanism_name(raw) + " over a host digest, or " +
                                    (out.type == CKM_VENDOR_DEFINED
                                         ? std::string("a mechanism hashing with ") + md
                                         : hsm::mechanism_name(out.type)) +
                                    " on the token): choose a digest or padding the key allows");
    }
    if (raw == CKM_RSA_PKCS_PSS) {
        std::string mgf1 = get_string_param(mirror, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
        MdInfo mgf = mgf1.empty() ? mi : md_info(key.prov->host_ctx(), mgf1);
        OsslPtr<EVP_MD> evp_md(EVP_MD_fetch(key.prov->host_ctx(), md.c_str(), nullptr));
        int salt = pss_salt_length(
            key, get_int_param(mirror, OSSL_SIGNATURE_PARAM_PSS_SALTLEN, RSA_PSS_SALTLEN_AUTO),
            EVP_MD_get_size(evp_md.get()));
        out.has_pss = true;
        out.pss = {mi.hash, mgf.mgf, static_cast<CK_ULONG>(salt)};
    }
    return out;
}

void check_raw_signing(const Key& key, bool ecdsa) {
    const TokenRef& ref = token_ref(key);
    if (!ref.allowed) return;
    // At init the padding may still change (pkeyutl sets it afterwards): refuse only a key that
    // allows no mechanism over a precomputed digest at all; the token judges the rest.
    if (ecdsa ? ref.permits(CKM_ECDSA)
              : ref.permits(CKM_RSA_PKCS) || ref.permits(CKM_RSA_PKCS_PSS) ||
                    ref.permits(CKM_RSA_X_509)) {
        return;
    }
    throw hsm::UnsupportedError(ref.describe() + " may be used only with " + ref.allowed_names() +
                                ", none of which signs a precomputed digest; sign the message "
                                "(openssl dgst -sign, EVP_DigestSign) so the token hashes it");
}

std::vector<unsigned char> sign_hashed(const Key& key, const HashedMechanism& m,
                                       std::span<const unsigned char> msg) {
    CK_MECHANISM mech = m.mechanism();
    std::vector<unsigned char> sig = sign_on_token(key, mech, msg, raw_size(key));
    return m.ecdsa ? ecdsa_der(sig) : sig;
}

hsm::SignOperation start_hashed(const Key& key, const HashedMechanism& m) {
    const TokenRef& ref = token_ref(key);
    if (key.prov->login != LoginBehaviour::Never) ref.token->login(ref.pins);
    hsm::Session s = ref.token->acquire();
    hsm::KeyHandle h = ref.handle_for(s);
    CK_MECHANISM mech = m.mechanism();
    return hsm::SignOperation(std::move(s), h, mech, ref.pins);
}

std::vector<unsigned char> finish_hashed(const Key& key, const HashedMechanism& m,
                                         hsm::SignOperation& op) {
    std::vector<unsigned char> sig = op.final(raw_size(key));
    return m.ecdsa ? ecdsa_der(sig) : sig;
}

std::vector<unsigned char> ecdsa_sign_digest(const Key& key, std::span<const unsigned char> dgst) {
    CK_MECHANISM mech{CKM_ECDSA, nullptr, 0};
    return ecdsa_der(sign_on_token(key, mech, dgst, raw_size(key)));
}

std::vector<unsigned char> eddsa_sign(const Key& key, std::span<const unsigned char> msg) {
    CK_MECHANISM mech{CKM_EDDSA, nullptr, 0};
    return sign_on_token(key, mech, msg, raw_size(key));
}

hsm::SecureBytes rsa_decrypt(const Key& key, int padding, const std::string& oaep_md,
                             const std::string& mgf1_md, std::span<const unsigned char> label,
                             std::span<const unsigned char> in) {
    CK_MECHANISM mech{CKM_RSA_PKCS, nullptr, 0};
    CK_RSA_PKCS_OAEP_PARAMS oaep{};
    std::vector<unsigned char> label_copy(label.begin(), label.end());
    switch (padding) {
        case RSA_PKCS1_PADDING:
            break;
        case RSA_NO_PADDING:
            mech.mechanism = CKM_RSA_X_509;
            break;
        case RSA_PKCS1_OAEP_PADDING: {
            MdInfo mi = md_info(key.prov->host_ctx(), oaep_md.empty() ? "SHA1" : oaep_md);
            MdInfo mgf = mgf1_md.empty() ? mi : md_info(key.prov->host_ctx(), mgf1_md);
            oaep.hashAlg = mi.hash;
            oaep.mgf = mgf.mgf;
            oaep.source = CKZ_DATA_SPECIFIED;
            oaep.pSourceData = label_copy.empty() ? nullptr : label_copy.data();
            oaep.ulSourceDataLen = static_cast<CK_ULONG>(label_copy.size());
            mech = {CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep};
            break;
        }
        default:
            throw hsm::UnsupportedError("RSA padding mode " + std::to_string(padding) +
                                        " is not supported for decryption with a token key");
    }
    return on_token(key, [&](hsm::Session& s, const TokenRef& ref, const hsm::KeyHandle& h) {
        return hsm::decrypt(s, h, mech, in, ref.pins);
    });
}

namespace {

// Constant-time helpers (as OpenSSL's internal/constant_time.h): masks of all ones or zeros.
unsigned ct_msb(unsigned a) { return 0u - (a >> (sizeof(a) * 8 - 1)); }
unsigned ct_is_zero(unsigned a) { return ct_msb(~a & (a - 1)); }
unsigned ct_eq(unsigned a, unsigned b) { return ct_is_zero(a ^ b); }
unsigned char ct_select(unsigned mask, unsigned char a, unsigned char b) {
    return static_cast<unsigned char>((mask & a) | (~mask & b));
}

constexpr std::size_t kTlsPremaster = 48;  // SSL_MAX_MASTER_KEY_LENGTH

// C_Decrypt refusing the ciphertext (not C_DecryptInit refusing the key or mechanism). SoftHSM2
// reports a bad PKCS#1 padding as CKR_GENERAL_ERROR; a device that truly failed then costs the
// client a failed handshake (its Finished does not verify), not an oracle.
bool padding_rejected(const hsm::Pkcs11Error& e) {
    if (e.function() != "C_Decrypt") return false;
    return e.rv() == CKR_ENCRYPTED_DATA_INVALID || e.rv() == CKR_ENCRYPTED_DATA_LEN_RANGE ||
           e.rv() == CKR_DATA_INVALID || e.rv() == CKR_DATA_LEN_RANGE ||
           e.rv() == CKR_GENERAL_ERROR || e.rv() == CKR_FUNCTION_FAILED;
}

}  // namespace

hsm::SecureBytes rsa_decrypt_tls(const Key& key, unsigned client_version, unsigned alt_version,
                                 std::span<const unsigned char> in) {
    const TokenRef& ref = token_ref(key);
    const std::size_t k = raw_size(key);
    if (in.size() > k || k < 11 + kTlsPremaster) {
        throw std::invalid_argument("the encrypted pre-master secret is longer than the modulus");
    }
    // Drawn first, whatever the ciphertext holds.
    hsm::SecureBytes random(kTlsPremaster);
    host_check(RAND_priv_bytes_ex(key.prov->host_ctx(), random.data(), random.size(), 0) == 1,
               "drawing random bytes");
    hsm::SecureBytes out(kTlsPremaster);
    auto run = [&](CK_MECHANISM_TYPE type, std::span<const unsigned char> c) {
        CK_MECHANISM mech{type, nullptr, 0};
        return on_token(key, [&](hsm::Session& s, const TokenRef& r, const hsm::KeyHandle& h) {
            return hsm::decrypt(s, h, mech, c, r.pins);
        });
    };
    if (ref.permits(CKM_RSA_X_509)) {
        // The whole block on the host: ossl_rsa_padding_check_PKCS1_type_2_TLS, constant time.
        hsm::SecureBytes c(k - in.size(), 0);
        c.insert(c.end(), in.begin(), in.end());
        hsm::SecureBytes m = run(CKM_RSA_X_509, c);
        if (m.size() > k) throw hsm::Error("the token returned more than a modulus");
        hsm::SecureBytes em(k - m.size(), 0);  // a token may strip leading zeros
        em.insert(em.end(), m.begin(), m.end());
        unsigned good = ct_is_zero(em[0]) & ct_eq(em[1], 2);
        for (std::size_t i = 2; i < k - kTlsPremaster - 1; ++i) good &= ~ct_is_zero(em[i]);
        good &= ct_is_zero(em[k - kTlsPremaster - 1]);
        const unsigned char* pms = em.data() + (k - kTlsPremaster);
        unsigned version_good =
            ct_eq(pms[0], (client_version >> 8) & 0xff) & ct_eq(pms[1], client_version & 0xff);
        if (alt_version != 0) {
            version_good |=
                ct_eq(pms[0], (alt_version >> 8) & 0xff) & ct_eq(pms[1], alt_version & 0xff);
        }
        good &= version_good;
        for (std::size_t i = 0; i < kTlsPremaster; ++i) out[i] = ct_select(good, pms[i], random[i]);
        return out;
    }
    // The token removes the padding; a refusal of it becomes the random secret, never an error.
    unsigned good = 0;
    hsm::SecureBytes m(kTlsPremaster, 0);
    try {
        hsm::SecureBytes plain = run(CKM_RSA_PKCS, in);
        good = ct_eq(static_cast<unsigned>(plain.size()), kTlsPremaster);
        if (plain.size() == kTlsPremaster) m = std::move(plain);
    } catch (const hsm::Pkcs11Error& e) {
        if (!padding_rejected(e)) throw;
    }
    unsigned version_good =
        ct_eq(m[0], (client_version >> 8) & 0xff) & ct_eq(m[1], client_version & 0xff);
    if (alt_version != 0) {
        version_good |= ct_eq(m[0], (alt_version >> 8) & 0xff) & ct_eq(m[1], alt_version & 0xff);
    }
    good &= version_good;
    for (std::size_t i = 0; i < kTlsPremaster; ++i) out[i] = ct_select(good, m[i], random[i]);
    return out;
}

hsm::SecureBytes ecdh_derive(const Key& key, std::span<const unsigned char> peer_point,
                             std::size_t secret_len, bool cofactor) {
    return on_token(key, [&](hsm::Session& s, const TokenRef& ref, const hsm::KeyHandle& h) {
        return hsm::derive_ecdh(s, h, peer_point, static_cast<CK_ULONG>(secret_len), ref.pins,
                                cofactor ? CKM_ECDH1_COFACTOR_DERIVE : CKM_ECDH1_DERIVE);
    });
}

}  // namespace ts::prov
