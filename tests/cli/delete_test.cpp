// SPDX-License-Identifier: Apache-2.0
// tokensign key delete | cert delete: what is listed is what goes, nothing goes unconfirmed,
// and a CA configuration naming the key is warned about. Objects are counted with pkcs11-tool.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/cli/cli_fixture.hpp"
#include "tests/cli/tty_script.hpp"

namespace ts::test {
namespace {

class DeleteTest : public CliTest {
  protected:
    /// A CA key pair with its root certificate stored beside it (label `label`, one CKA_ID),
    /// and the CA directory `ca init` wrote.
    static std::string make_ca(const std::string& label) {
        std::string dir = file("ca-" + label);
        ok({"ca", "init", "--dir", dir, "--key", token_uri(";object=" + label), "--generate",
            "ec:p-256", "--subject", "/O=Test/CN=" + label, "--store-cert"});
        return dir;
    }
    /// How many objects labelled `label` pkcs11-tool lists (any class).
    static int objects_labelled(const std::string& label) {
        auto r = pkcs11_tool({"--list-objects"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        int n = 0;
        for (std::size_t at = 0;
             (at = r.out.find("label:      " + label + "\n", at)) != std::string::npos; ++at)
            ++n;
        return n;
    }
    static RunResult ts_no_tty(std::vector<std::string> args, const std::string& input = "") {
        args.insert(args.begin(), {"setsid", "-w", cli_path()});
        return run(args, {{"SOFTHSM2_CONF", softhsm().conf()}, {"TOKENSIGN_PIN", kPin}}, input);
    }
};

TEST_F(DeleteTest, KeyDeleteDestroysThePairAndItsCertificateAfterListingThem) {
    make_ca("ca1");
    ok({"key", "generate", "--token", token_uri(), "--type", "ec:p-256", "--label", "keep"});
    ASSERT_EQ(objects_labelled("ca1"), 3);
    auto r = ok({"key", "delete", token_uri(";object=ca1"), "--yes"});
    EXPECT_TRUE(contains(r.err, "permanently destroys 3 objects")) << r.err;
    EXPECT_TRUE(contains(r.err, "private key (EC) 'ca1'")) << r.err;
    EXPECT_TRUE(contains(r.err, "public key (EC) 'ca1'")) << r.err;
    EXPECT_TRUE(contains(r.err, "certificate 'ca1'")) << r.err;
    EXPECT_TRUE(contains(r.err, "CN=ca1")) << r.err;
    EXPECT_EQ(objects_labelled("ca1"), 0);
    EXPECT_EQ(objects_labelled("keep"), 2) << "another key must not be touched";
}

TEST_F(DeleteTest, KeepCertificatesKeepsThem) {
    make_ca("ca2");
    ok({"key", "delete", token_uri(";object=ca2"), "--yes", "--keep-certificates"});
    EXPECT_EQ(objects_labelled("ca2"), 1);
    EXPECT_TRUE(contains(ok({"cert", "list", token_uri()}).out, "certificate 'ca2'"));
}

TEST_F(DeleteTest, WithoutYesAndWithoutATerminalNothingIsDeleted) {
    make_ca("ca3");
    // Even "yes" on stdin is no confirmation: stdin may carry data.
    auto r = ts_no_tty({"key", "delete", token_uri(";object=ca3")}, "yes\n");
    EXPECT_EQ(r.exit_code, 8) << r.err;
    EXPECT_TRUE(contains(r.err, "--yes")) << r.err;
    EXPECT_EQ(objects_labelled("ca3"), 3);
    auto c = ts_no_tty({"cert", "delete", token_uri(";object=ca3")}, "yes\n");
    EXPECT_EQ(c.exit_code, 8) << c.err;
    EXPECT_EQ(objects_labelled("ca3"), 3);
}

TEST_F(DeleteTest, TheTerminalAnswerMustBeYes) {
    make_ca("ca4");
    std::vector<std::string> args{cli_path(), "key", "delete", token_uri(";object=ca4")};
    const std::map<std::string, std::string> env{{"SOFTHSM2_CONF", softhsm().conf()},
                                                 {"TOKENSIGN_PIN", kPin}};
    auto no = run_on_tty_script(args, {{"Type 'yes' to destroy them: ", "y"}}, env);
    EXPECT_EQ(no.exit_code, 8) << no.screen;
    EXPECT_EQ(objects_labelled("ca4"), 3);
    auto yes = run_on_tty_script(args, {{"Type 'yes' to destroy them: ", "yes"}}, env);
    EXPECT_EQ(yes.exit_code, 0) << yes.screen;
    EXPECT_EQ(objects_labelled("ca4"), 0);
}

TEST_F(DeleteTest, DeletingAKeyACaConfigNamesWarns) {
    std::string dir = make_ca("ca5");
    ok({"key", "generate", "--token", token_uri(), "--type", "ec:p-256", "--label", "plain"});
    // --ca-config given: that configuration is checked.
    auto other = ok({"key", "delete", token_uri(";object=plain"), "--yes", "--ca-config",
                     dir + "/openssl.cnf"});
    EXPECT_FALSE(contains(other.err, "WARNING")) << other.err;
    // Run from the CA directory: its openssl.cnf is checked without being named.
    auto r = run({"/bin/sh", "-c", "cd \"$1\" && exec \"$2\" key delete \"$3\" --yes", "sh", dir,
                  cli_path(), token_uri(";object=ca5")},
                 {{"SOFTHSM2_CONF", softhsm().conf()}, {"TOKENSIGN_PIN", kPin}});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.err,
                         "WARNING: a CA still uses this key: openssl.cnf, section "
                         "[CA_default]"))
        << r.err;
    EXPECT_TRUE(contains(r.err, "can no longer sign")) << r.err;
    EXPECT_EQ(objects_labelled("ca5"), 0);
}

TEST_F(DeleteTest, DeclinedDeleteStillShowsTheCaWarning) {
    std::string dir = make_ca("ca6");
    auto r =
        ts_no_tty({"key", "delete", token_uri(";object=ca6"), "--ca-config", dir + "/openssl.cnf"});
    EXPECT_EQ(r.exit_code, 8) << r.err;
    EXPECT_TRUE(contains(r.err, dir + "/openssl.cnf, section [CA_default]")) << r.err;
    EXPECT_EQ(objects_labelled("ca6"), 3);
}

TEST_F(DeleteTest, CertDeleteDestroysOnlyTheCertificate) {
    make_ca("ca7");
    auto r = ok({"cert", "delete", token_uri(";object=ca7"), "--yes"});
    EXPECT_TRUE(contains(r.err, "permanently destroys 1 object")) << r.err;
    EXPECT_TRUE(contains(r.err, "subject CN=ca7,O=Test")) << r.err;
    EXPECT_EQ(objects_labelled("ca7"), 2);
    EXPECT_TRUE(contains(ok({"key", "list", token_uri()}).out, "label 'ca7'"));
    EXPECT_FALSE(contains(ok({"cert", "list", token_uri()}).out, "'ca7'"));
}

TEST_F(DeleteTest, SeveralMatchesOrNoneAreSelectionErrors) {
    make_ca("ca8");
    make_ca("ca9");
    // No object= : both certificates match; nothing is deleted.
    auto several = ts({"cert", "delete", token_uri(), "--yes"}, {{"TOKENSIGN_PIN", kPin}});
    EXPECT_EQ(several.exit_code, 3) << several.err;
    EXPECT_EQ(objects_labelled("ca8"), 3);
    EXPECT_EQ(objects_labelled("ca9"), 3);
    auto none =
        ts({"key", "delete", token_uri(";object=nothing"), "--yes"}, {{"TOKENSIGN_PIN", kPin}});
    EXPECT_EQ(none.exit_code, 3) << none.err;
    auto wrong_type = ts({"cert", "delete", token_uri(";object=ca8;type=private"), "--yes"},
                         {{"TOKENSIGN_PIN", kPin}});
    EXPECT_EQ(wrong_type.exit_code, 2) << wrong_type.err;
}

}  // namespace
}  // namespace ts::test
