// SPDX-License-Identifier: Apache-2.0
#include "hsm/admin.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "hsm/error.hpp"
#include "hsm/module.hpp"
#include "hsm/uri.hpp"

namespace ts::hsm {

namespace {

bool pin_pad(const TokenInfo& t) {
    return (t.token_info.flags & CKF_PROTECTED_AUTHENTICATION_PATH) != 0;
}

CK_UTF8CHAR* pin_ptr(const TokenInfo& t, const Pin& p) {
    return pin_pad(t) ? nullptr : const_cast<CK_UTF8CHAR*>(p.bytes().data());
}

CK_ULONG pin_len(const TokenInfo& t, const Pin& p) {
    return pin_pad(t) ? 0 : static_cast<CK_ULONG>(p.bytes().size());
}

/// What the token flags say after a rejected PIN: " (few PIN tries remain)" ..., or "".
std::string tries_left(const TokenInfo& t, bool so) {
    CK_TOKEN_INFO after{};
    if (t.module->fn()->C_GetTokenInfo(t.slot, &after) != CKR_OK) return {};
    if (after.flags & (so ? CKF_SO_PIN_LOCKED : CKF_USER_PIN_LOCKED))
        return " (the PIN is now LOCKED)";
    if (after.flags & (so ? CKF_SO_PIN_FINAL_TRY : CKF_USER_PIN_FINAL_TRY))
        return " (only ONE PIN try remains before the token locks it)";
    if (after.flags & (so ? CKF_SO_PIN_COUNT_LOW : CKF_USER_PIN_COUNT_LOW))
        return " (few PIN tries remain)";
    return {};
}

/// A R/W session of its own, outside the Token pool: administration logs in as the SO, which
/// must not leak into (or collide with) the pool's user login. Logs out what it logged in and
/// closes on destruction.
class AdminSession {
  public:
    explicit AdminSession(const TokenInfo& t) : m_fn(t.module->fn()), m_what(t.describe()) {
        check_rv(m_fn->C_OpenSession(t.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                                     &m_handle),
                 "C_OpenSession", "token " + m_what);
    }
    ~AdminSession() {
        if (m_logged_in) m_fn->C_Logout(m_handle);
        m_fn->C_CloseSession(m_handle);
    }
    AdminSession(const AdminSession&) = delete;
    AdminSession& operator=(const AdminSession&) = delete;

    /// One C_Login as `user`; a rejected PIN is not tried again. The error says what the token
    /// flags say afterwards (few tries left, locked).
    void login(const TokenInfo& t, CK_USER_TYPE user, const Pin& pin) {
        CK_RV rv;
        {
            QueueGuard quiet;
            rv = m_fn->C_Login(m_handle, user, pin_ptr(t, pin), pin_len(t, pin));
        }
        if (rv == CKR_OK) {
            m_logged_in = true;
            return;
        }
        std::string context = std::string("logging in as ") +
                              (user == CKU_SO ? "security officer" : "user") + " to token " +
                              m_what;
        throw_rv(rv, "C_Login", context + tries_left(t, user == CKU_SO));
    }

    CK_FUNCTION_LIST* fn() const noexcept { return m_fn; }
    CK_SESSION_HANDLE handle() const noexcept { return m_handle; }

