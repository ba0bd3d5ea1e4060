// SPDX-License-Identifier: Apache-2.0
// SIGNATURE for token keys (provider-signature(7)): RSA PKCS#1 v1.5 and PSS, ECDSA, EdDSA.
// Digests are computed on the host and only the digest goes to the token (CKM_RSA_PKCS with a
// DigestInfo, CKM_RSA_PKCS_PSS, CKM_ECDSA): copyable contexts, and SoftHSM2's broken hashed
// ECDSA is never used. Only a key whose token refuses that (CKA_ALLOWED_MECHANISMS lists just
// CKM_SHA256_RSA_PKCS_PSS, CKM_ECDSA_SHA256 ...) signs with a mechanism that hashes on the
// token; the choice is made once per context (choose_sign_mechanism).
// Each context keeps a host "mirror" verify context on the public key; it parses every
// parameter exactly as OpenSSL's default provider does, encodes the AlgorithmIdentifier, and
// verifies.
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hsm/crypto.hpp"
#include "hsm/error.hpp"
#include "provider/algorithms.hpp"
#include "provider/dispatch.hpp"
#include "provider/key.hpp"
#include "provider/token_ops.hpp"

namespace ts::prov {
namespace {

// Messages up to this size are signed in one C_Sign (contexts copy, and tokens whose multi-part
// hashed ECDSA is broken still sign right); larger ones stream with C_SignUpdate.
constexpr std::size_t kStreamThreshold = 1 << 20;

enum class SigAlg { Rsa, Ecdsa, Eddsa };

struct SigCtx {
    ProvCtx* prov = nullptr;
    SigAlg alg = SigAlg::Rsa;
    // Borrowed: EVP keeps the EVP_PKEY (so its keydata) alive as long as any context of it.
    const Key* key = nullptr;
    bool signing = false;
    bool digest_mode = false;  // digest_*_init (else sign_init/verify_init)
    std::string mdname;        // the digest given at init ("" for none)
    // The host mirror: a digest-verify (digest mode) or verify context on the public key, made
    // only when needed (parameters, AlgorithmIdentifier, verification). Soft keys sign with it.
    OsslPtr<EVP_MD_CTX> mirror_md;
    OsslPtr<EVP_PKEY_CTX> mirror_raw;
    // The host digest of a token digest-sign operation.
    OsslPtr<EVP_MD_CTX> digest;
    // Set when the token hashes (the key refuses the raw mechanism): the message is kept here
    // up to kStreamThreshold and signed in one C_Sign; beyond, it streams into `stream`.
    std::optional<HashedMechanism> hashed;
    std::vector<unsigned char> buffered;
    std::unique_ptr<hsm::SignOperation> stream;
    bool moved = false;   // `stream` went to a copy of this context (sig_dupctx)
    std::string refusal;  // why the key can make no signature with these parameters

