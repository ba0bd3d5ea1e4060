// SPDX-License-Identifier: Apache-2.0
// RFC 7512 pkcs11: URIs, parsed and matched with p11-kit's URI API.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hsm/pin.hpp"
#include "hsm/pkcs11.hpp"

typedef struct p11_kit_uri P11KitUri;

namespace ts::hsm {

/// A parsed pkcs11: URI. Copyable (the p11-kit object is shared and never mutated).
class Uri {
public:
    /// An empty URI ("pkcs11:") that matches every token and object.
    Uri();

    // Token attributes (RFC 7512 §2.3): unset when std::nullopt.
    std::optional<std::string> token() const;
    std::optional<std::string> manufacturer() const;
    std::optional<std::string> serial() const;
    std::optional<std::string> model() const;
    // Library and slot attributes.
    std::optional<std::string> library_manufacturer() const;
    std::optional<std::string> library_description() const;
    std::optional<CK_SLOT_ID> slot_id() const;
    std::optional<std::string> slot_description() const;
    std::optional<std::string> slot_manufacturer() const;
    // Object attributes.
    std::optional<std::vector<unsigned char>> id() const;
    std::optional<std::string> object() const;
    std::optional<CK_OBJECT_CLASS> type() const;
    // Query attributes.
    std::optional<std::string> pin_source() const;
    std::shared_ptr<const Pin> pin_value() const;
    std::optional<std::string> module_path() const;
    std::optional<std::string> module_name() const;

    /// True if the module (C_GetInfo), slot and token attributes all match.
    bool matches_module(const CK_INFO& info) const;
    bool matches_slot(CK_SLOT_ID slot, const CK_SLOT_INFO& info) const;
    bool matches_token(const CK_TOKEN_INFO& info) const;
    /// True if the URI has any token, slot or library attribute (so it names a token at all).
    bool has_token_attributes() const;
    /// True if the URI has id, object or type.
    bool has_object_attributes() const;

    /// The URI as text, without pin-value (safe for logs and files).
    std::string to_string() const;
    /// The original text given to parse_uri() is never kept: it may hold a PIN.

private:
    friend Uri parse_uri(std::string_view text);
    std::shared_ptr<P11KitUri> m_uri;
    std::shared_ptr<const Pin> m_pin_value;
};

/// Parses an RFC 7512 URI. Throws UriError naming the malformed part ("bad percent-encoding in
/// 'id=%zz'", "unknown attribute 'tokn'"), never echoing a pin-value.
Uri parse_uri(std::string_view text);

/// True if `text` starts with "pkcs11:" (case-insensitive scheme).
bool is_pkcs11_uri(std::string_view text);

/// RFC 7512 percent-encoding of raw bytes ("%01%02").
std::string percent_encode(std::span<const unsigned char> bytes);
/// Percent-encodes a string attribute value, leaving unreserved characters as they are.
std::string percent_encode_text(std::string_view text);

/// A URI for one object on one token: token label, manufacturer, model, serial, id, object, type.
std::string object_uri(const CK_TOKEN_INFO& token, std::span<const unsigned char> id,
                       std::string_view label, std::optional<CK_OBJECT_CLASS> type);
/// A URI for one token.
std::string token_uri(const CK_TOKEN_INFO& token);

/// Lower-case hex of bytes, and back (accepts an optional "0x" and ':' separators).
std::string to_hex(std::span<const unsigned char> bytes);
std::vector<unsigned char> from_hex(std::string_view hex);

/// A CK_UTF8CHAR[N] space-padded field as a trimmed string.
std::string padded(const CK_UTF8CHAR* field, std::size_t size);
template <std::size_t N>
std::string padded(const CK_UTF8CHAR (&field)[N]) {
    return padded(field, N);
}

}  // namespace ts::hsm
