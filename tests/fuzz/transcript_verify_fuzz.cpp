// SPDX-License-Identifier: Apache-2.0
// A ceremony transcript through signer::ceremony::verify: the input is transcript.jsonl (and,
// after a first NUL byte, transcript.head) of a fresh directory. Any bytes verify or give
// problems; nothing may throw or crash, and a damaged transcript is never reported as fine
// unless its hash chain really holds (verify recomputes it: an all-good result on random bytes
// would mean the chain was not checked).
#include <openssl/err.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "signer/ceremony/verify.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    const auto nul = input.find('\0');
    char tmpl[] = "/tmp/tokensign-fuzz-transcript-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) std::abort();
    const std::string dir = tmpl;
    std::ofstream(dir + "/transcript.jsonl", std::ios::binary) << input.substr(0, nul);
    if (nul != std::string::npos)
        std::ofstream(dir + "/transcript.head", std::ios::binary) << input.substr(nul + 1);
    auto result = ts::signer::ceremony::verify(dir, "");
    // An empty transcript is never a complete ceremony.
    if (input.empty() && result.ok()) std::abort();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    ERR_clear_error();
    return 0;
}
