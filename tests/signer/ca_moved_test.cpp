// SPDX-License-Identifier: Apache-2.0
// A CA directory keeps working after it is moved (or mounted elsewhere) and without the build
// tree: its openssl.cnf names the directory through TOKENSIGN_CA_DIR (tokensign sets it to the
// configuration's directory; openssl ca is told by the environment, as docs/tokensign-ca.md
// says) and an installed provider by name only (module = tokensign.so, found in OpenSSL's
// modules directory). Signing continues with tokensign and with openssl ca, checked by openssl
// verify without any provider configuration.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "signer/init.hpp"
#include "tests/signer/ca_util.hpp"
#include "tests/support/softhsm.hpp"

namespace ts::test {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string& text, const std::string& what) {
    return text.find(what) != std::string::npos;
}

std::size_t index_lines(const std::string& path) {
    std::string text = read_text(path);
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

class CaMovedTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        s_hsm = new SoftHsm();
        s_hsm->add_token("moved-token");
    }
    static void TearDownTestSuite() {
        delete s_hsm;
        s_hsm = nullptr;
    }
    void SetUp() override { m_leaf = make_ec_key(); }

    // This suite's token and PIN; the provider from `provider` (the build tree unless told).
    std::map<std::string, std::string> env(const std::string& provider = provider_dir()) const {
        return {{"SOFTHSM2_CONF", s_hsm->conf()},
                {"TOKENSIGN_MODULE", s_hsm->module()},
                {"TOKENSIGN_PIN", "1234"},
                {"TOKENSIGN_PROVIDER_DIR", provider}};
    }

    // "Installed": tokensign.so copied into a directory that OPENSSL_MODULES names, as
    // `cmake --install` puts it into OpenSSL's modules directory.
    std::string install_provider() {
        std::string mods = m_dir.file("ossl-modules");
        fs::create_directories(mods);
        fs::copy_file(provider_dir() + "/tokensign.so", mods + "/tokensign.so",
                      fs::copy_options::overwrite_existing);
        return mods;
    }

    std::string csr(const std::string& cn) {
        std::string path = m_dir.file(cn + ".csr");
        write_text(path, make_csr(m_leaf.get(), {{"CN", cn}}));
        return path;
    }

    void init_token_ca(const std::string& dir, const std::string& label,
                       std::map<std::string, std::string> e) {
        auto r = tokensign(
            {"ca", "init", "--dir", dir, "--key", "pkcs11:token=moved-token;object=" + label,
             "--generate", "ec:p-256", "--subject", "/O=Moved/CN=" + label},
            e);
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }

    void expect_verifies(const std::string& ca_pem, const std::string& cert) {
        auto v =
            run({"openssl", "verify", "-CAfile", ca_pem, cert}, {{"OPENSSL_CONF", "/dev/null"}});
        EXPECT_EQ(v.exit_code, 0) << cert << ": " << v.out << v.err;
    }

    // The move: the old path is gone afterwards.
    void move(const std::string& from, const std::string& to) {
        fs::create_directories(fs::path(to).parent_path());
        fs::rename(from, to);
        ASSERT_FALSE(fs::exists(from));
    }

    static SoftHsm* s_hsm;
    TempDir m_dir{"tokensign-ca-moved"};
    OsslPtr<EVP_PKEY> m_leaf;
};

SoftHsm* CaMovedTest::s_hsm = nullptr;

TEST_F(CaMovedTest, TheProviderIsNamedWithoutAPathOnlyWhenItIsTheOneInTheModulesDirectory) {
    std::string mods = install_provider();
    std::string elsewhere = m_dir.file("elsewhere");
    fs::create_directories(elsewhere);
    fs::copy_file(mods + "/tokensign.so", elsewhere + "/tokensign.so");
    // The very file (also through another spelling of the path): by name.
    EXPECT_EQ(signer::provider_module_setting(mods, mods), "tokensign.so");
    EXPECT_EQ(signer::provider_module_setting(mods + "/../ossl-modules", mods), "tokensign.so");
    // Another copy, or none in the modules directory: the absolute path of the one loaded.
    EXPECT_EQ(signer::provider_module_setting(elsewhere, mods), elsewhere + "/tokensign.so");
    EXPECT_EQ(signer::provider_module_setting(provider_dir(), m_dir.file("empty")),
              fs::path(provider_dir() + "/tokensign.so").lexically_normal().string());
}

