// SPDX-License-Identifier: Apache-2.0
// Errors thrown by signer/: each what() is a sentence saying what was wrong and what to do.
#pragma once

#include <stdexcept>
#include <string>

namespace ts::signer {

class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// Bad input: a malformed or truncated CSR, a bad signature, an unknown section, a weak digest.
class InputError : public Error {
  public:
    using Error::Error;
};

/// The CA's policy refused the request (which field, what was expected).
class PolicyError : public Error {
  public:
    using Error::Error;
};

/// The CA directory or database (index.txt, serial, crlnumber, lock) is unusable.
class CaDbError : public Error {
  public:
    using Error::Error;
};

/// An OpenSSL call failed; the message includes the drained OpenSSL error queue.
class OpenSslError : public Error {
  public:
    /// Builds "<context>: <queued OpenSSL errors>" and clears the queue.
    explicit OpenSslError(const std::string& context);
    /// The CK_RV of a token failure the tokensign provider queued (its reason code), or 0.
    unsigned long token_rv() const noexcept { return m_token_rv; }
    /// The provider's own sentence for that failure ("reading ...: C_Sign failed: ...
    /// (CKR_DEVICE_ERROR)"), or empty.
    const std::string& token_detail() const noexcept { return m_token_detail; }

  private:
    struct Drained {
        std::string message;
        unsigned long token_rv = 0;
        std::string token_detail;
    };
    static Drained drain(const std::string& context);
    explicit OpenSslError(Drained d);
    unsigned long m_token_rv;
    std::string m_token_detail;
};

/// The user declined at a confirmation prompt.
class Declined : public Error {
  public:
    using Error::Error;
};

}  // namespace ts::signer
