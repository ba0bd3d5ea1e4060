// SPDX-License-Identifier: Apache-2.0
// The ceremony file parser: what a reviewed file may say, and the line and column of what it
// may not.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "signer/ceremony/file.hpp"
#include "tests/signer/ceremony_test_util.hpp"

namespace {

using namespace ts::signer::ceremony;
using ts::test::replaced;

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
)";

// The message parse() refuses `text` with ("" when it parses).
std::string refusal(const std::string& text) {
    try {
        (void)parse(text, "c.yaml");
    } catch (const FileError& e) {
        return e.what();
    }
    return "";
}

TEST(CeremonyFileTest, ValidFileParsesWithEveryField) {
    File f = parse(kBase, "c.yaml");
    EXPECT_EQ(f.version, 1);
    EXPECT_EQ(f.name, "Test ceremony");
    ASSERT_EQ(f.tokens.size(), 1u);
    EXPECT_EQ(f.tokens[0].uri, "pkcs11:token=root-hsm");
    ASSERT_EQ(f.steps.size(), 2u);
    EXPECT_EQ(f.steps[0].kind, StepKind::Key);
    EXPECT_EQ(f.steps[0].algorithm, "rsa:4096");
    const Step& root = f.steps[1];
    EXPECT_EQ(root.kind, StepKind::Root);
    EXPECT_EQ(root.mark.line, 12);
    EXPECT_EQ(format_time(root.not_before), "2027-01-15T00:00:00Z");
    EXPECT_EQ(root.not_before, 1799971200);
    EXPECT_TRUE(root.serial.random);
    ASSERT_TRUE(root.pathlen.has_value());
    EXPECT_EQ(*root.pathlen, 1);
    EXPECT_EQ(f.sha256, sha256_hex(kBase));
}

TEST(CeremonyFileTest, UnknownKeyIsRefusedWithItsLineAndColumnAndTheKeysExpected) {
    std::string msg = refusal(replaced(kBase, "    label: root-2027", "    labl: root-2027"));
    EXPECT_NE(msg.find("c.yaml:10:5: unknown key 'labl' in a key step; expected one of: id, step, "
                       "token, label, algorithm"),
              std::string::npos)
        << msg;
    msg = refusal(kBase + "comment: hello\n");
    EXPECT_NE(msg.find("c.yaml:21:1: unknown key 'comment' in a ceremony file"), std::string::npos)
        << msg;
}

TEST(CeremonyFileTest, DuplicateKeyIsRefusedAtTheSecondOccurrence) {
    // yaml-cpp keeps both pairs and node[key] would read the first: the reviewer saw the second.
    std::string msg =
        refusal(replaced(kBase, "    digest: sha384\n", "    digest: sha384\n    digest: sha1\n"));
    EXPECT_NE(msg.find("c.yaml:20:5: duplicate key 'digest'"), std::string::npos) << msg;
    msg = refusal(replaced(kBase, "name: Test ceremony\n", "name: Test ceremony\nname: Other\n"));
    EXPECT_NE(msg.find("c.yaml:3:1: duplicate key 'name'"), std::string::npos) << msg;
}

TEST(CeremonyFileTest, WrongTypesAreRefusedNamingTheTypeExpected) {
    std::string msg = refusal(replaced(kBase, "pathlen: 1", "pathlen: one"));
    EXPECT_NE(msg.find("c.yaml:20:14: 'pathlen' must be an integer (0 to 16)"), std::string::npos)
        << msg;
    msg = refusal(replaced(kBase, "pathlen: 1", "pathlen: \"1\""));
    EXPECT_NE(msg.find("'pathlen' must be an integer"), std::string::npos) << msg;
    msg = refusal(replaced(kBase, "serial: random", "serial: [1, 2]"));
    EXPECT_NE(msg.find("c.yaml:18:13: 'serial' must be a string"), std::string::npos) << msg;
    msg = refusal(replaced(kBase, "tokens:\n  - id: root-hsm\n    uri: \"pkcs11:token=root-hsm\"\n",
                           "tokens:\n  id: root-hsm\n"));
    EXPECT_NE(msg.find("c.yaml:4:3: 'tokens' must be a non-empty list"), std::string::npos) << msg;
    msg = refusal(replaced(kBase, "tokensign-ceremony: 1", "tokensign-ceremony: \"1\""));
    EXPECT_NE(msg.find("c.yaml:1:21: 'tokensign-ceremony' must be an integer"), std::string::npos)
        << msg;
    msg = refusal(replaced(kBase, "tokensign-ceremony: 1", "tokensign-ceremony: 2"));
    EXPECT_NE(msg.find("'tokensign-ceremony' is 2; expected 1 to 1"), std::string::npos) << msg;
    msg = refusal("- just\n- a list\n");
    EXPECT_NE(msg.find("c.yaml:1:1: expected a ceremony file (a mapping"), std::string::npos)
        << msg;
}

