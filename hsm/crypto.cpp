// SPDX-License-Identifier: Apache-2.0
#include "hsm/crypto.hpp"

#include <atomic>
#include <cstdlib>
#include <ctime>

#include "hsm/attributes.hpp"
#include "hsm/error.hpp"
#include "hsm/mechanism.hpp"
#include "hsm/token.hpp"

namespace ts::hsm {

namespace {

std::atomic<long> g_sign_cpu_us{0};
std::atomic<long> g_signatures{0};

// Adds the thread CPU time of its scope to g_sign_cpu_us, when TOKENSIGN_TIMING is set (read
// once: the clock is a system call, which the hot path does not pay otherwise).
class SignClock {
  public:
    SignClock() noexcept : m_start(on() ? now() : -1) {}
    SignClock(const SignClock&) = delete;
    SignClock& operator=(const SignClock&) = delete;
    ~SignClock() {
        if (m_start >= 0) g_sign_cpu_us += now() - m_start;
    }

  private:
    static bool on() noexcept {
        static const bool timing = std::getenv("TOKENSIGN_TIMING") != nullptr;
        return timing;
    }
    static long now() noexcept {
        timespec ts{};
        ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return static_cast<long>(ts.tv_sec) * 1000000L + ts.tv_nsec / 1000;
    }
    long m_start;
};

// Runs an operation that was started with C_*Init: if it throws, the session may still carry
// the active operation, so it is closed instead of going back to the pool.
template <class F>
auto finish_or_invalidate(Session& s, F&& f) {
    try {
        return f();
    } catch (...) {
        s.invalidate();
        throw;
    }
}

// The two-call output convention (PKCS#11 v2.40 §5.2): with a hint, try once; on
// CKR_BUFFER_TOO_SMALL the operation stays active and the call is repeated with the size asked.
template <class Out, class Call>
Out two_call(Call&& call, std::size_t hint, const char* fn, const std::string& ctx) {
    Out out;
    CK_ULONG len = static_cast<CK_ULONG>(hint);
    if (hint == 0) {
        check_rv(call(nullptr, &len), fn, ctx);
    }
    out.resize(len);
    CK_RV rv = call(out.data(), &len);
    if (rv == CKR_BUFFER_TOO_SMALL) {
        out.resize(len);
        rv = call(out.data(), &len);
    }
    check_rv(rv, fn, ctx);
    out.resize(len);
    return out;
}

std::string mgf_name(CK_RSA_PKCS_MGF_TYPE mgf) {
    switch (mgf) {
        case CKG_MGF1_SHA1:
            return "MGF1 SHA-1";
        case CKG_MGF1_SHA224:
            return "MGF1 SHA-224";
        case CKG_MGF1_SHA256:
            return "MGF1 SHA-256";
        case CKG_MGF1_SHA384:
            return "MGF1 SHA-384";
        case CKG_MGF1_SHA512:
            return "MGF1 SHA-512";
        default:
            return "MGF " + std::to_string(mgf);
    }
}

// "CKM_RSA_PKCS_OAEP (hash CKM_SHA256, MGF1 SHA-256)": what was asked of the token, for the
// message when it refuses.
std::string describe(const CK_MECHANISM& m) {
    std::string out = mechanism_name(m.mechanism);
    if (m.mechanism == CKM_RSA_PKCS_OAEP && m.pParameter != nullptr &&
        m.ulParameterLen == sizeof(CK_RSA_PKCS_OAEP_PARAMS)) {
        const auto* p = static_cast<const CK_RSA_PKCS_OAEP_PARAMS*>(m.pParameter);
        out += " (hash " + mechanism_name(p->hashAlg) + ", " + mgf_name(p->mgf) + ")";
    } else if (m.pParameter != nullptr && m.ulParameterLen == sizeof(CK_RSA_PKCS_PSS_PARAMS) &&
               (m.mechanism == CKM_RSA_PKCS_PSS || m.mechanism == CKM_SHA1_RSA_PKCS_PSS ||
                m.mechanism == CKM_SHA224_RSA_PKCS_PSS || m.mechanism == CKM_SHA256_RSA_PKCS_PSS ||
                m.mechanism == CKM_SHA384_RSA_PKCS_PSS || m.mechanism == CKM_SHA512_RSA_PKCS_PSS)) {
        const auto* p = static_cast<const CK_RSA_PKCS_PSS_PARAMS*>(m.pParameter);
        out += " (hash " + mechanism_name(p->hashAlg) + ", " + mgf_name(p->mgf) + ", salt " +
               std::to_string(p->sLen) + " bytes)";
    }
    return out;
}

// C_SignInit / C_DecryptInit refused: say which mechanism and parameters, and when the token
// rejects them (rather than the key or the session), what to do.
[[noreturn]] void init_failed(CK_RV rv, const char* fn, const char* doing, const CK_MECHANISM& m,
                              Session& s) {
    std::string ctx =
        std::string(doing) + " with " + describe(m) + " and a key on " + s.token().what();
    if (rv == CKR_MECHANISM_INVALID || rv == CKR_MECHANISM_PARAM_INVALID || rv == CKR_ARGUMENTS_BAD)
        ctx +=
            "; the token does not accept this mechanism or these parameters: check what it "
            "supports (`tokensign token mechanisms`, its documentation); many tokens do OAEP "
            "with SHA-1 only, and PSS only with the same hash and MGF1 digest";
    throw_rv(rv, fn, ctx);
}

}  // namespace

std::vector<unsigned char> sign(Session& s, const KeyHandle& key, const CK_MECHANISM& mech,
                                std::span<const unsigned char> data, const PinSources& pins,
                                std::size_t size_hint) {
    QueueGuard quiet;
    CK_RV rv;
    {
        SignClock clock;
        rv = s.fn()->C_SignInit(s.handle(), const_cast<CK_MECHANISM*>(&mech), key.handle);
    }
    if (rv != CKR_OK) init_failed(rv, "C_SignInit", "signing", mech, s);
    ++g_signatures;
    return finish_or_invalidate(s, [&] {
        if (key.always_authenticate) s.token().context_login(s, pins);
        // An empty message still needs a pointer: SoftHSM2 answers NULL with CKR_ARGUMENTS_BAD.
        static CK_BYTE empty = 0;
        auto* in = data.empty() ? &empty : const_cast<CK_BYTE*>(data.data());
        auto in_len = static_cast<CK_ULONG>(data.size());
        return two_call<std::vector<unsigned char>>(
            [&](CK_BYTE* out, CK_ULONG* len) {
                SignClock clock;
                return s.fn()->C_Sign(s.handle(), in, in_len, out, len);
            },
            size_hint, "C_Sign", "signing with a key on " + s.token().what());
    });
}

SignOperation::SignOperation(Session s, const KeyHandle& key, const CK_MECHANISM& mech,
                             const PinSources& pins) {
    QueueGuard quiet;
    CK_RV rv;
    {
        SignClock clock;
        rv = s.fn()->C_SignInit(s.handle(), const_cast<CK_MECHANISM*>(&mech), key.handle);
    }
    if (rv != CKR_OK) init_failed(rv, "C_SignInit", "signing", mech, s);
    ++g_signatures;
    m_session.emplace(std::move(s));
    finish_or_invalidate(*m_session, [&] {
        if (key.always_authenticate) m_session->token().context_login(*m_session, pins);
    });
}

SignOperation::~SignOperation() {
    // An operation left active would make the pool's next user fail (CKR_OPERATION_ACTIVE).
    if (m_session && !m_done) m_session->invalidate();
}

void SignOperation::update(std::span<const unsigned char> data) {
    if (!m_session || m_done) throw Error("signature operation already finished");
    if (data.empty()) return;
    QueueGuard quiet;
    Session& s = *m_session;
    finish_or_invalidate(s, [&] {
        SignClock clock;
        check_rv(s.fn()->C_SignUpdate(s.handle(), const_cast<CK_BYTE*>(data.data()),
                                      static_cast<CK_ULONG>(data.size())),
                 "C_SignUpdate", "signing with a key on " + s.token().what());
    });
}

std::vector<unsigned char> SignOperation::final(std::size_t size_hint) {
    if (!m_session || m_done) throw Error("signature operation already finished");
    QueueGuard quiet;
    Session& s = *m_session;
    auto out = finish_or_invalidate(s, [&] {
        return two_call<std::vector<unsigned char>>(
            [&](CK_BYTE* buf, CK_ULONG* len) {
                SignClock clock;
                return s.fn()->C_SignFinal(s.handle(), buf, len);
            },
            size_hint, "C_SignFinal", "signing with a key on " + s.token().what());
    });
    m_done = true;
    m_session.reset();  // back to the pool: the operation is over
    return out;
}

SignTiming sign_timing() noexcept { return SignTiming{g_sign_cpu_us.load(), g_signatures.load()}; }

SecureBytes decrypt(Session& s, const KeyHandle& key, const CK_MECHANISM& mech,
                    std::span<const unsigned char> in, const PinSources& pins) {
    QueueGuard quiet;
    CK_RV rv = s.fn()->C_DecryptInit(s.handle(), const_cast<CK_MECHANISM*>(&mech), key.handle);
    if (rv != CKR_OK) init_failed(rv, "C_DecryptInit", "decrypting", mech, s);
    return finish_or_invalidate(s, [&] {
        if (key.always_authenticate) s.token().context_login(s, pins);
        auto* p = const_cast<CK_BYTE*>(in.data());
        auto n = static_cast<CK_ULONG>(in.size());
        // The plaintext is at most the ciphertext's size for RSA: no size query needed.
        return two_call<SecureBytes>(
            [&](CK_BYTE* out, CK_ULONG* len) {
                return s.fn()->C_Decrypt(s.handle(), p, n, out, len);
            },
            in.size(), "C_Decrypt", "decrypting with a key on " + s.token().what());
    });
}

SecureBytes derive_ecdh(Session& s, const KeyHandle& key, std::span<const unsigned char> peer,
                        CK_ULONG secret_len, const PinSources& pins, CK_MECHANISM_TYPE type) {
    QueueGuard quiet;
    (void)pins;  // C_DeriveKey has no context-specific login step in the spec's flow
    CK_ECDH1_DERIVE_PARAMS params{CKD_NULL, 0, nullptr, static_cast<CK_ULONG>(peer.size()),
                                  const_cast<CK_BYTE*>(peer.data())};
    CK_MECHANISM mech{type, &params, sizeof params};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof cls},       {CKA_KEY_TYPE, &kt, sizeof kt},
        {CKA_TOKEN, &no, sizeof no},         {CKA_SENSITIVE, &no, sizeof no},
        {CKA_EXTRACTABLE, &yes, sizeof yes}, {CKA_VALUE_LEN, &secret_len, sizeof secret_len},
    };
    CK_OBJECT_HANDLE derived = CK_INVALID_HANDLE;
    check_rv(s.fn()->C_DeriveKey(s.handle(), &mech, key.handle, tmpl, sizeof tmpl / sizeof tmpl[0],
                                 &derived),
             "C_DeriveKey",
             "ECDH (" + mechanism_name(type) + ") with a key on " + s.token().what());
    SecureBytes out;
    try {
        auto v = get_attribute(s, derived, CKA_VALUE);
        if (!v) throw Error("the token did not reveal the derived ECDH secret");
        out.assign(v->begin(), v->end());
        OPENSSL_cleanse(v->data(), v->size());
    } catch (...) {
        s.fn()->C_DestroyObject(s.handle(), derived);
        throw;
    }
    s.fn()->C_DestroyObject(s.handle(), derived);
    return out;
}

}  // namespace ts::hsm
