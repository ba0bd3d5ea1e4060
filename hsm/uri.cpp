// SPDX-License-Identifier: Apache-2.0
#include "hsm/uri.hpp"

#include <p11-kit/uri.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include "hsm/error.hpp"

namespace ts::hsm {

namespace {

// RFC 7512 §2.3 path and query attribute names that tokensign understands.
constexpr std::array<std::string_view, 13> kPathAttrs = {
    "token",           "manufacturer",        "serial",     "model",
    "library-manufacturer", "library-description", "library-version", "slot-id",
    "slot-description", "slot-manufacturer", "id",         "object",
    "type"};
constexpr std::array<std::string_view, 4> kQueryAttrs = {"pin-source", "pin-value", "module-name",
                                                         "module-path"};
constexpr std::array<std::string_view, 5> kTypes = {"public", "private", "cert", "secret-key",
                                                    "data"};

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    for (;;) {
        auto pos = s.find(sep, start);
        out.push_back(s.substr(start, pos - start));
        if (pos == std::string_view::npos) break;
        start = pos + 1;
    }
    return out;
}

// Shows an attribute in an error without ever showing a PIN.
std::string shown(std::string_view name, std::string_view segment) {
    if (name == "pin-value") return "pin-value=(not shown)";
    std::string s(segment.substr(0, 80));
    if (segment.size() > 80) s += "...";
    // Control characters from hostile input would garble the terminal.
    for (auto& c : s)
        if (std::iscntrl(static_cast<unsigned char>(c))) c = '?';
    return s;
}

bool is_path_attr(std::string_view name) {
    return std::find(kPathAttrs.begin(), kPathAttrs.end(), name) != kPathAttrs.end();
}
bool is_query_attr(std::string_view name) {
    return std::find(kQueryAttrs.begin(), kQueryAttrs.end(), name) != kQueryAttrs.end();
}

// RFC 7512 §2.3: what a value may hold unencoded. pk11-path-res-avail is pk11-res-avail plus
// "&"; pk11-query-res-avail is pk11-res-avail plus "/", "?" and "|". Everything else (space,
// '#', '"', '<', non-ASCII bytes, ...) must be percent-encoded.
bool allowed_unencoded(char ch, bool in_query) {
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) {
        return true;
    }
    if (ch != '\0' && std::strchr("-._~:[]@!$'()*+,=", ch) != nullptr) return true;
    return in_query ? (ch == '/' || ch == '?' || ch == '|') : ch == '&';
}