TEST(CeremonyFileTest, MissingRequiredKeyIsRefusedAtItsMapping) {
    std::string msg = refusal(replaced(kBase, "    not-after: 2047-01-15T00:00:00Z\n", ""));
    EXPECT_NE(msg.find("c.yaml:12:5: missing required key 'not-after' in a root step"),
              std::string::npos)
        << msg;
    msg = refusal(replaced(kBase, "name: Test ceremony\n", ""));
    EXPECT_NE(msg.find("missing required key 'name' in a ceremony file"), std::string::npos) << msg;
    msg = refusal(replaced(kBase, "    step: key\n", ""));
    EXPECT_NE(msg.find("c.yaml:7:5: missing required key 'step' in a step"), std::string::npos)
        << msg;
    msg = refusal(replaced(kBase, "tokensign-ceremony: 1\n", ""));
    EXPECT_NE(msg.find("the first key must be 'tokensign-ceremony: 1'"), std::string::npos) << msg;
}

TEST(CeremonyFileTest, PinValueOrPinSourceAnywhereIsRefused) {
    for (const std::string& bad :
         {std::string("\"pkcs11:token=root-hsm;pin-value=1234\""),
          std::string("\"pkcs11:token=root-hsm?pin-source=file:/tmp/p\"")}) {
        std::string msg = refusal(replaced(kBase, "\"pkcs11:token=root-hsm\"", bad));
        EXPECT_NE(msg.find("c.yaml:5:10: a pin-value or pin-source is not allowed"),
                  std::string::npos)
            << msg;
        EXPECT_EQ(msg.find("1234"), std::string::npos) << "the PIN is echoed: " << msg;
    }
    std::string msg = refusal(kBase + "pin-source: /tmp/pin\n");
    EXPECT_NE(msg.find("c.yaml:21:1: a pin-value or pin-source is not allowed"), std::string::npos)
        << msg;
    msg = refusal(replaced(kBase, "label: root-2027", "label: \"x;PIN-VALUE=1\""));
    EXPECT_NE(msg.find("pin-value or pin-source is not allowed"), std::string::npos) << msg;
}

TEST(CeremonyFileTest, TokenUriNamesATokenOnlyAndModuleIsARegistrationName) {
    std::string msg =
        refusal(replaced(kBase, "\"pkcs11:token=root-hsm\"",
                         "\"pkcs11:token=root-hsm?module-path=/usr/lib/softhsm/libsofthsm2.so\""));
    EXPECT_NE(msg.find("no query attributes"), std::string::npos) << msg;
    msg =
        refusal(replaced(kBase, "\"pkcs11:token=root-hsm\"", "\"pkcs11:token=root-hsm;object=k\""));
    EXPECT_NE(msg.find("attribute 'object=k' is not allowed"), std::string::npos) << msg;
    msg = refusal(replaced(kBase, "\"pkcs11:token=root-hsm\"", "\"pkcs11:model=SoftHSM%20v2\""));
    EXPECT_NE(msg.find("must name the token by token= (its label) or serial="), std::string::npos)
        << msg;
    msg = refusal(replaced(kBase, "\"pkcs11:token=root-hsm\"", "root-hsm"));
    EXPECT_NE(msg.find("expected a pkcs11: token URI"), std::string::npos) << msg;
    msg = refusal(replaced(kBase, "    uri: \"pkcs11:token=root-hsm\"\n",
                           "    uri: \"pkcs11:serial=8f2a;token=root-hsm\"\n"
                           "    module: /usr/lib/softhsm/libsofthsm2.so\n"));
    EXPECT_NE(msg.find("c.yaml:6:13: 'module' is '/usr/lib/softhsm/libsofthsm2.so'; expected a "
                       "p11-kit module registration name"),
              std::string::npos)
        << msg;
    File f =
        parse(replaced(kBase, "    uri: \"pkcs11:token=root-hsm\"\n",
                       "    uri: \"pkcs11:serial=8f2a;token=root-hsm\"\n    module: softhsm2\n"),
              "c.yaml");
    EXPECT_EQ(f.tokens[0].module, "softhsm2");
}

TEST(CeremonyFileTest, DatesMustBeExplicitUtc) {
    for (std::string bad : {"+365d", "2027-01-15", "2027-01-15T00:00:00+01:00",
                            "2027-02-30T00:00:00Z", "\"in 20 years\"", "2027-01-15 00:00:00Z"}) {
        std::string msg =
            refusal(replaced(kBase, "not-after: 2047-01-15T00:00:00Z", "not-after: " + bad));
        EXPECT_NE(msg.find("c.yaml:17:16: 'not-after' is"), std::string::npos)
            << bad << ": " << msg;
        EXPECT_NE(msg.find("expected an explicit UTC date and time like 2027-01-15T00:00:00Z"),
                  std::string::npos)
            << msg;
    }
}

