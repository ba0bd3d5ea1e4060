// SPDX-License-Identifier: Apache-2.0
#include "hsm/mechanism.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "hsm/error.hpp"
#include "hsm/module.hpp"

namespace ts::hsm {

std::vector<std::string> mechanism_flag_names(CK_FLAGS f) {
    static const std::pair<CK_FLAGS, const char*> names[] = {
        {CKF_HW, "hw"},           {CKF_ENCRYPT, "encrypt"},   {CKF_DECRYPT, "decrypt"},
        {CKF_DIGEST, "digest"},   {CKF_SIGN, "sign"},         {CKF_SIGN_RECOVER, "sign-recover"},
        {CKF_VERIFY, "verify"},   {CKF_VERIFY_RECOVER, "verify-recover"},
        {CKF_GENERATE, "generate"}, {CKF_GENERATE_KEY_PAIR, "generate-key-pair"},
        {CKF_WRAP, "wrap"},       {CKF_UNWRAP, "unwrap"},     {CKF_DERIVE, "derive"},
    };
    std::vector<std::string> out;
    for (auto [bit, name] : names)
        if (f & bit) out.emplace_back(name);
    return out;
}

namespace {

// C_GetMechanismList's size query and fetch. The buffer has room to spare and its real size is
// passed: p11-kit-client.so (0.24) was seen, under ASan, writing past a buffer sized by its own
// answer to the size query. The count is the fetch's; a list that grew meanwhile is asked again.
std::vector<CK_MECHANISM_TYPE> fetch_mechanism_list(CK_FUNCTION_LIST* f, CK_SLOT_ID slot) {
    const std::string ctx = "listing mechanisms of slot " + std::to_string(slot);
    CK_ULONG n = 0;
    check_rv(f->C_GetMechanismList(slot, nullptr, &n), "C_GetMechanismList", ctx);
    for (int attempt = 0;; ++attempt) {
        std::vector<CK_MECHANISM_TYPE> types(2 * n + 64);
        CK_ULONG got = static_cast<CK_ULONG>(types.size());
        CK_RV rv = f->C_GetMechanismList(slot, types.data(), &got);
        if (rv == CKR_BUFFER_TOO_SMALL && attempt < 3) {
            n = got;
            continue;
        }
        check_rv(rv, "C_GetMechanismList", ctx);
        types.resize(std::min<std::size_t>(got, types.size()));
        return types;
    }
}

}  // namespace

std::vector<MechanismInfo> list_mechanisms(Module& m, CK_SLOT_ID slot) {
    CK_FUNCTION_LIST* f = m.fn();
    std::vector<CK_MECHANISM_TYPE> types = fetch_mechanism_list(f, slot);
    std::vector<MechanismInfo> out;
    for (CK_MECHANISM_TYPE t : types) {
        MechanismInfo mi{t, {}};
        if (f->C_GetMechanismInfo(slot, t, &mi.info) == CKR_OK) out.push_back(mi);
    }
    return out;
}

std::vector<CK_MECHANISM_TYPE> mechanism_types(Module& m, CK_SLOT_ID slot) {
    std::vector<CK_MECHANISM_TYPE> types = fetch_mechanism_list(m.fn(), slot);
    std::sort(types.begin(), types.end());
    return types;
}

bool has_mechanism(Module& m, CK_SLOT_ID slot, CK_MECHANISM_TYPE mech) {
    CK_MECHANISM_INFO info{};
    CK_RV rv = m.fn()->C_GetMechanismInfo(slot, mech, &info);
    // Only the token's "no such mechanism" is an answer; a failing token must not read as one.
    if (rv == CKR_MECHANISM_INVALID) return false;
    check_rv(rv, "C_GetMechanismInfo",
             "asking slot " + std::to_string(slot) + " for " + mechanism_name(mech));
    return true;
}

}  // namespace ts::hsm
