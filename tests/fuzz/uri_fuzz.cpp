// SPDX-License-Identifier: Apache-2.0
// hsm::parse_uri (RFC 7512 through p11-kit): any text either parses or throws UriError; a parsed
// URI's to_string() parses again to the same text and never holds the pin-value; a refusal
// never echoes a pin-value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "hsm/error.hpp"
#include "hsm/uri.hpp"

namespace {

// The value of the first pin-value attribute. In a pkcs11: URI only an attribute is a pin-value
// (RFC 7512: path attributes split at ';' before the '?', query attributes at '&' after it, so
// "token=a-pin-value=x" and "?x=a;pin-value=y" hold none); in any other text, whatever follows
// "pin-value=".
std::optional<std::string_view> pin_attribute(std::string_view text) {
    constexpr std::string_view kPin = "pin-value=";
    if (!ts::hsm::is_pkcs11_uri(text)) {
        const auto at = text.find(kPin);
        if (at == std::string_view::npos) return std::nullopt;
        const auto v = text.substr(at + kPin.size());
        return v.substr(0, v.find_first_of(";&?"));
    }
    const std::string_view body = text.substr(7);
    const auto q = body.find('?');
    const std::pair<std::string_view, char> parts[] = {
        {body.substr(0, q), ';'},
        {q == std::string_view::npos ? std::string_view() : body.substr(q + 1), '&'}};
    for (auto [rest, sep] : parts) {
        while (!rest.empty()) {
            const auto end = rest.find(sep);
            const std::string_view element = rest.substr(0, end);
            if (element.substr(0, kPin.size()) == kPin) return element.substr(kPin.size());
            rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
        }
    }
    return std::nullopt;
}

// The pin-value, when long enough to be told apart in a message.
std::string pin_value_of(std::string_view text) {
    const auto v = pin_attribute(text);
    return v && v->size() >= 4 ? std::string(*v) : std::string();
}

std::size_t count(std::string_view hay, std::string_view needle) {
    std::size_t n = 0;
    for (auto at = hay.find(needle); at != std::string_view::npos; at = hay.find(needle, at + 1))
        ++n;
    return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const std::string pin = pin_value_of(text);
    try {
        const ts::hsm::Uri uri = ts::hsm::parse_uri(text);
        (void)uri.token(), (void)uri.serial(), (void)uri.slot_id(), (void)uri.id();
        (void)uri.object(), (void)uri.type(), (void)uri.pin_source(), (void)uri.module_path();
        (void)uri.has_token_attributes(), (void)uri.has_object_attributes();
        const std::string shown = uri.to_string();
        if (pin_attribute(shown)) std::abort();
        if (ts::hsm::parse_uri(shown).to_string() != shown) std::abort();
    } catch (const ts::hsm::UriError& e) {
        // An echo: the message holds the PIN's text, and stops holding it once the PIN is
        // replaced by other letters (so the text is not just part of the message's own words).
        const std::string_view message = e.what();
        if (!pin.empty() && count(text, pin) == 1 && message.find(pin) != std::string_view::npos) {
            std::string masked(text);
            masked.replace(masked.find(pin), pin.size(), std::string(pin.size(), 'Z'));
            std::string again;
            try {
                (void)ts::hsm::parse_uri(masked);
            } catch (const ts::hsm::UriError& e2) {
                again = e2.what();
            }
            if (again.find(pin) == std::string::npos) std::abort();
        }
    }
    return 0;
}
