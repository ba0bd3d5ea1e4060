// SPDX-License-Identifier: Apache-2.0
#include "hsm/crypto.hpp"

#include "hsm/attributes.hpp"
#include "hsm/error.hpp"
#include "hsm/token.hpp"

namespace ts::hsm {

namespace {

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

}  // namespace

std::vector<unsigned char> sign(Session& s, const KeyHandle& key, const CK_MECHANISM& mech,
                                std::span<const unsigned char> data, const PinSources& pins,
                                std::size_t size_hint) {
    QueueGuard quiet;
    check_rv(s.fn()->C_SignInit(s.handle(), const_cast<CK_MECHANISM*>(&mech), key.handle),
             "C_SignInit", "signing with a key on " + s.token().what());
    return finish_or_invalidate(s, [&] {
        if (key.always_authenticate) s.token().context_login(s, pins);
        auto* in = const_cast<CK_BYTE*>(data.data());
        auto in_len = static_cast<CK_ULONG>(data.size());
        return two_call<std::vector<unsigned char>>(
            [&](CK_BYTE* out, CK_ULONG* len) {
                return s.fn()->C_Sign(s.handle(), in, in_len, out, len);
            },
            size_hint, "C_Sign", "signing with a key on " + s.token().what());
    });
}

SecureBytes decrypt(Session& s, const KeyHandle& key, const CK_MECHANISM& mech,
                    std::span<const unsigned char> in, const PinSources& pins) {
    QueueGuard quiet;
    check_rv(s.fn()->C_DecryptInit(s.handle(), const_cast<CK_MECHANISM*>(&mech), key.handle),
             "C_DecryptInit", "decrypting with a key on " + s.token().what());
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
                        CK_ULONG secret_len, const PinSources& pins) {
    QueueGuard quiet;
    (void)pins;  // C_DeriveKey has no context-specific login step in the spec's flow
    CK_ECDH1_DERIVE_PARAMS params{CKD_NULL, 0, nullptr, static_cast<CK_ULONG>(peer.size()),
                                  const_cast<CK_BYTE*>(peer.data())};
    CK_MECHANISM mech{CKM_ECDH1_DERIVE, &params, sizeof params};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof cls},           {CKA_KEY_TYPE, &kt, sizeof kt},
        {CKA_TOKEN, &no, sizeof no},             {CKA_SENSITIVE, &no, sizeof no},
        {CKA_EXTRACTABLE, &yes, sizeof yes},     {CKA_VALUE_LEN, &secret_len, sizeof secret_len},
    };
    CK_OBJECT_HANDLE derived = CK_INVALID_HANDLE;
    check_rv(s.fn()->C_DeriveKey(s.handle(), &mech, key.handle, tmpl,
                                 sizeof tmpl / sizeof tmpl[0], &derived),
             "C_DeriveKey", "ECDH with a key on " + s.token().what());
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