// A value with every character that needs it percent-encoded; valid %XX escapes are kept.
std::string encode_value(std::string_view value, bool in_query) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (std::size_t i = 0; i < value.size(); ++i) {
        char ch = value[i];
        if (ch == '%' && i + 2 < value.size() && is_hex(value[i + 1]) && is_hex(value[i + 2])) {
            out.append(value.substr(i, 3));
            i += 2;
        } else if (allowed_unencoded(ch, in_query)) {
            out += ch;
        } else {
            auto c = static_cast<unsigned char>(ch);
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

// "a space", "a non-ASCII byte", "'#'": the first character of `value` that needs encoding.
std::string first_unencoded(std::string_view value, bool in_query) {
    for (std::size_t i = 0; i < value.size(); ++i) {
        char ch = value[i];
        if (ch == '%') {
            i += 2;
            continue;
        }
        if (allowed_unencoded(ch, in_query)) continue;
        auto c = static_cast<unsigned char>(ch);
        if (ch == ' ') return "a space";
        if (c >= 0x80) return "a non-ASCII byte";
        if (std::iscntrl(c)) return "a control character";
        return std::string("'") + ch + "'";
    }
    return {};
}

// The URI as it should have been written: query attributes moved after '?', path attributes
// before it, every value percent-encoded where RFC 7512 requires. A pin-value is never shown:
// "<PIN>" stands for it.
std::string rewritten(std::string_view body) {
    auto q = body.find('?');
    std::string_view path = body.substr(0, q);
    std::string_view query = q == std::string_view::npos ? std::string_view{} : body.substr(q + 1);
    std::vector<std::string> path_out, query_out;
    auto take = [&](std::string_view seg, bool in_query) {
        if (seg.empty()) return;
        auto eq = seg.find('=');
        std::string_view name = seg.substr(0, eq);
        std::string_view value =
            eq == std::string_view::npos ? std::string_view{} : seg.substr(eq + 1);
        bool to_query = is_query_attr(name) ? true : is_path_attr(name) ? false : in_query;
        std::string v = name == "pin-value" ? std::string("<PIN>") : encode_value(value, to_query);
        (to_query ? query_out : path_out).push_back(std::string(name) + "=" + v);
    };
    for (auto seg : split(path, ';')) take(seg, false);
    if (q != std::string_view::npos)
        for (auto seg : split(query, '&')) take(seg, true);
    std::string out = "pkcs11:";
    for (std::size_t i = 0; i < path_out.size(); ++i) out += (i ? ";" : "") + path_out[i];
    for (std::size_t i = 0; i < query_out.size(); ++i) out += (i ? "&" : "?") + query_out[i];
    for (auto& c : out)
        if (std::iscntrl(static_cast<unsigned char>(c))) c = '?';
    return out;
}

// Finds the first malformed part of the URI, so the error can name it. Empty when none found.
std::string diagnose(std::string_view body) {
    auto q = body.find('?');
    std::string_view path = body.substr(0, q);
    std::string_view query = q == std::string_view::npos ? std::string_view{} : body.substr(q + 1);
    auto check = [body](std::string_view seg, bool in_query) -> std::string {
        if (seg.empty()) return {};
        auto eq = seg.find('=');
        if (eq == std::string_view::npos) {
            return "attribute '" + shown("", seg) + "' has no '=value'";
        }
        std::string_view name = seg.substr(0, eq), value = seg.substr(eq + 1);
        bool known = in_query
                         ? std::find(kQueryAttrs.begin(), kQueryAttrs.end(), name) != kQueryAttrs.end()
                         : std::find(kPathAttrs.begin(), kPathAttrs.end(), name) != kPathAttrs.end();
        if (!known && !name.starts_with("x-")) {
            bool other = in_query ? std::find(kPathAttrs.begin(), kPathAttrs.end(), name) !=
                                        kPathAttrs.end()
                                  : std::find(kQueryAttrs.begin(), kQueryAttrs.end(), name) !=
                                        kQueryAttrs.end();
            if (other) {
                // Engine-era URIs put pin-source and pin-value in the path: say exactly what
                // to write instead.
                std::string fix = rewritten(body);
                return "attribute '" + std::string(name) + "' belongs in the " +
                       (in_query ? "path (before '?')" : "query (after '?')") + "; write " + fix +
                       (fix.find("<PIN>") != std::string::npos
                            ? " with the PIN in place of <PIN> (better: pin-source=FILE)"
                            : "");
            }
            return "unknown attribute '" + shown(name, name) + "'";
        }
        for (std::size_t i = 0; i < value.size(); ++i) {
            if (value[i] == '%') {
                if (i + 2 >= value.size()) {
                    return "bad percent-encoding in '" + shown(name, seg) + "'";
                }
                if (!is_hex(value[i + 1]) || !is_hex(value[i + 2])) {
                    return "bad percent-encoding in '" + shown(name, seg) + "'";
                }
                i += 2;
            }
        }
        // p11-kit's parser deletes unencoded whitespace ("object=test Cert" would name
        // "testCert") and takes other such characters as they are: refuse them, showing the
        // encoded form, so no value is ever altered behind the user's back.
        if (std::string bad = first_unencoded(value, in_query); !bad.empty()) {
            std::string fix = rewritten(body);
            if (name == "pin-value") {
                return "the pin-value holds a character RFC 7512 requires to be "
                       "percent-encoded; percent-encode it, or better use pin-source=FILE";
            }
            return "'" + shown(name, seg) + "' holds " + bad +
                   ", which RFC 7512 requires to be percent-encoded; write '" + std::string(name) +
                   "=" + encode_value(value, in_query) + "', i.e. " + fix +
                   (fix.find("<PIN>") != std::string::npos ? " (with your PIN for <PIN>)" : "");
        }
        if (name == "type" &&
            std::find(kTypes.begin(), kTypes.end(), value) == kTypes.end()) {
            return "type '" + shown(name, value) +
                   "' is not one of public, private, cert, secret-key, data";
        }
        if (name == "slot-id" &&
            (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) {
                 return std::isdigit(static_cast<unsigned char>(c));
             }))) {
            return "slot-id '" + shown(name, value) + "' is not a decimal number";
        }
        if (name == "library-version") {
            bool ok = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
                return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
            });
            if (!ok) return "library-version '" + shown(name, value) + "' is not M or M.N";
        }
        return {};
    };
    for (auto seg : split(path, ';'))
        if (auto e = check(seg, false); !e.empty()) return e;
    if (q != std::string_view::npos)
        for (auto seg : split(query, '&'))
            if (auto e = check(seg, true); !e.empty()) return e;
    return {};
}

