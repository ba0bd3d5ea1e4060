// SPDX-License-Identifier: Apache-2.0
// The signer's OpenSSL library context, and loading keys and certificates into it.
#include "signer/libctx.hpp"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ui.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

#include "hsm/error.hpp"
#include "hsm/pin.hpp"
#include "hsm/uri.hpp"
#include "signer/error.hpp"

#ifndef TS_BUILD_PROVIDER_DIR
#define TS_BUILD_PROVIDER_DIR ""
#endif
#ifndef TS_BUILD_ROOT
#define TS_BUILD_ROOT ""
#endif
#ifndef TS_INSTALL_PROVIDER_DIR
#define TS_INSTALL_PROVIDER_DIR "/usr/lib/x86_64-linux-gnu/ossl-modules"
#endif

namespace ts::signer {

namespace {

// A token failure the provider reported while loading a key: the failed C_* function and its
// CKR_* come first, then the key it was for (never "no key found": the key may well be there).
[[noreturn]] void throw_token_failure(const OpenSslError& e, const std::string& shown) {
    const std::string& detail = e.token_detail();
    std::string function = "the token";
    if (auto at = detail.find("C_"); at != std::string::npos) {
        auto end =
            detail.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_", at);
        function = detail.substr(at, end == std::string::npos ? end : end - at);
    }
    std::string rv = hsm::rv_name(e.token_rv());
    throw hsm::Pkcs11Error(e.token_rv(), function,
                           function + " failed with " + rv + " while loading the CA key " + shown +
                               ": " + (detail.empty() ? std::string(e.what()) : detail));
}

bool file_exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

// True when this process's executable lies inside the build tree it was built in (tests, a
// tokensign run as build/cli/tokensign). An installed or copied binary is not, so it never loads
// a build tree's tokensign.so, nor names one in an openssl.cnf it writes.
bool running_from_build_tree() {
    const std::string root = TS_BUILD_ROOT;
    if (root.empty()) return false;
    std::error_code ec;
    const auto exe = std::filesystem::canonical("/proc/self/exe", ec);
    if (ec) return false;
    const auto build = std::filesystem::canonical(root, ec);
    if (ec) return false;
    auto [b, e] = std::mismatch(build.begin(), build.end(), exe.begin(), exe.end());
    return b == build.end();
}

// What the passphrase callback needs: where PINs may come from, and the first failure, so the
// error the user sees names the PIN problem rather than OpenSSL's "bad decrypt".
struct PinCallbackData {
    hsm::PinSources sources;
    std::string what;
    std::string error;
    int calls = 0;
};

// pem_password_cb, wrapped into a UI_METHOD by UI_UTIL_wrap_read_pem_callback. The store calls it
// for an encrypted file key and the provider may call it (OSSL_PASSPHRASE_CALLBACK) for the PIN.
// C calls this through a pointer: nothing may be thrown across it.
int pin_callback(char* buf, int size, int /*rwflag*/, void* u) noexcept {
    auto* data = static_cast<PinCallbackData*>(u);
    if (data == nullptr || size <= 0) return -1;
    // A rejected secret is never replayed: a second request means the first was wrong.
    if (++data->calls > 1) return -1;
    try {
        hsm::Pin pin = hsm::obtain_pin(data->sources, data->what);
        auto bytes = pin.bytes();
        if (bytes.size() > static_cast<std::size_t>(size)) {
            data->error = "the PIN for " + data->what + " is longer than OpenSSL accepts";
            return -1;
        }
        std::memcpy(buf, bytes.data(), bytes.size());
        return static_cast<int>(bytes.size());
    } catch (const std::exception& e) {
        data->error = e.what();
        return -1;
    }
}

struct UiMethodDeleter {
    void operator()(UI_METHOD* m) const noexcept { UI_destroy_method(m); }
};

// Adds the CLI's --module and --pin-source to a pkcs11: URI that does not say them itself, so
// the provider (which reads only the URI, its openssl.cnf parameters and the environment) uses
// the same module and PIN source as the rest of tokensign. RFC 7512 §2.4 query attributes.
std::string with_cli_query(const std::string& uri_text, const hsm::Config& cfg) {
    hsm::Uri uri = hsm::parse_uri(uri_text);
    std::string extra;
    auto add = [&](const std::string& kv) { extra += (extra.empty() ? "" : "&") + kv; };
    if (!cfg.modules.explicit_path.empty() && !uri.module_path() && !uri.module_name())
        add("module-path=" + hsm::percent_encode_text(cfg.modules.explicit_path));
    if (!cfg.pin_source.empty() && !uri.pin_source() && !uri.pin_value()) {
        // The provider resolves it on its own: make a relative path independent of its cwd.
        std::string src = cfg.pin_source;
        if (src.rfind("file:", 0) != 0 && !src.empty() && src[0] != '/') {
            std::error_code ec;
            auto abs = std::filesystem::absolute(src, ec);
            if (!ec) src = abs.string();
        }
        add("pin-source=" + hsm::percent_encode_text(src));
    }
    if (extra.empty()) return uri_text;
    return uri_text + (uri_text.find('?') == std::string::npos ? "?" : "&") + extra;
}

// The token part of a pkcs11: URI (its query kept): the object, id and type dropped.
std::string token_part(const std::string& store_uri) {
    auto q = store_uri.find('?');
    std::string path = store_uri.substr(0, q), out = "pkcs11:";
    std::string rest = path.substr(std::string("pkcs11:").size());
    bool first = true;
    for (std::size_t at = 0; at <= rest.size();) {
        auto end = rest.find(';', at);
        if (end == std::string::npos) end = rest.size();
        std::string attr = rest.substr(at, end - at);
        at = end + 1;
        if (attr.empty() || attr.rfind("object=", 0) == 0 || attr.rfind("id=", 0) == 0 ||
            attr.rfind("type=", 0) == 0)
            continue;
        out += (first ? "" : ";") + attr;
        first = false;
    }
    return q == std::string::npos ? out : out + store_uri.substr(q);
}

// Whether the provider's store lists nothing at all on the key's token (a blanked token reads
// as "no key" otherwise). False when it cannot tell.
bool token_lists_nothing(LibCtx& ctx, const std::string& store_uri, UI_METHOD* ui, void* data) {
    ERR_set_mark();
    OsslPtr<OSSL_STORE_CTX> store(OSSL_STORE_open_ex(token_part(store_uri).c_str(), ctx.get(),
                                                     ctx.propq(), ui, data, nullptr, nullptr,
                                                     nullptr));
    bool nothing = false;
    if (store) {
        nothing = true;
        while (nothing && !OSSL_STORE_eof(store.get())) {
            OsslPtr<OSSL_STORE_INFO> info(OSSL_STORE_load(store.get()));
            if (info) {
                nothing = false;
            } else if (OSSL_STORE_error(store.get())) {
                // The provider reports "no object matches" as an error; any other is no answer.
                unsigned long e = ERR_peek_last_error();
                const char* lib = ERR_lib_error_string(e);
                const char* reason = ERR_reason_error_string(e);
                nothing = lib != nullptr && std::string_view(lib) == "tokensign" &&
                          reason != nullptr &&
                          std::string_view(reason) == "object selection failed";
                break;
            }
        }
    }
    ERR_pop_to_mark();
    return nothing;
}

// The PIN problem says everything; what OpenSSL queued on the way out ("interrupted or
// cancelled", a module's engine probing) would only bury it.
[[noreturn]] void throw_pin_error(const std::string& message) {
    ERR_clear_error();
    throw hsm::PinError(message);
}

}  // namespace

std::string provider_dir() {
    if (const char* env = std::getenv("TOKENSIGN_PROVIDER_DIR"); env != nullptr && *env != '\0')
        return env;
    std::string build = TS_BUILD_PROVIDER_DIR;
    if (!build.empty() && running_from_build_tree() && file_exists(build + "/tokensign.so"))
        return build;
    return TS_INSTALL_PROVIDER_DIR;
}

LibCtx::LibCtx() : m_ctx(OSSL_LIB_CTX_new()) {
    if (!m_ctx) throw OpenSslError("cannot create an OpenSSL library context");
    m_default.reset(OSSL_PROVIDER_load(m_ctx.get(), "default"));
    if (!m_default) throw OpenSslError("cannot load OpenSSL's default provider");
}

LibCtx::~LibCtx() = default;

void LibCtx::load_tokensign() {
    if (m_tokensign) return;
    std::string dir = provider_dir();
    if (!OSSL_PROVIDER_set_default_search_path(m_ctx.get(), dir.c_str()))
        throw OpenSslError("cannot set the provider search path to " + dir);
    m_tokensign.reset(OSSL_PROVIDER_load(m_ctx.get(), "tokensign"));
    if (!m_tokensign) {
        OpenSslError detail("OSSL_PROVIDER_load(tokensign)");
        throw InputError("cannot load the tokensign provider from " + dir +
                         " (set TOKENSIGN_PROVIDER_DIR to the directory holding tokensign.so): " +
                         detail.what());
    }
}

OsslPtr<EVP_PKEY> load_private_key(LibCtx& ctx, const std::string& location, const hsm::Config& cfg,
                                   std::shared_ptr<const hsm::Pin> pin) {
    // Whatever an earlier step left queued (e.g. the system openssl.cnf's engine lines) is not
    // about this key.
    ERR_clear_error();
    PinCallbackData data;
    std::string store_uri = location;
    if (hsm::is_pkcs11_uri(location)) {
        ctx.load_tokensign();
        hsm::Uri uri = hsm::parse_uri(location);
        data.sources = hsm::pin_sources(cfg, uri);
        data.what = "the token of " + uri.to_string();
        store_uri = with_cli_query(location, cfg);
    } else {
        data.sources.option_pin_source = cfg.pin_source;
        data.sources.use_env = cfg.use_env_pin;
        data.sources.allow_prompt = cfg.allow_prompt;
        data.what = "the key file " + location;
    }
    if (pin) data.sources.pin_value = std::move(pin);

    std::unique_ptr<UI_METHOD, UiMethodDeleter> ui(UI_UTIL_wrap_read_pem_callback(pin_callback, 0));
    if (!ui) throw OpenSslError("cannot create a passphrase UI");
    OsslPtr<OSSL_STORE_CTX> store(OSSL_STORE_open_ex(store_uri.c_str(), ctx.get(), ctx.propq(),
                                                     ui.get(), &data, nullptr, nullptr, nullptr));
    if (!store) {
        if (!data.error.empty()) throw_pin_error(data.error);
        // Never echo a URI that may carry a pin-value.
        std::string shown =
            hsm::is_pkcs11_uri(location) ? hsm::parse_uri(location).to_string() : location;
        OpenSslError detail("cannot open the CA key " + shown);
        if (detail.token_rv() != 0) throw_token_failure(detail, shown);
        throw detail;
    }
    OSSL_STORE_expect(store.get(), OSSL_STORE_INFO_PKEY);
    while (!OSSL_STORE_eof(store.get())) {
        OsslPtr<OSSL_STORE_INFO> info(OSSL_STORE_load(store.get()));
        if (!info) {
            if (!data.error.empty()) throw_pin_error(data.error);
            if (OSSL_STORE_error(store.get())) break;
            continue;
        }
        if (OSSL_STORE_INFO_get_type(info.get()) == OSSL_STORE_INFO_PKEY) {
            OsslPtr<EVP_PKEY> key(OSSL_STORE_INFO_get1_PKEY(info.get()));
            if (key) {
                ERR_clear_error();
                return key;
            }
        }
    }
    if (!data.error.empty()) throw_pin_error(data.error);
    std::string shown =
        hsm::is_pkcs11_uri(location) ? hsm::parse_uri(location).to_string() : location;
    OpenSslError detail("cannot load the CA key " + shown);
    std::string what = detail.what();
    // The provider reports a rejected or locked PIN with the CK_RV name as its reason: that is
    // an authentication failure (exit 4), not a missing key.
    for (const char* rv : {"CKR_PIN_INCORRECT", "CKR_PIN_LOCKED", "CKR_PIN_EXPIRED",
                           "CKR_PIN_LEN_RANGE", "CKR_USER_PIN_NOT_INITIALIZED"})
        if (what.find(rv) != std::string::npos) throw hsm::PinError(what);
    if (detail.token_rv() != 0) throw_token_failure(detail, shown);
    if (hsm::is_pkcs11_uri(location) && token_lists_nothing(ctx, store_uri, ui.get(), &data)) {
        throw InputError("no private key found at " + shown +
                         ": the token reported no objects at all; if it should hold the CA key, "
                         "do not replace it yet, but check the token (for SoftHSM2, its token "
                         "directory or a backup of it) and try again: " +
                         what);
    }
    throw InputError("no private key found at " + shown + ": " + what);
}

std::string read_file(const std::string& path) {
    // read(2) into one buffer sized by fstat: a batch reads a CSR per certificate, and an
    // ifstream with a stringstream costs several times the system calls' own time.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw InputError("cannot read " + path + ": " + std::strerror(errno));
    struct stat st {};
    std::string data;
    // One byte more than the size, so that a file read whole ends with read() returning 0
    // without growing the buffer; a pipe or a growing file is read to its end all the same.
    data.resize(::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0
                    ? static_cast<std::size_t>(st.st_size) + 1
                    : 4096);
    std::size_t used = 0;
    for (;;) {
        if (used == data.size()) data.resize(data.size() * 2);
        ssize_t r = ::read(fd, data.data() + used, data.size() - used);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            const int err = errno;
            ::close(fd);
            throw InputError("cannot read " + path + ": " + std::strerror(err));
        }
        if (r == 0) break;
        used += static_cast<std::size_t>(r);
    }
    ::close(fd);
    data.resize(used);
    return data;
}

