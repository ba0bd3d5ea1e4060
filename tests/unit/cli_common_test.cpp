// SPDX-License-Identifier: Apache-2.0
// cli/common: global options, their hsm::Config, JSON output.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cli/common.hpp"
#include "hsm/error.hpp"

namespace ts::cli {
namespace {

TEST(CliCommonTest, JsonTextIsOneCompactLineWithEscapesInTheOrderWritten) {
    // Fields stay in the order the command writes them (as before nlohmann-json), not sorted.
    nlohmann::ordered_json j = {{"label", "a\"b\\c\nd\x01"},
                                {"flags", std::vector<std::string>{"x", "y"}}};
    EXPECT_EQ(json_text(j), R"({"label":"a\"b\\c\nd\u0001","flags":["x","y"]})");
    EXPECT_EQ(json_text({{"label", "caf\xc3\xa9"}}), "{\"label\":\"caf\xc3\xa9\"}");
}

TEST(CliCommonTest, JsonTextReplacesBytesThatAreNotUtf8InsteadOfFailing) {
    // A token label is CK_UTF8CHAR, but a broken token may hand over any bytes: --json must
    // still print a valid document.
    EXPECT_EQ(json_text({{"label", "ab\xff"}}), "{\"label\":\"ab\xef\xbf\xbd\"}");
}

TEST(CliCommonTest, GlobalOptionsParseBeforeAndAfterSubcommand) {
    for (bool after : {false, true}) {
        CLI::App app;
        GlobalOptions g;
        setup_global(app, g);
        bool ran = false;
        auto* sub = app.add_subcommand("sub");
        sub->callback([&] { ran = true; });
        std::vector<std::string> args{"--module", "/x/mod.so",   "--pin-source",
                                      "/x/pin",   "--no-prompt", "--allow-final-pin-try"};
        if (after)
            args.insert(args.begin(), "sub");
        else
            args.push_back("sub");
        std::reverse(args.begin(), args.end());  // CLI11 takes argv reversed
        app.parse(args);
        EXPECT_TRUE(ran);
        EXPECT_EQ(g.module, "/x/mod.so");
        EXPECT_EQ(g.pin_source, "/x/pin");
        EXPECT_TRUE(g.no_prompt);
        EXPECT_TRUE(g.allow_final_pin_try);
        hsm::Config cfg = g.hsm_config();
        EXPECT_EQ(cfg.modules.explicit_path, "/x/mod.so");
        EXPECT_TRUE(cfg.modules.use_env);
        EXPECT_EQ(cfg.pin_source, "/x/pin");
        EXPECT_FALSE(cfg.allow_prompt);
        EXPECT_TRUE(cfg.allow_final_try);
        EXPECT_TRUE(cfg.use_env_pin);
    }
}

TEST(CliCommonTest, DefaultsPromptAndKeepLastTry) {
    GlobalOptions g;
    hsm::Config cfg = g.hsm_config();
    EXPECT_TRUE(cfg.allow_prompt);
    EXPECT_FALSE(cfg.allow_final_try);
    EXPECT_TRUE(cfg.modules.explicit_path.empty());
}

TEST(CliCommonTest, SharedHelpTextIsOnTheTopLevelAndOneLineElsewhere) {
    CLI::App app;
    GlobalOptions g;
    setup_global(app, g);
    auto* sub = app.add_subcommand("sub", "a subcommand");
    int days = 0;
    std::string serial;
    sub->add_option("--days", days, "validity in days");
    sub->add_option("--serial", serial, "first serial")
        ->check(CLI::Validator([](const std::string&) { return std::string(); }, "HEX"));
    finish_cli(app);
    std::string top = app.help();
    for (const char* s : {"TOKENSIGN_PIN", "pin-source", "pkcs11:", "Exit codes", "--module",
                          "4 PIN", "3 no token"}) {
        EXPECT_NE(top.find(s), std::string::npos) << s;
    }
    std::string help = sub->help();
    EXPECT_NE(help.find("tokensign --help"), std::string::npos) << help;
    EXPECT_EQ(help.find("Exit codes"), std::string::npos) << help;
    EXPECT_EQ(help.find("TOKENSIGN_PIN"), std::string::npos) << help;
    // finish_cli names placeholders for what to type, also for options added before it.
    EXPECT_NE(help.find("--days N"), std::string::npos) << help;
    EXPECT_NE(help.find("--serial SERIAL "), std::string::npos) << help;
    EXPECT_EQ(help.find("TEXT"), std::string::npos) << help;
    EXPECT_EQ(help.find(":HEX"), std::string::npos) << help;
}

TEST(CliCommonTest, ParseCliUriNamesTheArgumentAndHidesThePin) {
    EXPECT_EQ(parse_cli_uri("pkcs11:token=a", "--token").token(), "a");
    try {
        (void)parse_cli_uri("token=a?pin-value=hunter2", "--token");
        ADD_FAILURE() << "accepted a non-URI";
    } catch (const hsm::UriError& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("--token"), std::string::npos) << m;
        EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
    }
    try {
        (void)parse_cli_uri("pkcs11:tokn=a?pin-value=hunter2", "KEY-URI");
        ADD_FAILURE() << "accepted a bad URI";
    } catch (const hsm::UriError& e) {
        std::string m = e.what();
        EXPECT_NE(m.find("KEY-URI"), std::string::npos) << m;
        EXPECT_NE(m.find("tokn"), std::string::npos) << m;
        EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
    }
}

}  // namespace
}  // namespace ts::cli
