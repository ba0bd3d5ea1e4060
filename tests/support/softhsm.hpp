// SPDX-License-Identifier: Apache-2.0
// A fresh SoftHSM2 token in a temp dir, for one test suite.
#pragma once

#include <string>

namespace ts::test {

/// Path of SoftHSM2's PKCS#11 module. Fails the test (FAIL()) naming the install step when it is
/// missing: token tests never skip silently.
std::string softhsm_module();

/// A new empty directory under $TMPDIR, removed by ~TempDir.
class TempDir {
public:
    explicit TempDir(const std::string& prefix = "tokensign-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return m_path; }
    /// path()/name
    std::string file(const std::string& name) const { return m_path + "/" + name; }

private:
    std::string m_path;
};

/// A SoftHSM2 token directory with its own softhsm2.conf; setenv(SOFTHSM2_CONF) points at it.
/// Initialise tokens with add_token(). User PIN "1234", SO PIN "123456" unless told otherwise.
class SoftHsm {
public:
    SoftHsm();
    ~SoftHsm();
    /// softhsm2-util --init-token --free --label LABEL; returns the token serial.
    std::string add_token(const std::string& label, const std::string& pin = "1234",
                          const std::string& so_pin = "123456");
    const std::string& conf() const { return m_conf; }
    const std::string& dir() const { return m_dir.path(); }
    std::string module() const { return softhsm_module(); }
    /// A file holding `pin` (mode 0600), for pin-source.
    std::string pin_file(const std::string& pin = "1234");

private:
    TempDir m_dir;
    std::string m_conf;
    int m_pin_files = 0;
};

}  // namespace ts::test