OsslPtr<X509> load_certificate(LibCtx& ctx, const std::string& path) {
    std::string data = read_file(path);
    OsslPtr<X509> cert(X509_new_ex(ctx.get(), ctx.propq()));
    if (!cert) throw OpenSslError("X509_new_ex");
    X509* p = cert.get();
    if (data.find("-----BEGIN") != std::string::npos) {
        OsslPtr<BIO> bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
        if (PEM_read_bio_X509(bio.get(), &p, nullptr, nullptr) == nullptr) {
            cert.release();  // a failed d2i freed it and set p to null; a PEM framing
            cert.reset(p);   // error did not reach d2i and left it to us
            OpenSslError detail("PEM_read_bio_X509");
            throw InputError("no PEM certificate in " + path + ": " + detail.what());
        }
    } else {
        auto* der = reinterpret_cast<const unsigned char*>(data.data());
        if (d2i_X509(&p, &der, static_cast<long>(data.size())) == nullptr) {
            cert.release();  // freed by the failed d2i unless p is still set
            cert.reset(p);
            OpenSslError detail("d2i_X509");
            throw InputError(path + " is neither a PEM nor a DER certificate: " + detail.what());
        }
    }
    return cert;
}

bool key_matches_certificate(LibCtx& ctx, EVP_PKEY* key, X509* cert) {
    EVP_PKEY* pub = X509_get0_pubkey(cert);
    if (pub == nullptr) throw OpenSslError("cannot read the CA certificate's public key");
    ERR_set_mark();
    int eq = EVP_PKEY_eq(key, pub);
    ERR_pop_to_mark();
    if (eq == 1) return true;
    if (eq == -1) return false;  // different key types
    // The key's provider could not compare (or said no): prove it by signing. A fixed message
    // is enough: what matters is which public key verifies the signature.
    static const unsigned char kProbe[] = "tokensign CA key check";
    const char* md =
        (EVP_PKEY_is_a(pub, "ED25519") || EVP_PKEY_is_a(pub, "ED448")) ? nullptr : "SHA256";
    OsslPtr<EVP_MD_CTX> sctx(EVP_MD_CTX_new());
    if (!sctx ||
        EVP_DigestSignInit_ex(sctx.get(), nullptr, md, ctx.get(), ctx.propq(), key, nullptr) != 1)
        throw OpenSslError("cannot start a test signature with the CA key");
    std::size_t len = 0;
    if (EVP_DigestSign(sctx.get(), nullptr, &len, kProbe, sizeof kProbe) != 1)
        throw OpenSslError("cannot size a test signature with the CA key");
    std::vector<unsigned char> sig(len);
    if (EVP_DigestSign(sctx.get(), sig.data(), &len, kProbe, sizeof kProbe) != 1)
        throw OpenSslError("the CA key failed to make a test signature");
    sig.resize(len);
    OsslPtr<EVP_MD_CTX> vctx(EVP_MD_CTX_new());
    if (!vctx ||
        EVP_DigestVerifyInit_ex(vctx.get(), nullptr, md, ctx.get(), ctx.propq(), pub, nullptr) != 1)
        throw OpenSslError("cannot start verifying the test signature");
    int ok = EVP_DigestVerify(vctx.get(), sig.data(), sig.size(), kProbe, sizeof kProbe);
    ERR_clear_error();
    return ok == 1;
}

}  // namespace ts::signer
