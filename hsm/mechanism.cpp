// SPDX-License-Identifier: Apache-2.0
#include "hsm/mechanism.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "hsm/error.hpp"
#include "hsm/module.hpp"

namespace ts::hsm {

namespace {
constexpr std::pair<CK_MECHANISM_TYPE, const char*> kMechNames[] = {
    {CKM_RSA_PKCS_KEY_PAIR_GEN, "CKM_RSA_PKCS_KEY_PAIR_GEN"},
    {CKM_RSA_PKCS, "CKM_RSA_PKCS"},
    {CKM_RSA_X_509, "CKM_RSA_X_509"},
    {CKM_RSA_PKCS_OAEP, "CKM_RSA_PKCS_OAEP"},
    {CKM_RSA_PKCS_PSS, "CKM_RSA_PKCS_PSS"},
    {CKM_SHA1_RSA_PKCS, "CKM_SHA1_RSA_PKCS"},
    {CKM_SHA224_RSA_PKCS, "CKM_SHA224_RSA_PKCS"},
    {CKM_SHA256_RSA_PKCS, "CKM_SHA256_RSA_PKCS"},
    {CKM_SHA384_RSA_PKCS, "CKM_SHA384_RSA_PKCS"},
    {CKM_SHA512_RSA_PKCS, "CKM_SHA512_RSA_PKCS"},
    {CKM_SHA1_RSA_PKCS_PSS, "CKM_SHA1_RSA_PKCS_PSS"},
    {CKM_SHA224_RSA_PKCS_PSS, "CKM_SHA224_RSA_PKCS_PSS"},
    {CKM_SHA256_RSA_PKCS_PSS, "CKM_SHA256_RSA_PKCS_PSS"},
    {CKM_SHA384_RSA_PKCS_PSS, "CKM_SHA384_RSA_PKCS_PSS"},
    {CKM_SHA512_RSA_PKCS_PSS, "CKM_SHA512_RSA_PKCS_PSS"},
    {CKM_EC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"},
    {CKM_ECDSA, "CKM_ECDSA"},
    {CKM_ECDSA_SHA1, "CKM_ECDSA_SHA1"},
    {CKM_ECDSA_SHA224, "CKM_ECDSA_SHA224"},
    {CKM_ECDSA_SHA256, "CKM_ECDSA_SHA256"},
    {CKM_ECDSA_SHA384, "CKM_ECDSA_SHA384"},
    {CKM_ECDSA_SHA512, "CKM_ECDSA_SHA512"},
    {CKM_ECDH1_DERIVE, "CKM_ECDH1_DERIVE"},
    {CKM_ECDH1_COFACTOR_DERIVE, "CKM_ECDH1_COFACTOR_DERIVE"},
    {CKM_EC_EDWARDS_KEY_PAIR_GEN, "CKM_EC_EDWARDS_KEY_PAIR_GEN"},
    {CKM_EDDSA, "CKM_EDDSA"},
    {CKM_SHA_1, "CKM_SHA_1"},
    {CKM_SHA224, "CKM_SHA224"},
    {CKM_SHA256, "CKM_SHA256"},
    {CKM_SHA384, "CKM_SHA384"},
    {CKM_SHA512, "CKM_SHA512"},
    {CKM_MD5, "CKM_MD5"},
    {CKM_GENERIC_SECRET_KEY_GEN, "CKM_GENERIC_SECRET_KEY_GEN"},
    {CKM_AES_KEY_GEN, "CKM_AES_KEY_GEN"},
    {CKM_AES_ECB, "CKM_AES_ECB"},
    {CKM_AES_CBC, "CKM_AES_CBC"},
    {CKM_AES_CBC_PAD, "CKM_AES_CBC_PAD"},
    {CKM_AES_CTR, "CKM_AES_CTR"},
    {CKM_AES_GCM, "CKM_AES_GCM"},
    {CKM_AES_KEY_WRAP, "CKM_AES_KEY_WRAP"},
    {CKM_AES_KEY_WRAP_PAD, "CKM_AES_KEY_WRAP_PAD"},
    {CKM_AES_CMAC, "CKM_AES_CMAC"},
    {CKM_DES3_KEY_GEN, "CKM_DES3_KEY_GEN"},
    {CKM_DES3_ECB, "CKM_DES3_ECB"},
    {CKM_DES3_CBC, "CKM_DES3_CBC"},
    {CKM_SHA256_HMAC, "CKM_SHA256_HMAC"},
    {CKM_SHA384_HMAC, "CKM_SHA384_HMAC"},
    {CKM_SHA512_HMAC, "CKM_SHA512_HMAC"},
    {CKM_SHA_1_HMAC, "CKM_SHA_1_HMAC"},
    {CKM_MD5_HMAC, "CKM_MD5_HMAC"},
    {CKM_DSA_KEY_PAIR_GEN, "CKM_DSA_KEY_PAIR_GEN"},
    {CKM_DSA, "CKM_DSA"},
    {CKM_DH_PKCS_KEY_PAIR_GEN, "CKM_DH_PKCS_KEY_PAIR_GEN"},
    {CKM_DH_PKCS_DERIVE, "CKM_DH_PKCS_DERIVE"},
};
}  // namespace

std::string mechanism_name(CK_MECHANISM_TYPE m) {
    for (auto [type, name] : kMechNames)
        if (type == m) return name;
    char buf[32];
    std::snprintf(buf, sizeof buf, "CKM_0x%08lx", static_cast<unsigned long>(m));
    return buf;
}

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
    return m.fn()->C_GetMechanismInfo(slot, mech, &info) == CKR_OK;
}

}  // namespace ts::hsm
