// SPDX-License-Identifier: Apache-2.0
// Mechanism lists and names.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hsm/pkcs11.hpp"

namespace ts::hsm {

class Module;

struct MechanismInfo {
    CK_MECHANISM_TYPE type;
    CK_MECHANISM_INFO info;
};

/// C_GetMechanismList + C_GetMechanismInfo for a slot.
std::vector<MechanismInfo> list_mechanisms(Module& m, CK_SLOT_ID slot);
/// True if the slot offers `mech` (C_GetMechanismInfo succeeds).
bool has_mechanism(Module& m, CK_SLOT_ID slot, CK_MECHANISM_TYPE mech);
/// C_GetMechanismList alone (no C_GetMechanismInfo per entry): the mechanism types the slot
/// offers, sorted. One round trip where list_mechanisms() makes one per mechanism.
std::vector<CK_MECHANISM_TYPE> mechanism_types(Module& m, CK_SLOT_ID slot);
/// "CKM_RSA_PKCS" for every CKM_ constant of p11-kit's pkcs11.h (hsm/mechanism_names.cpp);
/// "CKM_VENDOR_DEFINED+0x%lx" in the vendor range; "CKM_0x%08lx" for any other value.
std::string mechanism_name(CK_MECHANISM_TYPE mech);
/// "sign verify generate-key-pair ..." for CKF_* mechanism flags.
std::vector<std::string> mechanism_flag_names(CK_FLAGS flags);

}  // namespace ts::hsm
