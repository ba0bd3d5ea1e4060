// SPDX-License-Identifier: Apache-2.0
// PINs: where they come from (URI pin-value, pin-source, TOKENSIGN_PIN, a prompt), and wiping.
#pragma once

#include <openssl/crypto.h>

#include <cstddef>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ts::hsm {

/// Allocator that OPENSSL_cleanse()s memory before giving it back.
template <class T>
struct CleansingAllocator {
    using value_type = T;
    CleansingAllocator() noexcept = default;
    template <class U>
    CleansingAllocator(const CleansingAllocator<U>&) noexcept {}
    // OpenSSL's secure heap when the program set one up (CRYPTO_secure_malloc_init: mlock'd,
    // MADV_DONTDUMP, guard pages; the CLI does), else ordinary memory; cleansed when freed.
    T* allocate(std::size_t n) {
        void* p = OPENSSL_secure_malloc(n * sizeof(T));
        if (p == nullptr) throw std::bad_alloc();
        return static_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t n) noexcept { OPENSSL_secure_clear_free(p, n * sizeof(T)); }
    template <class U>
    bool operator==(const CleansingAllocator<U>&) const noexcept {
        return true;
    }
};

/// Bytes that are wiped when freed (and when the vector reallocates).
using SecureBytes = std::vector<unsigned char, CleansingAllocator<unsigned char>>;

/// A PIN. Move-only, no stream operator, wiped on destruction.
class Pin {
  public:
    Pin() = default;
    explicit Pin(SecureBytes bytes) : m_bytes(std::move(bytes)) {}
    static Pin from(std::string_view text) { return Pin(SecureBytes(text.begin(), text.end())); }
    Pin(Pin&&) noexcept = default;
    Pin& operator=(Pin&&) noexcept = default;
    Pin(const Pin&) = delete;
    Pin& operator=(const Pin&) = delete;
    ~Pin() = default;

    std::span<const unsigned char> bytes() const noexcept { return m_bytes; }
    bool empty() const noexcept { return m_bytes.empty(); }
    /// An explicit copy, for the rare holder that must keep one (the provider's configured PIN).
    Pin clone() const { return Pin(m_bytes); }

  private:
    SecureBytes m_bytes;
};

/// Where a PIN may come from, in the order obtain_pin() tries them:
/// 1. `pin_value` (the URI's pin-value: for tests only), 2. `uri_pin_source` (the URI's
/// pin-source), 3. `option_pin_source` (--pin-source or the provider's pin-source parameter),
/// 4. the environment variable TOKENSIGN_PIN (if `use_env`), 5. a prompt with echo off on the
/// controlling terminal (if `allow_prompt`). Never a plain command-line flag.
struct PinSources {
    std::shared_ptr<const Pin> pin_value;
    std::string uri_pin_source;
    std::string option_pin_source;
    bool use_env = true;
    bool allow_prompt = true;
    /// Token::login() refuses to spend the last PIN try (CKF_USER_PIN_FINAL_TRY) unless set.
    bool allow_final_try = false;
};

/// Reads a PIN from a pin-source: a file path or a `file:` URI (RFC 8089, percent-decoded).
/// One trailing "\n" or "\r\n" is removed. A regular file that group or others may read or
/// write is refused (as ssh refuses such a key file): chmod 600 it. Throws PinError naming the
/// source (never the PIN).
Pin read_pin_source(std::string_view source);

/// Asks for a PIN on /dev/tty with echo off. Throws PinError when there is no terminal. A
/// SIGINT, SIGTERM, SIGHUP or SIGQUIT while it waits restores the terminal's echo first, then
/// takes its course (the previous handler runs, or the process ends as it would have); if the
/// process lives on, PinError "PIN entry interrupted".
Pin prompt_pin(std::string_view prompt);

/// The first PIN available from `sources` (see PinSources). `what` names the token in the prompt
/// and errors ("token 'root-ca'"). Throws PinError when none is available. TOKENSIGN_PIN is
/// taken out of the process environment when first read (its bytes are overwritten, so neither
/// /proc/PID/environ nor a child process shows it) and kept for later logins of this process.
Pin obtain_pin(const PinSources& sources, std::string_view what);

/// A secret from the environment variable `name` (TOKENSIGN_PIN, TOKENSIGN_SO_PIN, ...), taken
/// out of the environment at its first read (bytes overwritten, variable removed) and kept for
/// the rest of the process; nullopt when it was never set (or set empty).
std::optional<Pin> take_environment_secret(const std::string& name);

/// True when obtain_pin() would find a PIN in TOKENSIGN_PIN (set now, or taken out earlier).
bool environment_pin_available() noexcept;

/// Forgets the environment secrets kept so far (tests that set the variables again).
void forget_environment_pin() noexcept;

}  // namespace ts::hsm