// Installed provider: the configuration holds no path of the build tree and, besides the
// default of TOKENSIGN_CA_DIR, none of where the CA was made. After the move tokensign signs as
// is, and openssl ca signs with the environment the docs name.
TEST_F(CaMovedTest, AnInstalledCaDirectoryKeepsSigningAfterItIsMoved) {
    std::string mods = install_provider();
    auto e = env(mods);
    e["OPENSSL_MODULES"] = mods;
    std::string made = m_dir.file("made/root-ca");
    init_token_ca(made, "installed-root", e);
    std::string cnf_text = read_text(made + "/openssl.cnf");
    EXPECT_TRUE(contains(cnf_text, "\nmodule = tokensign.so\n")) << cnf_text;
    EXPECT_FALSE(contains(cnf_text, provider_dir())) << "the build tree is named:\n" << cnf_text;
    EXPECT_FALSE(contains(cnf_text, mods)) << cnf_text;
    EXPECT_TRUE(contains(cnf_text, "\ndir               = $ENV::TOKENSIGN_CA_DIR\n")) << cnf_text;
    std::string rest = cnf_text;
    rest.erase(rest.find("TOKENSIGN_CA_DIR = " + made + "\n"), made.size() + 20);
    EXPECT_FALSE(contains(rest, made)) << "the CA's first path is used:\n" << cnf_text;

    std::string dir = m_dir.file("media/usb/root-ca");
    move(made, dir);
    std::string cnf = dir + "/openssl.cnf";

    // tokensign: as is. A TOKENSIGN_CA_DIR left in the environment does not mislead it.
    auto te = env(mods);
    te["TOKENSIGN_CA_DIR"] = m_dir.file("made/root-ca");
    auto r = tokensign({"ca", "sign", "--config", cnf, "--batch", "--in", csr("t.example"), "--out",
                        m_dir.file("t.pem")},
                       te);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.err, "note: this CA directory was made as " + made)) << r.err;
    EXPECT_TRUE(contains(r.err, "export TOKENSIGN_CA_DIR=" + dir)) << r.err;
    EXPECT_TRUE(fs::exists(dir + "/newcerts/1000.pem"));
    expect_verifies(dir + "/certs/ca.pem", m_dir.file("t.pem"));

    // openssl ca: the provider from OpenSSL's modules directory, the directory from
    // TOKENSIGN_CA_DIR.
    auto oe = env(mods);
    oe["OPENSSL_MODULES"] = mods;
    oe["TOKENSIGN_CA_DIR"] = dir;
    auto o = run({"openssl", "ca", "-batch", "-config", cnf, "-in", csr("o.example"), "-out",
                  m_dir.file("o.pem")},
                 oe);
    ASSERT_EQ(o.exit_code, 0) << o.err;
    expect_verifies(dir + "/certs/ca.pem", m_dir.file("o.pem"));
    EXPECT_EQ(index_lines(dir + "/index.txt"), 2u);
    EXPECT_EQ(read_text(dir + "/serial"), "1002\n");

    // And back to tokensign, which sees openssl's entry.
    auto list = tokensign({"ca", "list", "--config", cnf}, env(mods));
    EXPECT_TRUE(contains(list.out, "/CN=o.example")) << list.out;
    auto crl =
        tokensign({"ca", "gencrl", "--config", cnf, "--out", m_dir.file("crl.pem")}, env(mods));
    EXPECT_EQ(crl.exit_code, 0) << crl.err;
}

// What docs/tokensign-ca.md quotes: openssl ca that cannot find the provider cannot open the
// pkcs11: key (no store loader for the scheme), and changes nothing.
TEST_F(CaMovedTest, OpensslCaWithoutTheProviderFailsAsTheDocsSayAndChangesNothing) {
    std::string mods = install_provider();
    auto e = env(mods);
    e["OPENSSL_MODULES"] = mods;
    std::string dir = m_dir.file("ca");
    init_token_ca(dir, "lost-provider", e);
    auto before = snapshot(dir);
    auto oe = env(mods);
    oe["OPENSSL_MODULES"] = m_dir.file("no-modules-here");
    auto o = run({"openssl", "ca", "-batch", "-config", dir + "/openssl.cnf", "-in",
                  csr("n.example"), "-out", m_dir.file("n.pem")},
                 oe);
    EXPECT_NE(o.exit_code, 0);
    EXPECT_TRUE(contains(o.err, "Could not open file or uri for loading CA private key")) << o.err;
    EXPECT_TRUE(contains(o.err, "unregistered scheme")) << o.err;
    EXPECT_TRUE(contains(o.err, "scheme=pkcs11")) << o.err;
    EXPECT_EQ(snapshot(dir), before);
}