std::optional<std::string> field(const CK_UTF8CHAR* f, std::size_t n) {
    if (f[0] == 0) return std::nullopt;  // p11-kit leaves unset fields zeroed
    return padded(f, n);
}

}  // namespace

std::string padded(const CK_UTF8CHAR* f, std::size_t n) {
    std::string s(reinterpret_cast<const char*>(f), n);
    auto nul = s.find('\0');
    if (nul != std::string::npos) s.resize(nul);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
}

Uri::Uri() : m_uri(p11_kit_uri_new(), p11_kit_uri_free) {}

bool is_pkcs11_uri(std::string_view text) {
    return text.size() >= 7 && strncasecmp(text.data(), "pkcs11:", 7) == 0;
}

Uri parse_uri(std::string_view text) {
    if (!is_pkcs11_uri(text)) {
        // The text is shown, but never from a pin-value on: not a URI, it may still hold a PIN
        // (found by fuzzing).
        std::size_t shown = std::min<std::size_t>(text.size(), 20);
        for (std::size_t i = 0; i + 9 <= shown; ++i)
            if (strncasecmp(text.data() + i, "pin-value", 9) == 0) shown = i;
        std::string head(text.substr(0, shown));
        for (auto& c : head)
            if (std::iscntrl(static_cast<unsigned char>(c))) c = '?';
        throw UriError("'" + head + (text.size() > shown ? "..." : "") +
                       "' is not a pkcs11: URI (RFC 7512); it must start with 'pkcs11:'");
    }
    if (text.find('\0') != std::string_view::npos) {
        throw UriError("the pkcs11: URI contains a NUL byte");
    }
    std::string body(text.substr(7));
    if (auto problem = diagnose(body); !problem.empty()) {
        throw UriError("malformed pkcs11: URI: " + problem);
    }
    std::string normalized = "pkcs11:" + body;  // RFC 3986: the scheme is case-insensitive
    Uri u;
    int rc = p11_kit_uri_parse(normalized.c_str(), P11_KIT_URI_FOR_ANY, u.m_uri.get());
    if (rc != P11_KIT_URI_OK) {
        OPENSSL_cleanse(normalized.data(), normalized.size());
        throw UriError(std::string("malformed pkcs11: URI: ") + p11_kit_uri_message(rc));
    }
    OPENSSL_cleanse(normalized.data(), normalized.size());
    if (const char* pv = p11_kit_uri_get_pin_value(u.m_uri.get())) {
        u.m_pin_value = std::make_shared<const Pin>(Pin::from(pv));
        // Keep no copy of the PIN in the p11-kit object: to_string() must never print it.
        p11_kit_uri_set_pin_value(u.m_uri.get(), nullptr);
    }
    return u;
}

