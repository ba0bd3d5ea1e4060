// SPDX-License-Identifier: Apache-2.0
// A fault-injecting PKCS#11 module for tests: it loads a real module (SoftHSM2) and passes every
// call through, except the faults asked for in its environment. A token that allows few sessions
// or fails in the middle of a batch cannot be had from SoftHSM2 on demand; this makes one.
//
//   TS_FAULT_TARGET=PATH        the real module (required)
//   TS_FAULT_MAX_SESSIONS=N     C_OpenSession fails with CKR_SESSION_COUNT while N sessions are
//                               open, and C_GetTokenInfo reports N as ulMaxSessionCount
//   TS_FAULT_SIGN_FAIL_AT=N     the Nth C_Sign that produces a signature (counted over the whole
//                               process, from 1) returns CKR_DEVICE_ERROR; the real module ran
//                               it, so its operation is finished as the specification requires
//   TS_FAULT_COUNT_FILE=PATH    each C_Sign that produces a signature appends one line there
//   TS_FAULT_CREATE_FAIL=1      C_CreateObject (storing a certificate) returns CKR_DEVICE_ERROR
//   TS_FAULT_PIN_LOCKED=1       C_GetTokenInfo reports CKF_USER_PIN_LOCKED (SoftHSM2 never locks)
//
// Only C_GetFunctionList is exported; everything else is the target's own function list.
#include <dlfcn.h>
#include <fcntl.h>
#include <p11-kit/pkcs11.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>

namespace {

CK_FUNCTION_LIST g_real{};     // the target's list
CK_FUNCTION_LIST g_wrapped{};  // what we hand out
std::mutex g_mutex;
std::set<CK_SESSION_HANDLE> g_open;  // sessions open through us
std::atomic<unsigned long> g_signatures{0};

unsigned long env_number(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr ? std::strtoul(v, nullptr, 10) : 0;
}

CK_RV fault_open_session(CK_SLOT_ID slot, CK_FLAGS flags, void* app, CK_NOTIFY notify,
                         CK_SESSION_HANDLE* session) {
    std::lock_guard lock(g_mutex);
    unsigned long max = env_number("TS_FAULT_MAX_SESSIONS");
    if (max != 0 && g_open.size() >= max) return CKR_SESSION_COUNT;
    CK_RV rv = g_real.C_OpenSession(slot, flags, app, notify, session);
    if (rv == CKR_OK) g_open.insert(*session);
    return rv;
}

CK_RV fault_close_session(CK_SESSION_HANDLE session) {
    std::lock_guard lock(g_mutex);
    CK_RV rv = g_real.C_CloseSession(session);
    if (rv == CKR_OK || rv == CKR_SESSION_HANDLE_INVALID) g_open.erase(session);
    return rv;
}

CK_RV fault_close_all_sessions(CK_SLOT_ID slot) {
    std::lock_guard lock(g_mutex);
    CK_RV rv = g_real.C_CloseAllSessions(slot);
    if (rv == CKR_OK) g_open.clear();  // the tests use one slot
    return rv;
}

CK_RV fault_finalize(void* reserved) {
    std::lock_guard lock(g_mutex);
    g_open.clear();
    return g_real.C_Finalize(reserved);
}

CK_RV fault_get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO* info) {
    CK_RV rv = g_real.C_GetTokenInfo(slot, info);
    unsigned long max = env_number("TS_FAULT_MAX_SESSIONS");
    if (rv == CKR_OK && max != 0) {
        info->ulMaxSessionCount = max;
        info->ulMaxRwSessionCount = max;
    }
    if (rv == CKR_OK && env_number("TS_FAULT_PIN_LOCKED") != 0) info->flags |= CKF_USER_PIN_LOCKED;
    return rv;
}

CK_RV fault_sign(CK_SESSION_HANDLE session, CK_BYTE* data, CK_ULONG data_len, CK_BYTE* sig,
                 CK_ULONG* sig_len) {
    CK_RV rv = g_real.C_Sign(session, data, data_len, sig, sig_len);
    if (rv != CKR_OK || sig == nullptr) return rv;  // a size query is not a signature
    unsigned long n = ++g_signatures;
    if (const char* path = std::getenv("TS_FAULT_COUNT_FILE")) {
        int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) {
            (void)!::write(fd, "sign\n", 5);
            ::close(fd);
        }
    }
    if (n == env_number("TS_FAULT_SIGN_FAIL_AT")) return CKR_DEVICE_ERROR;
    return rv;
}

CK_RV fault_create_object(CK_SESSION_HANDLE session, CK_ATTRIBUTE* tmpl, CK_ULONG count,
                          CK_OBJECT_HANDLE* object) {
    if (env_number("TS_FAULT_CREATE_FAIL") != 0) return CKR_DEVICE_ERROR;
    return g_real.C_CreateObject(session, tmpl, count, object);
}

}  // namespace

extern "C" __attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST** list) {
    if (list == nullptr) return CKR_ARGUMENTS_BAD;
    static std::once_flag once;
    static CK_RV loaded = CKR_GENERAL_ERROR;
    std::call_once(once, [] {
        const char* target = std::getenv("TS_FAULT_TARGET");
        if (target == nullptr) return;
        void* lib = ::dlopen(target, RTLD_NOW | RTLD_LOCAL);
        if (lib == nullptr) return;
        auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(lib, "C_GetFunctionList"));
        CK_FUNCTION_LIST* real = nullptr;
        if (get == nullptr || get(&real) != CKR_OK || real == nullptr) return;
        g_real = *real;
        g_wrapped = *real;
        g_wrapped.C_OpenSession = fault_open_session;
        g_wrapped.C_CloseSession = fault_close_session;
        g_wrapped.C_CloseAllSessions = fault_close_all_sessions;
        g_wrapped.C_Finalize = fault_finalize;
        g_wrapped.C_GetTokenInfo = fault_get_token_info;
        g_wrapped.C_Sign = fault_sign;
        g_wrapped.C_CreateObject = fault_create_object;
        g_wrapped.C_GetFunctionList = C_GetFunctionList;
        loaded = CKR_OK;
    });
    if (loaded != CKR_OK) return loaded;
    *list = &g_wrapped;
    return CKR_OK;
}
