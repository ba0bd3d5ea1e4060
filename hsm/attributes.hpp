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

/// Several attributes in two C_GetAttributeValue calls (sizes, then values) instead of two per
/// attribute: every call is a round trip to the token, and over p11-kit remoting or a network
/// HSM that is what a key load costs. Entry i is std::nullopt when the object does not have
/// types[i] or it is sensitive. Relies on PKCS#11 v2.40 §5.7.5 (every attribute is processed
/// even when the call returns CKR_ATTRIBUTE_SENSITIVE or CKR_ATTRIBUTE_TYPE_INVALID); when the
/// value call fails anyway, it reads the attributes one by one. Throws Pkcs11Error as
/// get_attribute.
std::vector<std::optional<std::vector<unsigned char>>> get_attributes(
    Session& s, CK_OBJECT_HANDLE obj, std::span<const CK_ATTRIBUTE_TYPE> types);
/// A CK_ULONG (or CK_BBOOL as 0/1) out of a get_attributes entry.
std::optional<CK_ULONG> as_ulong(const std::optional<std::vector<unsigned char>>& v);
std::optional<bool> get_bool(Session& s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type);
std::optional<std::string> get_string(Session& s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type);

/// CKA_ALLOWED_MECHANISMS (PKCS#11 v2.40 §4.6): the mechanisms the key may be used with.
/// std::nullopt when the object has no such attribute or it is empty (no restriction).
std::optional<std::vector<CK_MECHANISM_TYPE>> get_allowed_mechanisms(Session& s,
                                                                     CK_OBJECT_HANDLE obj);

/// The CK_RV of C_GetAttributeValue for one attribute (for tests that a value is unreadable).
CK_RV probe_attribute(Session& s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type);

}  // namespace ts::hsm
