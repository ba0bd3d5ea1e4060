// SPDX-License-Identifier: Apache-2.0
// tokensign req: CSRs signed by token keys, verified by plain openssl (default provider only).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "tests/cli/cli_fixture.hpp"

namespace ts::test {
namespace {

class ReqTest : public CliTest {
  protected:
    static void generate(const std::string& label, const std::string& type) {
        ok({"key", "generate", "--token", token_uri(), "--type", type, "--label", label});
    }
    /// The request's public key as stock openssl extracts it, and the token's (key show), as
    /// DER SubjectPublicKeyInfo re-encoded by openssl: equal when the CSR carries the token key.
    static void expect_token_key(const std::string& csr, const std::string& label) {
        auto pub = tool({"openssl", "req", "-in", csr, "-noout", "-pubkey"});
        ASSERT_EQ(pub.exit_code, 0) << pub.err;
        write_file(file(label + "-csr.pub"), pub.out);
        auto shown = ok({"key", "show", token_uri(";object=" + label + ";type=public")});
        auto b = shown.out.find("-----BEGIN PUBLIC KEY-----");
        ASSERT_NE(b, std::string::npos) << shown.out;
        write_file(file(label + "-token.pub"), shown.out.substr(b));
        EXPECT_EQ(
            read_file(spki_der_file(file(label + "-csr.pub"), "PEM", file(label + "-a.der"))),
            read_file(spki_der_file(file(label + "-token.pub"), "PEM", file(label + "-b.der"))));
    }
};

TEST_F(ReqTest, EcRequestWithSansVerifiesWithPlainOpenssl) {
    generate("web", "ec:p-256");
    std::string csr = file("web.csr");
    auto r =
        ok({"req", "--key", token_uri(";object=web"), "--subject", "/C=US/O=Example/CN=web.example",
            "--san", "DNS:web.example,IP:192.0.2.7", "--san", "DNS:www.example", "--out", csr});
    // Plain openssl, no tokensign provider: the signature verifies with the CSR's own key.
    auto v = tool({"openssl", "req", "-in", csr, "-noout", "-verify", "-text"});
    ASSERT_EQ(v.exit_code, 0) << v.err;
    EXPECT_TRUE(contains(v.err + v.out, "verify OK")) << v.err;
    EXPECT_TRUE(contains(v.out, "Subject: C = US, O = Example, CN = web.example")) << v.out;
    EXPECT_TRUE(contains(v.out, "DNS:web.example, IP Address:192.0.2.7, DNS:www.example")) << v.out;
    EXPECT_TRUE(contains(v.out, "ecdsa-with-SHA256")) << v.out;
    // A named curve, not explicit parameters (the trap of EC keys from tokens).
    EXPECT_TRUE(contains(v.out, "NIST CURVE: P-256")) << v.out;
    expect_token_key(csr, "web");
    struct stat st {};
    ASSERT_EQ(stat(csr.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(ReqTest, RsaRequestToStdoutWithSha384) {
    generate("rsa", "rsa:2048");
    auto r = ok({"req", "--key", token_uri(";object=rsa;type=private"), "--subject",
                 "CN=rsa.example,O=Example", "--md", "sha384"});
    ASSERT_TRUE(r.out.starts_with("-----BEGIN CERTIFICATE REQUEST-----")) << r.out;
    write_file(file("rsa.csr"), r.out);
    auto v = tool({"openssl", "req", "-in", file("rsa.csr"), "-noout", "-verify", "-text"});
    ASSERT_EQ(v.exit_code, 0) << v.err;
    EXPECT_TRUE(contains(v.out, "sha384WithRSAEncryption")) << v.out;
    EXPECT_TRUE(contains(v.out, "Subject: CN = rsa.example, O = Example")) << v.out;
    EXPECT_FALSE(contains(v.out, "Subject Alternative Name")) << v.out;
    expect_token_key(file("rsa.csr"), "rsa");
}

TEST_F(ReqTest, Ed25519RequestNeedsNoDigest) {
    generate("ed", "ed25519");
    auto r = ok({"req", "--key", token_uri(";object=ed"), "--subject", "/CN=ed.example", "--out",
                 file("ed.csr")});
    auto v = tool({"openssl", "req", "-in", file("ed.csr"), "-noout", "-verify", "-text"});
    ASSERT_EQ(v.exit_code, 0) << v.err;
    EXPECT_TRUE(contains(v.out, "ED25519")) << v.out;
}

TEST_F(ReqTest, WeakDigestsAreRefusedAndNothingIsWritten) {
    generate("weak", "ec:p-256");
    for (const char* md : {"sha1", "md5"}) {
        std::string out = file(std::string("weak-") + md + ".csr");
        auto r = ts({"req", "--key", token_uri(";object=weak"), "--subject", "/CN=w", "--md", md,
                     "--out", out},
                    {{"TOKENSIGN_PIN", kPin}});
        EXPECT_EQ(r.exit_code, 6) << md << ": " << r.err;
        EXPECT_TRUE(contains(r.err, "refused")) << r.err;
        EXPECT_NE(access(out.c_str(), F_OK), 0) << out << " was written";
    }
}

TEST_F(ReqTest, BadArgumentsAreUsageOrSelectionErrors) {
    generate("args", "ec:p-256");
    auto san =
        ts({"req", "--key", token_uri(";object=args"), "--subject", "/CN=a", "--san", "FOO:bar"},
           {{"TOKENSIGN_PIN", kPin}});
    EXPECT_EQ(san.exit_code, 2) << san.err;
    auto uri = ts({"req", "--key", "not-a-uri", "--subject", "/CN=a"}, {{"TOKENSIGN_PIN", kPin}});
    EXPECT_EQ(uri.exit_code, 2) << uri.err;
    auto missing = ts({"req", "--key", token_uri(";object=nokey"), "--subject", "/CN=a"},
                      {{"TOKENSIGN_PIN", kPin}});
    EXPECT_EQ(missing.exit_code, 3) << missing.err;
    auto subject = ts({"req", "--key", token_uri(";object=args"), "--subject", "CN"},
                      {{"TOKENSIGN_PIN", kPin}});
    EXPECT_EQ(subject.exit_code, 6) << subject.err;
    auto pin = ts({"req", "--key", token_uri(";object=args"), "--subject", "/CN=a"},
                  {{"TOKENSIGN_PIN", "0000"}});
    EXPECT_EQ(pin.exit_code, 4) << pin.err;
}

}  // namespace
}  // namespace ts::test
