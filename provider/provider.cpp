// SPDX-License-Identifier: Apache-2.0
// OSSL_provider_init: parameters, algorithm tables, reason strings, errors via core upcalls.
#include "provider/provider.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/prov_ssl.h>
#include <openssl/provider.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "hsm/crypto.hpp"
#include "hsm/error.hpp"
#include "hsm/uri.hpp"
#include "provider/algorithms.hpp"
#include "provider/dispatch.hpp"

namespace ts::prov {

void raise(const ProvCtx* ctx, int reason, const char* file, int line, const char* func,
           const char* fmt, ...) {
    if (ctx == nullptr || ctx->core_new_error == nullptr) return;
    ctx->core_new_error(ctx->handle);
    ctx->core_set_error_debug(ctx->handle, file, line, func);
    va_list ap;
    va_start(ap, fmt);
    ctx->core_vset_error(ctx->handle, static_cast<uint32_t>(reason), fmt, ap);
    va_end(ap);
}

void raise_current_exception(const ProvCtx* ctx, const char* func) noexcept {
    try {
        throw;
    } catch (const hsm::Pkcs11Error& e) {
        // The CK_RV is the reason (reason strings name it); the message says what to do.
        int reason = e.rv() > 0 && e.rv() < 0x10000 ? static_cast<int>(e.rv()) : kReasonInternal;
        raise(ctx, reason, __FILE__, __LINE__, func, "%s", e.what());
    } catch (const hsm::SelectionError& e) {
        raise(ctx, kReasonSelection, __FILE__, __LINE__, func, "%s", e.what());
    } catch (const hsm::PinError& e) {
        raise(ctx, kReasonPin, __FILE__, __LINE__, func, "%s", e.what());
    } catch (const hsm::UnsupportedError& e) {
        raise(ctx, kReasonUnsupported, __FILE__, __LINE__, func, "%s", e.what());
    } catch (const hsm::UriError& e) {
        raise(ctx, kReasonUri, __FILE__, __LINE__, func, "%s", e.what());
    } catch (const HostError& e) {
        raise(ctx, kReasonOpenSsl, __FILE__, __LINE__, func, "%s", e.what());
    } catch (const std::invalid_argument& e) {
        raise(ctx, kReasonBadArgument, __FILE__, __LINE__, func, "%s", e.what());
    } catch (const std::exception& e) {
        raise(ctx, kReasonInternal, __FILE__, __LINE__, func, "%s", e.what());
    } catch (...) {
        raise(ctx, kReasonInternal, __FILE__, __LINE__, func, "unexpected exception");
    }
}

namespace {

// The host library context's errors are in this thread's queue too (one queue per thread);
// they are turned into text and removed so only tokensign's own line remains.
std::string drain_errors() {
    std::string out;
    unsigned long e;
    const char* data = nullptr;
    int flags = 0;
    while ((e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
        if ((flags & ERR_TXT_STRING) && data != nullptr && *data != '\0') {
            out += " (";
            out += data;
            out += ")";
        }
    }
    return out;
}

}  // namespace

OSSL_LIB_CTX* ProvCtx::host_ctx() {
    std::call_once(host_once, [this] {
        host = OSSL_LIB_CTX_new_from_dispatch(handle, core_in);
        host_check(host != nullptr, "cannot create tokensign's host library context");
        host_default = OSSL_PROVIDER_load(host, "default");
        host_check(host_default != nullptr,
                   "cannot load the default provider into tokensign's host library context");
    });
    if (host == nullptr || host_default == nullptr) {
        throw HostError("tokensign's host library context is unusable");
    }
    return host;
}

void ProvCtx::check_config() const {
    if (!config_error.empty()) {
        throw std::invalid_argument("tokensign is misconfigured: " + config_error);
    }
}

HostError::HostError(const std::string& what)
    : std::runtime_error([&] {
          std::string q = drain_errors();
          return q.empty() ? what : what + ": " + q;
      }()) {}

namespace {

constexpr const char* kProps = "provider=tokensign";

// Reason strings: the CK_RV names (reason = CK_RV) and tokensign's own reasons.
const OSSL_ITEM* reason_strings() {
    static std::vector<std::string> names;
    static std::vector<OSSL_ITEM> items;
    static std::once_flag once;
    std::call_once(once, [] {
        static const CK_RV kRvs[] = {CKR_CANCEL,
                                     CKR_HOST_MEMORY,
                                     CKR_SLOT_ID_INVALID,
                                     CKR_GENERAL_ERROR,
                                     CKR_FUNCTION_FAILED,
                                     CKR_ARGUMENTS_BAD,
                                     CKR_ATTRIBUTE_SENSITIVE,
                                     CKR_ATTRIBUTE_TYPE_INVALID,
                                     CKR_DATA_INVALID,
                                     CKR_DATA_LEN_RANGE,
                                     CKR_DEVICE_ERROR,
                                     CKR_DEVICE_MEMORY,
                                     CKR_DEVICE_REMOVED,
                                     CKR_ENCRYPTED_DATA_INVALID,
                                     CKR_ENCRYPTED_DATA_LEN_RANGE,
                                     CKR_FUNCTION_NOT_SUPPORTED,
                                     CKR_KEY_HANDLE_INVALID,
                                     CKR_KEY_SIZE_RANGE,
                                     CKR_KEY_TYPE_INCONSISTENT,
                                     CKR_KEY_FUNCTION_NOT_PERMITTED,
                                     CKR_MECHANISM_INVALID,
                                     CKR_MECHANISM_PARAM_INVALID,
                                     CKR_OBJECT_HANDLE_INVALID,
                                     CKR_OPERATION_ACTIVE,
                                     CKR_OPERATION_NOT_INITIALIZED,
                                     CKR_PIN_INCORRECT,
                                     CKR_PIN_INVALID,
                                     CKR_PIN_LEN_RANGE,
                                     CKR_PIN_EXPIRED,
                                     CKR_PIN_LOCKED,
                                     CKR_SESSION_CLOSED,
                                     CKR_SESSION_COUNT,
                                     CKR_SESSION_HANDLE_INVALID,
                                     CKR_SIGNATURE_INVALID,
                                     CKR_SIGNATURE_LEN_RANGE,
                                     CKR_TEMPLATE_INCOMPLETE,
                                     CKR_TEMPLATE_INCONSISTENT,
                                     CKR_TOKEN_NOT_PRESENT,
                                     CKR_TOKEN_NOT_RECOGNIZED,
                                     CKR_TOKEN_WRITE_PROTECTED,
                                     CKR_USER_ALREADY_LOGGED_IN,
                                     CKR_USER_NOT_LOGGED_IN,
                                     CKR_USER_PIN_NOT_INITIALIZED,
                                     CKR_USER_TYPE_INVALID,
                                     CKR_DOMAIN_PARAMS_INVALID,
                                     CKR_CURVE_NOT_SUPPORTED,
                                     CKR_BUFFER_TOO_SMALL,
                                     CKR_CRYPTOKI_NOT_INITIALIZED,
                                     CKR_CRYPTOKI_ALREADY_INITIALIZED};
        for (CK_RV rv : kRvs) names.push_back(hsm::rv_name(rv));
        auto item = [](unsigned int id, const char* text) {
            return OSSL_ITEM{id, const_cast<char*>(text)};
        };
        std::size_t i = 0;
        for (CK_RV rv : kRvs)
            items.push_back(item(static_cast<unsigned int>(rv), names[i++].c_str()));
        items.push_back(item(kReasonInternal, "internal error"));
        items.push_back(item(kReasonSelection, "object selection failed"));
        items.push_back(item(kReasonPin, "no PIN available"));
        items.push_back(item(kReasonUnsupported, "not supported"));
        items.push_back(item(kReasonUri, "malformed pkcs11 URI"));
        items.push_back(item(kReasonBadArgument, "bad argument"));
        items.push_back(item(kReasonOpenSsl, "host OpenSSL operation failed"));
        items.push_back(OSSL_ITEM{0, nullptr});
    });
    return items.data();
}

// The default provider's names for each key type: names in one entry are aliases, so they must
// match exactly.
#define TS_NAMES_RSA "RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define TS_NAMES_RSA_PSS "RSA-PSS:RSASSA-PSS:1.2.840.113549.1.1.10"
#define TS_NAMES_EC "EC:id-ecPublicKey:1.2.840.10045.2.1"
#define TS_NAMES_ED25519 "ED25519:1.3.101.112"
#define TS_NAMES_ED448 "ED448:1.3.101.113"

const OSSL_ALGORITHM kKeymgmt[] = {
    {TS_NAMES_RSA, kProps, rsa_keymgmt_functions, "RSA keys on a PKCS#11 token"},
    {TS_NAMES_RSA_PSS, kProps, rsa_pss_keymgmt_functions, "RSA-PSS keys on a PKCS#11 token"},
    {TS_NAMES_EC, kProps, ec_keymgmt_functions, "EC keys on a PKCS#11 token"},
    {TS_NAMES_ED25519, kProps, ed25519_keymgmt_functions, "Ed25519 keys on a PKCS#11 token"},
    {TS_NAMES_ED448, kProps, ed448_keymgmt_functions, "Ed448 keys on a PKCS#11 token"},
    {nullptr, nullptr, nullptr, nullptr}};

const OSSL_ALGORITHM kSignature[] = {
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", kProps, rsa_signature_functions,
     "RSA PKCS#1 v1.5 and PSS with a token key"},
    {"ECDSA", kProps, ecdsa_signature_functions, "ECDSA with a token key"},
    {"ED25519:1.3.101.112", kProps, eddsa_signature_functions, "Ed25519 with a token key"},
    {"ED448:1.3.101.113", kProps, eddsa_signature_functions, "Ed448 with a token key"},
    {nullptr, nullptr, nullptr, nullptr}};

const OSSL_ALGORITHM kAsymCipher[] = {
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", kProps, rsa_asym_cipher_functions,
     "RSA decryption with a token key"},
    {nullptr, nullptr, nullptr, nullptr}};

const OSSL_ALGORITHM kKeyexch[] = {
    {"ECDH", kProps, ecdh_keyexch_functions, "ECDH with a token key"},
    {nullptr, nullptr, nullptr, nullptr}};

const OSSL_ALGORITHM kStore[] = {{"pkcs11", kProps, store_functions, "RFC 7512 pkcs11: URIs"},
                                 {nullptr, nullptr, nullptr, nullptr}};

// Encoders and the decoder only for keys of this provider (OpenSSL tries the key's own provider
// first): the public key as SubjectPublicKeyInfo, text, and the private key as a URI PEM. One
// entry per key type with exactly the default provider's names: names in one entry are aliases.
#define TS_ENC(names, fns, props, desc) \
    { names, "provider=tokensign," props, fns, desc }
#define TS_ENCODERS_FOR(names, suffix)                                                         \
    TS_ENC(names, text_encoder_functions, "output=text", "token key as text"),                 \
        TS_ENC(names, spki_der_encoder_functions, "output=der,structure=SubjectPublicKeyInfo", \
               "public key as DER SubjectPublicKeyInfo"),                                      \
        TS_ENC(names, spki_pem_encoder_functions, "output=pem,structure=SubjectPublicKeyInfo", \
               "public key as PEM SubjectPublicKeyInfo"),                                      \
        TS_ENC(names, uri_pem_encoder_functions, "output=pem,structure=PrivateKeyInfo",        \
               "token key reference (pkcs11: URI) as PEM")

const OSSL_ALGORITHM kEncoder[] = {
    TS_ENCODERS_FOR(TS_NAMES_RSA, rsa),     TS_ENCODERS_FOR(TS_NAMES_RSA_PSS, rsa_pss),
    TS_ENCODERS_FOR(TS_NAMES_EC, ec),       TS_ENCODERS_FOR(TS_NAMES_ED25519, ed25519),
    TS_ENCODERS_FOR(TS_NAMES_ED448, ed448), {nullptr, nullptr, nullptr, nullptr}};

// Our URI PEM, in two steps as OpenSSL's own PEM keys: PEM to "DER" (here: the URI text) for
// our label only, then per key type from that text to a key reference. The PEM step reads one
// line of any other PEM before handing it back; the second step (structure "pkcs11-uri") is
// never tried on SubjectPublicKeyInfo or PKCS#8 input.
#define TS_DEC(names, fns, desc) \
    { names, "provider=tokensign,input=der,structure=pkcs11-uri", fns, desc }
const OSSL_ALGORITHM kDecoder[] = {
    {"DER", "provider=tokensign,input=pem", uri_pem_to_der_decoder_functions,
     "tokensign key URI PEM"},
    TS_DEC(TS_NAMES_RSA, rsa_uri_decoder_functions, "RSA token key URI"),
    TS_DEC(TS_NAMES_RSA_PSS, rsa_pss_uri_decoder_functions, "RSA-PSS token key URI"),
    TS_DEC(TS_NAMES_EC, ec_uri_decoder_functions, "EC token key URI"),
    TS_DEC(TS_NAMES_ED25519, ed25519_uri_decoder_functions, "Ed25519 token key URI"),
    TS_DEC(TS_NAMES_ED448, ed448_uri_decoder_functions, "Ed448 token key URI"),
    {nullptr, nullptr, nullptr, nullptr}};

const OSSL_ALGORITHM* query_operation(void* vctx, int operation_id, int* no_cache) noexcept {
    *no_cache = 0;
    auto* ctx = static_cast<ProvCtx*>(vctx);
    switch (operation_id) {
        case OSSL_OP_KEYMGMT:
            return kKeymgmt;
        case OSSL_OP_SIGNATURE:
            return kSignature;
        case OSSL_OP_ASYM_CIPHER:
            return kAsymCipher;
        case OSSL_OP_KEYEXCH:
            return kKeyexch;
        case OSSL_OP_STORE:
            return kStore;
        case OSSL_OP_ENCODER:
            return kEncoder;
        case OSSL_OP_DECODER:
            return ctx->uri_pem_decoder ? kDecoder : nullptr;
        default:
            return nullptr;
    }
}

const OSSL_PARAM kGettable[] = {OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_NAME, nullptr, 0),
                                OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_VERSION, nullptr, 0),
                                OSSL_PARAM_utf8_ptr(OSSL_PROV_PARAM_BUILDINFO, nullptr, 0),
                                OSSL_PARAM_int(OSSL_PROV_PARAM_STATUS, nullptr), OSSL_PARAM_END};