    bool soft() const { return signing && key != nullptr && key->soft_private; }
    EVP_PKEY_CTX* existing_mirror() const {
        return mirror_md ? EVP_MD_CTX_get_pkey_ctx(mirror_md.get()) : mirror_raw.get();
    }
    EVP_PKEY_CTX* mirror() {
        if (EVP_PKEY_CTX* m = existing_mirror()) return m;
        if (key == nullptr) throw std::invalid_argument("signature operation before init");
        const char* md = mdname.empty() ? nullptr : mdname.c_str();
        if (digest_mode) {
            mirror_md.reset(EVP_MD_CTX_new());
            host_check(mirror_md && (soft() ? EVP_DigestSignInit_ex(mirror_md.get(), nullptr, md,
                                                                    prov->host_ctx(), nullptr,
                                                                    key->host.get(), nullptr)
                                            : EVP_DigestVerifyInit_ex(
                                                  mirror_md.get(), nullptr, md, prov->host_ctx(),
                                                  nullptr, key->host.get(), nullptr)) == 1,
                       "preparing the host digest context");
            return EVP_MD_CTX_get_pkey_ctx(mirror_md.get());
        }
        mirror_raw.reset(EVP_PKEY_CTX_new_from_pkey(prov->host_ctx(), key->host.get(), nullptr));
        host_check(mirror_raw && (soft() ? EVP_PKEY_sign_init(mirror_raw.get())
                                         : EVP_PKEY_verify_init(mirror_raw.get())) == 1,
                   "preparing the host context");
        return mirror_raw.get();
    }
};

template <SigAlg A>
void* sig_newctx(void* provctx, const char*) noexcept {
    auto* prov = static_cast<ProvCtx*>(provctx);
    return TS_GUARD(prov, static_cast<void*>(nullptr), [&]() -> void* {
        auto c = std::make_unique<SigCtx>();
        c->prov = prov;
        c->alg = A;
        return c.release();
    });
}

void sig_freectx(void* vctx) noexcept { delete static_cast<SigCtx*>(vctx); }

// provider-signature(7): dupctx cannot fail in 3.0 callers' eyes (EVP_DigestSignFinal
// duplicates before finalising); everything here is a host copy, so it does not.
void* sig_dupctx(void* vctx) noexcept {
    auto* src = static_cast<SigCtx*>(vctx);
    return TS_GUARD(src->prov, static_cast<void*>(nullptr), [&]() -> void* {
        auto c = std::make_unique<SigCtx>();
        c->prov = src->prov;
        c->alg = src->alg;
        c->key = src->key;
        c->signing = src->signing;
        c->digest_mode = src->digest_mode;
        c->mdname = src->mdname;
        if (src->mirror_md) {
            c->mirror_md.reset(EVP_MD_CTX_new());
            host_check(c->mirror_md && EVP_MD_CTX_copy_ex(c->mirror_md.get(), src->mirror_md.get()),
                       "copying a digest-verify context");
        }
        if (src->mirror_raw) {
            c->mirror_raw.reset(EVP_PKEY_CTX_dup(src->mirror_raw.get()));
            host_check(c->mirror_raw != nullptr, "copying a verify context");
        }
        if (src->digest) {
            c->digest.reset(EVP_MD_CTX_new());
            host_check(c->digest && EVP_MD_CTX_copy_ex(c->digest.get(), src->digest.get()),
                       "copying a digest context");
        }
        c->hashed = src->hashed;
        c->buffered = src->buffered;
        if (src->stream) {
            // A token operation cannot be copied, and dupctx must not fail in 3.0
            // (EVP_DigestSignFinal duplicates, then finalises the copy): the copy takes the live
            // operation over and the original can no longer finish it.
            c->stream = std::move(src->stream);
            src->moved = true;
        }
        c->moved = src->moved && !c->stream;
        c->refusal = src->refusal;
        return c.release();
    });
}

void set_key(SigCtx& c, void* provkey, bool signing, bool digest_mode, const char* mdname) {
    auto* k = static_cast<const Key*>(provkey);
    if (k == nullptr) k = c.key;  // re-initialisation keeps the key (EVP does)
    if (k == nullptr || !k->host) throw std::invalid_argument("no key given for the signature");
    if (signing && !k->has_private()) {
        throw std::invalid_argument("this key has no private half on a token: it cannot sign");
    }
    c.key = k;
    c.signing = signing;
    c.digest_mode = digest_mode;
    c.mdname = mdname != nullptr ? mdname : "";
    c.mirror_md.reset();
    c.mirror_raw.reset();
    c.digest.reset();
    c.hashed.reset();
    c.buffered.clear();
    c.stream.reset();
    c.moved = false;
    c.refusal.clear();
}

bool has_params(const OSSL_PARAM params[]) { return params != nullptr && params[0].key != nullptr; }

// Starts (or restarts) the host digest of a token digest-sign operation.
void start_digest(SigCtx& c) {
    OsslPtr<EVP_MD> evp_md(EVP_MD_fetch(c.prov->host_ctx(), c.mdname.c_str(), nullptr));
    if (!evp_md) throw hsm::UnsupportedError("unknown digest '" + c.mdname + "'");
    if (!c.digest) c.digest.reset(EVP_MD_CTX_new());
    host_check(c.digest && EVP_DigestInit_ex2(c.digest.get(), evp_md.get(), nullptr) == 1,
               "starting the host digest");
}

bool token_digest_sign(const SigCtx& c) {
    return c.digest_mode && c.signing && !c.soft() && c.alg != SigAlg::Eddsa;
}

// Decides, once per context, whether the host hashes (raw mechanism) or the token does.
void choose_mechanism(SigCtx& c, bool md_changed) {
    std::optional<HashedMechanism> hashed;
    c.refusal.clear();
    try {
        hashed =
            choose_sign_mechanism(*c.key, c.alg == SigAlg::Ecdsa, c.existing_mirror(), c.mdname);
    } catch (const hsm::UnsupportedError& e) {
        // Said when signing: EVP_DigestSignInit comes before the parameters that may fix it
        // (openssl dgst -sigopt rsa_padding_mode:pss).
        c.refusal = e.what();
    }
    if (hashed) {
        c.digest.reset();
    } else if (c.hashed || md_changed || !c.digest) {
        start_digest(c);
    }
    c.hashed = hashed;
}

int set_params_on_mirror(SigCtx& c, const OSSL_PARAM params[]) {
    if (!has_params(params)) return 1;
    host_check(EVP_PKEY_CTX_set_params(c.mirror(), params) == 1, "invalid signature parameter");
    // A digest set by parameter (not at init) replaces the token path's host digest; a padding
    // or digest change may change the mechanism.
    if (token_digest_sign(c)) {
        std::string md = mirror_digest(c.mirror());
        bool md_changed = !md.empty() && md != c.mdname;
        if (md_changed) c.mdname = md;
        choose_mechanism(c, md_changed);
    }
    return 1;
}

// The mirror is needed from the start for soft keys (they sign with it), for verification,
// and for RSA-PSS keys (their defaults come from the key's restrictions).
void mirror_now_if_needed(SigCtx& c) {
    if (c.soft() || !c.signing || c.key->type == "RSA-PSS") (void)c.mirror();
}

template <bool Signing>
int sig_init(void* vctx, void* provkey, const OSSL_PARAM params[]) noexcept {
    auto* c = static_cast<SigCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (c->alg == SigAlg::Eddsa) {
            throw hsm::UnsupportedError("EdDSA signs messages only (EVP_DigestSign one-shot)");
        }
        set_key(*c, provkey, Signing, false, nullptr);
        mirror_now_if_needed(*c);
        int ok = set_params_on_mirror(*c, params);
        // A key that lets only the token hash cannot sign a caller's digest: say so now.
        if (Signing && !c->soft() && c->alg != SigAlg::Eddsa) {
            check_raw_signing(*c->key, c->alg == SigAlg::Ecdsa);
        }
        return ok;
    });
}

