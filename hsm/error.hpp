// SPDX-License-Identifier: Apache-2.0
// Errors thrown by hsm/: every CK_RV becomes a sentence that says what happened and what to do.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "hsm/pkcs11.hpp"

namespace ts::hsm {

/// Base of every error hsm/ throws. what() is a complete sentence for a security officer.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// A malformed RFC 7512 URI; what() names the offending part.
class UriError : public Error {
public:
    using Error::Error;
};

/// No token / object, or several, matched: what() lists the candidates.
class SelectionError : public Error {
public:
    using Error::Error;
};

/// A PIN could not be obtained (unreadable pin-source, no terminal to prompt on, ...).
class PinError : public Error {
public:
    using Error::Error;
};

/// A key or mechanism the token or tokensign does not support.
class UnsupportedError : public Error {
public:
    using Error::Error;
};

/// A PKCS#11 function returned something other than CKR_OK.
class Pkcs11Error : public Error {
public:
    Pkcs11Error(CK_RV rv, std::string function, const std::string& message)
        : Error(message), m_rv(rv), m_function(std::move(function)) {}
    CK_RV rv() const noexcept { return m_rv; }
    const std::string& function() const noexcept { return m_function; }
    /// True for the CKR_PIN_* family and CKR_USER_* login failures.
    bool is_authentication_failure() const noexcept;

private:
    CK_RV m_rv;
    std::string m_function;
};

/// Modules that use OpenSSL themselves (SoftHSM2) leave their own errors on the calling thread's
/// OpenSSL error queue (an rdrand engine at C_Initialize, "bad decrypt" after a wrong PIN). Those
/// say nothing to our users and would be printed under our own messages, so calls into such
/// modules run inside a QueueGuard: whatever they queue is dropped when it goes out of scope.
class QueueGuard {
public:
    QueueGuard() noexcept;
    ~QueueGuard();
    QueueGuard(const QueueGuard&) = delete;
    QueueGuard& operator=(const QueueGuard&) = delete;
};

/// "CKR_PIN_INCORRECT", or "CKR_0x%08lx" for values the spec does not name.
std::string rv_name(CK_RV rv);

/// What a CK_RV means and what the user can do about it, without the name ("the PIN was
/// rejected by the token; check it and try again").
std::string rv_advice(CK_RV rv);

/// Throws Pkcs11Error: "<context>: <function> failed: <advice> (<CKR name>)".
[[noreturn]] void throw_rv(CK_RV rv, std::string_view function, std::string_view context);

/// Throws via throw_rv unless rv == CKR_OK.
inline void check_rv(CK_RV rv, std::string_view function, std::string_view context) {
    if (rv != CKR_OK) throw_rv(rv, function, context);
}

}  // namespace ts::hsm
