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
// Any function, any call (each C_* function's calls are counted per process, from 1; a size
// query counts as a call). Each variable takes a comma-separated list of points:
//   TS_FAULT_FAIL=C_Sign:3:CKR_DEVICE_ERROR   the 3rd C_Sign returns CKR_DEVICE_ERROR without
//                               reaching the target (a CKR_* name or a number, 0x for hex)
//   TS_FAULT_AFTER=C_GenerateKeyPair:1:CKR_DEVICE_ERROR
//                               the target runs the call, then the caller is told it failed (a
//                               token that made the keys and reports an error)
//   TS_FAULT_HANG=C_Sign:2:500ms             the 2nd C_Sign waits 500 ms first (ms or s)
//   TS_FAULT_DAMAGE=C_Sign:1:short           the target runs the call and its output is damaged:
//                               `short` (C_Sign, C_SignFinal: half the signature length;
//                               C_GetAttributeValue: each returned value one byte shorter) or
//                               `long` (C_GetAttributeValue: each length one byte longer)
//   TS_FAULT_TRACE=PATH         each C_* call appends its function name and a newline there
//
// Only C_GetFunctionList is exported. The functions above are wrapped by hand; then every entry of
// the list is wrapped generically (the table below) for the counted faults.
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
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

namespace {

CK_FUNCTION_LIST g_real{};     // the target's list
CK_FUNCTION_LIST g_wrapped{};  // the target's list with the hand-written behaviours above
CK_FUNCTION_LIST g_counted{};  // g_wrapped behind the counted faults: what we hand out
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

// ---- Counted faults at any call ----

// Every function of a version 2.40 list, in the list's order (C_GetFunctionList is not called
// through the list).
// clang-format off
#define TS_FAULT_FUNCTIONS(X)                                                                     \
    X(C_Initialize) X(C_Finalize) X(C_GetInfo) X(C_GetSlotList) X(C_GetSlotInfo)                \
    X(C_GetTokenInfo) X(C_GetMechanismList) X(C_GetMechanismInfo) X(C_InitToken) X(C_InitPIN)   \
    X(C_SetPIN) X(C_OpenSession) X(C_CloseSession) X(C_CloseAllSessions) X(C_GetSessionInfo)    \
    X(C_GetOperationState) X(C_SetOperationState) X(C_Login) X(C_Logout) X(C_CreateObject)      \
    X(C_CopyObject) X(C_DestroyObject) X(C_GetObjectSize) X(C_GetAttributeValue)                \
    X(C_SetAttributeValue) X(C_FindObjectsInit) X(C_FindObjects) X(C_FindObjectsFinal)          \
    X(C_EncryptInit) X(C_Encrypt) X(C_EncryptUpdate) X(C_EncryptFinal) X(C_DecryptInit)         \
    X(C_Decrypt) X(C_DecryptUpdate) X(C_DecryptFinal) X(C_DigestInit) X(C_Digest)               \
    X(C_DigestUpdate) X(C_DigestKey) X(C_DigestFinal) X(C_SignInit) X(C_Sign) X(C_SignUpdate)   \
    X(C_SignFinal) X(C_SignRecoverInit) X(C_SignRecover) X(C_VerifyInit) X(C_Verify)            \
    X(C_VerifyUpdate) X(C_VerifyFinal) X(C_VerifyRecoverInit) X(C_VerifyRecover)                \
    X(C_DigestEncryptUpdate) X(C_DecryptDigestUpdate) X(C_SignEncryptUpdate)                    \
    X(C_DecryptVerifyUpdate) X(C_GenerateKey) X(C_GenerateKeyPair) X(C_WrapKey) X(C_UnwrapKey)  \
    X(C_DeriveKey) X(C_SeedRandom) X(C_GenerateRandom) X(C_GetFunctionStatus)                   \
    X(C_CancelFunction) X(C_WaitForSlotEvent)
// clang-format on

#define TS_FAULT_NAME(f) #f,
constexpr const char* kFunctionNames[] = {TS_FAULT_FUNCTIONS(TS_FAULT_NAME)};
#undef TS_FAULT_NAME
constexpr std::size_t kFunctionCount = std::size(kFunctionNames);
std::atomic<unsigned long> g_calls[kFunctionCount];

struct RvName {
    CK_RV rv;
    const char* name;
};
// clang-format off
#define TS_FAULT_RV(r) {r, #r},
constexpr RvName kRvNames[] = {TS_FAULT_RV(CKR_CANCEL) TS_FAULT_RV(CKR_HOST_MEMORY)
    TS_FAULT_RV(CKR_SLOT_ID_INVALID) TS_FAULT_RV(CKR_GENERAL_ERROR) TS_FAULT_RV(CKR_FUNCTION_FAILED)
    TS_FAULT_RV(CKR_ARGUMENTS_BAD) TS_FAULT_RV(CKR_ATTRIBUTE_SENSITIVE)
    TS_FAULT_RV(CKR_ATTRIBUTE_TYPE_INVALID) TS_FAULT_RV(CKR_ATTRIBUTE_VALUE_INVALID)
    TS_FAULT_RV(CKR_DATA_INVALID) TS_FAULT_RV(CKR_DATA_LEN_RANGE) TS_FAULT_RV(CKR_DEVICE_ERROR)
    TS_FAULT_RV(CKR_DEVICE_MEMORY) TS_FAULT_RV(CKR_DEVICE_REMOVED)
    TS_FAULT_RV(CKR_FUNCTION_CANCELED) TS_FAULT_RV(CKR_FUNCTION_NOT_SUPPORTED)
    TS_FAULT_RV(CKR_KEY_HANDLE_INVALID) TS_FAULT_RV(CKR_MECHANISM_INVALID)
    TS_FAULT_RV(CKR_OBJECT_HANDLE_INVALID) TS_FAULT_RV(CKR_OPERATION_ACTIVE)
    TS_FAULT_RV(CKR_OPERATION_NOT_INITIALIZED) TS_FAULT_RV(CKR_PIN_INCORRECT)
    TS_FAULT_RV(CKR_PIN_LOCKED) TS_FAULT_RV(CKR_SESSION_CLOSED) TS_FAULT_RV(CKR_SESSION_COUNT)
    TS_FAULT_RV(CKR_SESSION_HANDLE_INVALID) TS_FAULT_RV(CKR_SESSION_READ_ONLY)
    TS_FAULT_RV(CKR_TEMPLATE_INCOMPLETE) TS_FAULT_RV(CKR_TEMPLATE_INCONSISTENT)
    TS_FAULT_RV(CKR_TOKEN_NOT_PRESENT) TS_FAULT_RV(CKR_TOKEN_NOT_RECOGNIZED)
    TS_FAULT_RV(CKR_TOKEN_WRITE_PROTECTED) TS_FAULT_RV(CKR_USER_ALREADY_LOGGED_IN)
    TS_FAULT_RV(CKR_USER_NOT_LOGGED_IN) TS_FAULT_RV(CKR_BUFFER_TOO_SMALL)
    TS_FAULT_RV(CKR_CRYPTOKI_NOT_INITIALIZED) TS_FAULT_RV(CKR_CRYPTOKI_ALREADY_INITIALIZED)
    TS_FAULT_RV(CKR_RANDOM_NO_RNG)};
// clang-format on
#undef TS_FAULT_RV

CK_RV parse_rv(std::string_view s) {
    for (const auto& r : kRvNames)
        if (s == r.name) return r.rv;
    return std::strtoul(std::string(s).c_str(), nullptr, 0);
}

// One point of a TS_FAULT_FAIL/AFTER/HANG/DAMAGE list that names this call.
bool find_point(const char* var, std::string_view function, unsigned long n, std::string& arg) {
    const char* v = std::getenv(var);
    if (v == nullptr) return false;
    std::string_view rest(v);
    while (!rest.empty()) {
        std::string_view item = rest.substr(0, rest.find(','));
        rest.remove_prefix(std::min(rest.size(), item.size() + 1));
        auto c1 = item.find(':');
        auto c2 = item.find(':', c1 == item.npos ? c1 : c1 + 1);
        if (c1 == item.npos || c2 == item.npos) continue;
        if (item.substr(0, c1) != function) continue;
        if (std::strtoul(std::string(item.substr(c1 + 1, c2 - c1 - 1)).c_str(), nullptr, 10) != n)
            continue;
        arg = std::string(item.substr(c2 + 1));
        return true;
    }
    return false;
}

void trace(const char* function) {
    const char* path = std::getenv("TS_FAULT_TRACE");
    if (path == nullptr) return;
    std::string line = std::string(function) + "\n";
    int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    (void)!::write(fd, line.data(), line.size());
    ::close(fd);
}

// What the counted layer does with one call.
struct Plan {
    bool fail = false;   // return rv without calling the target
    bool after = false;  // call the target, then return rv
    CK_RV rv = CKR_OK;
    std::string damage;
};

Plan plan_for(std::size_t index) {
    const char* name = kFunctionNames[index];
    unsigned long n = ++g_calls[index];
    trace(name);
    Plan p;
    std::string arg;
    if (find_point("TS_FAULT_HANG", name, n, arg)) {
        unsigned long t = std::strtoul(arg.c_str(), nullptr, 10);
        bool seconds = arg.size() >= 1 && arg.back() == 's' && arg.find("ms") == arg.npos;
        std::this_thread::sleep_for(std::chrono::milliseconds(seconds ? t * 1000 : t));
    }
    if (find_point("TS_FAULT_FAIL", name, n, arg)) {
        p.fail = true;
        p.rv = parse_rv(arg);
    } else if (find_point("TS_FAULT_AFTER", name, n, arg)) {
        p.after = true;
        p.rv = parse_rv(arg);
    }
    if (find_point("TS_FAULT_DAMAGE", name, n, arg)) p.damage = arg;
    return p;
}

// Whether two list members are the same one (members of different types never are).
template <auto A, auto B>
constexpr bool same_member() {
    if constexpr (std::is_same_v<decltype(A), decltype(B)>)
        return A == B;
    else
        return false;
}

// Damaged outputs, for the few functions that have one worth damaging.
template <auto Member, class... A>
void damage(const std::string& how, CK_RV rv, A... a) {
    if (rv != CKR_OK) return;
    auto args = std::forward_as_tuple(a...);
    if constexpr (same_member<Member, &CK_FUNCTION_LIST::C_Sign>()) {
        CK_BYTE* sig = std::get<3>(args);
        CK_ULONG* len = std::get<4>(args);
        if (how == "short" && sig != nullptr && len != nullptr) *len /= 2;
    } else if constexpr (same_member<Member, &CK_FUNCTION_LIST::C_SignFinal>()) {
        CK_BYTE* sig = std::get<1>(args);
        CK_ULONG* len = std::get<2>(args);
        if (how == "short" && sig != nullptr && len != nullptr) *len /= 2;
    } else if constexpr (same_member<Member, &CK_FUNCTION_LIST::C_GetAttributeValue>()) {
        CK_ATTRIBUTE* tmpl = std::get<2>(args);
        CK_ULONG count = std::get<3>(args);
        for (CK_ULONG i = 0; tmpl != nullptr && i < count; ++i) {
            if (tmpl[i].ulValueLen == CK_UNAVAILABLE_INFORMATION) continue;
            if (how == "short" && tmpl[i].pValue != nullptr && tmpl[i].ulValueLen > 0)
                --tmpl[i].ulValueLen;
            if (how == "long") ++tmpl[i].ulValueLen;
        }
    }
}

template <class F>
struct Counted;

template <class... A>
struct Counted<CK_RV (*)(A...)> {
    template <std::size_t Index, auto Member>
    static CK_RV call(A... a) {
        Plan p = plan_for(Index);
        if (p.fail) return p.rv;
        auto inner = g_wrapped.*Member;
        if (inner == nullptr) return CKR_FUNCTION_NOT_SUPPORTED;
        CK_RV rv = inner(a...);
        if (!p.damage.empty()) damage<Member>(p.damage, rv, a...);
        return p.after ? p.rv : rv;
    }
};

constexpr std::size_t index_of(std::string_view name) {
    for (std::size_t i = 0; i < kFunctionCount; ++i)
        if (name == kFunctionNames[i]) return i;
    return kFunctionCount;
}

void wrap_counted() {
    g_counted = g_wrapped;
#define TS_FAULT_WRAP(f)                                                         \
    if (g_wrapped.f != nullptr)                                                  \
        g_counted.f =                                                            \
            &Counted<decltype(CK_FUNCTION_LIST::f)>::template call<index_of(#f), \
                                                                   &CK_FUNCTION_LIST::f>;
    TS_FAULT_FUNCTIONS(TS_FAULT_WRAP)
#undef TS_FAULT_WRAP
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
        wrap_counted();
        g_counted.C_GetFunctionList = C_GetFunctionList;
        loaded = CKR_OK;
    });
    if (loaded != CKR_OK) return loaded;
    *list = &g_counted;
    return CKR_OK;
}
