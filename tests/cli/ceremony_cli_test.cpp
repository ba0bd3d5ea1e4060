// SPDX-License-Identifier: Apache-2.0
// tokensign ceremony lint and verify through the built binary: exit codes, what the officer and
// the auditor read, and --json.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "signer/ceremony/transcript.hpp"
#include "tests/cli/cli_fixture.hpp"
#include "tests/signer/ceremony_test_util.hpp"

namespace ts::test {
namespace {

const std::string kExample = std::string(TS_TEST_SOURCE_DIR) + "/docs/examples/root-ceremony.yaml";

using CeremonyCliTest = CliTest;

TEST_F(CeremonyCliTest, LintOfTheExamplePrintsThePlanAndExitsZero) {
    auto r = ts({"ceremony", "lint", kExample});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "Ceremony: Example Root CA 2027 key ceremony\n")) << r.out;
    EXPECT_TRUE(contains(r.out,
                         "\n1. Generate an RSA 4096-bit key pair labelled 'root-2027' on "
                         "token 'root-hsm' (pkcs11:token=root-hsm)"))
        << r.out;
    EXPECT_TRUE(contains(r.out, "\n8. Create the CA directory root-ca/")) << r.out;
    EXPECT_TRUE(contains(r.out,
                         "Check that the input issuing-ca-1.csr has SHA-256 "
                         "e1dda03e7c8fc2ef43bde4ecd564082df8ce1f5ba1e96d9469e9c7563ac846fc."))
        << r.out;
}

TEST_F(CeremonyCliTest, LintJsonListsThePlan) {
    auto r = ts({"ceremony", "lint", "--json", kExample});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["ok"], true);
    ASSERT_EQ(j["plan"].size(), 8u);
    EXPECT_EQ(j["plan"][3]["step"], "intermediate");
    EXPECT_EQ(j["plan"][3]["id"], "issuing-1");
    EXPECT_EQ(j["errors"].size(), 0u);
}

TEST_F(CeremonyCliTest, LintRefusalsExitSixWithFileLineAndColumn) {
    std::string text = read_file(kExample);
    text.replace(text.find("digest: sha384"), 14, "digest: sha1");
    write_file(file("weak.yaml"), text);
    for (const char* name : {"issuing-ca-1.csr", "partner-root.crt"})
        std::filesystem::copy_file(std::filesystem::path(kExample).parent_path() / name, file(name),
                                   std::filesystem::copy_options::overwrite_existing);
    auto r = ts({"ceremony", "lint", file("weak.yaml")});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_TRUE(contains(r.err, file("weak.yaml") + ":27:5: step 'root-cert': digest 'sha1' is "
                                                    "refused"))
        << r.err;
    EXPECT_TRUE(r.out.empty()) << "a plan was printed for a refused file: " << r.out;
    r = ts({"ceremony", "lint", "--json", file("weak.yaml")});
    EXPECT_EQ(r.exit_code, 6);
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["ok"], false);
    EXPECT_EQ(j["errors"][0]["line"], 27);

    write_file(file("dup.yaml"), "tokensign-ceremony: 1\ntokensign-ceremony: 1\n");
    r = ts({"ceremony", "lint", file("dup.yaml")});
    EXPECT_EQ(r.exit_code, 6);
    EXPECT_TRUE(contains(r.err, file("dup.yaml") + ":2:1: duplicate key 'tokensign-ceremony'"))
        << r.err;
    r = ts({"ceremony", "lint", file("absent.yaml")});
    EXPECT_EQ(r.exit_code, 6);
    EXPECT_TRUE(contains(r.err, "cannot read the ceremony file")) << r.err;
}

