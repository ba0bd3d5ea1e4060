// SPDX-License-Identifier: Apache-2.0
// Command-line mistakes: each is exit 2 (usage) with a message that names what was wrong and
// says what to do, never echoing a PIN; and the locked-PIN message, which must not claim a
// login that was never made.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "tests/cli/cli_fixture.hpp"

namespace ts::test {
namespace {

std::size_t occurrences(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
    return n;
}

class CliUsageTest : public CliTest {};

TEST_F(CliUsageTest, AnUnknownCommandIsNamedWithTheChoices) {
    auto r = ts({"frobnicate"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "'frobnicate' is not a command of 'tokensign'")) << r.err;
    EXPECT_TRUE(contains(r.err, "token, key, cert, ca")) << r.err;
    EXPECT_FALSE(contains(r.err, "A subcommand is required")) << r.err;

    auto sub = ts({"ca", "frob"});
    EXPECT_EQ(sub.exit_code, 2) << sub.err;
    EXPECT_TRUE(contains(sub.err, "'frob' is not a command of 'tokensign ca'")) << sub.err;
    EXPECT_TRUE(contains(sub.err, "init, sign, revoke, gencrl, list, status")) << sub.err;
    EXPECT_TRUE(contains(sub.err, "tokensign ca --help")) << sub.err;
}

TEST_F(CliUsageTest, AMissingCommandListsTheChoices) {
    auto r = ts({});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "'tokensign' needs a command: token, key, cert, ca")) << r.err;
    auto ca = ts({"ca"});
    EXPECT_EQ(ca.exit_code, 2) << ca.err;
    EXPECT_TRUE(contains(ca.err, "'tokensign ca' needs a command: init, sign")) << ca.err;
}

TEST_F(CliUsageTest, APinFlagPointsAtPinSourceAndIsNeverEchoed) {
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"--pin", "98761", "token", "list"},
          std::vector<std::string>{"key", "list", token_uri(), "--pin=98761"},
          std::vector<std::string>{"ca", "sign", "--config", "x.cnf", "--in", "a.csr", "--pin",
                                   "98761"}}) {
        auto r = ts(args);
        EXPECT_EQ(r.exit_code, 2) << r.err;
        EXPECT_TRUE(contains(r.err, "there is no --pin option")) << r.err;
        EXPECT_TRUE(contains(r.err, "--pin-source FILE")) << r.err;
        EXPECT_TRUE(contains(r.err, "TOKENSIGN_PIN")) << r.err;
        EXPECT_FALSE(contains(r.err + r.out, "98761")) << r.err;
    }
}

TEST_F(CliUsageTest, AnUnknownOptionOrArgumentIsNamedWithItsCommand) {
    auto r = ts({"ca", "sign", "--config", "x.cnf", "--inn", "a.csr"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "unknown option '--inn' for 'tokensign ca sign'")) << r.err;
    EXPECT_TRUE(contains(r.err, "see 'tokensign ca sign --help'")) << r.err;

    auto extra = ts({"ca", "list", "--config", "x.cnf", "stray"});
    EXPECT_EQ(extra.exit_code, 2) << extra.err;
    EXPECT_TRUE(contains(extra.err, "unexpected argument 'stray' for 'tokensign ca list'"))
        << extra.err;

    // A stray URI may carry a PIN: it is not shown.
    auto uri = ts({"key", "list", token_uri(), token_uri("?pin-value=98761")});
    EXPECT_EQ(uri.exit_code, 2) << uri.err;
    EXPECT_TRUE(contains(uri.err, "unexpected argument")) << uri.err;
    EXPECT_FALSE(contains(uri.err, "98761")) << uri.err;
}

TEST_F(CliUsageTest, RevokeNeedsExactlyOneOfCertOrSerialAsAUsageError) {
    // The check comes before the configuration is read: no CA is needed to see it.
    auto none = ts({"ca", "revoke", "--config", file("no-such.cnf")});
    EXPECT_EQ(none.exit_code, 2) << none.err;
    EXPECT_TRUE(contains(none.err, "give exactly one of --cert FILE or --serial HEX")) << none.err;
    EXPECT_TRUE(contains(none.err, "neither was given")) << none.err;
    EXPECT_TRUE(contains(none.err, "tokensign ca revoke --help")) << none.err;

    auto both =
        ts({"ca", "revoke", "--config", file("no-such.cnf"), "--cert", "c.pem", "--serial", "10"});
    EXPECT_EQ(both.exit_code, 2) << both.err;
    EXPECT_TRUE(contains(both.err, "not both")) << both.err;
}

// A token whose flags say the user PIN is locked (tests/fault sets CKF_USER_PIN_LOCKED; SoftHSM2
// itself never locks): refused from the flags, with no C_Login, and the message says so without
// also claiming "C_Login failed".
TEST_F(CliUsageTest, ALockedPinIsRefusedWithoutALoginAndSaysSo) {
    const std::string log = file("locked-spy.log");
    // pkcs11-spy -> tests/fault (PIN locked) -> SoftHSM2.
    const std::map<std::string, std::string> env{{"PKCS11SPY", fault_module()},
                                                 {"PKCS11SPY_OUTPUT", log},
                                                 {"TS_FAULT_TARGET", softhsm_module()},
                                                 {"TS_FAULT_PIN_LOCKED", "1"},
                                                 {"TOKENSIGN_PIN", kPin}};
    std::string spy;
    std::istringstream files(run({"dpkg", "-L", "opensc-pkcs11"}).out);
    for (std::string line; std::getline(files, line);)
        if (line.ends_with("/pkcs11-spy.so") && access(line.c_str(), R_OK) == 0) spy = line;
    ASSERT_FALSE(spy.empty()) << "OpenSC's pkcs11-spy.so is not installed: run "
                                 "scripts/install-deps.sh (package opensc-pkcs11)";
    auto locked = ts({"--module", spy, "key", "list", token_uri()}, env);
    EXPECT_EQ(locked.exit_code, 4) << locked.err;
    EXPECT_TRUE(contains(locked.err, "is locked")) << locked.err;
    EXPECT_TRUE(contains(locked.err, "did not try to log in")) << locked.err;
    EXPECT_TRUE(contains(locked.err, "security officer must unlock it")) << locked.err;
    EXPECT_TRUE(contains(locked.err, "CKR_PIN_LOCKED")) << locked.err;
    EXPECT_FALSE(contains(locked.err, "not attempted")) << locked.err;
    EXPECT_FALSE(contains(locked.err, "C_Login failed")) << locked.err;
    std::string calls = read_file(log);
    ASSERT_FALSE(calls.empty()) << "pkcs11-spy wrote no log: was it loaded?";
    EXPECT_EQ(occurrences(calls, "C_Login"), 0u) << calls;
}

}  // namespace
}  // namespace ts::test