TEST(CeremonyFileTest, SerialIsRandomOrHex) {
    File f = parse(replaced(kBase, "serial: random", "serial: 00Ab12"), "c.yaml");
    EXPECT_FALSE(f.steps[1].serial.random);
    EXPECT_EQ(f.steps[1].serial.hex, "ab12");
    for (std::string bad : {"0", "12g4", "-5", "rand"}) {
        std::string msg = refusal(replaced(kBase, "serial: random", "serial: \"" + bad + "\""));
        EXPECT_NE(msg.find("c.yaml:18:13: 'serial'"), std::string::npos) << bad << ": " << msg;
    }
}

TEST(CeremonyFileTest, StepKindsAndTheirKeysAreChecked) {
    std::string msg = refusal(replaced(kBase, "step: key", "step: keygen"));
    EXPECT_NE(msg.find("c.yaml:8:11: unknown step 'keygen'; expected one of: key, root, "
                       "intermediate, cross-certificate, csr, crl, store-cert, ca-dir"),
              std::string::npos)
        << msg;
    msg = refusal(replaced(kBase, "algorithm: rsa:4096", "algorithm: dsa:2048"));
    EXPECT_NE(msg.find("'algorithm' is 'dsa:2048'; expected rsa:BITS"), std::string::npos) << msg;
    // A key of the root step is no key of a crl step.
    std::string crl =
        kBase +
        "  - id: crl-1\n    step: crl\n    issuer: root-cert\n"
        "    this-update: 2027-01-15T00:00:00Z\n    next-update: 2027-06-15T00:00:00Z\n"
        "    crl-number: 1\n    digest: sha384\n";
    File f = parse(crl, "c.yaml");
    EXPECT_EQ(f.steps[2].kind, StepKind::Crl);
    EXPECT_EQ(f.steps[2].crl_number, "1");
    msg = refusal(replaced(crl, "    crl-number: 1\n", "    crl-number: 1\n    key: root-key\n"));
    EXPECT_NE(msg.find("unknown key 'key' in a crl step"), std::string::npos) << msg;
    std::string inter =
        kBase +
        "  - id: sub\n    step: intermediate\n    issuer: root-cert\n"
        "    subject: /CN=Sub\n    not-before: 2027-01-15T00:00:00Z\n"
        "    not-after: 2030-01-15T00:00:00Z\n    serial: random\n    digest: sha384\n"
        "    pathlen: 0\n";
    msg = refusal(inter);
    EXPECT_NE(msg.find("c.yaml:21:5: an intermediate step needs exactly one of 'key'"),
              std::string::npos)
        << msg;
    msg = refusal(replaced(kBase, "  - id: root-key\n", "  - id: Root_Key!\n"));
    EXPECT_NE(msg.find("id 'Root_Key!' must be lower-case letters"), std::string::npos) << msg;
}

TEST(CeremonyFileTest, InputsArePinnedByDigestWithRelativePaths) {
    std::string with = replaced(kBase, "steps:\n",
                                "inputs:\n  - id: csr-1\n    path: in/sub.csr\n    sha256: " +
                                    std::string(64, 'A') + "\nsteps:\n");
    File f = parse(with, "c.yaml");
    ASSERT_EQ(f.inputs.size(), 1u);
    EXPECT_EQ(f.inputs[0].sha256, std::string(64, 'a'));
    std::string msg = refusal(replaced(with, std::string(64, 'A'), "abc"));
    EXPECT_NE(msg.find("c.yaml:9:13: 'sha256' must be 64 hex digits"), std::string::npos) << msg;
    for (std::string bad : {"/media/usb/sub.csr", "../sub.csr", "in/../../x"}) {
        msg = refusal(replaced(with, "path: in/sub.csr", "path: " + bad));
        EXPECT_NE(msg.find("c.yaml:8:11: 'path' is '" + bad + "'; expected a relative path"),
                  std::string::npos)
            << msg;
    }
    msg = refusal(replaced(with, "    sha256: " + std::string(64, 'A') + "\n", ""));
    EXPECT_NE(msg.find("missing required key 'sha256' in an input"), std::string::npos) << msg;
}

TEST(CeremonyFileTest, InvalidYamlIsRefusedWithItsPosition) {
    std::string msg = refusal("tokensign-ceremony: 1\nname: [unclosed\n");
    EXPECT_NE(msg.find("c.yaml:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not valid YAML"), std::string::npos) << msg;
}

TEST(CeremonyFileTest, TheDocumentedExampleParsesWithEveryStepKind) {
    File f = load(std::string(TS_TEST_SOURCE_DIR) + "/docs/examples/root-ceremony.yaml");
    std::set<StepKind> kinds;
    for (const auto& s : f.steps) kinds.insert(s.kind);
    EXPECT_EQ(kinds.size(), 8u);
}

}  // namespace