TEST_F(CeremonyCliTest, VerifyChecksTheChainOutputsAndPaperHead) {
    const std::string dir = file("verify-out");
    signer::ceremony::Head head;
    {
        signer::ceremony::TranscriptWriter w(dir);
        w.append("begin", {{"tool", "tokensign"},
                           {"mode", "run"},
                           {"file", "x.yaml"},
                           {"file_sha256", std::string(64, 'a')}});
        w.write_output("root.pem", "root", "root-cert");
        head = finish_transcript(w, end_complete(1));
    }
    auto r = ts({"ceremony", "verify", dir, "--head", head.words});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.out,
                         "Verified: the records, outputs, signatures, chain and the head from "
                         "the paper log match."))
        << r.out;
    EXPECT_TRUE(contains(r.out, "Head: " + head.hex)) << r.out;

    r = ts({"ceremony", "verify", "--json", dir});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["head"], head.hex);
    EXPECT_EQ(j["records"], 3);
    EXPECT_EQ(j["status"], "complete");
    EXPECT_EQ(j["signatures"], 0);
    EXPECT_EQ(j["chain"]["ok"], true);

    write_file(dir + "/root.pem", "r00t");
    r = ts({"ceremony", "verify", dir});
    EXPECT_EQ(r.exit_code, 6);
    EXPECT_TRUE(contains(r.err, "tokensign: verify: output root.pem has SHA-256")) << r.err;
    write_file(dir + "/root.pem", "root");
    r = ts({"ceremony", "verify", dir, "--head", "aardvark adroitness"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "--head: the head has 2 words; expected 32 PGP words")) << r.err;
    std::string other = head.hex;
    other[5] = other[5] == 'a' ? 'b' : 'a';
    r = ts({"ceremony", "verify", dir, "--head", other});
    EXPECT_EQ(r.exit_code, 6);
    EXPECT_TRUE(contains(r.err, "is not the transcript's head")) << r.err;
}

TEST_F(CeremonyCliTest, VerifyReportsAStopAndChecksTheLinkWithPrevious) {
    const std::string prev = file("verify-prev");
    signer::ceremony::Head head;
    {
        signer::ceremony::TranscriptWriter w(prev);
        w.append("begin", {{"tool", "tokensign"},
                           {"mode", "run"},
                           {"file", "x.yaml"},
                           {"file_sha256", std::string(64, 'a')}});
        w.append("error", {{"step", "root"},
                           {"message", "the token failed"},
                           {"token_state", "nothing"},
                           {"removed", nlohmann::json::array()}});
        head = finish_transcript(
            w, {{"status", "stopped"}, {"stopped_at", "root"}, {"steps_done", 0}});
    }
    auto r = ts({"ceremony", "verify", prev});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "Stopped at step root: the token failed\n")) << r.out;
    EXPECT_TRUE(contains(r.out, "Verified (a stopped ceremony)")) << r.out;

    const std::string next = file("verify-next");
    {
        signer::ceremony::TranscriptWriter w(next);
        w.append("begin", {{"tool", "tokensign"},
                           {"mode", "run"},
                           {"file", "x.yaml"},
                           {"file_sha256", std::string(64, 'a')},
                           {"from", "root"},
                           {"previous", {{"head", head.hex}, {"records", head.records}}}});
        finish_transcript(w, end_complete(1));
    }
    r = ts({"ceremony", "verify", next});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "Note: this ceremony continues the stopped one with head " +
                                    head.hex + "; the link was not checked"))
        << r.out;
    r = ts({"ceremony", "verify", "--json", next, "--previous", prev});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["previous"]["checked"], true);
    EXPECT_EQ(j["previous"]["head"], head.hex);
    // The ceremony itself is no stopped ceremony to continue.
    r = ts({"ceremony", "verify", next, "--previous", next});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_TRUE(contains(r.err, "did not stop (its status is 'complete')")) << r.err;
}

TEST_F(CeremonyCliTest, CeremonyWithoutASubcommandIsAUsageError) {
    auto r = ts({"ceremony"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_TRUE(contains(r.err, "lint, rehearse, run, verify")) << r.err;
}

}  // namespace
}  // namespace ts::test