template <bool Signing>
int sig_digest_init(void* vctx, const char* mdname, void* provkey,
                    const OSSL_PARAM params[]) noexcept {
    auto* c = static_cast<SigCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (mdname != nullptr && *mdname == '\0') mdname = nullptr;
        if (c->alg == SigAlg::Eddsa && mdname != nullptr) {
            throw hsm::UnsupportedError(std::string("EdDSA takes no digest, not ") + mdname);
        }
        set_key(*c, provkey, Signing, true, mdname);
        if (c->alg != SigAlg::Eddsa && c->mdname.empty()) {
            // EVP passes the key's default digest; a direct caller may not.
            c->mdname = c->alg == SigAlg::Rsa && c->key->type == "RSA-PSS" ? "" : "SHA256";
        }
        mirror_now_if_needed(*c);
        if (c->mdname.empty() && c->existing_mirror() != nullptr) {
            c->mdname = mirror_digest(c->existing_mirror());
        }
        if (token_digest_sign(*c)) choose_mechanism(*c, true);
        return set_params_on_mirror(*c, params);
    });
}

// The token's raw signature of `tbs` (a digest, or for EdDSA the message).
std::vector<unsigned char> token_signature(SigCtx& c, std::span<const unsigned char> tbs) {
    switch (c.alg) {
        case SigAlg::Rsa:
            return rsa_sign_digest(*c.key, c.existing_mirror(), c.mdname, tbs);
        case SigAlg::Ecdsa:
            return ecdsa_sign_digest(*c.key, tbs);
        case SigAlg::Eddsa:
            return eddsa_sign(*c.key, tbs);
    }
    return {};
}

std::size_t max_signature_size(const SigCtx& c) {
    int n = EVP_PKEY_get_size(c.key->host.get());
    host_check(n > 0, "the key's signature size");
    return static_cast<std::size_t>(n);
}

