// SPDX-License-Identifier: Apache-2.0
// The provider context every tokensign.so operation receives, and the error upcalls.
#pragma once

#include <openssl/core.h>
#include <openssl/core_dispatch.h>

#include <cstdarg>
#include <memory>
#include <mutex>
#include <string>

#include "hsm/ossl.hpp"
#include "hsm/resolve.hpp"

namespace ts::prov {

/// Reason codes of tokensign errors. A PKCS#11 failure uses its CK_RV as the reason
/// (CKR_PIN_INCORRECT is 0xA0) so `openssl` prints the CKR name; the codes below sit above
/// every standard CK_RV.
enum Reason : int {
    kReasonInternal = 0x10000,
    kReasonSelection,    // no / several objects matched
    kReasonPin,          // no PIN available
    kReasonUnsupported,  // key type, mechanism or parameter not supported
    kReasonUri,          // malformed pkcs11: URI
    kReasonBadArgument,  // a caller broke an API contract (short buffer, missing key)
    kReasonOpenSsl,      // a host-side OpenSSL call failed
};

/// How the provider logs in (the `login-behaviour` parameter).
enum class LoginBehaviour {
    Auto,    // only to find and use private keys (default)
    Always,  // also before searching public keys and certificates (tokens that hide them)
    Never,   // never C_Login (keys usable without login, or a PIN-less token)
};

/// One per loaded provider instance (OSSL_provider_init).
struct ProvCtx {
    const OSSL_CORE_HANDLE* handle = nullptr;
    // The core's error upcalls (core_new_error, core_set_error_debug, core_vset_error).
    OSSL_FUNC_core_new_error_fn* core_new_error = nullptr;
    OSSL_FUNC_core_set_error_debug_fn* core_set_error_debug = nullptr;
    OSSL_FUNC_core_vset_error_fn* core_vset_error = nullptr;
    /// Host-side work (hashing, verification, encoding, public EVP_PKEYs): a private library
    /// context with only the default provider, created from the core dispatch so core BIOs
    /// work in it. Nothing done in it can recurse into tokensign.
    OSSL_LIB_CTX* host = nullptr;
    OSSL_PROVIDER* host_default = nullptr;
    /// The host library context, created on first use: creating it (and loading the default
    /// provider into it) while OpenSSL activates tokensign, before the application's default
    /// provider, leaves OpenSSL 3.0's TLS without the EC groups (P-256 ...) in that process.
    OSSL_LIB_CTX* host_ctx();
    const OSSL_DISPATCH* core_in = nullptr;
    std::once_flag host_once;
    hsm::Config cfg;
    LoginBehaviour login = LoginBehaviour::Auto;
    /// Register the URI PEM decoders (`uri-pem-decoder`, default yes). OpenSSL 3.0 builds a
    /// decoder chain per certificate it reads (the trust store: ~144 per `openssl x509`), and
    /// every registered decoder costs there; users of pkcs11: URIs only can switch them off.
    bool uri_pem_decoder = true;
    /// Sign and decrypt with a session-object copy of the key (`session-key-copy`, default
    /// yes): SoftHSM2 and similar software tokens decrypt a token key object on every use.
    bool session_key_copy = true;
    /// A bad parameter in the provider's openssl.cnf section. OpenSSL drops errors raised while
    /// it activates providers from a config file, so the provider loads and raises this on
    /// every use instead of failing silently.
    std::string config_error;
    /// Throws std::invalid_argument(config_error) when the configuration was bad.
    void check_config() const;
};

/// Raises an OpenSSL error through the core upcalls: reason code and a formatted message.
void raise(const ProvCtx* ctx, int reason, const char* file, int line, const char* func,
           const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

#define TS_RAISE(ctx, reason, ...) \
    ::ts::prov::raise((ctx), (reason), __FILE__, __LINE__, __func__, __VA_ARGS__)

/// Raises the current exception (called inside a catch block) as an OpenSSL error.
void raise_current_exception(const ProvCtx* ctx, const char* func) noexcept;

/// Host-side OpenSSL failure: drains what the host library context queued into one message.
class HostError : public std::runtime_error {
  public:
    explicit HostError(const std::string& what);
};

/// Throws HostError("<what>: <queued OpenSSL errors>") unless ok.
inline void host_check(bool ok, const char* what) {
    if (!ok) throw HostError(what);
}

}  // namespace ts::prov
