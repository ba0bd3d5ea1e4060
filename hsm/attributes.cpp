// SPDX-License-Identifier: Apache-2.0
#include "hsm/attributes.hpp"

#include <cstring>

#include "hsm/error.hpp"
#include "hsm/token.hpp"

namespace ts::hsm {

namespace {
AttributeTemplate& push(AttributeTemplate& t, std::deque<std::vector<unsigned char>>& values,
                        std::vector<CK_ATTRIBUTE>& attrs, CK_ATTRIBUTE_TYPE type,
                        const void* p, std::size_t n) {
    auto* bytes = static_cast<const unsigned char*>(p);
    values.emplace_back(bytes, bytes + n);
    attrs.push_back({type, values.back().empty() ? nullptr : values.back().data(),
                     static_cast<CK_ULONG>(n)});
    return t;
}
}  // namespace

AttributeTemplate& AttributeTemplate::add_bool(CK_ATTRIBUTE_TYPE type, bool value) {
    CK_BBOOL b = value ? CK_TRUE : CK_FALSE;
    return push(*this, m_values, m_attrs, type, &b, sizeof b);
}
AttributeTemplate& AttributeTemplate::add_ulong(CK_ATTRIBUTE_TYPE type, CK_ULONG value) {
    return push(*this, m_values, m_attrs, type, &value, sizeof value);
}
AttributeTemplate& AttributeTemplate::add_bytes(CK_ATTRIBUTE_TYPE type,
                                                std::span<const unsigned char> value) {
    return push(*this, m_values, m_attrs, type, value.data(), value.size());
}
AttributeTemplate& AttributeTemplate::add_string(CK_ATTRIBUTE_TYPE type, std::string_view value) {
    return push(*this, m_values, m_attrs, type, value.data(), value.size());
}

CK_RV probe_attribute(Session& s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type) {
    CK_ATTRIBUTE a{type, nullptr, 0};
    return s.fn()->C_GetAttributeValue(s.handle(), obj, &a, 1);
}

std::optional<std::vector<unsigned char>> get_attribute(Session& s, CK_OBJECT_HANDLE obj,
                                                        CK_ATTRIBUTE_TYPE type) {
    CK_ATTRIBUTE a{type, nullptr, 0};
    CK_RV rv = s.fn()->C_GetAttributeValue(s.handle(), obj, &a, 1);
    if (rv == CKR_ATTRIBUTE_SENSITIVE || rv == CKR_ATTRIBUTE_TYPE_INVALID) return std::nullopt;
    check_rv(rv, "C_GetAttributeValue", "reading an attribute of an object on " + s.token().what());
    if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION) return std::nullopt;
    std::vector<unsigned char> v(a.ulValueLen);
    a.pValue = v.data();
    rv = s.fn()->C_GetAttributeValue(s.handle(), obj, &a, 1);
    check_rv(rv, "C_GetAttributeValue", "reading an attribute of an object on " + s.token().what());
    v.resize(a.ulValueLen);
    return v;
}

std::optional<CK_ULONG> get_ulong(Session& s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type) {
    auto v = get_attribute(s, obj, type);
    if (!v || v->size() != sizeof(CK_ULONG)) return std::nullopt;
    CK_ULONG out;
    std::memcpy(&out, v->data(), sizeof out);
    return out;
}

std::optional<bool> get_bool(Session& s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type) {
    auto v = get_attribute(s, obj, type);
    if (!v || v->size() != sizeof(CK_BBOOL)) return std::nullopt;
    return (*v)[0] != CK_FALSE;
}

std::optional<std::string> get_string(Session& s, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type) {
    auto v = get_attribute(s, obj, type);
    if (!v) return std::nullopt;
    return std::string(v->begin(), v->end());
}

}  // namespace ts::hsm
