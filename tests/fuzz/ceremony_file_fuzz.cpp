// SPDX-License-Identifier: Apache-2.0
// A ceremony file through signer::ceremony::parse (yaml-cpp, then the strict schema): any text
// parses or throws FileError naming file:line:column; nothing else may escape (a yaml-cpp
// exception, std::out_of_range, a crash).
#include <openssl/err.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "signer/ceremony/file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const auto file = ts::signer::ceremony::parse(text, "fuzz.yaml");
        // A file that parses has what the schema requires.
        if (file.steps.empty()) std::abort();
    } catch (const ts::signer::ceremony::FileError& e) {
        // Every refusal says where.
        if (std::string(e.what()).rfind("fuzz.yaml", 0) != 0) std::abort();
    }
    ERR_clear_error();
    return 0;
}
