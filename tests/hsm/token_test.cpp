// SPDX-License-Identifier: Apache-2.0
// Modules, token selection, login and mechanisms on a real SoftHSM2 token.
#include "hsm/token.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "hsm/error.hpp"
#include "hsm/mechanism.hpp"
#include "hsm/module.hpp"
#include "hsm/resolve.hpp"
#include "hsm/uri.hpp"
#include "tests/hsm/hsm_fixture.hpp"
#include "tests/support/process.hpp"

namespace ts::test {
namespace {

class TokenTest : public HsmTest {
  public:
    // A second token, so selection has a choice to make.
    static void SetUpTestSuite() { set_up({{"hsm-other", "5678"}}); }
};

std::string selection_error(const std::vector<std::shared_ptr<hsm::Module>>& modules,
                            const std::string& uri) {
    try {
        (void)hsm::select_token(modules, hsm::parse_uri(uri));
    } catch (const hsm::SelectionError& e) {
        return e.what();
    }
    ADD_FAILURE() << "exactly one token matched " << uri;
    return {};
}

TEST_F(TokenTest, ListsBothTokensWithTheirLabels) {
    auto tokens = hsm::list_tokens({module_ptr()});
    int found = 0;
    for (const auto& t : tokens) {
        if (t.label() == "hsm-test" || t.label() == "hsm-other") {
            ++found;
            EXPECT_EQ(t.model(), "SoftHSM v2");
            EXPECT_FALSE(t.serial().empty());
            EXPECT_TRUE(t.token_info.flags & CKF_LOGIN_REQUIRED);
        }
    }
    EXPECT_EQ(found, 2);
}

TEST_F(TokenTest, SelectsByLabelAndBySerial) {
    auto t = hsm::select_token({module_ptr()}, hsm::parse_uri("pkcs11:token=hsm-other"));
    EXPECT_EQ(t.label(), "hsm-other");
    auto by_serial = hsm::select_token(
        {module_ptr()}, hsm::parse_uri("pkcs11:serial=" + hsm::percent_encode_text(t.serial())));
    EXPECT_EQ(by_serial.label(), "hsm-other");
    EXPECT_EQ(by_serial.slot, t.slot);
}

TEST_F(TokenTest, NoMatchListsTheTokensPresent) {
    std::string e = selection_error({module_ptr()}, "pkcs11:token=absent");
    EXPECT_NE(e.find("absent"), std::string::npos) << e;
    EXPECT_NE(e.find("hsm-test"), std::string::npos) << e;
    EXPECT_NE(e.find("hsm-other"), std::string::npos) << e;
}

TEST_F(TokenTest, SeveralMatchesListTheCandidates) {
    std::string e = selection_error({module_ptr()}, "pkcs11:model=SoftHSM%20v2");
    EXPECT_NE(e.find("hsm-test"), std::string::npos) << e;
    EXPECT_NE(e.find("hsm-other"), std::string::npos) << e;
}

TEST_F(TokenTest, TheSpareUninitialisedTokenIsNeverACandidate) {
    // SoftHSM2 lists hsm-test, hsm-other and an uninitialised spare: two candidates, not three.
    std::string e = selection_error({module_ptr()}, "pkcs11:model=SoftHSM%20v2");
    EXPECT_EQ(e.rfind("2 tokens match", 0), 0u) << e;
    EXPECT_EQ(hsm::matching_tokens({module_ptr()}, hsm::parse_uri("pkcs11:")).size(), 2u);
}

TEST_F(TokenTest, AUriWithoutTokenOpensTheTokenHoldingTheObjectWithoutLoggingIn) {
    // Made by another process: this one has logged in to neither token.
    auto r = run({"pkcs11-tool", "--module", softhsm_module(), "--token-label", "hsm-other",
                  "--login", "--pin", "5678", "--keypairgen", "--key-type", "EC:prime256v1",
                  "--label", "elsewhere", "--id", "e1"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    hsm::Config cfg;
    cfg.modules.explicit_path = softhsm_module();
    cfg.modules.use_env = false;
    for (const char* uri : {"pkcs11:object=elsewhere;type=private", "pkcs11:id=%e1",
                            "pkcs11:object=elsewhere"}) {
        auto t = hsm::open_token(cfg, hsm::parse_uri(uri));
        EXPECT_EQ(t->what(), "token 'hsm-other'") << uri;
        EXPECT_FALSE(t->logged_in()) << uri;
    }
    EXPECT_FALSE(token().logged_in());
    try {
        (void)hsm::open_token(cfg, hsm::parse_uri("pkcs11:object=nowhere;type=private"));
        ADD_FAILURE() << "a URI naming no existing object opened a token";
    } catch (const hsm::SelectionError& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("any of 2 tokens"), std::string::npos) << m;
        EXPECT_NE(m.find("token=hsm-test"), std::string::npos) << m;
        EXPECT_NE(m.find("token=hsm-other"), std::string::npos) << m;
    }
    // Without object attributes there is nothing to search by: name the token.
    EXPECT_THROW(hsm::open_token(cfg, hsm::parse_uri("pkcs11:type=private")), hsm::SelectionError);
    // Key generation picks the token by its attributes only.
    EXPECT_THROW(hsm::open_one_token(cfg, hsm::parse_uri("pkcs11:object=elsewhere")),
                 hsm::SelectionError);
}

TEST_F(TokenTest, TokenOpenIsSharedPerSlot) {
    auto info = hsm::select_token({module_ptr()}, hsm::parse_uri("pkcs11:token=hsm-test"));
    EXPECT_EQ(hsm::Token::open(info).get(), token_ptr().get());
}

TEST_F(TokenTest, WrongPinIsRejectedOnceAndLeavesTheTokenUsable) {
    auto other = hsm::Token::open(
        hsm::select_token({module_ptr()}, hsm::parse_uri("pkcs11:token=hsm-other")));
    try {
        other->login(pins("0000"));
        ADD_FAILURE() << "a wrong PIN logged in";
    } catch (const hsm::Pkcs11Error& e) {
        EXPECT_EQ(e.rv(), CKR_PIN_INCORRECT);
        EXPECT_EQ(e.function(), "C_Login");
        EXPECT_TRUE(e.is_authentication_failure());
        std::string m = e.what();
        EXPECT_NE(m.find("PIN"), std::string::npos) << m;
        EXPECT_NE(m.find("hsm-other"), std::string::npos) << m;
        EXPECT_EQ(m.find("0000"), std::string::npos) << m;
    }
    EXPECT_FALSE(other->logged_in());
    CK_TOKEN_INFO ti = other->refresh_info();
    EXPECT_FALSE(ti.flags & CKF_USER_PIN_LOCKED);
    EXPECT_NO_THROW(other->login(pins("5678")));
    EXPECT_TRUE(other->logged_in());
    // A second login is a no-op (the PIN is not asked for again: this one would be wrong).
    EXPECT_NO_THROW(other->login(pins("0000")));
}

TEST_F(TokenTest, NoPinSourceIsAPinErrorWithoutCallingTheToken) {
    auto other = hsm::Token::open(
        hsm::select_token({module_ptr()}, hsm::parse_uri("pkcs11:token=hsm-other")));
    hsm::PinSources none;
    none.use_env = false;
    none.allow_prompt = false;
    ASSERT_FALSE(other->logged_in());
    EXPECT_THROW(other->login(none), hsm::PinError);
    EXPECT_FALSE(other->refresh_info().flags & CKF_USER_PIN_COUNT_LOW);
}

TEST_F(TokenTest, MechanismsIncludeKeyGeneration) {
    CK_SLOT_ID slot = token().info().slot;
    auto mechs = hsm::list_mechanisms(module(), slot);
    bool rsa_gen = false, ec_gen = false;
    for (const auto& m : mechs) {
        if (m.type == CKM_RSA_PKCS_KEY_PAIR_GEN) {
            rsa_gen = true;
            EXPECT_TRUE(m.info.flags & CKF_GENERATE_KEY_PAIR);
            EXPECT_LE(m.info.ulMinKeySize, 2048u);
            EXPECT_GE(m.info.ulMaxKeySize, 4096u);
        }
        if (m.type == CKM_EC_KEY_PAIR_GEN) ec_gen = true;
    }
    EXPECT_TRUE(rsa_gen);
    EXPECT_TRUE(ec_gen);
    EXPECT_TRUE(hsm::has_mechanism(module(), slot, CKM_ECDSA));
    EXPECT_FALSE(hsm::has_mechanism(module(), slot, CKM_VENDOR_DEFINED | 0x7777));
    EXPECT_EQ(hsm::mechanism_name(CKM_RSA_PKCS), "CKM_RSA_PKCS");
    EXPECT_EQ(hsm::mechanism_name(CKM_VENDOR_DEFINED | 0x7777), "CKM_VENDOR_DEFINED+0x7777");
}

TEST_F(TokenTest, EveryMechanismSoftHsmListsHasItsSpecName) {
    // SoftHSM2 2.6.1 lists ~70 mechanisms; 22 of them (DES, GOST, key derivation ...) printed
    // as CKM_0x... before the name table covered all of pkcs11.h.
    auto mechs = hsm::list_mechanisms(module(), token().info().slot);
    ASSERT_GT(mechs.size(), 40u);
    for (const auto& m : mechs) {
        std::string name = hsm::mechanism_name(m.type);
        EXPECT_TRUE(name.starts_with("CKM_") && !name.starts_with("CKM_0x")) << name;
    }
    EXPECT_EQ(hsm::mechanism_name(CKM_GOSTR3411_HMAC), "CKM_GOSTR3411_HMAC");
    EXPECT_EQ(hsm::mechanism_name(CKM_DES_ECB_ENCRYPT_DATA), "CKM_DES_ECB_ENCRYPT_DATA");
    EXPECT_EQ(hsm::mechanism_name(CKM_ECDSA_KEY_PAIR_GEN), "CKM_EC_KEY_PAIR_GEN");  // its alias
    EXPECT_EQ(hsm::mechanism_name(CKM_EDDSA), "CKM_EDDSA");
    EXPECT_EQ(hsm::mechanism_name(CKM_VENDOR_DEFINED), "CKM_VENDOR_DEFINED+0x0");
    EXPECT_EQ(hsm::mechanism_name(0x7ffffff0UL), "CKM_0x7ffffff0");  // no name, not vendor
}

TEST_F(TokenTest, ModuleRegisteredWithP11KitIsFoundByName) {
    // /usr/share/p11-kit/modules/softhsm2.module registers SoftHSM2 as "softhsm2".
    auto m = hsm::Module::load_registered("softhsm2");
    auto t = hsm::select_token({m}, hsm::parse_uri("pkcs11:token=hsm-test"));
    EXPECT_EQ(t.label(), "hsm-test");
    auto all = hsm::load_modules(hsm::ModuleChoice{"", false}, nullptr);
    auto t2 = hsm::select_token(all, hsm::parse_uri("pkcs11:token=hsm-test"));
    EXPECT_EQ(t2.serial(), t.serial());
}

TEST_F(TokenTest, ModuleChoiceOrder) {
    const std::string path = softhsm_module();
    // The URI's module-path wins over an explicit path that does not exist.
    auto uri = hsm::parse_uri("pkcs11:token=hsm-test?module-path=" + path);
    auto mods = hsm::load_modules(hsm::ModuleChoice{"/nonexistent/module.so", false}, &uri);
    ASSERT_EQ(mods.size(), 1u);
    EXPECT_EQ(mods[0]->path(), path);
    // An explicit path that cannot be loaded is an error naming it, not a silent fallback.
    try {
        (void)hsm::load_modules(hsm::ModuleChoice{"/nonexistent/module.so", false}, nullptr);
        ADD_FAILURE() << "loaded a missing module";
    } catch (const hsm::Error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/module.so"), std::string::npos);
    }
    // TOKENSIGN_MODULE is used when nothing more specific is given, and only with use_env.
    setenv("TOKENSIGN_MODULE", path.c_str(), 1);
    auto env = hsm::load_modules(hsm::ModuleChoice{"", true}, nullptr);
    ASSERT_EQ(env.size(), 1u);
    EXPECT_EQ(env[0]->path(), path);
    setenv("TOKENSIGN_MODULE", "/nonexistent/env.so", 1);
    EXPECT_THROW(hsm::load_modules(hsm::ModuleChoice{"", true}, nullptr), hsm::Error);
    EXPECT_NO_THROW(hsm::load_modules(hsm::ModuleChoice{"", false}, nullptr));
    unsetenv("TOKENSIGN_MODULE");
}

TEST_F(TokenTest, OpenTokenThroughConfig) {
    hsm::Config cfg;
    cfg.modules.explicit_path = softhsm_module();
    cfg.modules.use_env = false;
    auto uri = hsm::parse_uri("pkcs11:token=hsm-test");
    auto t = hsm::open_token(cfg, uri);
    EXPECT_EQ(t->info().label(), "hsm-test");
    EXPECT_EQ(t->what(), "token 'hsm-test'");
}

}  // namespace
}  // namespace ts::test