int output(const std::vector<unsigned char>& s, unsigned char* sig, size_t* siglen,
           size_t sigsize) {
    if (s.size() > sigsize) throw std::invalid_argument("signature buffer too small");
    std::memcpy(sig, s.data(), s.size());
    *siglen = s.size();
    return 1;
}

void check_usable(const SigCtx& c) {
    if (!c.refusal.empty()) throw hsm::UnsupportedError(c.refusal);
}

void check_not_moved(const SigCtx& c) {
    if (c.moved) {
        throw std::invalid_argument(
            "this signature's token operation was taken over by a copy of its context (a "
            "token that hashes cannot copy a half-done signature): start a new one");
    }
}

// Token-side hashing: keep the message, or stream it once it is large.
void hashed_update(SigCtx& c, std::span<const unsigned char> data) {
    check_not_moved(c);
    if (!c.stream && c.buffered.size() + data.size() > kStreamThreshold) {
        c.stream = std::make_unique<hsm::SignOperation>(start_hashed(*c.key, *c.hashed));
        c.stream->update(c.buffered);
        c.buffered.clear();
        c.buffered.shrink_to_fit();
    }
    if (c.stream) {
        c.stream->update(data);
    } else {
        c.buffered.insert(c.buffered.end(), data.begin(), data.end());
    }
}

std::vector<unsigned char> hashed_final(SigCtx& c) {
    check_not_moved(c);
    if (c.stream) {
        std::unique_ptr<hsm::SignOperation> op = std::move(c.stream);
        return finish_hashed(*c.key, *c.hashed, *op);
    }
    std::vector<unsigned char> sig = sign_hashed(*c.key, *c.hashed, c.buffered);
    c.buffered.clear();
    return sig;
}

int sig_sign(void* vctx, unsigned char* sig, size_t* siglen, size_t sigsize,
             const unsigned char* tbs, size_t tbslen) noexcept {
    auto* c = static_cast<SigCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (c->key == nullptr || !c->signing) {
            throw std::invalid_argument("sign called before sign_init");
        }
        if (c->soft()) {
            size_t len = sig == nullptr ? 0 : sigsize;
            host_check(EVP_PKEY_sign(c->mirror(), sig, &len, tbs, tbslen) == 1, "signing");
            *siglen = len;
            return 1;
        }
        // sig == nullptr asks only for the size.
        if (sig == nullptr) {
            *siglen = max_signature_size(*c);
            return 1;
        }
        return output(token_signature(*c, {tbs, tbslen}), sig, siglen, sigsize);
    });
}

int sig_verify(void* vctx, const unsigned char* sig, size_t siglen, const unsigned char* tbs,
               size_t tbslen) noexcept {
    auto* c = static_cast<SigCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (c->key == nullptr || c->signing || c->digest_mode) {
            throw std::invalid_argument("verify called before verify_init");
        }
        return EVP_PKEY_verify(c->mirror(), sig, siglen, tbs, tbslen) == 1 ? 1 : 0;
    });
}

int sig_digest_sign_update(void* vctx, const unsigned char* data, size_t datalen) noexcept {
    auto* c = static_cast<SigCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (c->soft()) {
            (void)c->mirror();
            return EVP_DigestSignUpdate(c->mirror_md.get(), data, datalen) == 1 ? 1 : 0;
        }
        check_usable(*c);
        if (c->hashed) {
            hashed_update(*c, {data, datalen});
            return 1;
        }
        if (!c->digest) throw std::invalid_argument("digest_sign_update before digest_sign_init");
        return EVP_DigestUpdate(c->digest.get(), data, datalen) == 1 ? 1 : 0;
    });
}

int sig_digest_sign_final(void* vctx, unsigned char* sig, size_t* siglen, size_t sigsize) noexcept {
    auto* c = static_cast<SigCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (c->soft()) {
            (void)c->mirror();
            size_t len = sig == nullptr ? 0 : sigsize;
            host_check(EVP_DigestSignFinal(c->mirror_md.get(), sig, &len) == 1, "signing");
            *siglen = len;
            return 1;
        }
        if (c->key == nullptr || !c->signing || !c->digest_mode) {
            throw std::invalid_argument("digest_sign_final before digest_sign_init");
        }
        if (sig == nullptr) {
            *siglen = max_signature_size(*c);
            return 1;
        }
        check_usable(*c);
        if (c->hashed) return output(hashed_final(*c), sig, siglen, sigsize);
        if (!c->digest) throw std::invalid_argument("digest_sign_final before digest_sign_init");
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        host_check(EVP_DigestFinal_ex(c->digest.get(), md, &mdlen) == 1, "finishing the digest");
        return output(token_signature(*c, {md, mdlen}), sig, siglen, sigsize);
    });
}