const OSSL_PARAM* gettable_params(void*) noexcept { return kGettable; }

int get_params(void* vctx, OSSL_PARAM params[]) noexcept {
    return TS_GUARD(static_cast<ProvCtx*>(vctx), 0, [&] {
        OSSL_PARAM* p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
        if (p != nullptr && !OSSL_PARAM_set_utf8_ptr(p, "tokensign PKCS#11 provider")) return 0;
        p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
        if (p != nullptr && !OSSL_PARAM_set_utf8_ptr(p, "0.1.0")) return 0;
        p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
        if (p != nullptr && !OSSL_PARAM_set_utf8_ptr(p, "tokensign 0.1.0")) return 0;
        p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
        if (p != nullptr && !OSSL_PARAM_set_int(p, 1)) return 0;
        return 1;
    });
}

const OSSL_ITEM* get_reason_strings(void*) noexcept { return reason_strings(); }

// TLS-GROUP capabilities for the EC groups (provider-base(7)). libssl keeps a group only if
// the keymgmt its fetch returns belongs to the provider that announced the group; loaded before
// the default provider, tokensign's EC keymgmt wins that fetch, so without these announcements
// OpenSSL 3.0's TLS would have no P-256/P-384/P-521 at all in the process. Keys for them are
// in-memory (soft) keys, handled exactly as the default provider would.
struct TlsGroup {
    const char* name;
    const char* internal;
    unsigned int id;
    unsigned int secbits;
};
constexpr TlsGroup kTlsGroups[] = {
    {"secp256r1", "prime256v1", 23, 128}, {"P-256", "prime256v1", 23, 128},
    {"secp384r1", "secp384r1", 24, 192},  {"P-384", "secp384r1", 24, 192},
    {"secp521r1", "secp521r1", 25, 256},  {"P-521", "secp521r1", 25, 256},
};

