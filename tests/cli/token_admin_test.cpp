// SPDX-License-Identifier: Apache-2.0
// tokensign token init | change-pin | unlock against a fresh SoftHSM2 per suite, checked with
// softhsm2-util and by logging in with the PINs that should (and should not) work now.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/cli/cli_fixture.hpp"
#include "tests/cli/tty_script.hpp"

namespace ts::test {
namespace {

// Every command names SoftHSM2's module: `token init` without a URI takes the one blank token
// of the modules searched, which must never be a real token of the machine running the tests.
class TokenAdminTest : public CliTest {
  protected:
    static constexpr const char* kSoPin = "123456";  // SoftHsm::add_token's SO PIN

    /// `key list` on token `label` with `pin`: its exit code.
    static int login_with(const std::string& label, const std::string& pin) {
        return ts({"key", "list", "pkcs11:token=" + label}, {{"TOKENSIGN_PIN", pin}}).exit_code;
    }
    /// What softhsm2-util, not tokensign, says about the slots.
    static std::string show_slots() { return tool({"softhsm2-util", "--show-slots"}).out; }
    static std::string pin_file(const std::string& pin) { return softhsm().pin_file(pin); }
    static RunResult generate(const std::string& label, const std::string& pin,
                              const std::string& key = "k") {
        return ts({"key", "generate", "--token", "pkcs11:token=" + label, "--type", "ec:p-256",
                   "--label", key},
                  {{"TOKENSIGN_PIN", pin}});
    }
    /// tokensign without a controlling terminal (setsid), even when the tests run in one: what
    /// a script under cron or CI sees. `input` goes to its stdin.
    static RunResult ts_no_tty(std::vector<std::string> args, const std::string& input = "") {
        args.insert(args.begin(), {"setsid", "-w", cli_path(), "--module", softhsm_module()});
        return run(args, {{"SOFTHSM2_CONF", softhsm().conf()}}, input);
    }
    static std::vector<std::string> tty_args(std::vector<std::string> args) {
        args.insert(args.begin(), cli_path());
        return args;
    }
};

TEST_F(TokenAdminTest, InitOnTheSpareTokenThenTheNewUserPinLogsInAndGeneratesAKey) {
    // SoftHSM2 moves a token to a new slot id when it is initialised: the next process must
    // still find it by label, log in with the new PIN and generate a key on it.
    auto r = ts({"--module", softhsm_module(), "token", "init", "--label", "fresh",
                 "--so-pin-source", pin_file("87654321"), "--new-pin-source", pin_file("24680")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "Initialised token 'fresh'")) << r.out;
    std::string slots = show_slots();
    auto at = slots.find("Label:            fresh");
    ASSERT_NE(at, std::string::npos) << slots;
    auto block = slots.substr(slots.rfind("Token info:", at), at - slots.rfind("Token info:", at));
    EXPECT_TRUE(contains(block, "Initialized:      yes")) << block;
    EXPECT_TRUE(contains(block, "User PIN init.:   yes")) << block;

    EXPECT_EQ(login_with("fresh", "24680"), 0);
    EXPECT_EQ(login_with("fresh", "87654321"), 4) << "the SO PIN must not be the user PIN";
    auto g = generate("fresh", "24680");
    EXPECT_EQ(g.exit_code, 0) << g.err;
    // And the SO PIN that was set is the SO PIN: it resets the user PIN.
    auto u = ts({"--module", softhsm_module(), "token", "unlock", "pkcs11:token=fresh"},
                {{"TOKENSIGN_SO_PIN", "87654321"}, {"TOKENSIGN_NEW_PIN", "13579"}});
    EXPECT_EQ(u.exit_code, 0) << u.err;
    EXPECT_EQ(login_with("fresh", "13579"), 0);
}

TEST_F(TokenAdminTest, InitializedTokenIsRefusedWithoutReinitialize) {
    ASSERT_EQ(generate(kToken, kPin).exit_code, 0);
    auto r = ts({"--module", softhsm_module(), "token", "init", token_uri(), "--label", "x",
                 "--so-pin-source", pin_file(kSoPin), "--new-pin-source", pin_file("9999")});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_TRUE(contains(r.err, "already initialised")) << r.err;
    EXPECT_TRUE(contains(r.err, "--reinitialize")) << r.err;
    EXPECT_EQ(login_with(kToken, kPin), 0);
    EXPECT_TRUE(contains(ok({"key", "list", token_uri()}).out, "label 'k'"));
}

TEST_F(TokenAdminTest, ReinitializeNeedsTheCurrentLabelConfirmed) {
    ASSERT_EQ(generate(kToken, kPin).exit_code, 0);
    // ts_no_tty names the module; `right` below adds it.
    const std::vector<std::string> base{"token",          "init",
                                        token_uri(),      "--label",
                                        "renewed",        "--so-pin-source",
                                        pin_file(kSoPin), "--new-pin-source",
                                        pin_file("9999"), "--reinitialize"};
    // No terminal (the test runs without one) and no --confirm-label: declined, exit 8.
    auto none = ts_no_tty(base);
    EXPECT_EQ(none.exit_code, 8) << none.err;
    EXPECT_TRUE(contains(none.err, "--confirm-label 'cli-test'")) << none.err;
    // The label on stdin is not a confirmation: stdin may carry anything.
    auto in = ts_no_tty(base, std::string(kToken) + "\n");
    EXPECT_EQ(in.exit_code, 8) << in.err;
    auto wrong = ts_no_tty([&] {
        auto a = base;
        a.insert(a.end(), {"--confirm-label", "cli-other"});
        return a;
    }());
    EXPECT_EQ(wrong.exit_code, 8) << wrong.err;
    // Nothing was changed by any of them.
    EXPECT_EQ(login_with(kToken, kPin), 0);
    EXPECT_TRUE(contains(ok({"key", "list", token_uri()}).out, "label 'k'"));

    auto right = ts([&] {
        auto a = base;
        a.insert(a.begin(), {"--module", softhsm_module()});
        a.insert(a.end(), {"--confirm-label", kToken});
        return a;
    }());
    ASSERT_EQ(right.exit_code, 0) << right.err;
    EXPECT_TRUE(contains(right.out, "Reinitialised token 'renewed'")) << right.out;
    EXPECT_EQ(login_with("renewed", "9999"), 0);
    auto keys = ts({"key", "list", "pkcs11:token=renewed"}, {{"TOKENSIGN_PIN", "9999"}});
    EXPECT_TRUE(contains(keys.out, "0 key objects")) << keys.out;
    EXPECT_EQ(generate("renewed", "9999").exit_code, 0);
}

TEST_F(TokenAdminTest, ReinitializeConfirmationIsTypedOnTheTerminal) {
    ASSERT_EQ(generate(kToken, kPin).exit_code, 0);
    std::vector<std::string> args =
        tty_args({"--module", softhsm_module(), "token", "init", token_uri(), "--label", "renewed",
                  "--so-pin-source", pin_file(kSoPin), "--new-pin-source", pin_file("9999"),
                  "--reinitialize"});
    const std::map<std::string, std::string> env{{"SOFTHSM2_CONF", softhsm().conf()}};
    auto no = run_on_tty_script(args, {{"current label 'cli-test'", "cli-tes"}}, env);
    EXPECT_EQ(no.exit_code, 8) << no.screen;
    EXPECT_TRUE(contains(no.screen, "destroys EVERY object")) << no.screen;
    EXPECT_EQ(login_with(kToken, kPin), 0);

    auto yes = run_on_tty_script(args, {{"current label 'cli-test'", kToken}}, env);
    EXPECT_EQ(yes.exit_code, 0) << yes.screen;
    EXPECT_EQ(login_with("renewed", "9999"), 0);
}

TEST_F(TokenAdminTest, NewPinsArePromptedTwiceWithEchoOff) {
    const std::map<std::string, std::string> env{{"SOFTHSM2_CONF", softhsm().conf()}};
    auto args = tty_args({"--module", softhsm_module(), "token", "init", "--label", "typed"});
    // Different second entry: refused, the token stays blank.
    auto differ = run_on_tty_script(
        args, {{"new SO PIN for the token: ", "11112222"}, {"again: ", "11112223"}}, env);
    EXPECT_EQ(differ.exit_code, 4) << differ.screen;
    EXPECT_TRUE(contains(differ.screen, "differ")) << differ.screen;
    EXPECT_FALSE(contains(show_slots(), "Label:            typed"));

    auto r = run_on_tty_script(args,
                               {{"new SO PIN for the token: ", "11112222"},
                                {"again: ", "11112222"},
                                {"new user PIN for token 'typed': ", "33334444"},
                                {"again: ", "33334444"}},
                               env);
    EXPECT_EQ(r.exit_code, 0) << r.screen;
    ASSERT_EQ(r.answered, 4u) << r.screen;
    for (bool off : r.echo_off) EXPECT_TRUE(off) << r.screen;
    EXPECT_FALSE(contains(r.screen, "11112222")) << r.screen;
    EXPECT_FALSE(contains(r.screen, "33334444")) << r.screen;
    EXPECT_EQ(login_with("typed", "33334444"), 0);
}

TEST_F(TokenAdminTest, NoPinSourceAndNoPromptLeavesTheTokenBlank) {
    auto r = ts_no_tty({"--no-prompt", "token", "init", "--label", "blank"});
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_TRUE(contains(r.err, "--so-pin-source")) << r.err;
    EXPECT_FALSE(contains(show_slots(), "Label:            blank"));
}

TEST_F(TokenAdminTest, BadLabelsAreUsageErrorsAndADuplicateLabelIsRefused) {
    auto too_long =
        ts({"--module", softhsm_module(), "token", "init", "--label", std::string(33, 'x')});
    EXPECT_EQ(too_long.exit_code, 2) << too_long.err;
    auto spaced = ts({"--module", softhsm_module(), "token", "init", "--label", "trailing "});
    EXPECT_EQ(spaced.exit_code, 2) << spaced.err;
    auto dup = ts({"--module", softhsm_module(), "token", "init", "--label", kOther,
                   "--so-pin-source", pin_file("87654321"), "--new-pin-source", pin_file("24680")});
    EXPECT_EQ(dup.exit_code, 3) << dup.err;
    EXPECT_TRUE(contains(dup.err, "already labelled 'cli-other'")) << dup.err;
    EXPECT_TRUE(contains(show_slots(), "Initialized:      no")) << "the spare must stay blank";
}

TEST_F(TokenAdminTest, ChangePinReplacesTheUserPin) {
    auto wrong = ts({"--module", softhsm_module(), "token", "change-pin", token_uri()},
                    {{"TOKENSIGN_PIN", "0000"}, {"TOKENSIGN_NEW_PIN", "4444"}});
    EXPECT_EQ(wrong.exit_code, 4) << wrong.err;
    EXPECT_EQ(login_with(kToken, kPin), 0);

    auto r = ts({"--module", softhsm_module(), "token", "change-pin", token_uri(),
                 "--new-pin-source", pin_file("4444")},
                {{"TOKENSIGN_PIN", kPin}});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(login_with(kToken, kPin), 4);
    EXPECT_EQ(login_with(kToken, "4444"), 0);
    // The other token is untouched.
    EXPECT_EQ(login_with(kOther, kOtherPin), 0);
}

TEST_F(TokenAdminTest, ChangeSoPinThenOnlyTheNewSoPinUnlocks) {
    auto r = ts({"--module", softhsm_module(), "token", "change-pin", "--so", token_uri(),
                 "--so-pin-source", pin_file(kSoPin), "--new-pin-source", pin_file("55556666")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "SO PIN")) << r.out;
    auto old_so = ts({"--module", softhsm_module(), "token", "unlock", token_uri()},
                     {{"TOKENSIGN_SO_PIN", kSoPin}, {"TOKENSIGN_NEW_PIN", "7777"}});
    EXPECT_EQ(old_so.exit_code, 4) << old_so.err;
    EXPECT_EQ(login_with(kToken, kPin), 0) << "a refused unlock must not change the user PIN";
    auto new_so = ts({"--module", softhsm_module(), "token", "unlock", token_uri()},
                     {{"TOKENSIGN_SO_PIN", "55556666"}, {"TOKENSIGN_NEW_PIN", "7777"}});
    EXPECT_EQ(new_so.exit_code, 0) << new_so.err;
    EXPECT_EQ(login_with(kToken, "7777"), 0);
}

TEST_F(TokenAdminTest, UnlockSetsANewUserPinAndKeepsTheKeys) {
    ASSERT_EQ(generate(kToken, kPin).exit_code, 0);
    // Wrong PINs until SoftHSM2 reports the count low (it does not lock; a real token would).
    for (int i = 0; i < 3; ++i) EXPECT_EQ(login_with(kToken, "0000"), 4);
    auto r = ts({"--module", softhsm_module(), "token", "unlock", token_uri(), "--so-pin-source",
                 pin_file(kSoPin), "--new-pin-source", pin_file("8888")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(login_with(kToken, kPin), 4);
    EXPECT_EQ(login_with(kToken, "8888"), 0);
    auto keys = ts({"key", "list", token_uri()}, {{"TOKENSIGN_PIN", "8888"}});
    EXPECT_TRUE(contains(keys.out, "label 'k'")) << keys.out;
    auto flags = ok({"token", "list", token_uri()}).out;
    EXPECT_FALSE(contains(flags, "user-pin-count-low")) << flags;
}

TEST_F(TokenAdminTest, ANewPinOutsideTheTokensLengthsIsRefusedBeforeTheTokenIsTouched) {
    // SoftHSM2 allows 4 to 255 characters.
    auto r = ts({"--module", softhsm_module(), "token", "init", "--label", "short",
                 "--so-pin-source", pin_file("87654321"), "--new-pin-source", pin_file("12")});
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_TRUE(contains(r.err, "must be 4 to 255 characters")) << r.err;
    EXPECT_FALSE(contains(show_slots(), "Label:            short"));
    auto c = ts({"--module", softhsm_module(), "token", "change-pin", token_uri(),
                 "--new-pin-source", pin_file("123")},
                {{"TOKENSIGN_PIN", kPin}});
    EXPECT_EQ(c.exit_code, 4) << c.err;
    EXPECT_EQ(login_with(kToken, kPin), 0);
}

TEST_F(TokenAdminTest, ALockedSoPinIsNotTriedAndTheFinalTryNeedsTheFlag) {
    // SoftHSM2 never locks a PIN: the fault module reports the flags a real token would. The
    // SO PIN given is the right one, so a C_Login that happened anyway would succeed.
    std::map<std::string, std::string> env{{"TS_FAULT_TARGET", softhsm_module()},
                                           {"TOKENSIGN_SO_PIN", kSoPin},
                                           {"TOKENSIGN_NEW_PIN", "2468"}};
    const std::vector<std::string> unlock{"--module", fault_module(), "token", "unlock",
                                          token_uri()};
    env["TS_FAULT_TOKEN_FLAGS"] = "0x00400000";  // CKF_SO_PIN_LOCKED
    auto locked = ts(unlock, env);
    EXPECT_EQ(locked.exit_code, 4) << locked.err;
    EXPECT_TRUE(contains(locked.err, "locked (not attempted)")) << locked.err;
    EXPECT_EQ(login_with(kToken, kPin), 0) << "the user PIN must be unchanged";

    env["TS_FAULT_TOKEN_FLAGS"] = "0x00200000";  // CKF_SO_PIN_FINAL_TRY
    auto final_try = ts(unlock, env);
    EXPECT_EQ(final_try.exit_code, 4) << final_try.err;
    EXPECT_TRUE(contains(final_try.err, "--allow-final-pin-try")) << final_try.err;
    EXPECT_EQ(login_with(kToken, kPin), 0);
    auto allowed = ts(
        [&] {
            auto a = unlock;
            a.push_back("--allow-final-pin-try");
            return a;
        }(),
        env);
    EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
    EXPECT_EQ(login_with(kToken, "2468"), 0);
}

}  // namespace
}  // namespace ts::test
