// SPDX-License-Identifier: Apache-2.0
// The PIN through OpenSSL's own passphrase callback: stock `openssl` loading tokensign.so, with
// no PIN in the URI, no pin-source and no TOKENSIGN_PIN. On a terminal openssl prompts (echo
// off) and a wrong PIN costs one try; without one, `-passin` hands the PIN over.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/softhsm.hpp"
#include "tests/support/tty.hpp"

namespace ts::test {
namespace {

class OpensslPromptTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        s_hsm = new SoftHsm();
        s_hsm->add_token("prompt");
        auto r = run({"pkcs11-tool", "--module", s_hsm->module(), "--token-label", "prompt",
                      "--login", "--pin", "1234", "--keypairgen", "--key-type", "EC:prime256v1",
                      "--label", "k", "--id", "01"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        ::setenv("TOKENSIGN_MODULE", s_hsm->module().c_str(), 1);
        ::unsetenv("TOKENSIGN_PIN");
    }
    static void TearDownTestSuite() { delete s_hsm; }

    void SetUp() override {
        m_data = m_dir.file("data.txt");
        write_file(m_data, "to be signed\n");
        // The public key, read without a PIN, to check the signatures with plain openssl.
        auto r = run({"openssl", "pkey", "-provider-path", provider_dir(), "-provider", "tokensign",
                      "-provider", "default", "-pubin", "-in",
                      "pkcs11:token=prompt;object=k;type=public", "-out", m_dir.file("k.pub")});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }

    std::vector<std::string> dgst(const std::string& out) const {
        return {"openssl",
                "dgst",
                "-provider-path",
                provider_dir(),
                "-provider",
                "tokensign",
                "-provider",
                "default",
                "-sha256",
                "-sign",
                "pkcs11:token=prompt;object=k",
                "-out",
                out,
                m_data};
    }
    bool verifies(const std::string& sig) const {
        auto r = run({"openssl", "dgst", "-sha256", "-verify", m_dir.file("k.pub"), "-signature",
                      sig, m_data},
                     {{"OPENSSL_CONF", "/dev/null"}});
        return r.exit_code == 0;
    }
    static void write_file(const std::string& path, const std::string& text) {
        auto r = run({"sh", "-c", "cat > \"$0\"", path}, {}, text);
        ASSERT_EQ(r.exit_code, 0);
    }

    static SoftHsm* s_hsm;
    TempDir m_dir{"tokensign-oprompt"};
    std::string m_data;
};

SoftHsm* OpensslPromptTest::s_hsm = nullptr;

TEST_F(OpensslPromptTest, OpensslPromptsForThePinOnTheTerminalWithEchoOff) {
    auto r = run_on_tty(dgst(m_dir.file("tty.sig")), "1234");
    ASSERT_TRUE(r.answered) << "openssl did not ask for the PIN:\n" << r.screen;
    EXPECT_EQ(r.exit_code, 0) << r.screen;
    // OpenSSL's frame is "Enter pass phrase for %s:"; what fills it names the PIN once.
    EXPECT_NE(r.screen.find("Enter pass phrase for token 'prompt' (user PIN):"), std::string::npos)
        << r.screen;
    EXPECT_EQ(r.screen.find("pass phrase for PIN for"), std::string::npos) << r.screen;
    EXPECT_EQ(after_prompt(r.screen).find("1234"), std::string::npos) << "echoed:\n" << r.screen;
    EXPECT_TRUE(verifies(m_dir.file("tty.sig")));
}

TEST_F(OpensslPromptTest, AWrongPinAtOpensslsPromptIsTriedOnceAndNamed) {
    auto r = run_on_tty(dgst(m_dir.file("wrong.sig")), "0000");
    ASSERT_TRUE(r.answered) << r.screen;
    EXPECT_NE(r.exit_code, 0) << r.screen;
    EXPECT_EQ(r.screen.find("(user PIN)"), r.screen.rfind("(user PIN)")) << "asked twice:\n"
                                                                         << r.screen;
    EXPECT_NE(r.screen.find("(user PIN)"), std::string::npos) << r.screen;
    EXPECT_NE(r.screen.find("CKR_PIN_INCORRECT"), std::string::npos) << r.screen;
    EXPECT_NE(r.screen.find("token 'prompt'"), std::string::npos) << r.screen;
}

TEST_F(OpensslPromptTest, PassinHandsThePinToTheProviderWithoutATerminal) {
    auto args = dgst(m_dir.file("passin.sig"));
    args.insert(args.end() - 1, {"-passin", "pass:1234"});
    auto r = run(args, {}, "");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(verifies(m_dir.file("passin.sig")));
}

}  // namespace
}  // namespace ts::test
