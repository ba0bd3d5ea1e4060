// SPDX-License-Identifier: Apache-2.0
// A main() for the fuzz harnesses where libFuzzer is not linked (g++ builds): runs every file
// named, or found in a directory named, through LLVMFuzzerTestOneInput once, so the corpus is a
// regression test in every build. Fails when it finds no input at all.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

void run_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Exactly as libFuzzer hands inputs over: a buffer of the input's size, nothing after it.
    std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());
    LLVMFuzzerTestOneInput(copy.empty() ? nullptr : copy.data(), copy.size());
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t n = 0;
    for (int i = 1; i < argc; ++i) {
        const std::filesystem::path arg = argv[i];
        if (std::filesystem::is_directory(arg)) {
            for (const auto& e : std::filesystem::directory_iterator(arg)) {
                if (!e.is_regular_file()) continue;
                run_file(e.path());
                ++n;
            }
        } else {
            run_file(arg);
            ++n;
        }
    }
    if (n == 0) {
        std::fprintf(stderr, "replay: no input found in the paths given\n");
        return 1;
    }
    std::printf("replay: %zu inputs ran\n", n);
    return 0;
}
