// SPDX-License-Identifier: Apache-2.0
// Private-key operations on the token: sign, decrypt, derive. Two-call size queries are hidden.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "hsm/pin.hpp"
#include "hsm/pkcs11.hpp"
#include "hsm/token.hpp"

namespace ts::hsm {

class Session;

/// A private key on a token as the operations need it.
struct KeyHandle {
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
    bool always_authenticate = false;  // CKA_ALWAYS_AUTHENTICATE: CKU_CONTEXT_SPECIFIC login
};

/// C_SignInit + C_Sign, with a context-specific login when the key needs one (PIN from `pins`).
/// `size_hint` (the signature size when the caller knows it: modulus bytes, 2 x field bytes)
/// saves the size-query call on the hot path. Returns the signature. When anything fails after
/// C_SignInit, the session is closed (invalidate()) so no half-done operation goes back to the
/// pool.
std::vector<unsigned char> sign(Session& s, const KeyHandle& key, const CK_MECHANISM& mech,
                                std::span<const unsigned char> data, const PinSources& pins,
                                std::size_t size_hint = 0);

/// With TOKENSIGN_TIMING set: the thread CPU time this process spent inside the signing calls
/// (C_SignInit, C_Sign, C_SignUpdate, C_SignFinal), and the signatures made. An in-process
/// software token (SoftHSM2) does its signing work there, so bench/ can tell the host's own cost
/// per certificate from the token's. Zero when TOKENSIGN_TIMING is not set.
struct SignTiming {
    long cpu_us = 0;
    long signatures = 0;
};
SignTiming sign_timing() noexcept;

/// A multi-part signature (C_SignInit, C_SignUpdate..., C_SignFinal) for mechanisms that hash
/// on the token (CKM_SHA256_RSA_PKCS_PSS ...). Owns its session for the operation's life:
/// move-only, as a token operation cannot be copied. If it is destroyed unfinished, or a call
/// fails, the session is closed (not pooled) so no active operation goes back to the pool.
class SignOperation {
  public:
    /// C_SignInit (+ context-specific login). Takes the session over.
    SignOperation(Session s, const KeyHandle& key, const CK_MECHANISM& mech,
                  const PinSources& pins);
    SignOperation(SignOperation&&) noexcept = default;
    SignOperation& operator=(SignOperation&&) = delete;
    SignOperation(const SignOperation&) = delete;
    SignOperation& operator=(const SignOperation&) = delete;
    ~SignOperation();
    /// C_SignUpdate.
    void update(std::span<const unsigned char> data);
    /// C_SignFinal; the operation is over afterwards.
    std::vector<unsigned char> final(std::size_t size_hint = 0);

  private:
    std::optional<Session> m_session;
    bool m_done = false;
};

/// C_DecryptInit + C_Decrypt.
SecureBytes decrypt(Session& s, const KeyHandle& key, const CK_MECHANISM& mech,
                    std::span<const unsigned char> in, const PinSources& pins);

/// `mech` (CKM_ECDH1_DERIVE or CKM_ECDH1_COFACTOR_DERIVE) with CKD_NULL against `peer_point`
/// (uncompressed point); the derived secret is a session object read back (CKA_VALUE) and
/// destroyed.
SecureBytes derive_ecdh(Session& s, const KeyHandle& key, std::span<const unsigned char> peer_point,
                        CK_ULONG secret_len, const PinSources& pins,
                        CK_MECHANISM_TYPE mech = CKM_ECDH1_DERIVE);

}  // namespace ts::hsm
