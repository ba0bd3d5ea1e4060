// SPDX-License-Identifier: Apache-2.0
// Lint and the plan: every check that needs no token, and the sentences the witnesses follow.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "signer/ceremony/file.hpp"
#include "signer/ceremony/plan.hpp"
#include "tests/signer/ceremony_test_util.hpp"
#include "tests/support/softhsm.hpp"

namespace {

using namespace ts::signer::ceremony;
using ts::test::replaced;

const std::string kExampleDir = std::string(TS_TEST_SOURCE_DIR) + "/docs/examples";

// A root with pathlen 1 and an intermediate with its own ceremony key.
const std::string kBase = R"(tokensign-ceremony: 1
name: Test ceremony
tokens:
  - id: root-hsm
    uri: "pkcs11:token=root-hsm"
steps:
  - id: root-key
    step: key
    token: root-hsm
    label: root-2027
    algorithm: rsa:4096
  - id: root-cert
    step: root
    key: root-key
    subject: "/CN=Test Root"
    not-before: 2027-01-15T00:00:00Z
    not-after: 2047-01-15T00:00:00Z
    serial: random
    digest: sha384
    pathlen: 1
  - id: sub-key
    step: key
    token: root-hsm
    label: sub-1
    algorithm: ec:p-384
  - id: sub-cert
    step: intermediate
    issuer: root-cert
    key: sub-key
    subject: "/CN=Example Issuing CA 1"
    not-before: 2027-01-15T00:00:00Z
    not-after: 2032-01-15T00:00:00Z
    serial: 1f
    digest: sha384
    pathlen: 0
)";

LintResult lint_text(const std::string& text, const std::string& base = ".") {
    return lint(parse(text, "c.yaml"), base);
}

// All findings, one a line.
std::string findings(const LintResult& r) {
    std::string out;
    for (const auto& e : r.errors)
        out += std::to_string(e.mark.line) + ":" + std::to_string(e.mark.column) + " " + e.message +
               "\n";
    return out;
}

void expect_refused(const std::string& text, const std::string& needle) {
    LintResult r = lint_text(text);
    EXPECT_FALSE(r.ok()) << "passed, expected: " << needle;
    EXPECT_NE(findings(r).find(needle), std::string::npos) << findings(r);
}

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

TEST(CeremonyPlanTest, BaseFilePassesAndThePlanIsNumberedPlainSentences) {
    LintResult r = lint_text(kBase);
    ASSERT_TRUE(r.ok()) << findings(r);
    ASSERT_EQ(r.plan.size(), 4u);
    EXPECT_EQ(r.plan[0].text,
              "Generate an RSA 4096-bit key pair labelled 'root-2027' on token 'root-hsm' "
              "(pkcs11:token=root-hsm); the private key never leaves the token.");
    EXPECT_EQ(r.plan[1].text,
              "Sign the self-signed root CA certificate for /CN=Test Root with the key "
              "'root-2027' on token 'root-hsm', valid 2027-01-15 to 2047-01-15, a random serial "
              "drawn from the token, sha384, pathlen 1.");
    EXPECT_EQ(r.plan[3].number, 4);
    EXPECT_EQ(r.plan[3].text,
              "Sign an intermediate CA certificate for /CN=Example Issuing CA 1 for the key "
              "'sub-1' on token 'root-hsm' with the key 'root-2027' on token 'root-hsm' (issuer "
              "/CN=Test Root), valid 2027-01-15 to 2032-01-15, serial 1f, sha384, pathlen 0.");
    std::string text = plan_text(parse(kBase, "c.yaml"), r);
    EXPECT_NE(text.find("\n4. Sign an intermediate CA certificate"), std::string::npos) << text;
    EXPECT_NE(text.find("has SHA-256 " + sha256_hex(kBase)), std::string::npos) << text;
}

