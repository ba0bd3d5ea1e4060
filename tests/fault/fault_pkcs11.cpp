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
//   TS_FAULT_SIGN_DELAY_MS=N    each C_Sign that produces a signature takes N ms longer (a slow
//                               token: kill tests spread their moments over a batch)
//   TS_FAULT_CREATE_FAIL=1      C_CreateObject (storing a certificate) returns CKR_DEVICE_ERROR
//   TS_FAULT_TOKEN_FLAGS=N      C_GetTokenInfo ORs N (decimal or 0x hex) into the token flags:
//                               a locked PIN or a final try, which SoftHSM2 never reports
//   TS_FAULT_HASHED_ECDSA=1     a token that signs ECDSA only with hashing mechanisms: it lists
//                               CKM_ECDSA_SHA256 and CKM_ECDSA_SHA384 (single- and multi-part,
//                               hashed here, then CKM_ECDSA on the target) and refuses CKM_ECDSA
//   TS_FAULT_PIN_LOCKED=1       C_GetTokenInfo reports CKF_USER_PIN_LOCKED (SoftHSM2 never locks)
//
// Only C_GetFunctionList is exported; everything else is the target's own function list.
#include <dlfcn.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace {

CK_FUNCTION_LIST g_real{};     // the target's list
CK_FUNCTION_LIST g_wrapped{};  // what we hand out
std::mutex g_mutex;
std::set<CK_SESSION_HANDLE> g_open;  // sessions open through us
std::atomic<unsigned long> g_signatures{0};
// TS_FAULT_HASHED_ECDSA: sessions with an emulated hashed ECDSA operation, and their digest.
std::map<CK_SESSION_HANDLE, EVP_MD_CTX*> g_hashing;

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
    auto it = g_hashing.find(session);
    if (it != g_hashing.end()) {
        EVP_MD_CTX_free(it->second);
        g_hashing.erase(it);
    }
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
    if (const char* f = std::getenv("TS_FAULT_TOKEN_FLAGS"); rv == CKR_OK && f != nullptr)
        info->flags |= std::strtoul(f, nullptr, 0);
    return rv;
}

bool hashed_ecdsa() { return env_number("TS_FAULT_HASHED_ECDSA") != 0; }

const EVP_MD* hashed_ecdsa_md(CK_MECHANISM_TYPE m) {
    if (m == CKM_ECDSA_SHA256) return EVP_sha256();
    if (m == CKM_ECDSA_SHA384) return EVP_sha384();
    return nullptr;
}

CK_RV fault_get_mechanism_list(CK_SLOT_ID slot, CK_MECHANISM_TYPE* list, CK_ULONG* count) {
    if (!hashed_ecdsa()) return g_real.C_GetMechanismList(slot, list, count);
    if (count == nullptr) return CKR_ARGUMENTS_BAD;
    CK_ULONG n = 0;
    CK_RV rv = g_real.C_GetMechanismList(slot, nullptr, &n);
    if (rv != CKR_OK) return rv;
    std::vector<CK_MECHANISM_TYPE> all(n);
    rv = g_real.C_GetMechanismList(slot, all.data(), &n);
    if (rv != CKR_OK) return rv;
    all.resize(n);
    all.erase(std::remove(all.begin(), all.end(), CKM_ECDSA), all.end());
    all.push_back(CKM_ECDSA_SHA256);
    all.push_back(CKM_ECDSA_SHA384);
    CK_ULONG have = *count;
    *count = static_cast<CK_ULONG>(all.size());
    if (list == nullptr) return CKR_OK;
    if (have < all.size()) return CKR_BUFFER_TOO_SMALL;
    std::copy(all.begin(), all.end(), list);
    return CKR_OK;
}

CK_RV fault_get_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO* info) {
    if (hashed_ecdsa()) {
        if (type == CKM_ECDSA) return CKR_MECHANISM_INVALID;
        if (hashed_ecdsa_md(type) != nullptr) type = CKM_ECDSA;
    }
    return g_real.C_GetMechanismInfo(slot, type, info);
}

void forget_hashing(CK_SESSION_HANDLE session) {
    std::lock_guard lock(g_mutex);
    auto it = g_hashing.find(session);
    if (it == g_hashing.end()) return;
    EVP_MD_CTX_free(it->second);
    g_hashing.erase(it);
}

