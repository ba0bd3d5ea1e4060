// SPDX-License-Identifier: Apache-2.0
// PKCS#11 calls only the provider needs (kept apart from the lead's units).
#pragma once

#include "hsm/pkcs11.hpp"

namespace ts::hsm {

class Session;

/// C_CopyObject of a key into a session object: CKA_TOKEN false, CKA_LABEL "tokensign session
/// copy", CKA_ID empty (so searches by label or id do not find it); every other attribute,
/// CKA_SENSITIVE and CKA_EXTRACTABLE included, is copied unchanged. SoftHSM2 decrypts a token
/// object's key on every use but keeps a session object ready: signing with the copy is ~1.5x
/// faster for P-256. The copy lives until C_DestroyObject or until `s` is closed, and is
/// visible to every session of this process. Returns CK_INVALID_HANDLE when the token refuses
/// (CKA_COPYABLE false, C_CopyObject not supported, ...): callers then use the token object.
CK_OBJECT_HANDLE copy_to_session_object(Session& s, CK_OBJECT_HANDLE key) noexcept;

/// CKA_TOKEN of an object: false for session objects (such as the copies above).
bool is_token_object(Session& s, CK_OBJECT_HANDLE obj);

}  // namespace ts::hsm