int get_capabilities(void*, const char* capability, OSSL_CALLBACK* cb, void* arg) noexcept {
    if (OPENSSL_strcasecmp(capability, "TLS-GROUP") != 0) return 0;
    for (const TlsGroup& g : kTlsGroups) {
        unsigned int id = g.id, secbits = g.secbits;
        int min_tls = TLS1_VERSION, max_tls = 0, min_dtls = DTLS1_VERSION, max_dtls = 0;
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME,
                                             const_cast<char*>(g.name), 0),
            OSSL_PARAM_construct_utf8_string(OSSL_CAPABILITY_TLS_GROUP_NAME_INTERNAL,
                                             const_cast<char*>(g.internal), 0),
            OSSL_PARAM_construct_utf8_string(OSSL_CAPABILITY_TLS_GROUP_ALG, const_cast<char*>("EC"),
                                             0),
            OSSL_PARAM_construct_uint(OSSL_CAPABILITY_TLS_GROUP_ID, &id),
            OSSL_PARAM_construct_uint(OSSL_CAPABILITY_TLS_GROUP_SECURITY_BITS, &secbits),
            OSSL_PARAM_construct_int(OSSL_CAPABILITY_TLS_GROUP_MIN_TLS, &min_tls),
            OSSL_PARAM_construct_int(OSSL_CAPABILITY_TLS_GROUP_MAX_TLS, &max_tls),
            OSSL_PARAM_construct_int(OSSL_CAPABILITY_TLS_GROUP_MIN_DTLS, &min_dtls),
            OSSL_PARAM_construct_int(OSSL_CAPABILITY_TLS_GROUP_MAX_DTLS, &max_dtls),
            OSSL_PARAM_END};
        if (!cb(params, arg)) return 0;
    }
    return 1;
}