CK_RV fault_sign_init(CK_SESSION_HANDLE session, CK_MECHANISM* mech, CK_OBJECT_HANDLE key) {
    forget_hashing(session);  // a handle reused after an abandoned operation
    if (!hashed_ecdsa() || mech == nullptr) return g_real.C_SignInit(session, mech, key);
    if (mech->mechanism == CKM_ECDSA) return CKR_MECHANISM_INVALID;
    const EVP_MD* md = hashed_ecdsa_md(mech->mechanism);
    if (md == nullptr) return g_real.C_SignInit(session, mech, key);
    CK_MECHANISM raw{CKM_ECDSA, nullptr, 0};
    CK_RV rv = g_real.C_SignInit(session, &raw, key);
    if (rv != CKR_OK) return rv;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr || EVP_DigestInit_ex(ctx, md, nullptr) != 1) {
        EVP_MD_CTX_free(ctx);
        return CKR_HOST_MEMORY;
    }
    std::lock_guard lock(g_mutex);
    EVP_MD_CTX_free(g_hashing[session]);
    g_hashing[session] = ctx;
    return CKR_OK;
}

// The emulated operation's digest so far (without finishing it: a size query may come first).
bool hashed_digest(CK_SESSION_HANDLE session, const CK_BYTE* more, CK_ULONG more_len,
                   std::vector<unsigned char>& out) {
    std::lock_guard lock(g_mutex);
    auto it = g_hashing.find(session);
    if (it == g_hashing.end()) return false;
    EVP_MD_CTX* copy = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    bool ok = copy != nullptr && EVP_MD_CTX_copy_ex(copy, it->second) == 1 &&
              (more_len == 0 || EVP_DigestUpdate(copy, more, more_len) == 1) &&
              EVP_DigestFinal_ex(copy, md, &len) == 1;
    EVP_MD_CTX_free(copy);
    out.assign(md, md + (ok ? len : 0));
    return true;
}

void hashed_done(CK_SESSION_HANDLE session, CK_BYTE* sig, CK_RV rv) {
    if (sig == nullptr && rv == CKR_OK) return;  // a size query: the operation goes on
    if (rv == CKR_BUFFER_TOO_SMALL) return;
    forget_hashing(session);
}

CK_RV fault_sign_update(CK_SESSION_HANDLE session, CK_BYTE* part, CK_ULONG len) {
    {
        std::lock_guard lock(g_mutex);
        auto it = g_hashing.find(session);
        if (it != g_hashing.end()) {
            return EVP_DigestUpdate(it->second, part, len) == 1 ? CKR_OK : CKR_FUNCTION_FAILED;
        }
    }
    return g_real.C_SignUpdate(session, part, len);
}

CK_RV fault_sign_final(CK_SESSION_HANDLE session, CK_BYTE* sig, CK_ULONG* sig_len) {
    std::vector<unsigned char> dgst;
    if (!hashed_digest(session, nullptr, 0, dgst)) return g_real.C_SignFinal(session, sig, sig_len);
    CK_RV rv =
        g_real.C_Sign(session, dgst.data(), static_cast<CK_ULONG>(dgst.size()), sig, sig_len);
    hashed_done(session, sig, rv);
    return rv;
}

CK_RV fault_sign(CK_SESSION_HANDLE session, CK_BYTE* data, CK_ULONG data_len, CK_BYTE* sig,
                 CK_ULONG* sig_len) {
    std::vector<unsigned char> dgst;
    if (hashed_digest(session, data, data_len, dgst)) {
        data = dgst.data();
        data_len = static_cast<CK_ULONG>(dgst.size());
    }
    CK_RV rv = g_real.C_Sign(session, data, data_len, sig, sig_len);
    if (!dgst.empty()) hashed_done(session, sig, rv);
    if (rv != CKR_OK || sig == nullptr) return rv;  // a size query is not a signature
    if (unsigned long ms = env_number("TS_FAULT_SIGN_DELAY_MS"); ms != 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
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
        g_wrapped.C_GetMechanismList = fault_get_mechanism_list;
        g_wrapped.C_GetMechanismInfo = fault_get_mechanism_info;
        g_wrapped.C_SignInit = fault_sign_init;
        g_wrapped.C_SignUpdate = fault_sign_update;
        g_wrapped.C_SignFinal = fault_sign_final;
        g_wrapped.C_GetFunctionList = C_GetFunctionList;
        loaded = CKR_OK;
    });
    if (loaded != CKR_OK) return loaded;
    *list = &g_wrapped;
    return CKR_OK;
}
