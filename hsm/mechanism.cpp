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

std::vector<MechanismInfo> list_mechanisms(Module& m, CK_SLOT_ID slot) {
    CK_FUNCTION_LIST* f = m.fn();
    CK_ULONG n = 0;
    const std::string ctx = "listing mechanisms of slot " + std::to_string(slot);
    check_rv(f->C_GetMechanismList(slot, nullptr, &n), "C_GetMechanismList", ctx);
    std::vector<CK_MECHANISM_TYPE> types(n);
    if (n) check_rv(f->C_GetMechanismList(slot, types.data(), &n), "C_GetMechanismList", ctx);
    types.resize(n);
    std::vector<MechanismInfo> out;
    for (CK_MECHANISM_TYPE t : types) {
        MechanismInfo mi{t, {}};
        if (f->C_GetMechanismInfo(slot, t, &mi.info) == CKR_OK) out.push_back(mi);
    }
    return out;
}

std::vector<CK_MECHANISM_TYPE> mechanism_types(Module& m, CK_SLOT_ID slot) {
    CK_FUNCTION_LIST* f = m.fn();
    CK_ULONG n = 0;
    const std::string ctx = "listing mechanisms of slot " + std::to_string(slot);
    check_rv(f->C_GetMechanismList(slot, nullptr, &n), "C_GetMechanismList", ctx);
    std::vector<CK_MECHANISM_TYPE> types(n);
    if (n) check_rv(f->C_GetMechanismList(slot, types.data(), &n), "C_GetMechanismList", ctx);
    types.resize(n);
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
