// SPDX-License-Identifier: Apache-2.0
// CK_ATTRIBUTE templates that own their values, and typed attribute reads.
#pragma once

#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hsm/pkcs11.hpp"

namespace ts::hsm {

class Session;

/// A CK_ATTRIBUTE array whose values live at stable addresses owned by the template.
class AttributeTemplate {
public:
    AttributeTemplate& add_bool(CK_ATTRIBUTE_TYPE type, bool value);
    AttributeTemplate& add_ulong(CK_ATTRIBUTE_TYPE type, CK_ULONG value);
    AttributeTemplate& add_bytes(CK_ATTRIBUTE_TYPE type, std::span<const unsigned char> value);
    AttributeTemplate& add_string(CK_ATTRIBUTE_TYPE type, std::string_view value);
    CK_ATTRIBUTE* data() noexcept { return m_attrs.data(); }
    CK_ULONG count() const noexcept { return static_cast<CK_ULONG>(m_attrs.size()); }

private:
    std::deque<std::vector<unsigned char>> m_values;  // deque: push_back keeps addresses
    std::vector<CK_ATTRIBUTE> m_attrs;
};

/// C_GetAttributeValue for one attribute. std::nullopt when the object does not have it or it is
/// sensitive (CKR_ATTRIBUTE_SENSITIVE / CKR_ATTRIBUTE_TYPE_INVALID); throws Pkcs11Error otherwise.
std::optional<std::vector<unsigned char>> get_attribute(Session& s, CK_OBJECT_HANDLE obj,
                                                        CK_ATTRIBUTE_TYPE type);
std::optional<CK_ULONG> get_ulong(Session& s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type);
std::optional<bool> get_bool(Session& s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type);
std::optional<std::string> get_string(Session& s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type);

/// The CK_RV of C_GetAttributeValue for one attribute (for tests that a value is unreadable).
CK_RV probe_attribute(Session& s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type);

}  // namespace ts::hsm