TEST(CeremonyPlanTest, WeakDigestsAndDigestsOnEdwardsKeysAreRefused) {
    expect_refused(
        replaced(kBase, "    digest: sha384\n    pathlen: 1", "    digest: sha1\n    pathlen: 1"),
        "digest 'sha1' is refused; use sha256 or stronger");
    expect_refused(replaced(kBase, "    digest: sha384\n    pathlen: 1", "    pathlen: 1"),
                   "step 'root-cert': give 'digest'");
    expect_refused(replaced(kBase, "algorithm: rsa:4096", "algorithm: ed25519"),
                   "signs without a separate digest: remove 'digest'");
    // Ed25519 without a digest is fine.
    LintResult r = lint_text(replaced(replaced(kBase, "algorithm: rsa:4096", "algorithm: ed25519"),
                                      "    digest: sha384\n    pathlen: 1", "    pathlen: 1"));
    // (the intermediate is signed by the root's Ed25519 key too: its digest must go as well)
    EXPECT_NE(findings(r).find("step 'sub-cert'"), std::string::npos) << findings(r);
    EXPECT_EQ(findings(r).find("step 'root-cert'"), std::string::npos) << findings(r);
}

TEST(CeremonyPlanTest, RsaKeysUnder3072BitsAreRefused) {
    expect_refused(replaced(kBase, "rsa:4096", "rsa:2048"),
                   "RSA 2048-bit is too small for a CA key; use at least rsa:3072");
    EXPECT_TRUE(lint_text(replaced(kBase, "rsa:4096", "rsa:3072")).ok());
}

TEST(CeremonyPlanTest, ValidityMustLieInsideTheIssuersAndUnderTheCaps) {
    expect_refused(
        replaced(kBase, "not-after: 2032-01-15T00:00:00Z", "not-after: 2048-01-15T00:00:00Z"),
        "outside its issuer 'root-cert' (2027-01-15 to 2047-01-15)");
    expect_refused(replaced(kBase, "    not-before: 2027-01-15T00:00:00Z\n    not-after: 2032",
                            "    not-before: 2026-12-31T23:59:59Z\n    not-after: 2032"),
                   "valid 2026-12-31T23:59:59Z to 2032-01-15, outside its issuer");
    // A sub-CA may be valid at most 10 years, a root 25.
    expect_refused(
        replaced(kBase, "not-after: 2032-01-15T00:00:00Z", "not-after: 2040-01-15T00:00:00Z"),
        "a subordinate CA may be valid at most 3653 days");
    expect_refused(
        replaced(kBase, "not-after: 2047-01-15T00:00:00Z", "not-after: 2057-01-15T00:00:00Z"),
        "a root may be valid at most 9132 days");
    expect_refused(
        replaced(kBase, "not-after: 2047-01-15T00:00:00Z", "not-after: 2027-01-15T00:00:00Z"),
        "not-after must be later than not-before");
}

TEST(CeremonyPlanTest, RootCarriesNoEkuOrPoliciesUnlessAsked) {
    std::string eku =
        replaced(kBase, "    pathlen: 1\n", "    pathlen: 1\n    eku: [serverAuth]\n");
    expect_refused(eku, "a root certificate carries no extended key usage or certificate policies");
    expect_refused(
        replaced(kBase, "    pathlen: 1\n", "    pathlen: 1\n    policies: [2.5.29.32.0]\n"),
        "a root certificate carries no extended key usage");
    LintResult r = lint_text(replaced(eku, "    eku: [serverAuth]\n",
                                      "    eku: [serverAuth]\n    allow-eku-policies: true\n"));
    EXPECT_TRUE(r.ok()) << findings(r);
    EXPECT_NE(r.plan[1].text.find("extended key usage serverAuth"), std::string::npos);
}

TEST(CeremonyPlanTest, PathLengthsMustShrinkAlongTheChain) {
    expect_refused(replaced(kBase, "pathlen: 0", "pathlen: 1"),
                   "issuer 'root-cert' has pathlen 1, so this CA needs pathlen 0 or less");
    expect_refused(replaced(kBase, "    pathlen: 0\n", ""),
                   "issuer 'root-cert' has pathlen 1, so this CA needs pathlen 0 or less");
    expect_refused(replaced(kBase, "pathlen: 1", "pathlen: 0"),
                   "issuer 'root-cert' has pathlen 0 and may not certify another CA");
    // A root without pathlen limits nothing.
    EXPECT_TRUE(lint_text(replaced(kBase, "    pathlen: 1\n", "")).ok());
}