int sig_digest_verify_update(void* vctx, const unsigned char* data, size_t datalen) noexcept {
    auto* c = static_cast<SigCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (c->key == nullptr || !c->digest_mode) {
            throw std::invalid_argument("digest_verify_update before init");
        }
        (void)c->mirror();
        return EVP_DigestVerifyUpdate(c->mirror_md.get(), data, datalen) == 1 ? 1 : 0;
    });
}

int sig_digest_verify_final(void* vctx, const unsigned char* sig, size_t siglen) noexcept {
    auto* c = static_cast<SigCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (c->key == nullptr || !c->digest_mode) {
            throw std::invalid_argument("digest_verify_final before init");
        }
        (void)c->mirror();
        return EVP_DigestVerifyFinal(c->mirror_md.get(), sig, siglen) == 1 ? 1 : 0;
    });
}

// One-shot EVP_DigestSign: EdDSA must use it (PureEdDSA hashes inside the algorithm); for RSA
// and ECDSA it saves EVP's copy of the context that EVP_DigestSignFinal makes.
int sig_digest_sign(void* vctx, unsigned char* sig, size_t* siglen, size_t sigsize,
                    const unsigned char* tbs, size_t tbslen) noexcept {
    auto* c = static_cast<SigCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (c->key == nullptr || !c->signing)
            throw std::invalid_argument("digest_sign before init");
        if (c->soft()) {
            (void)c->mirror();
            size_t len = sig == nullptr ? 0 : sigsize;
            host_check(EVP_DigestSign(c->mirror_md.get(), sig, &len, tbs, tbslen) == 1, "signing");
            *siglen = len;
            return 1;
        }
        if (sig == nullptr) {
            *siglen = max_signature_size(*c);
            return 1;
        }
        if (c->alg == SigAlg::Eddsa)
            return output(eddsa_sign(*c->key, {tbs, tbslen}), sig, siglen, sigsize);
        check_usable(*c);
        if (c->hashed) {
            hashed_update(*c, {tbs, tbslen});
            return output(hashed_final(*c), sig, siglen, sigsize);
        }
        if (!c->digest) throw std::invalid_argument("digest_sign before digest_sign_init");
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        host_check(EVP_DigestUpdate(c->digest.get(), tbs, tbslen) == 1 &&
                       EVP_DigestFinal_ex(c->digest.get(), md, &mdlen) == 1,
                   "hashing the message");
        return output(token_signature(*c, {md, mdlen}), sig, siglen, sigsize);
    });
}

int sig_digest_verify(void* vctx, const unsigned char* sig, size_t siglen, const unsigned char* tbs,
                      size_t tbslen) noexcept {
    auto* c = static_cast<SigCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (c->key == nullptr || !c->digest_mode)
            throw std::invalid_argument("digest_verify before init");
        (void)c->mirror();
        return EVP_DigestVerify(c->mirror_md.get(), sig, siglen, tbs, tbslen) == 1 ? 1 : 0;
    });
}

