// SPDX-License-Identifier: Apache-2.0
// Tokens: listing, selection by URI (exactly one), the session pool and login.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hsm/module.hpp"
#include "hsm/pin.hpp"
#include "hsm/pkcs11.hpp"

namespace ts::hsm {

class Uri;
class Session;

/// A token in a slot of a module, as C_GetSlotInfo/C_GetTokenInfo describe it.
struct TokenInfo {
    std::shared_ptr<Module> module;
    CK_SLOT_ID slot = 0;
    CK_SLOT_INFO slot_info{};
    CK_TOKEN_INFO token_info{};
    std::string label() const;
    std::string manufacturer() const;
    std::string model() const;
    std::string serial() const;
    /// "'root-ca' (serial 1234, model SoftHSM v2, slot 7 of softhsm2)"
    std::string describe() const;
};

/// Every token present in `modules`.
std::vector<TokenInfo> list_tokens(const std::vector<std::shared_ptr<Module>>& modules);

/// Every initialised token (CKF_TOKEN_INITIALIZED) among `modules` whose module, slot and token
/// attributes `uri` matches. Uninitialised tokens (SoftHSM2 always shows a spare one) hold
/// nothing and are skipped. Throws SelectionError when none matches, listing the tokens present.
std::vector<TokenInfo> matching_tokens(const std::vector<std::shared_ptr<Module>>& modules,
                                       const Uri& uri);

/// The one token of matching_tokens(). Throws SelectionError when none or several match,
/// listing the candidates (label, serial, model, slot, URI).
TokenInfo select_token(const std::vector<std::shared_ptr<Module>>& modules, const Uri& uri);

/// "\n  'a' (serial ..., ...)  pkcs11:...": one line per token, for error messages.
std::string list_token_candidates(const std::vector<TokenInfo>& tokens);

/// Human names of CKF_* token flags ("login-required", "user-pin-final-try", ...).
std::vector<std::string> token_flag_names(CK_FLAGS flags);

/// An open token: a thread-safe pool of R/W sessions and the process's login state.
/// Obtain one with Token::open(); it is shared by everything that uses the token in-process.
class Token : public std::enable_shared_from_this<Token> {
  public:
    /// Returns the process-wide Token for (module, slot), creating it if needed.
    static std::shared_ptr<Token> open(const TokenInfo& info, std::size_t max_idle_sessions = 8);

    Token(const Token&) = delete;
    Token& operator=(const Token&) = delete;
    ~Token();

    const TokenInfo& info() const noexcept { return m_info; }
    /// C_GetTokenInfo now (flags change: PIN counters, login state).
    CK_TOKEN_INFO refresh_info();
    Module& module() noexcept { return *m_info.module; }

    /// A session from the pool (C_OpenSession with CKF_RW_SESSION|CKF_SERIAL_SESSION when none
    /// is idle). The Session goes back to the pool when destroyed. When the token refuses
    /// another session (CKR_SESSION_COUNT) while this process holds some, waits up to
    /// kSessionWait for one of them to come back: threads share a token that allows few
    /// sessions instead of failing. Throws Pkcs11Error CKR_SESSION_COUNT when none of ours is
    /// leased (nothing to wait for) or the wait runs out.
    Session acquire();
    static constexpr std::chrono::seconds kSessionWait{60};

    /// Logs the user in once per process. No-op when already logged in or when the token does
    /// not require login. Reads the token flags first: refuses (Pkcs11Error CKR_PIN_LOCKED)
    /// when the PIN is locked, and refuses to spend the final try unless
    /// `sources.allow_final_try`. A PIN-pad token (CKF_PROTECTED_AUTHENTICATION_PATH) logs in
    /// with a NULL PIN. A rejected PIN is tried exactly once: one C_Login, then Pkcs11Error
    /// whose message adds what the token flags say now (few tries left, locked).
    void login(const PinSources& sources);
    bool logged_in() const;

    /// CKU_CONTEXT_SPECIFIC login for a key with CKA_ALWAYS_AUTHENTICATE, after C_SignInit.
    void context_login(Session& s, const PinSources& sources);

    /// "token 'root-ca'"
    std::string what() const;

  private:
    explicit Token(TokenInfo info, std::size_t max_idle);
    friend class Session;
    void release(CK_SESSION_HANDLE h, unsigned long generation) noexcept;
    void discard(CK_SESSION_HANDLE h, unsigned long generation) noexcept;
    void session_returned() noexcept;
    void reset_after_fork();

    TokenInfo m_info;
    std::size_t m_max_idle;
    mutable std::mutex m_mutex;
    std::vector<CK_SESSION_HANDLE> m_idle;
    std::size_t m_leased = 0;      // sessions handed out and not yet back
    unsigned long m_returned = 0;  // counts returns, to wake waiters in acquire()
    std::condition_variable m_session_returned;
    CK_SESSION_HANDLE m_anchor = CK_INVALID_HANDLE;  // keeps the login alive
    bool m_logged_in = false;
    unsigned long m_generation;
    std::mutex m_login_mutex;
};

/// A session leased from a Token. Move-only; returns to the pool on destruction. A session on
/// which an operation failed half-way should be discarded with invalidate().
class Session {
  public:
    Session(Session&& other) noexcept;
    Session& operator=(Session&& other) noexcept;
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    ~Session();

    CK_SESSION_HANDLE handle() const noexcept { return m_handle; }
    CK_FUNCTION_LIST* fn() const noexcept { return m_fn; }
    Token& token() const noexcept { return *m_token; }
    /// Closes the session instead of returning it to the pool.
    void invalidate() noexcept;

  private:
    friend class Token;
    Session(std::shared_ptr<Token> token, CK_SESSION_HANDLE h, unsigned long generation);
    std::shared_ptr<Token> m_token;
    CK_FUNCTION_LIST* m_fn;
    CK_SESSION_HANDLE m_handle;
    unsigned long m_generation;
};

}  // namespace ts::hsm