// The provider context and the host library context are freed; the modules and tokens are
// deliberately not finalised here. OpenSSL runs this from its exit handler, when SoftHSM2's
// own OpenSSL state may already be gone: C_Finalize there crashes (see the notes). Process
// exit releases the module; hsm/ re-initialises it in a process that loads us again.
void teardown(void* vctx) noexcept {
    auto* ctx = static_cast<ProvCtx*>(vctx);
    if (ctx == nullptr) return;
    // TOKENSIGN_TIMING (bench/ca_scale.sh): the CPU the token's signing calls took.
    if (const hsm::SignTiming t = hsm::sign_timing(); t.signatures > 0)
        std::fprintf(stderr, "timing: token signing cpu ms: %ld (%ld signatures)\n",
                     t.cpu_us / 1000, t.signatures);
    if (ctx->host_default != nullptr) OSSL_PROVIDER_unload(ctx->host_default);
    if (ctx->host != nullptr) OSSL_LIB_CTX_free(ctx->host);
    delete ctx;
}

const OSSL_DISPATCH kProviderFunctions[] = {
    TS_DISPATCH(PROVIDER_TEARDOWN, provider_teardown, teardown),
    TS_DISPATCH(PROVIDER_GETTABLE_PARAMS, provider_gettable_params, gettable_params),
    TS_DISPATCH(PROVIDER_GET_PARAMS, provider_get_params, get_params),
    TS_DISPATCH(PROVIDER_QUERY_OPERATION, provider_query_operation, query_operation),
    TS_DISPATCH(PROVIDER_GET_REASON_STRINGS, provider_get_reason_strings, get_reason_strings),
    TS_DISPATCH(PROVIDER_GET_CAPABILITIES, provider_get_capabilities, get_capabilities),
    {0, nullptr}};

