// SPDX-License-Identifier: Apache-2.0
#include "hsm/provider_extra.hpp"

#include "hsm/attributes.hpp"
#include "hsm/token.hpp"

namespace ts::hsm {

CK_OBJECT_HANDLE copy_to_session_object(Session& s, CK_OBJECT_HANDLE key) noexcept {
    // Another label and no id, so searches by label or id (ours and anyone's in this process)
    // never see the copy beside the token object.
    CK_BBOOL no = CK_FALSE;
    static const char kLabel[] = "tokensign session copy";
    CK_ATTRIBUTE tmpl[] = {{CKA_TOKEN, &no, sizeof no},
                           {CKA_LABEL, const_cast<char*>(kLabel), sizeof kLabel - 1},
                           {CKA_ID, nullptr, 0}};
    CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
    if (s.fn()->C_CopyObject(s.handle(), key, tmpl, 3, &copy) != CKR_OK) {
        return CK_INVALID_HANDLE;
    }
    return copy;
}

bool is_token_object(Session& s, CK_OBJECT_HANDLE obj) {
    return get_bool(s, obj, CKA_TOKEN).value_or(true);
}

}  // namespace ts::hsm