// Not installed (a build tree): the configuration names the provider by its absolute path and
// says so; the directory itself still moves freely.
TEST_F(CaMovedTest, ABuildTreeCaNamesItsProviderAndTheDirectoryStillMoves) {
    std::string made = m_dir.file("made-here");
    auto e = env();
    e["OPENSSL_MODULES"] = m_dir.file("no-modules-here");
    init_token_ca(made, "build-root", e);
    std::string cnf_text = read_text(made + "/openssl.cnf");
    std::string so = fs::path(provider_dir() + "/tokensign.so").lexically_normal().string();
    EXPECT_TRUE(contains(cnf_text, "\nmodule = " + so + "\n")) << cnf_text;
    EXPECT_TRUE(contains(cnf_text, "# Not installed")) << cnf_text;
    EXPECT_TRUE(contains(cnf_text, "module = tokensign.so")) << "the way out is not named";

    std::string dir = m_dir.file("elsewhere/ca");
    move(made, dir);
    std::string cnf = dir + "/openssl.cnf";
    auto r = tokensign({"ca", "sign", "--config", cnf, "--batch", "--in", csr("b1.example"),
                        "--out", m_dir.file("b1.pem")},
                       env());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_verifies(dir + "/certs/ca.pem", m_dir.file("b1.pem"));
    auto oe = env();
    oe["TOKENSIGN_CA_DIR"] = dir;
    auto o = run({"openssl", "ca", "-batch", "-config", cnf, "-in", csr("b2.example"), "-out",
                  m_dir.file("b2.pem")},
                 oe);
    ASSERT_EQ(o.exit_code, 0) << o.err;
    expect_verifies(dir + "/certs/ca.pem", m_dir.file("b2.pem"));
    EXPECT_EQ(index_lines(dir + "/index.txt"), 2u);
}

// A file-key CA: every command follows the directory; nothing is written at the old path.
TEST_F(CaMovedTest, AMovedFileKeyCaIsUsedWhereItsConfigurationIs) {
    auto key = make_ec_key();
    write_key(m_dir.file("ca.key"), key.get());
    std::string made = m_dir.file("first");
    auto init = tokensign({"ca", "init", "--dir", made, "--key", m_dir.file("ca.key"), "--subject",
                           "/O=Moved/CN=File Root"});
    ASSERT_EQ(init.exit_code, 0) << init.err;
    std::string dir = m_dir.file("second");
    move(made, dir);
    std::string cnf = dir + "/openssl.cnf";
    auto s = tokensign({"ca", "sign", "--config", cnf, "--batch", "--in", csr("f.example"), "--out",
                        m_dir.file("f.pem")});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    EXPECT_EQ(tokensign({"ca", "revoke", "--config", cnf, "--serial", "1000"}).exit_code, 0);
    EXPECT_EQ(tokensign({"ca", "status", "--config", cnf, "1000"}).out, "1000=Revoked (R)\n");
    auto crl = tokensign({"ca", "gencrl", "--config", cnf, "--out", m_dir.file("f.crl")});
    EXPECT_EQ(crl.exit_code, 0) << crl.err;
    EXPECT_EQ(read_text(dir + "/crlnumber"), "1001\n");
    EXPECT_FALSE(fs::exists(made));
    // Relative --config from inside the directory as well.
    auto rel = run({"sh", "-c", "cd \"$1\" && exec \"$2\" ca list --config openssl.cnf", "sh", dir,
                    cli_path()});
    EXPECT_EQ(rel.exit_code, 0) << rel.err;
    EXPECT_TRUE(contains(rel.out, "/CN=f.example")) << rel.out;
}

}  // namespace
}  // namespace ts::test
