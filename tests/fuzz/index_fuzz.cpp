// SPDX-License-Identifier: Apache-2.0
// index.txt lines through signer::IndexEntry::parse, split as CaDb::load splits the file (lines,
// a trailing CR dropped, empty lines skipped): each line parses or throws CaDbError, and a parsed
// entry's line() parses back to the same entry.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "signer/ca_db.hpp"
#include "signer/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) continue;
        try {
            const auto e = ts::signer::IndexEntry::parse(line, "index.txt:1");
            const auto again = ts::signer::IndexEntry::parse(e.line(), "index.txt:2");
            if (again.status != e.status || again.expiry != e.expiry ||
                again.revocation != e.revocation || again.serial != e.serial ||
                again.file != e.file || again.subject != e.subject || again.line() != e.line())
                std::abort();
        } catch (const ts::signer::CaDbError&) {
        }
    }
    return 0;
}
