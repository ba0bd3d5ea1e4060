// SPDX-License-Identifier: Apache-2.0
#include "signer/error.hpp"

#include <openssl/err.h>

namespace ts::signer {

namespace {

std::string drain_openssl_errors(const std::string& context) {
    std::string msg = context;
    unsigned long e;
    const char* data = nullptr;
    int flags = 0;
    bool first = true;
    while ((e = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) != 0) {
        // tokensign uses no engines: ENGINE/DSO entries are left by a PKCS#11 module's own
        // OpenSSL initialisation (SoftHSM2 probes the rdrand engine) and only mislead.
        if (ERR_GET_LIB(e) == ERR_LIB_ENGINE || ERR_GET_LIB(e) == ERR_LIB_DSO) continue;
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

OpenSslError::OpenSslError(const std::string& context) : Error(drain_openssl_errors(context)) {}

}  // namespace ts::signer