TEST(CeremonyPlanTest, IdsAreUniqueAndReferencesNameEarlierStepsOfTheRightKind) {
    expect_refused(replaced(kBase, "  - id: sub-key\n", "  - id: root-key\n"),
                   "id 'root-key' is used twice");
    expect_refused(replaced(kBase, "  - id: sub-key\n", "  - id: root-hsm\n"),
                   "id 'root-hsm' is used twice (a token and a key step)");
    expect_refused(replaced(kBase, "issuer: root-cert", "issuer: root-crt"),
                   "'issuer' names 'root-crt', which is no step of this file");
    expect_refused(replaced(kBase, "issuer: root-cert", "issuer: sub-cert"),
                   "'issuer' names 'sub-cert', a step that comes later");
    expect_refused(replaced(kBase, "issuer: root-cert", "issuer: root-key"),
                   "'issuer' names 'root-key', a key step; expected a root or intermediate step");
    expect_refused(replaced(kBase, "    token: root-hsm\n    label: sub-1",
                            "    token: spare\n    label: sub-1"),
                   "token 'spare' is not declared under tokens");
    expect_refused(replaced(kBase, "label: sub-1", "label: root-2027"),
                   "already makes a key labelled 'root-2027' on token 'root-hsm'");
    expect_refused(replaced(kBase, "    key: sub-key\n", "    key: root-key\n"),
                   "the CA's key must not be its issuer's key");
}

TEST(CeremonyPlanTest, OtherStepKindsAreLinted) {
    std::string more = kBase + R"(  - id: crl-1
    step: crl
    issuer: root-cert
    this-update: 2027-01-15T00:00:00Z
    next-update: 2028-01-15T00:00:00Z
    crl-number: 1
    digest: sha384
  - id: store-sub
    step: store-cert
    certificate: sub-cert
    token: root-hsm
    label: sub-1
  - id: sub-dir
    step: ca-dir
    certificate: sub-cert
    key: sub-key
    dir: issuing-1
  - id: sub-csr
    step: csr
    key: sub-key
    subject: /CN=Example Issuing CA 1
    digest: sha256
)";
    LintResult r = lint_text(more);
    ASSERT_TRUE(r.ok()) << findings(r);
    EXPECT_EQ(r.plan[4].text,
              "Sign CRL number 1 of /CN=Test Root with the key 'root-2027' on token 'root-hsm', "
              "this update 2027-01-15, next update 2028-01-15, sha384, listing no revoked "
              "certificates.");
    EXPECT_EQ(r.plan[5].text,
              "Store the certificate of step 'sub-cert' (/CN=Example Issuing CA 1) on token "
              "'root-hsm', labelled 'sub-1'.");
    EXPECT_EQ(r.plan[6].text,
              "Create the CA directory issuing-1/ for /CN=Example Issuing CA 1, keyed by the key "
              "'sub-1' on token 'root-hsm', readable by openssl ca.");
    expect_refused(
        replaced(more, "next-update: 2028-01-15T00:00:00Z", "next-update: 2028-06-15T00:00:00Z"),
        "the CRL may be current at most 400 days");
    expect_refused(replaced(more, "    key: sub-key\n    dir:", "    key: root-key\n    dir:"),
                   "the key 'root-key' is not the key of certificate 'sub-cert'");
    expect_refused(
        replaced(more, "certificate: sub-cert\n    token", "certificate: sub-key\n    token"),
        "'certificate' names 'sub-key', a key step; expected a root or intermediate or "
        "cross-certificate step");
    expect_refused(replaced(more, "serial: 1f", "serial: random") + R"(  - id: sub2-key
    step: key
    token: root-hsm
    label: sub-2
    algorithm: ec:p-384
  - id: sub2-cert
    step: intermediate
    issuer: root-cert
    key: sub2-key
    subject: "/CN=Example Issuing CA 2"
    not-before: 2027-01-15T00:00:00Z
    not-after: 2032-01-15T00:00:00Z
    serial: 1F
    digest: sha384
    pathlen: 0
  - id: sub3-cert
    step: intermediate
    issuer: root-cert
    key: sub-key
    subject: "/CN=Example Issuing CA 3"
    not-before: 2027-01-15T00:00:00Z
    not-after: 2032-01-15T00:00:00Z
    serial: 1f
    digest: sha384
    pathlen: 0
)",
                   "serial 1f is also used by step 'sub2-cert' of the same issuer");
}

