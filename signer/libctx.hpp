// SPDX-License-Identifier: Apache-2.0
// The signer's own OpenSSL library context: the default provider, plus tokensign for pkcs11: keys.
#pragma once

#include <memory>
#include <string>

#include "hsm/ossl.hpp"
#include "hsm/pin.hpp"
#include "hsm/resolve.hpp"

namespace ts::signer {

/// The directory tokensign.so is loaded from: $TOKENSIGN_PROVIDER_DIR, else the build tree's
/// provider directory when the running executable is inside that build tree and it holds
/// tokensign.so, else OpenSSL's module directory where it is installed.
std::string provider_dir();

/// An OSSL_LIB_CTX of its own with the `default` provider loaded. The `tokensign` provider is
/// loaded on first need (a pkcs11: key), so CAs with file keys work without it.
class LibCtx {
  public:
    /// Throws OpenSslError when the default provider cannot be loaded.
    LibCtx();
    LibCtx(const LibCtx&) = delete;
    LibCtx& operator=(const LibCtx&) = delete;
    ~LibCtx();

    OSSL_LIB_CTX* get() const noexcept { return m_ctx.get(); }
    /// Property query for fetches: none (default and tokensign both answer).
    const char* propq() const noexcept { return nullptr; }
    /// OSSL_PROVIDER_set_default_search_path(provider_dir()) + OSSL_PROVIDER_load("tokensign").
    /// Throws InputError naming the directory when tokensign.so cannot be loaded.
    void load_tokensign();
    bool tokensign_loaded() const noexcept { return m_tokensign != nullptr; }

  private:
    OsslPtr<OSSL_LIB_CTX> m_ctx;
    OsslPtr<OSSL_PROVIDER> m_default;
    OsslPtr<OSSL_PROVIDER> m_tokensign;
};

/// Loads a private key through OSSL_STORE_open_ex in `ctx`: a pkcs11: URI (the tokensign
/// provider logs in; the PIN comes from the URI's pin-source, cfg.pin_source, TOKENSIGN_PIN or a
/// prompt, handed over through the store's passphrase UI), a file path or a file: URI (PEM or
/// DER, encrypted PEM asks the same PIN sources for the passphrase). Throws InputError when the
/// location holds no private key, OpenSslError when the store fails.
/// `pin`, when given, is the PIN already obtained from those sources (so a prompt is not shown
/// twice in one command).
OsslPtr<EVP_PKEY> load_private_key(LibCtx& ctx, const std::string& location, const hsm::Config& cfg,
                                   std::shared_ptr<const hsm::Pin> pin = nullptr);

/// Reads the first certificate from a PEM or DER file. Throws InputError.
OsslPtr<X509> load_certificate(LibCtx& ctx, const std::string& path);

/// The whole file as bytes. Throws InputError naming the file and errno.
std::string read_file(const std::string& path);

/// True when `cert`'s public key is the public half of `key`: EVP_PKEY_eq, and when the key's
/// provider cannot compare, a signature over a fixed message made with `key` and verified with
/// the certificate's key (so a token key that only signs is still checked).
bool key_matches_certificate(LibCtx& ctx, EVP_PKEY* key, X509* cert);

}  // namespace ts::signer