// Reads this provider's section of openssl.cnf (`pkcs11-module`, `pin-source`,
// `login-behaviour`, `session-cache-size`) through core_get_params.
void read_config(ProvCtx& ctx, OSSL_FUNC_core_get_params_fn* core_get_params) {
    char* module = nullptr;
    char* pin_source = nullptr;
    char* login = nullptr;
    char* cache = nullptr;
    char* decoder = nullptr;
    char* copy = nullptr;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_ptr("session-key-copy", &copy, 0),
                           OSSL_PARAM_construct_utf8_ptr("uri-pem-decoder", &decoder, 0),
                           OSSL_PARAM_construct_utf8_ptr("pkcs11-module", &module, 0),
                           OSSL_PARAM_construct_utf8_ptr("pin-source", &pin_source, 0),
                           OSSL_PARAM_construct_utf8_ptr("login-behaviour", &login, 0),
                           OSSL_PARAM_construct_utf8_ptr("session-cache-size", &cache, 0),
                           OSSL_PARAM_END};
    if (core_get_params == nullptr || !core_get_params(ctx.handle, params)) return;
    if (module != nullptr && *module != '\0') ctx.cfg.modules.explicit_path = module;
    if (pin_source != nullptr && *pin_source != '\0') ctx.cfg.pin_source = pin_source;
    if (login != nullptr && *login != '\0') {
        std::string l = login;
        if (l == "auto") {
            ctx.login = LoginBehaviour::Auto;
        } else if (l == "always") {
            ctx.login = LoginBehaviour::Always;
        } else if (l == "never") {
            ctx.login = LoginBehaviour::Never;
        } else {
            throw std::invalid_argument("login-behaviour must be auto, always or never, not '" + l +
                                        "'");
        }
    }
    auto yes_no = [](const char* name, const char* value, bool& out) {
        if (value == nullptr || *value == '\0') return;
        std::string v = value;
        if (v == "yes" || v == "1" || v == "on") {
            out = true;
        } else if (v == "no" || v == "0" || v == "off") {
            out = false;
        } else {
            throw std::invalid_argument(std::string(name) + " must be yes or no, not '" + v + "'");
        }
    };
    yes_no("uri-pem-decoder", decoder, ctx.uri_pem_decoder);
    yes_no("session-key-copy", copy, ctx.session_key_copy);
    if (cache != nullptr && *cache != '\0') {
        char* end = nullptr;
        unsigned long n = std::strtoul(cache, &end, 10);
        if (end == cache || *end != '\0' || n > 1024) {
            throw std::invalid_argument(std::string("session-cache-size must be 0..1024, not '") +
                                        cache + "'");
        }
        ctx.cfg.max_idle_sessions = n;
    }
}

}  // namespace

}  // namespace ts::prov

