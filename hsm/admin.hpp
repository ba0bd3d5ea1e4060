// SPDX-License-Identifier: Apache-2.0
// Token administration: initialising a token, setting and changing PINs (the SO's and the
// user's), and where the PINs for that come from.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "hsm/pin.hpp"
#include "hsm/pkcs11.hpp"
#include "hsm/token.hpp"

namespace ts::hsm {

/// Where a PIN other than the user's login PIN comes from (the SO PIN, a new PIN), in this
/// order: the file `source` (a path or file: URI, read_pin_source), the environment variable
/// `env` (when set and not empty), a prompt on the terminal with echo off (if `allow_prompt`).
/// Never a command-line flag.
struct SecretSource {
    std::string source;
    std::string env;  // e.g. "TOKENSIGN_SO_PIN"; empty: no environment variable
    bool allow_prompt = true;
    /// "--so-pin-source FILE or TOKENSIGN_SO_PIN", for the error when none gives a PIN.
    std::string hint;
};

/// An existing secret (the SO PIN), typed once at a prompt. Throws PinError when no source
/// gives one.
Pin obtain_secret(const SecretSource& s, std::string_view what);

/// A new PIN: typed twice at a prompt (PinError when the entries differ; nothing is changed);
/// from a file or the environment as it is. Throws PinError when no source gives one, or when
/// its length is outside [min_len, max_len] (the token's ulMinPinLen/ulMaxPinLen; 0 = no bound).
Pin obtain_new_pin(const SecretSource& s, std::string_view what, CK_ULONG min_len = 0,
                   CK_ULONG max_len = 0);

/// Refuses before any C_Login: Pkcs11Error CKR_PIN_LOCKED when the token flags say the SO
/// (`so`) or user PIN is locked, PinError when only one try is left and `allow_final_try` is
/// not set.
void check_pin_tries(const TokenInfo& t, bool so, bool allow_final_try);

/// A token label as C_InitToken takes it: 1 to 32 bytes, no trailing space (the padding would
/// swallow it). Empty when `label` is acceptable, else what is wrong with it.
std::string check_token_label(std::string_view label);

/// C_InitToken on the token's slot with `so_pin` and `label` (space-padded to 32 bytes). On an
/// uninitialised token this sets the SO PIN; on an initialised one `so_pin` must be its SO PIN
/// and every object on the token is destroyed. No session may be open on the token
/// (CKR_SESSION_EXISTS otherwise). Throws Pkcs11Error.
void init_token(const TokenInfo& t, const Pin& so_pin, std::string_view label);

/// The token that C_InitToken just initialised as `label`, looked up again in its module: some
/// modules (SoftHSM2) move a newly initialised token to another slot. Prefers the token in
/// `old_slot` when it now carries `label`, else the one initialised token labelled `label`
/// whose serial is not in `serials_before` (the tokens present before). Throws SelectionError.
TokenInfo find_initialised_token(const TokenInfo& before, std::string_view label,
                                 const std::vector<std::string>& serials_before);

/// Sets the user PIN as the SO: a R/W session, C_Login(CKU_SO), C_InitPIN(user_pin),
/// C_Logout. Used after init_token and to reset a locked user PIN. Checks the SO PIN tries
/// first (check_pin_tries). Throws Pkcs11Error / PinError.
void init_user_pin(const TokenInfo& t, const Pin& so_pin, const Pin& user_pin,
                   bool allow_final_try);

/// Changes the user PIN: C_SetPIN(old, new) in a R/W public session (PKCS#11 §5.6: without a
/// login it sets the CKU_USER PIN). `old_pin`/`new_pin` are unused on a PIN-pad token
/// (CKF_PROTECTED_AUTHENTICATION_PATH: C_SetPIN with NULL PINs, entered on the pad).
void change_user_pin(const TokenInfo& t, const Pin& old_pin, const Pin& new_pin,
                     bool allow_final_try);

/// Changes the SO PIN: C_Login(CKU_SO, old), C_SetPIN(old, new), C_Logout.
void change_so_pin(const TokenInfo& t, const Pin& old_pin, const Pin& new_pin,
                   bool allow_final_try);

}  // namespace ts::hsm