// The NID of a SHA-2 digest name as EVP passes it ("SHA256", "sha256", "SHA2-256"), else
// NID_undef.
int sha2_nid(const std::string& name) {
    std::string n;
    for (char ch : name) n += static_cast<char>(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
    if (n.rfind("SHA2-", 0) == 0) n = "SHA" + n.substr(5);
    if (n == "SHA224") return NID_sha224;
    if (n == "SHA256") return NID_sha256;
    if (n == "SHA384") return NID_sha384;
    if (n == "SHA512") return NID_sha512;
    return NID_undef;
}

// The DER AlgorithmIdentifier of sha2WithRSAEncryption (NULL parameters) or ecdsa-with-SHA2
// (no parameters) for `md_nid`, as the default provider encodes them. Empty if none.
std::vector<unsigned char> plain_algorithm_id(bool rsa, int md_nid) {
    int sig_nid = NID_undef;
    if (OBJ_find_sigid_by_algs(&sig_nid, md_nid,
                               rsa ? NID_rsaEncryption : NID_X9_62_id_ecPublicKey) != 1)
        return {};
    OsslPtr<X509_ALGOR> alg(X509_ALGOR_new());
    if (!alg || X509_ALGOR_set0(alg.get(), OBJ_nid2obj(sig_nid), rsa ? V_ASN1_NULL : V_ASN1_UNDEF,
                                nullptr) != 1)
        return {};
    return to_der(alg.get(), i2d_X509_ALGOR);
}

// X509_sign asks every signature context for its AlgorithmIdentifier and nothing else. For a
// PKCS#1 v1.5 RSA or ECDSA signature with a SHA-2 digest and no parameters set (no host mirror
// made: the padding is PKCS#1 v1.5) it is one of eight fixed encodings, answered here without
// the mirror, which costs an EVP_DigestVerifyInit_ex per signature. True when answered.
bool plain_algorithm_id_param(const SigCtx& c, OSSL_PARAM params[]) {
    if (c.existing_mirror() != nullptr || c.soft() || params == nullptr) return false;
    const bool rsa = c.alg == SigAlg::Rsa && c.key->type == "RSA";
    if (!rsa && c.alg != SigAlg::Ecdsa) return false;
    OSSL_PARAM* want = nullptr;
    for (OSSL_PARAM* p = params; p->key != nullptr; ++p) {
        if (std::strcmp(p->key, OSSL_SIGNATURE_PARAM_ALGORITHM_ID) != 0) return false;
        want = p;
    }
    const int md = sha2_nid(c.mdname);
    if (want == nullptr || md == NID_undef) return false;
    // Built once per process: 2 key types x 4 digests.
    static const std::vector<unsigned char> kIds[2][4] = {
        {plain_algorithm_id(false, NID_sha224), plain_algorithm_id(false, NID_sha256),
         plain_algorithm_id(false, NID_sha384), plain_algorithm_id(false, NID_sha512)},
        {plain_algorithm_id(true, NID_sha224), plain_algorithm_id(true, NID_sha256),
         plain_algorithm_id(true, NID_sha384), plain_algorithm_id(true, NID_sha512)}};
    const int at = md == NID_sha224 ? 0 : md == NID_sha256 ? 1 : md == NID_sha384 ? 2 : 3;
    const std::vector<unsigned char>& der = kIds[rsa ? 1 : 0][at];
    return !der.empty() && OSSL_PARAM_set_octet_string(want, der.data(), der.size()) == 1;
}

int sig_get_ctx_params(void* vctx, OSSL_PARAM params[]) noexcept {
    auto* c = static_cast<SigCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (c->key == nullptr) return 0;
        if (plain_algorithm_id_param(*c, params)) return 1;
        EVP_PKEY_CTX* m = c->mirror();
        if (c->alg == SigAlg::Rsa && c->key->on_token() &&
            OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID) != nullptr) {
            // The AlgorithmIdentifier must carry the salt length the token will use.
            pin_pss_salt_length(*c->key, m);
        }
        return EVP_PKEY_CTX_get_params(m, params) == 1 ? 1 : 0;
    });
}

const OSSL_PARAM* sig_gettable_ctx_params(void*, void*) noexcept {
    static const OSSL_PARAM kGettable[] = {
        OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, nullptr, 0),
        OSSL_PARAM_END};
    return kGettable;
}

int sig_set_ctx_params(void* vctx, const OSSL_PARAM params[]) noexcept {
    auto* c = static_cast<SigCtx*>(vctx);
    return TS_GUARD(c->prov, 0, [&] {
        if (!has_params(params)) return 1;
        if (c->key == nullptr) return 0;
        return set_params_on_mirror(*c, params);
    });
}

const OSSL_PARAM* rsa_settable_ctx_params(void*, void*) noexcept {
    static const OSSL_PARAM kSettable[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, nullptr, 0),
        OSSL_PARAM_END};
    return kSettable;
}