std::optional<std::string> Uri::token() const {
    auto* t = p11_kit_uri_get_token_info(m_uri.get());
    return field(t->label, sizeof t->label);
}
std::optional<std::string> Uri::manufacturer() const {
    auto* t = p11_kit_uri_get_token_info(m_uri.get());
    return field(t->manufacturerID, sizeof t->manufacturerID);
}
std::optional<std::string> Uri::serial() const {
    auto* t = p11_kit_uri_get_token_info(m_uri.get());
    return field(t->serialNumber, sizeof t->serialNumber);
}
std::optional<std::string> Uri::model() const {
    auto* t = p11_kit_uri_get_token_info(m_uri.get());
    return field(t->model, sizeof t->model);
}
std::optional<std::string> Uri::library_manufacturer() const {
    auto* i = p11_kit_uri_get_module_info(m_uri.get());
    return field(i->manufacturerID, sizeof i->manufacturerID);
}
std::optional<std::string> Uri::library_description() const {
    auto* i = p11_kit_uri_get_module_info(m_uri.get());
    return field(i->libraryDescription, sizeof i->libraryDescription);
}
std::optional<CK_SLOT_ID> Uri::slot_id() const {
    CK_SLOT_ID id = p11_kit_uri_get_slot_id(m_uri.get());
    if (id == static_cast<CK_SLOT_ID>(-1)) return std::nullopt;
    return id;
}
std::optional<std::string> Uri::slot_description() const {
    auto* s = p11_kit_uri_get_slot_info(m_uri.get());
    return field(s->slotDescription, sizeof s->slotDescription);
}
std::optional<std::string> Uri::slot_manufacturer() const {
    auto* s = p11_kit_uri_get_slot_info(m_uri.get());
    return field(s->manufacturerID, sizeof s->manufacturerID);
}
std::optional<std::vector<unsigned char>> Uri::id() const {
    CK_ATTRIBUTE* a = p11_kit_uri_get_attribute(m_uri.get(), CKA_ID);
    if (!a) return std::nullopt;
    auto* p = static_cast<const unsigned char*>(a->pValue);
    return std::vector<unsigned char>(p, p + a->ulValueLen);
}
std::optional<std::string> Uri::object() const {
    CK_ATTRIBUTE* a = p11_kit_uri_get_attribute(m_uri.get(), CKA_LABEL);
    if (!a) return std::nullopt;
    return std::string(static_cast<const char*>(a->pValue), a->ulValueLen);
}
std::optional<CK_OBJECT_CLASS> Uri::type() const {
    CK_ATTRIBUTE* a = p11_kit_uri_get_attribute(m_uri.get(), CKA_CLASS);
    if (!a || a->ulValueLen != sizeof(CK_OBJECT_CLASS)) return std::nullopt;
    CK_OBJECT_CLASS c;
    std::memcpy(&c, a->pValue, sizeof c);
    return c;
}
std::optional<std::string> Uri::pin_source() const {
    const char* v = p11_kit_uri_get_pin_source(m_uri.get());
    if (!v) return std::nullopt;
    return std::string(v);
}
std::shared_ptr<const Pin> Uri::pin_value() const { return m_pin_value; }
std::optional<std::string> Uri::module_path() const {
    const char* v = p11_kit_uri_get_module_path(m_uri.get());
    if (!v) return std::nullopt;
    return std::string(v);
}
std::optional<std::string> Uri::module_name() const {
    const char* v = p11_kit_uri_get_module_name(m_uri.get());
    if (!v) return std::nullopt;
    return std::string(v);
}

