// SPDX-License-Identifier: Apache-2.0
#include "tests/support/softhsm.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "tests/support/process.hpp"

namespace ts::test {

std::string softhsm_module() {
    for (const char* p : {"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                          "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
                          "/usr/lib/softhsm/libsofthsm2.so"}) {
        if (access(p, R_OK) == 0) return p;
    }
    ADD_FAILURE() << "SoftHSM2 is not installed: run scripts/install-deps.sh (package softhsm2)";
    throw std::runtime_error("SoftHSM2 missing");
}

TempDir::TempDir(const std::string& prefix) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + templ);
    m_path = templ;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
}

SoftHsm::SoftHsm() : m_dir("tokensign-softhsm") {
    std::filesystem::create_directory(m_dir.file("tokens"));
    m_conf = m_dir.file("softhsm2.conf");
    std::ofstream(m_conf) << "directories.tokendir = " << m_dir.file("tokens") << "\n"
                          << "objectstore.backend = file\n"
                          << "log.level = ERROR\n"
                          << "slots.removable = false\n";
    setenv("SOFTHSM2_CONF", m_conf.c_str(), 1);
}

SoftHsm::~SoftHsm() = default;

std::string SoftHsm::add_token(const std::string& label, const std::string& pin,
                               const std::string& so_pin) {
    (void)softhsm_module();
    auto r = run({"softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin,
                  "--so-pin", so_pin},
                 {{"SOFTHSM2_CONF", m_conf}});
    if (r.exit_code != 0) {
        throw std::runtime_error("softhsm2-util --init-token failed: " + r.err + r.out);
    }
    // "The token has been initialized and is reassigned to slot N"; the serial is what
    // --show-slots lists for that label.
    auto s = run({"softhsm2-util", "--show-slots"}, {{"SOFTHSM2_CONF", m_conf}});
    std::string serial;
    auto pos = s.out.find("Label:            " + label);
    if (pos != std::string::npos) {
        auto sp = s.out.find("Serial number:", pos);
        if (sp != std::string::npos) {
            auto b = s.out.find_first_not_of(' ', sp + 14);
            auto e = s.out.find('\n', b);
            serial = s.out.substr(b, e - b);
        }
    }
    return serial;
}

std::string SoftHsm::pin_file(const std::string& pin) {
    std::string path = m_dir.file("pin" + std::to_string(m_pin_files++));
    {
        std::ofstream f(path);
        f << pin << "\n";
    }
    chmod(path.c_str(), 0600);
    return path;
}

}  // namespace ts::test
