// SPDX-License-Identifier: Apache-2.0
// hsm::parse_uri (RFC 7512 through p11-kit): any text either parses or throws UriError; a parsed
// URI's to_string() parses again to the same text and never holds the pin-value; a refusal
// never echoes a pin-value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "hsm/error.hpp"
#include "hsm/uri.hpp"

namespace {

// The text of the first pin-value attribute, if it is there and long enough to be told apart.
std::string pin_value_of(std::string_view text) {
    auto at = text.find("pin-value=");
    if (at == std::string_view::npos) return {};
    auto v = text.substr(at + 10);
    v = v.substr(0, v.find_first_of(";&?"));
    return v.size() >= 4 ? std::string(v) : std::string();
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
        if (shown.find("pin-value") != std::string::npos) std::abort();
        if (ts::hsm::parse_uri(shown).to_string() != shown) std::abort();
    } catch (const ts::hsm::UriError& e) {
        // Only when the PIN's text is nowhere else in the input could an echo be told apart.
        if (!pin.empty() && count(text, pin) == 1 &&
            std::string_view(e.what()).find(pin) != std::string_view::npos)
            std::abort();
    }
    return 0;
}
