// SPDX-License-Identifier: Apache-2.0
#include "signer/error.hpp"

#include <openssl/err.h>

#include <string_view>
#include <utility>

namespace ts::signer {

namespace {

std::string drain_openssl_errors(const std::string& context, unsigned long& token_rv,
                                 std::string& token_detail) {
    std::string msg = context;
    unsigned long e;
    const char* data = nullptr;
    int flags = 0;
    bool first = true;
    while ((e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
        // tokensign uses no engines: ENGINE/DSO entries are left by a PKCS#11 module's own
        // OpenSSL initialisation (SoftHSM2 probes the rdrand engine) and only mislead.
        if (ERR_GET_LIB(e) == ERR_LIB_ENGINE || ERR_GET_LIB(e) == ERR_LIB_DSO) continue;
        // The tokensign provider raises token failures with the CK_RV as the reason.
        if (const char* lib = ERR_lib_error_string(e);
            token_rv == 0 && lib != nullptr && std::string_view(lib) == "tokensign" &&
            ERR_GET_REASON(e) > 0 && ERR_GET_REASON(e) < 0x10000) {
            token_rv = static_cast<unsigned long>(ERR_GET_REASON(e));
            if ((flags & ERR_TXT_STRING) && data) token_detail = data;
        }
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        msg += first ? ": " : "; ";
        first = false;
        msg += buf;
        if ((flags & ERR_TXT_STRING) && data && *data) {
            msg += " (";
            msg += data;
            msg += ")";
        }
    }
    return msg;
}

}  // namespace

OpenSslError::Drained OpenSslError::drain(const std::string& context) {
    Drained d;
    d.message = drain_openssl_errors(context, d.token_rv, d.token_detail);
    return d;
}

OpenSslError::OpenSslError(const std::string& context) : OpenSslError(drain(context)) {}

OpenSslError::OpenSslError(Drained d)
    : Error(d.message), m_token_rv(d.token_rv), m_token_detail(std::move(d.token_detail)) {}

}  // namespace ts::signer
