// SPDX-License-Identifier: Apache-2.0
// PIN sources (hsm/pin, hsm/resolve): files, file: URIs, and the order they are tried in.
#include "hsm/pin.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "hsm/error.hpp"
#include "hsm/resolve.hpp"
#include "hsm/uri.hpp"
#include "tests/support/softhsm.hpp"

namespace ts::hsm {
namespace {

std::string text(const Pin& p) {
    auto b = p.bytes();
    return std::string(b.begin(), b.end());
}

class PinTest : public ::testing::Test {
  protected:
    void SetUp() override {
        unsetenv("TOKENSIGN_PIN");
        forget_environment_pin();
    }
    void TearDown() override {
        unsetenv("TOKENSIGN_PIN");
        forget_environment_pin();
    }

    std::string write(const std::string& name, const std::string& content) {
        std::string path = m_dir.file(name);
        std::ofstream(path, std::ios::binary) << content;
        chmod(path.c_str(), 0600);
        return path;
    }
    std::string pin_error(const PinSources& s) {
        try {
            (void)obtain_pin(s, "token 't'");
        } catch (const PinError& e) {
            return e.what();
        }
        ADD_FAILURE() << "obtain_pin found a PIN";
        return {};
    }

    ts::test::TempDir m_dir{"tokensign-pin"};
};

TEST_F(PinTest, ReadsFileAndStripsOneTrailingNewline) {
    EXPECT_EQ(text(read_pin_source(write("a", "1234\n"))), "1234");
    EXPECT_EQ(text(read_pin_source(write("b", "1234\r\n"))), "1234");
    EXPECT_EQ(text(read_pin_source(write("c", "1234"))), "1234");
    EXPECT_EQ(text(read_pin_source(write("d", "12 34\n\n"))), "12 34\n");
}

TEST_F(PinTest, ReadsFileUris) {
    std::string path = write("pin file", "5678\n");
    std::string encoded = m_dir.path() + "/pin%20file";
    EXPECT_EQ(text(read_pin_source("file:" + encoded)), "5678");
    EXPECT_EQ(text(read_pin_source("file://" + encoded)), "5678");
    EXPECT_EQ(text(read_pin_source("file://localhost" + encoded)), "5678");
}

TEST_F(PinTest, RefusesRemoteAndUnreadableSources) {
    EXPECT_THROW(read_pin_source("file://evil.example/etc/pin"), PinError);
    std::string missing = m_dir.file("nope");
    try {
        (void)read_pin_source(missing);
        ADD_FAILURE() << "read a missing file";
    } catch (const PinError& e) {
        EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
    }
    EXPECT_THROW(read_pin_source(write("empty", "")), PinError);
    EXPECT_THROW(read_pin_source(write("big", std::string(10000, '1'))), PinError);
    EXPECT_THROW(read_pin_source("file:" + m_dir.path() + "/%zz"), PinError);
}

TEST_F(PinTest, PinValueComesFirst) {
    PinSources s;
    s.pin_value = std::make_shared<const Pin>(Pin::from("1111"));
    s.uri_pin_source = write("u", "2222");
    s.option_pin_source = write("o", "3333");
    setenv("TOKENSIGN_PIN", "4444", 1);
    s.allow_prompt = false;
    EXPECT_EQ(text(obtain_pin(s, "token 't'")), "1111");
}

TEST_F(PinTest, UriPinSourceBeatsOptionAndEnvironment) {
    PinSources s;
    s.uri_pin_source = write("u", "2222");
    s.option_pin_source = write("o", "3333");
    setenv("TOKENSIGN_PIN", "4444", 1);
    s.allow_prompt = false;
    EXPECT_EQ(text(obtain_pin(s, "token 't'")), "2222");
}

TEST_F(PinTest, OptionPinSourceBeatsEnvironment) {
    PinSources s;
    s.option_pin_source = write("o", "3333");
    setenv("TOKENSIGN_PIN", "4444", 1);
    s.allow_prompt = false;
    EXPECT_EQ(text(obtain_pin(s, "token 't'")), "3333");
}

TEST_F(PinTest, EnvironmentIsUsedOnlyWhenAllowed) {
    PinSources s;
    s.allow_prompt = false;
    setenv("TOKENSIGN_PIN", "4444", 1);
    EXPECT_EQ(text(obtain_pin(s, "token 't'")), "4444");
    s.use_env = false;
    std::string e = pin_error(s);
    EXPECT_NE(e.find("token 't'"), std::string::npos) << e;
}

TEST_F(PinTest, TheEnvironmentPinIsTakenOutOfTheEnvironmentAndKeptForLaterLogins) {
    PinSources s;
    s.allow_prompt = false;
    setenv("TOKENSIGN_PIN", "4444", 1);
    EXPECT_EQ(text(obtain_pin(s, "token 't'")), "4444");
    EXPECT_EQ(std::getenv("TOKENSIGN_PIN"), nullptr) << "a child process would inherit the PIN";
    EXPECT_EQ(text(obtain_pin(s, "token 't'")), "4444");
}

TEST_F(PinTest, APinFileOthersMayReadIsRefused) {
    std::string path = write("loose", "1234\n");
    chmod(path.c_str(), 0640);
    try {
        read_pin_source(path);
        ADD_FAILURE() << "a group-readable PIN file was accepted";
    } catch (const PinError& e) {
        EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
        EXPECT_EQ(std::string(e.what()).find("1234"), std::string::npos) << e.what();
    }
    chmod(path.c_str(), 0400);
    EXPECT_EQ(text(read_pin_source(path)), "1234");
}

TEST_F(PinTest, UnreadableSourceIsAnErrorNotAFallThrough) {
    // A configured pin-source that cannot be read must not silently fall back to the next source.
    PinSources s;
    s.uri_pin_source = m_dir.file("missing");
    setenv("TOKENSIGN_PIN", "4444", 1);
    s.allow_prompt = false;
    EXPECT_THROW(obtain_pin(s, "token 't'"), PinError);
}

TEST_F(PinTest, NoSourceAndNoPromptFailsNamingTheWays) {
    PinSources s;
    s.allow_prompt = false;
    std::string e = pin_error(s);
    EXPECT_NE(e.find("pin-source"), std::string::npos) << e;
    EXPECT_NE(e.find("TOKENSIGN_PIN"), std::string::npos) << e;
}

TEST_F(PinTest, PinSourcesFromUriAndConfig) {
    Config cfg;
    cfg.pin_source = "/opt/option-pin";
    cfg.use_env_pin = false;
    cfg.allow_prompt = false;
    cfg.allow_final_try = true;
    Uri u = parse_uri("pkcs11:token=t?pin-source=/opt/uri-pin&pin-value=9999");
    PinSources s = pin_sources(cfg, u);
    ASSERT_NE(s.pin_value, nullptr);
    EXPECT_EQ(text(*s.pin_value), "9999");
    EXPECT_EQ(s.uri_pin_source, "/opt/uri-pin");
    EXPECT_EQ(s.option_pin_source, "/opt/option-pin");
    EXPECT_FALSE(s.use_env);
    EXPECT_FALSE(s.allow_prompt);
    EXPECT_TRUE(s.allow_final_try);

    PinSources plain = pin_sources(Config{}, parse_uri("pkcs11:token=t"));
    EXPECT_EQ(plain.pin_value, nullptr);
    EXPECT_TRUE(plain.uri_pin_source.empty());
    EXPECT_TRUE(plain.use_env);
    EXPECT_TRUE(plain.allow_prompt);
    EXPECT_FALSE(plain.allow_final_try);
}

TEST(PinObjectTest, CloneIsIndependentAndMoveEmpties) {
    Pin a = Pin::from("1234");
    Pin b = a.clone();
    EXPECT_EQ(text(b), "1234");
    Pin c = std::move(a);
    EXPECT_EQ(text(c), "1234");
    EXPECT_TRUE(Pin().empty());
}

}  // namespace
}  // namespace ts::hsm