const OSSL_PARAM* ecdsa_settable_ctx_params(void*, void*) noexcept {
    static const OSSL_PARAM kSettable[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, nullptr, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, nullptr, 0), OSSL_PARAM_END};
    return kSettable;
}

const OSSL_PARAM* eddsa_settable_ctx_params(void*, void*) noexcept {
    static const OSSL_PARAM kSettable[] = {OSSL_PARAM_END};
    return kSettable;
}

#define TS_SIG_COMMON(A)                                                                     \
    TS_DISPATCH(SIGNATURE_NEWCTX, signature_newctx, sig_newctx<A>),                          \
        TS_DISPATCH(SIGNATURE_FREECTX, signature_freectx, sig_freectx),                      \
        TS_DISPATCH(SIGNATURE_DUPCTX, signature_dupctx, sig_dupctx),                         \
        TS_DISPATCH(SIGNATURE_DIGEST_SIGN_INIT, signature_digest_sign_init,                  \
                    sig_digest_init<true>),                                                  \
        TS_DISPATCH(SIGNATURE_DIGEST_VERIFY_INIT, signature_digest_verify_init,              \
                    sig_digest_init<false>),                                                 \
        TS_DISPATCH(SIGNATURE_GET_CTX_PARAMS, signature_get_ctx_params, sig_get_ctx_params), \
        TS_DISPATCH(SIGNATURE_GETTABLE_CTX_PARAMS, signature_gettable_ctx_params,            \
                    sig_gettable_ctx_params),                                                \
        TS_DISPATCH(SIGNATURE_SET_CTX_PARAMS, signature_set_ctx_params, sig_set_ctx_params)

#define TS_SIG_STREAMING                                                            \
    TS_DISPATCH(SIGNATURE_SIGN_INIT, signature_sign_init, sig_init<true>),          \
        TS_DISPATCH(SIGNATURE_SIGN, signature_sign, sig_sign),                      \
        TS_DISPATCH(SIGNATURE_VERIFY_INIT, signature_verify_init, sig_init<false>), \
        TS_DISPATCH(SIGNATURE_VERIFY, signature_verify, sig_verify),                \
        TS_DISPATCH(SIGNATURE_DIGEST_SIGN_UPDATE, signature_digest_sign_update,     \
                    sig_digest_sign_update),                                        \
        TS_DISPATCH(SIGNATURE_DIGEST_SIGN_FINAL, signature_digest_sign_final,       \
                    sig_digest_sign_final),                                         \
        TS_DISPATCH(SIGNATURE_DIGEST_VERIFY_UPDATE, signature_digest_verify_update, \
                    sig_digest_verify_update),                                      \
        TS_DISPATCH(SIGNATURE_DIGEST_VERIFY_FINAL, signature_digest_verify_final,   \
                    sig_digest_verify_final),                                       \
        TS_DISPATCH(SIGNATURE_DIGEST_SIGN, signature_digest_sign, sig_digest_sign)

}  // namespace

const OSSL_DISPATCH rsa_signature_functions[] = {
    TS_SIG_COMMON(SigAlg::Rsa),
    TS_SIG_STREAMING,
    TS_DISPATCH(SIGNATURE_SETTABLE_CTX_PARAMS, signature_settable_ctx_params,
                rsa_settable_ctx_params),
    {0, nullptr}};

const OSSL_DISPATCH ecdsa_signature_functions[] = {
    TS_SIG_COMMON(SigAlg::Ecdsa),
    TS_SIG_STREAMING,
    TS_DISPATCH(SIGNATURE_SETTABLE_CTX_PARAMS, signature_settable_ctx_params,
                ecdsa_settable_ctx_params),
    {0, nullptr}};

const OSSL_DISPATCH eddsa_signature_functions[] = {
    TS_SIG_COMMON(SigAlg::Eddsa),
    TS_DISPATCH(SIGNATURE_DIGEST_SIGN, signature_digest_sign, sig_digest_sign),
    TS_DISPATCH(SIGNATURE_DIGEST_VERIFY, signature_digest_verify, sig_digest_verify),
    TS_DISPATCH(SIGNATURE_SETTABLE_CTX_PARAMS, signature_settable_ctx_params,
                eddsa_settable_ctx_params),
    {0, nullptr}};

}  // namespace ts::prov
