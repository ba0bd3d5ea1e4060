// SPDX-License-Identifier: Apache-2.0
// The exception boundary (guard) and the type-checked dispatch table macro.
#pragma once

#include <openssl/core.h>
#include <openssl/core_dispatch.h>

#include "provider/provider.hpp"

namespace ts::prov {

/// Runs `body` and returns its result; any exception becomes an OpenSSL error raised through
/// the core upcalls and `fail` is returned. Every function OpenSSL calls through a dispatch
/// pointer is noexcept and runs its body in here: no exception ever crosses into C.
template <class R, class F>
R guard(const ProvCtx* ctx, const char* func, R fail, F&& body) noexcept {
    try {
        return body();
    } catch (...) {
        raise_current_exception(ctx, func);
        return fail;
    }
}

#define TS_GUARD(ctx, fail, ...) ::ts::prov::guard((ctx), __func__, (fail), __VA_ARGS__)

}  // namespace ts::prov

/// One OSSL_DISPATCH entry; static_cast to OSSL_FUNC_<name>_fn* so a wrong signature does not
/// compile. TS_DISPATCH(SIGNATURE_NEWCTX, signature_newctx, rsa_sig_newctx)
#define TS_DISPATCH(ID, name, fn)                                                                 \
    OSSL_DISPATCH {                                                                               \
        OSSL_FUNC_##ID, reinterpret_cast<void (*)(void)>(static_cast<OSSL_FUNC_##name##_fn*>(fn)) \
    }