  private:
    CK_FUNCTION_LIST* m_fn;
    std::string m_what;
    CK_SESSION_HANDLE m_handle = CK_INVALID_HANDLE;
    bool m_logged_in = false;
};

Pin from_file_or_env(const SecretSource& s) {
    if (!s.source.empty()) return read_pin_source(s.source);
    if (!s.env.empty()) {
        if (auto pin = take_environment_secret(s.env)) return std::move(*pin);
    }
    return Pin();
}

[[noreturn]] void no_source(const SecretSource& s, std::string_view what) {
    throw PinError("no " + std::string(what) + " was given and prompting is off: give " +
                   (s.hint.empty() ? std::string("a pin source") : s.hint));
}

}  // namespace

Pin obtain_secret(const SecretSource& s, std::string_view what) {
    Pin p = from_file_or_env(s);
    if (!p.empty()) return p;
    if (!s.allow_prompt) no_source(s, what);
    return prompt_pin("Enter " + std::string(what) + ": ");
}

Pin obtain_new_pin(const SecretSource& s, std::string_view what, CK_ULONG min_len,
                   CK_ULONG max_len) {
    Pin p = from_file_or_env(s);
    if (p.empty()) {
        if (!s.allow_prompt) no_source(s, what);
        p = prompt_pin("Enter " + std::string(what) + ": ");
        Pin again = prompt_pin("Enter " + std::string(what) + " again: ");
        if (again.bytes().size() != p.bytes().size() ||
            CRYPTO_memcmp(again.bytes().data(), p.bytes().data(), p.bytes().size()) != 0)
            throw PinError("the two entries of the " + std::string(what) +
                           " differ; nothing was changed");
    }
    const auto n = static_cast<CK_ULONG>(p.bytes().size());
    // ulMaxPinLen of CK_UNAVAILABLE_INFORMATION / CK_EFFECTIVELY_INFINITE mean no bound.
    const bool bounded_max = max_len != 0 && max_len != CK_UNAVAILABLE_INFORMATION;
    if ((min_len != 0 && min_len != CK_UNAVAILABLE_INFORMATION && n < min_len) ||
        (bounded_max && n > max_len))
        throw PinError("the " + std::string(what) + " must be " + std::to_string(min_len) +
                       (bounded_max ? " to " + std::to_string(max_len) : std::string(" or more")) +
                       " characters long for this token; nothing was changed");
    return p;
}

void check_pin_tries(const TokenInfo& t, bool so, bool allow_final_try) {
    const CK_FLAGS f = t.token_info.flags;
    const std::string who = so ? "security officer (SO) PIN" : "user PIN";
    if (f & (so ? CKF_SO_PIN_LOCKED : CKF_USER_PIN_LOCKED))
        throw_rv(CKR_PIN_LOCKED, "C_Login",
                 "the " + who + " of token " + t.describe() + " is locked (not attempted)");
    if ((f & (so ? CKF_SO_PIN_FINAL_TRY : CKF_USER_PIN_FINAL_TRY)) && !allow_final_try)
        throw PinError("token " + t.describe() + " allows only one more " + who +
                       " try before it locks; tokensign will not spend it unasked. Check the "
                       "PIN, then retry with --allow-final-pin-try");
}

std::string check_token_label(std::string_view label) {
    constexpr std::size_t kMax = sizeof(CK_TOKEN_INFO{}.label);
    if (label.empty()) return "the token label must not be empty";
    if (label.size() > kMax)
        return "the token label is " + std::to_string(label.size()) + " bytes; at most " +
               std::to_string(kMax) + " fit (CK_TOKEN_INFO.label)";
    if (label.back() == ' ' || label.front() == ' ')
        return "the token label must not begin or end with a space (PKCS#11 pads labels with "
               "spaces, so it would not read back the same)";
    return {};
}

void init_token(const TokenInfo& t, const Pin& so_pin, std::string_view label) {
    if (auto bad = check_token_label(label); !bad.empty()) throw Error(bad);
    CK_UTF8CHAR padded_label[sizeof(CK_TOKEN_INFO{}.label)];
    std::memset(padded_label, ' ', sizeof padded_label);
    std::memcpy(padded_label, label.data(), label.size());
    CK_RV rv;
    {
        QueueGuard quiet;
        rv = t.module->fn()->C_InitToken(t.slot, pin_ptr(t, so_pin), pin_len(t, so_pin),
                                         padded_label);
    }
    if (rv == CKR_SESSION_EXISTS) {
        throw_rv(rv, "C_InitToken",
                 "initialising token " + t.describe() +
                     " (a session is open on it: close the other programs using the token)");
    }
    check_rv(rv, "C_InitToken", "initialising token " + t.describe());
}

TokenInfo find_initialised_token(const TokenInfo& before, std::string_view label,
                                 const std::vector<std::string>& serials_before) {
    std::vector<TokenInfo> found;
    for (auto& t : list_tokens({before.module})) {
        if (!(t.token_info.flags & CKF_TOKEN_INITIALIZED) || t.label() != label) continue;
        if (t.slot == before.slot) return t;
        if (std::find(serials_before.begin(), serials_before.end(), t.serial()) ==
            serials_before.end())
            found.push_back(std::move(t));
    }
    if (found.size() == 1) return found.front();
    throw SelectionError("token '" + std::string(label) + "' was initialised, but " +
                         (found.empty()
                              ? std::string("the module no longer lists it")
                              : std::to_string(found.size()) + " new tokens carry that label") +
                         "; its user PIN is not set yet: run `tokensign token unlock` on it");
}

void init_user_pin(const TokenInfo& t, const Pin& so_pin, const Pin& user_pin,
                   bool allow_final_try) {
    check_pin_tries(t, true, allow_final_try);
    AdminSession s(t);
    s.login(t, CKU_SO, so_pin);
    CK_RV rv;
    {
        QueueGuard quiet;
        rv = s.fn()->C_InitPIN(s.handle(), pin_ptr(t, user_pin), pin_len(t, user_pin));
    }
    check_rv(rv, "C_InitPIN", "setting the user PIN of token " + t.describe());
}

void change_user_pin(const TokenInfo& t, const Pin& old_pin, const Pin& new_pin,
                     bool allow_final_try) {
    check_pin_tries(t, false, allow_final_try);
    AdminSession s(t);
    CK_RV rv;
    {
        QueueGuard quiet;
        rv = s.fn()->C_SetPIN(s.handle(), pin_ptr(t, old_pin), pin_len(t, old_pin),
                              pin_ptr(t, new_pin), pin_len(t, new_pin));
    }
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED)
        throw_rv(rv, "C_SetPIN",
                 "changing the user PIN of token " + t.describe() + tries_left(t, false));
    check_rv(rv, "C_SetPIN", "changing the user PIN of token " + t.describe());
}

void change_so_pin(const TokenInfo& t, const Pin& old_pin, const Pin& new_pin,
                   bool allow_final_try) {
    check_pin_tries(t, true, allow_final_try);
    AdminSession s(t);
    s.login(t, CKU_SO, old_pin);
    CK_RV rv;
    {
        QueueGuard quiet;
        rv = s.fn()->C_SetPIN(s.handle(), pin_ptr(t, old_pin), pin_len(t, old_pin),
                              pin_ptr(t, new_pin), pin_len(t, new_pin));
    }
    check_rv(rv, "C_SetPIN", "changing the security officer PIN of token " + t.describe());
}

}  // namespace ts::hsm