TEST(CeremonyPlanTest, TheDocumentedExamplePassesWithInputsCheckedAndEveryStepPlanned) {
    File f = load(kExampleDir + "/root-ceremony.yaml");
    LintResult r = lint(f, kExampleDir);
    ASSERT_TRUE(r.ok()) << findings(r);
    ASSERT_EQ(r.plan.size(), 8u);
    EXPECT_EQ(r.checks.size(), 3u);
    EXPECT_NE(
        r.plan[3].text.find("Sign an intermediate CA certificate for /C=US/O=Example/CN=Example "
                            "Issuing CA 1 from the request issuing-ca-1.csr (SHA-256 "
                            "e1dda03e7c8fc2ef...) with the key 'root-2027' on token "
                            "'root-hsm'"),
        std::string::npos)
        << r.plan[3].text;
    EXPECT_NE(
        r.plan[4].text.find("Sign a cross-certificate for /C=DE/O=Partner/CN=Partner Root CA"),
        std::string::npos)
        << r.plan[4].text;
}

class CeremonyInputTest : public ::testing::Test {
  protected:
    void SetUp() override {
        for (const char* name : {"root-ceremony.yaml", "issuing-ca-1.csr", "partner-root.crt"})
            std::filesystem::copy_file(kExampleDir + "/" + name, m_dir.file(name));
    }
    LintResult lint_copy() { return lint(load(m_dir.file("root-ceremony.yaml")), m_dir.path()); }
    ts::test::TempDir m_dir{"ceremony-inputs"};
};

TEST_F(CeremonyInputTest, AnInputWhoseDigestDiffersIsRefused) {
    ASSERT_TRUE(lint_copy().ok());
    std::string csr = slurp(m_dir.file("issuing-ca-1.csr"));
    csr[100] = static_cast<char>(csr[100] ^ 1);
    std::ofstream(m_dir.file("issuing-ca-1.csr"), std::ios::binary) << csr;
    LintResult r = lint_copy();
    EXPECT_NE(findings(r).find(
                  "input 'issuing-1-csr': " + m_dir.file("issuing-ca-1.csr") + " has SHA-256 " +
                  sha256_hex(csr) +
                  ", not the reviewed "
                  "e1dda03e7c8fc2ef43bde4ecd564082df8ce1f5ba1e96d9469e9c7563ac846fc; refusing it"),
              std::string::npos)
        << findings(r);
}

TEST_F(CeremonyInputTest, AMissingInputIsRefused) {
    std::filesystem::remove(m_dir.file("partner-root.crt"));
    LintResult r = lint_copy();
    EXPECT_NE(findings(r).find("input 'partner-root': cannot read"), std::string::npos)
        << findings(r);
}

TEST_F(CeremonyInputTest, ARequestForAnotherSubjectIsRefused) {
    std::string yaml = slurp(m_dir.file("root-ceremony.yaml"));
    yaml = replaced(yaml, "subject: \"/C=US/O=Example/CN=Example Issuing CA 1\"",
                    "subject: \"/C=US/O=Example/CN=Example Issuing CA 2\"");
    std::ofstream(m_dir.file("root-ceremony.yaml"), std::ios::binary) << yaml;
    LintResult r = lint_copy();
    EXPECT_NE(findings(r).find(
                  "the request issuing-ca-1.csr is for /C=US/O=Example/CN=Example Issuing CA 1, "
                  "not the step's subject /C=US/O=Example/CN=Example Issuing CA 2"),
              std::string::npos)
        << findings(r);
}

TEST_F(CeremonyInputTest, AnUnusedInputIsRefused) {
    std::string yaml = slurp(m_dir.file("root-ceremony.yaml"));
    yaml = replaced(yaml, "    certificate: partner-root\n", "    certificate: issuing-1-csr\n");
    std::ofstream(m_dir.file("root-ceremony.yaml"), std::ios::binary) << yaml;
    LintResult r = lint_copy();
    EXPECT_NE(findings(r).find("input 'partner-root' is declared but no step uses it"),
              std::string::npos)
        << findings(r);
    EXPECT_NE(findings(r).find("issuing-ca-1.csr is not one PEM or DER certificate"),
              std::string::npos)
        << findings(r);
}

}  // namespace