extern "C" __attribute__((visibility("default"))) int OSSL_provider_init(
    const OSSL_CORE_HANDLE* handle, const OSSL_DISPATCH* in, const OSSL_DISPATCH** out,
    void** provctx) {
    using namespace ts::prov;
    auto ctx = std::make_unique<ProvCtx>();
    ctx->handle = handle;
    OSSL_FUNC_core_get_params_fn* core_get_params = nullptr;
    for (const OSSL_DISPATCH* d = in; d->function_id != 0; ++d) {
        switch (d->function_id) {
            case OSSL_FUNC_CORE_GET_PARAMS:
                core_get_params = OSSL_FUNC_core_get_params(d);
                break;
            case OSSL_FUNC_CORE_NEW_ERROR:
                ctx->core_new_error = OSSL_FUNC_core_new_error(d);
                break;
            case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
                ctx->core_set_error_debug = OSSL_FUNC_core_set_error_debug(d);
                break;
            case OSSL_FUNC_CORE_VSET_ERROR:
                ctx->core_vset_error = OSSL_FUNC_core_vset_error(d);
                break;
            default:
                break;
        }
    }
    if (ctx->core_new_error == nullptr || ctx->core_set_error_debug == nullptr ||
        ctx->core_vset_error == nullptr) {
        return 0;
    }
    // The provider never prompts on a terminal itself: OpenSSL's passphrase callback does
    // (through the store), else a PIN must come from the URI, pin-source or TOKENSIGN_PIN.
    ctx->cfg.allow_prompt = false;
    try {
        read_config(*ctx, core_get_params);
    } catch (const std::exception& e) {
        ctx->config_error = e.what();
    }
    ctx->core_in = in;  // the core's table lives as long as the provider
    *out = kProviderFunctions;
    *provctx = ctx.release();
    return 1;
}
