// SPDX-License-Identifier: Apache-2.0
// An openssl.cnf through signer::Conf::load (NCONF) and signer::CaConfig::load (the CA section
// reader): any text loads or throws InputError. Conf::load reads a file, so the input is handed
// over in a memfd (/proc/self/fd/N): no file on disk, nothing left behind.
#include <openssl/err.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "signer/config.hpp"
#include "signer/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const int fd = memfd_create("fuzz-openssl.cnf", MFD_CLOEXEC);
    if (fd < 0) std::abort();
    for (std::size_t done = 0; done < size;) {
        const ssize_t n = write(fd, data + done, size - done);
        if (n <= 0) std::abort();
        done += static_cast<std::size_t>(n);
    }
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    try {
        const auto conf = ts::signer::Conf::load(path, nullptr);
        const auto ca = ts::signer::CaConfig::load(conf);
        if (ca.section.empty() || ca.database.empty() || ca.certificate.empty()) std::abort();
        try {
            (void)ts::signer::check_digest(ca.default_md, "default_md", nullptr);
        } catch (const ts::signer::InputError&) {
        }
    } catch (const ts::signer::InputError&) {
    }
    ERR_clear_error();
    close(fd);
    return 0;
}
