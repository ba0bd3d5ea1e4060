// SPDX-License-Identifier: Apache-2.0
#include "hsm/attributes.hpp"

#include <cstring>
#include <string>

#include "hsm/error.hpp"
#include "hsm/token.hpp"

namespace ts::hsm {

namespace {
AttributeTemplate& push(AttributeTemplate& t, std::deque<std::vector<unsigned char>>& values,
                        std::vector<CK_ATTRIBUTE>& attrs, CK_ATTRIBUTE_TYPE type, const void* p,
                        std::size_t n) {
    auto* bytes = static_cast<const unsigned char*>(p);
    values.emplace_back(bytes, bytes + n);
    attrs.push_back(
        {type, values.back().empty() ? nullptr : values.back().data(), static_cast<CK_ULONG>(n)});
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

std::vector<std::optional<std::vector<unsigned char>>> get_attributes(
    Session& s, CK_OBJECT_HANDLE obj, std::span<const CK_ATTRIBUTE_TYPE> types) {
    std::vector<std::optional<std::vector<unsigned char>>> out(types.size());
    std::vector<CK_ATTRIBUTE> sizes(types.size());
    for (std::size_t i = 0; i < types.size(); ++i) sizes[i] = {types[i], nullptr, 0};
    const std::string what = "reading attributes of an object on " + s.token().what();
    CK_RV rv = s.fn()->C_GetAttributeValue(s.handle(), obj, sizes.data(),
                                           static_cast<CK_ULONG>(sizes.size()));
    if (rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_ATTRIBUTE_TYPE_INVALID)
        check_rv(rv, "C_GetAttributeValue", what);
    std::vector<CK_ATTRIBUTE> values;
    std::vector<std::size_t> index;  // values[k] is types[index[k]]
    for (std::size_t i = 0; i < types.size(); ++i) {
        if (sizes[i].ulValueLen == CK_UNAVAILABLE_INFORMATION) continue;
        out[i].emplace(sizes[i].ulValueLen);
        values.push_back(
            {types[i], out[i]->empty() ? nullptr : out[i]->data(), sizes[i].ulValueLen});
        index.push_back(i);
    }
    if (values.empty()) return out;
    rv = s.fn()->C_GetAttributeValue(s.handle(), obj, values.data(),
                                     static_cast<CK_ULONG>(values.size()));
    if (rv != CKR_OK) {
        // A module that did not keep to §5.7.5, or a value that changed size in between.
        for (std::size_t i = 0; i < types.size(); ++i) out[i] = get_attribute(s, obj, types[i]);
        return out;
    }
    for (std::size_t k = 0; k < values.size(); ++k) {
        if (values[k].ulValueLen == CK_UNAVAILABLE_INFORMATION)
            out[index[k]].reset();
        else
            out[index[k]]->resize(values[k].ulValueLen);
    }
    return out;
}

std::optional<CK_ULONG> as_ulong(const std::optional<std::vector<unsigned char>>& v) {
    if (v && v->size() == sizeof(CK_ULONG)) {
        CK_ULONG out;
        std::memcpy(&out, v->data(), sizeof out);
        return out;
    }
    if (v && v->size() == sizeof(CK_BBOOL)) return (*v)[0] != CK_FALSE ? 1 : 0;
    return std::nullopt;
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

std::optional<std::vector<CK_MECHANISM_TYPE>> get_allowed_mechanisms(Session& s,
                                                                     CK_OBJECT_HANDLE obj) {
    auto v = get_attribute(s, obj, CKA_ALLOWED_MECHANISMS);
    // An empty list is how SoftHSM2 and others store "not restricted".
    if (!v || v->empty() || v->size() % sizeof(CK_MECHANISM_TYPE) != 0) return std::nullopt;
    std::vector<CK_MECHANISM_TYPE> out(v->size() / sizeof(CK_MECHANISM_TYPE));
    std::memcpy(out.data(), v->data(), v->size());
    return out;
}

}  // namespace ts::hsm
