// SPDX-License-Identifier: Apache-2.0
#include "hsm/token.hpp"

#include <map>
#include <utility>

#include "hsm/error.hpp"
#include "hsm/uri.hpp"

namespace ts::hsm {

namespace {

std::mutex g_tokens_mutex;
// Weak references only, freed at unload or exit like hsm/module.cpp's module cache; entries of
// tokens that are gone are dropped on every use (a new Module may reuse a freed address).
std::map<std::pair<Module*, CK_SLOT_ID>, std::weak_ptr<Token>>& tokens() {
    static std::map<std::pair<Module*, CK_SLOT_ID>, std::weak_ptr<Token>> m;
    std::erase_if(m, [](const auto& e) { return e.second.expired(); });
    return m;
}

std::string list_candidates(const std::vector<TokenInfo>& ts) {
    std::string out;
    for (const auto& t : ts) {
        out += "\n  " + t.describe() + "  " + token_uri(t.token_info);
        if (!(t.token_info.flags & CKF_TOKEN_INITIALIZED)) out += "  (not initialised)";
    }
    return out;
}

}  // namespace

std::string list_token_candidates(const std::vector<TokenInfo>& tokens) {
    return list_candidates(tokens);
}

std::string TokenInfo::label() const { return padded(token_info.label); }
std::string TokenInfo::manufacturer() const { return padded(token_info.manufacturerID); }
std::string TokenInfo::model() const { return padded(token_info.model); }
std::string TokenInfo::serial() const { return padded(token_info.serialNumber); }

std::string TokenInfo::describe() const {
    return "'" + label() + "' (serial " + serial() + ", model " + model() + ", slot " +
           std::to_string(slot) + " of module " + (module ? module->name() : "?") + ")";
}

std::vector<TokenInfo> list_tokens(const std::vector<std::shared_ptr<Module>>& modules) {
    std::vector<TokenInfo> out;
    for (const auto& m : modules) {
        for (CK_SLOT_ID slot : m->slots_with_token()) {
            TokenInfo t;
            t.module = m;
            t.slot = slot;
            CK_FUNCTION_LIST* f = m->fn();
            check_rv(f->C_GetSlotInfo(slot, &t.slot_info), "C_GetSlotInfo",
                     "module '" + m->name() + "' slot " + std::to_string(slot));
            CK_RV rv = f->C_GetTokenInfo(slot, &t.token_info);
            if (rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_TOKEN_NOT_RECOGNIZED) continue;
            check_rv(rv, "C_GetTokenInfo",
                     "module '" + m->name() + "' slot " + std::to_string(slot));
            out.push_back(std::move(t));
        }
    }
    return out;
}

std::vector<TokenInfo> matching_tokens(const std::vector<std::shared_ptr<Module>>& modules,
                                       const Uri& uri) {
    std::vector<TokenInfo> all;
    std::vector<TokenInfo> matches;
    bool uninitialised_match = false;
    for (const auto& m : modules) {
        if (!uri.matches_module(m->info())) continue;
        for (auto& t : list_tokens({m})) {
            all.push_back(t);
            if (!uri.matches_slot(t.slot, t.slot_info) || !uri.matches_token(t.token_info)) {
                continue;
            }
            // An uninitialised token has no label, no PIN and no objects: never what a URI
            // means (SoftHSM2 always lists a spare one beside the real tokens).
            if (!(t.token_info.flags & CKF_TOKEN_INITIALIZED)) {
                uninitialised_match = true;
                continue;
            }
            matches.push_back(t);
        }
    }
    if (!matches.empty()) return matches;
    if (all.empty()) {
        throw SelectionError("no token matches " + uri.to_string() +
                             ": no token is present in the PKCS#11 module(s) searched");
    }
    throw SelectionError("no " + std::string(uninitialised_match ? "initialised " : "") +
                         "token matches " + uri.to_string() +
                         "; tokens present:" + list_candidates(all));
}

TokenInfo select_token(const std::vector<std::shared_ptr<Module>>& modules, const Uri& uri) {
    std::vector<TokenInfo> matches = matching_tokens(modules, uri);
    if (matches.size() == 1) return matches.front();
    throw SelectionError(std::to_string(matches.size()) + " tokens match " + uri.to_string() +
                         "; name one (token=, serial=) of:" + list_candidates(matches));
}

std::vector<std::string> token_flag_names(CK_FLAGS f) {
    static const std::pair<CK_FLAGS, const char*> names[] = {
        {CKF_RNG, "rng"},
        {CKF_WRITE_PROTECTED, "write-protected"},
        {CKF_LOGIN_REQUIRED, "login-required"},
        {CKF_USER_PIN_INITIALIZED, "user-pin-initialized"},
        {CKF_RESTORE_KEY_NOT_NEEDED, "restore-key-not-needed"},
        {CKF_CLOCK_ON_TOKEN, "clock-on-token"},
        {CKF_PROTECTED_AUTHENTICATION_PATH, "protected-authentication-path"},
        {CKF_DUAL_CRYPTO_OPERATIONS, "dual-crypto-operations"},
        {CKF_TOKEN_INITIALIZED, "token-initialized"},
        {CKF_SECONDARY_AUTHENTICATION, "secondary-authentication"},
        {CKF_USER_PIN_COUNT_LOW, "user-pin-count-low"},
        {CKF_USER_PIN_FINAL_TRY, "user-pin-final-try"},
        {CKF_USER_PIN_LOCKED, "user-pin-locked"},
        {CKF_USER_PIN_TO_BE_CHANGED, "user-pin-to-be-changed"},
        {CKF_SO_PIN_COUNT_LOW, "so-pin-count-low"},
        {CKF_SO_PIN_FINAL_TRY, "so-pin-final-try"},
        {CKF_SO_PIN_LOCKED, "so-pin-locked"},
        {CKF_SO_PIN_TO_BE_CHANGED, "so-pin-to-be-changed"},
    };
    std::vector<std::string> out;
    for (auto [bit, name] : names)
        if (f & bit) out.emplace_back(name);
    return out;
}

// ---- Token ----------------------------------------------------------------------------------

Token::Token(TokenInfo info, std::size_t max_idle)
    : m_info(std::move(info)), m_max_idle(max_idle), m_generation(fork_generation()) {}

std::shared_ptr<Token> Token::open(const TokenInfo& info, std::size_t max_idle) {
    std::lock_guard lock(g_tokens_mutex);
    auto key = std::make_pair(info.module.get(), info.slot);
    if (auto t = tokens()[key].lock()) return t;
    std::shared_ptr<Token> t(new Token(info, max_idle));
    tokens()[key] = t;
    return t;
}

Token::~Token() {
    if (m_generation != fork_generation()) return;  // the parent's sessions are not ours
    CK_FUNCTION_LIST* f = m_info.module->fn();
    for (CK_SESSION_HANDLE h : m_idle) f->C_CloseSession(h);
    // Closing the last session logs the user out (PKCS#11 v2.40 §5.6): the anchor goes last.
    if (m_anchor != CK_INVALID_HANDLE) f->C_CloseSession(m_anchor);
}

std::string Token::what() const { return "token '" + m_info.label() + "'"; }

CK_TOKEN_INFO Token::refresh_info() {
    CK_TOKEN_INFO ti{};
    check_rv(m_info.module->fn()->C_GetTokenInfo(m_info.slot, &ti), "C_GetTokenInfo", what());
    return ti;
}

void Token::reset_after_fork() {
    // Caller holds m_mutex. Handles inherited from the parent are not ours to use or close.
    if (m_generation == fork_generation()) return;
    m_idle.clear();
    m_leased = 0;
    m_anchor = CK_INVALID_HANDLE;
    m_logged_in = false;
    m_generation = fork_generation();
}

Session Token::acquire() {
    std::unique_lock lock(m_mutex);
    const auto deadline = std::chrono::steady_clock::now() + kSessionWait;
    for (;;) {
        reset_after_fork();
        const unsigned long gen = m_generation;
        if (!m_idle.empty()) {
            CK_SESSION_HANDLE h = m_idle.back();
            m_idle.pop_back();
            ++m_leased;
            return Session(shared_from_this(), h, gen);
        }
        const unsigned long returned = m_returned;
        lock.unlock();
        CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
        CK_RV rv = m_info.module->fn()->C_OpenSession(
            m_info.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &h);
        lock.lock();
        if (rv == CKR_OK) {
            if (gen == m_generation) ++m_leased;
            return Session(shared_from_this(), h, gen);
        }
        // A token that allows only so many sessions (a smart card, an HSM partition's limit):
        // when this process holds some of them, wait for one to come back instead of failing
        // the caller's operation. One that came back while C_OpenSession ran: take it now.
        // With none of ours leased, waiting would never end.
        if (rv == CKR_SESSION_COUNT && m_returned != returned) continue;
        if (rv != CKR_SESSION_COUNT || m_leased == 0 ||
            std::chrono::steady_clock::now() >= deadline) {
            std::string context = what();
            if (rv == CKR_SESSION_COUNT)
                context += m_leased == 0 ? " (it allows no further session: close other "
                                           "programs using it)"
                                         : " (it allows no further session, and none of the " +
                                               std::to_string(m_leased) +
                                               " this process holds came back within " +
                                               std::to_string(kSessionWait.count()) + " s)";
            lock.unlock();
            throw_rv(rv, "C_OpenSession", context);
        }
        m_session_returned.wait_until(lock, deadline,
                                      [&] { return !m_idle.empty() || m_returned != returned; });
    }
}

void Token::release(CK_SESSION_HANDLE h, unsigned long generation) noexcept {
    {
        std::lock_guard lock(m_mutex);
        if (generation != m_generation || generation != fork_generation()) return;
        if (m_idle.size() < m_max_idle) {
            m_idle.push_back(h);
            session_returned();
            m_session_returned.notify_one();
            return;
        }
    }
    discard(h, generation);
}

void Token::discard(CK_SESSION_HANDLE h, unsigned long generation) noexcept {
    {
        std::lock_guard lock(m_mutex);
        if (generation != m_generation || generation != fork_generation()) return;
    }
    // Closed before it counts as returned: a thread woken by the return must find the token's
    // session free.
    m_info.module->fn()->C_CloseSession(h);
    {
        std::lock_guard lock(m_mutex);
        if (generation == m_generation) session_returned();
    }
    m_session_returned.notify_all();
}

void Token::session_returned() noexcept {
    // Caller holds m_mutex.
    if (m_leased > 0) --m_leased;
    ++m_returned;
}

bool Token::logged_in() const {
    std::lock_guard lock(m_mutex);
    return m_logged_in && m_generation == fork_generation();
}

void Token::login(const PinSources& sources) {
    std::lock_guard login_lock(m_login_mutex);
    CK_FUNCTION_LIST* f = m_info.module->fn();
    CK_SESSION_HANDLE anchor;
    {
        std::lock_guard lock(m_mutex);
        reset_after_fork();
        if (m_logged_in) return;
        if (m_anchor == CK_INVALID_HANDLE) {
            check_rv(f->C_OpenSession(m_info.slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                                      nullptr, &m_anchor),
                     "C_OpenSession", what());
        }
        anchor = m_anchor;
    }
    auto mark_logged_in = [this] {
        std::lock_guard lock(m_mutex);
        m_logged_in = true;
    };

    CK_TOKEN_INFO ti = refresh_info();
    if (!(ti.flags & CKF_LOGIN_REQUIRED)) return mark_logged_in();
    // Login state is per application, not per session: someone in this process (the CLI, or
    // another instance of the provider) may have logged in already.
    CK_SESSION_INFO si{};
    if (f->C_GetSessionInfo(anchor, &si) == CKR_OK &&
        (si.state == CKS_RW_USER_FUNCTIONS || si.state == CKS_RO_USER_FUNCTIONS)) {
        return mark_logged_in();
    }
    if (ti.flags & CKF_USER_PIN_LOCKED) {
        // Known from the token's flags: no C_Login was made, so the message must not say one
        // failed.
        throw Pkcs11Error(CKR_PIN_LOCKED, "C_GetTokenInfo",
                          "the user PIN of " + what() +
                              " is locked (the token reports CKF_USER_PIN_LOCKED), so tokensign "
                              "did not try to log in: the security officer must unlock it (e.g. "
                              "softhsm2-util or the vendor's tool) before the token can be used "
                              "(CKR_PIN_LOCKED)");
    }
    if ((ti.flags & CKF_USER_PIN_FINAL_TRY) && !sources.allow_final_try) {
        throw PinError(what() +
                       " allows only one more PIN try before it locks; tokensign will "
                       "not spend it unasked. Check the PIN, then retry with "
                       "--allow-final-pin-try");
    }

    CK_RV rv;
    QueueGuard quiet;
    if (ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH) {
        // PIN pad: the PIN never passes through the host (PKCS#11 v2.40 C_Login).
        rv = f->C_Login(anchor, CKU_USER, nullptr, 0);
    } else {
        Pin pin = obtain_pin(sources, what());
        auto bytes = pin.bytes();
        rv = f->C_Login(anchor, CKU_USER, const_cast<CK_UTF8CHAR*>(bytes.data()),
                        static_cast<CK_ULONG>(bytes.size()));
    }
    if (rv == CKR_USER_ALREADY_LOGGED_IN) rv = CKR_OK;
    if (rv != CKR_OK) {
        // One C_Login only: never retry with the same (or any) PIN. Tell what the token says now.
        std::string context = "logging in to " + what();
        CK_TOKEN_INFO after{};
        if (f->C_GetTokenInfo(m_info.slot, &after) == CKR_OK) {
            if (after.flags & CKF_USER_PIN_LOCKED) {
                context += " (the user PIN is now LOCKED)";
            } else if (after.flags & CKF_USER_PIN_FINAL_TRY) {
                context += " (only ONE PIN try remains before the token locks)";
            } else if (after.flags & CKF_USER_PIN_COUNT_LOW) {
                context += " (few PIN tries remain)";
            }
            if (after.flags & CKF_USER_PIN_TO_BE_CHANGED) context += " (the PIN must be changed)";
        }
        throw_rv(rv, "C_Login", context);
    }
    mark_logged_in();
}

void Token::context_login(Session& s, const PinSources& sources) {
    CK_TOKEN_INFO ti = refresh_info();
    CK_RV rv;
    QueueGuard quiet;
    if (ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH) {
        rv = s.fn()->C_Login(s.handle(), CKU_CONTEXT_SPECIFIC, nullptr, 0);
    } else {
        Pin pin = obtain_pin(sources, what() + " (this key asks for the PIN on every use)");
        auto bytes = pin.bytes();
        rv = s.fn()->C_Login(s.handle(), CKU_CONTEXT_SPECIFIC,
                             const_cast<CK_UTF8CHAR*>(bytes.data()),
                             static_cast<CK_ULONG>(bytes.size()));
    }
    check_rv(rv, "C_Login(CKU_CONTEXT_SPECIFIC)", "authorising the key on " + what());
}

// ---- Session --------------------------------------------------------------------------------

Session::Session(std::shared_ptr<Token> token, CK_SESSION_HANDLE h, unsigned long generation)
    : m_token(std::move(token)),
      m_fn(m_token->module().fn()),
      m_handle(h),
      m_generation(generation) {}

Session::Session(Session&& o) noexcept
    : m_token(std::move(o.m_token)),
      m_fn(o.m_fn),
      m_handle(std::exchange(o.m_handle, CK_INVALID_HANDLE)),
      m_generation(o.m_generation) {}

Session& Session::operator=(Session&& o) noexcept {
    if (this != &o) {
        if (m_token && m_handle != CK_INVALID_HANDLE) m_token->release(m_handle, m_generation);
        m_token = std::move(o.m_token);
        m_fn = o.m_fn;
        m_handle = std::exchange(o.m_handle, CK_INVALID_HANDLE);
        m_generation = o.m_generation;
    }
    return *this;
}

Session::~Session() {
    if (m_token && m_handle != CK_INVALID_HANDLE) m_token->release(m_handle, m_generation);
}

void Session::invalidate() noexcept {
    if (m_token && m_handle != CK_INVALID_HANDLE && m_generation == fork_generation()) {
        m_token->discard(m_handle, m_generation);
    }
    m_handle = CK_INVALID_HANDLE;
}

}  // namespace ts::hsm