bool Uri::matches_module(const CK_INFO& info) const {
    return p11_kit_uri_match_module_info(m_uri.get(), const_cast<CK_INFO*>(&info)) == 1;
}
bool Uri::matches_slot(CK_SLOT_ID slot, const CK_SLOT_INFO& info) const {
    if (auto id = slot_id(); id && *id != slot) return false;
    return p11_kit_uri_match_slot_info(m_uri.get(), const_cast<CK_SLOT_INFO*>(&info)) == 1;
}
bool Uri::matches_token(const CK_TOKEN_INFO& info) const {
    return p11_kit_uri_match_token_info(m_uri.get(), const_cast<CK_TOKEN_INFO*>(&info)) == 1;
}
bool Uri::has_token_attributes() const {
    return token() || manufacturer() || serial() || model() || library_manufacturer() ||
           library_description() || slot_id() || slot_description() || slot_manufacturer();
}
bool Uri::has_object_attributes() const { return id() || object() || type(); }

std::string Uri::to_string() const {
    char* s = nullptr;
    if (p11_kit_uri_format(m_uri.get(), P11_KIT_URI_FOR_ANY, &s) != P11_KIT_URI_OK || !s) {
        return "pkcs11:";
    }
    std::string out(s);
    std::free(s);
    return out;
}

std::string percent_encode(std::span<const unsigned char> bytes) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 3);
    for (unsigned char b : bytes) {
        out += '%';
        out += hex[b >> 4];
        out += hex[b & 15];
    }
    return out;
}

std::string percent_encode_text(std::string_view text) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        // RFC 7512 pk11-res-avail / RFC 3986 unreserved, plus the sub-delims safe in a path value.
        if (std::isalnum(c) || std::strchr("-._~:[]@!$'()*+,=&", ch) != nullptr) {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

namespace {
void append_attr(std::string& out, std::string_view name, std::string_view value_encoded) {
    if (out.back() != ':') out += ';';
    out.append(name);
    out += '=';
    out.append(value_encoded);
}
}  // namespace

std::string token_uri(const CK_TOKEN_INFO& t) {
    std::string out = "pkcs11:";
    append_attr(out, "model", percent_encode_text(padded(t.model)));
    append_attr(out, "manufacturer", percent_encode_text(padded(t.manufacturerID)));
    append_attr(out, "serial", percent_encode_text(padded(t.serialNumber)));
    append_attr(out, "token", percent_encode_text(padded(t.label)));
    return out;
}

std::string object_uri(const CK_TOKEN_INFO& t, std::span<const unsigned char> id,
                       std::string_view label, std::optional<CK_OBJECT_CLASS> type) {
    std::string out = token_uri(t);
    if (!id.empty()) append_attr(out, "id", percent_encode(id));
    if (!label.empty()) append_attr(out, "object", percent_encode_text(label));
    if (type) {
        const char* name = nullptr;
        switch (*type) {
            case CKO_PRIVATE_KEY: name = "private"; break;
            case CKO_PUBLIC_KEY: name = "public"; break;
            case CKO_CERTIFICATE: name = "cert"; break;
            case CKO_SECRET_KEY: name = "secret-key"; break;
            case CKO_DATA: name = "data"; break;
            default: break;
        }
        if (name) append_attr(out, "type", name);
    }
    return out;
}

std::string to_hex(std::span<const unsigned char> bytes) {
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned char b : bytes) {
        out += hex[b >> 4];
        out += hex[b & 15];
    }
    return out;
}

std::vector<unsigned char> from_hex(std::string_view in) {
    if (in.starts_with("0x") || in.starts_with("0X")) in.remove_prefix(2);
    std::string digits;
    for (char c : in) {
        if (c == ':') continue;
        if (!is_hex(c)) throw Error("'" + std::string(in) + "' is not hexadecimal");
        digits += c;
    }
    if (digits.empty() || digits.size() % 2 != 0) {
        throw Error("'" + std::string(in) + "' is not an even number of hex digits");
    }
    std::vector<unsigned char> out;
    for (std::size_t i = 0; i < digits.size(); i += 2) {
        out.push_back(static_cast<unsigned char>(std::stoi(digits.substr(i, 2), nullptr, 16)));
    }
    return out;
}

}  // namespace ts::hsm
