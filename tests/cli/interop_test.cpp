// SPDX-License-Identifier: Apache-2.0
// tokensign and other PKCS#11 tools on one token: pkcs11-tool signs with our keys, we show its
// keys, certificates we store are the bytes others read back.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/cli/cli_fixture.hpp"

namespace ts::test {
namespace {

using InteropTest = CliTest;

TEST_F(InteropTest, Pkcs11ToolSignsWithTokensignRsaKeyAndOpenSslVerifies) {
    ok({"key", "generate", "--token", token_uri(), "--type", "rsa:2048", "--label", "rsa-i", "--id",
        "0a"});
    auto show = json_of(ok({"key", "show", token_uri(";object=rsa-i"), "--json"}));
    write_file(file("rsa-i.pem"), show.at("public_key_pem").get<std::string>());
    write_file(file("msg"), "signed by pkcs11-tool with a tokensign key\n");

    auto sig = pkcs11_tool({"--sign", "--id", "0a", "-m", "SHA256-RSA-PKCS", "-i", file("msg"),
                            "-o", file("rsa-i.sig")});
    ASSERT_EQ(sig.exit_code, 0) << sig.err;
    auto v = tool({"openssl", "dgst", "-sha256", "-verify", file("rsa-i.pem"), "-signature",
                   file("rsa-i.sig"), file("msg")});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    EXPECT_TRUE(contains(v.out, "Verified OK")) << v.out;

    // And the check can fail: another message does not verify.
    write_file(file("other"), "something else\n");
    auto bad = tool({"openssl", "dgst", "-sha256", "-verify", file("rsa-i.pem"), "-signature",
                     file("rsa-i.sig"), file("other")});
    EXPECT_NE(bad.exit_code, 0);
}

TEST_F(InteropTest, Pkcs11ToolSignsWithTokensignEcKeyAndOpenSslVerifies) {
    ok({"key", "generate", "--token", token_uri(), "--type", "ec:p-256", "--label", "ec-i", "--id",
        "0e"});
    auto show = json_of(ok({"key", "show", token_uri(";object=ec-i"), "--json"}));
    write_file(file("ec-i.pem"), show.at("public_key_pem").get<std::string>());
    write_file(file("msg"), "ECDSA over a host digest\n");
    auto dig =
        tool({"openssl", "dgst", "-sha256", "-binary", "-out", file("msg.sha256"), file("msg")});
    ASSERT_EQ(dig.exit_code, 0) << dig.err;

    // Plain CKM_ECDSA over the digest (SoftHSM2's hashed ECDSA mechanisms are unreliable).
    auto sig = pkcs11_tool({"--sign", "--id", "0e", "-m", "ECDSA", "--signature-format", "openssl",
                            "-i", file("msg.sha256"), "-o", file("ec-i.sig")});
    ASSERT_EQ(sig.exit_code, 0) << sig.err;
    auto v = tool({"openssl", "pkeyutl", "-verify", "-pubin", "-inkey", file("ec-i.pem"), "-in",
                   file("msg.sha256"), "-sigfile", file("ec-i.sig")});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    EXPECT_TRUE(contains(v.out, "Signature Verified Successfully")) << v.out;
}

TEST_F(InteropTest, TokensignShowsKeysMadeByPkcs11Tool) {
    struct Case {
        const char* type;
        const char* label;
        const char* id;
    };
    for (const Case& c :
         {Case{"EC:prime256v1", "ptool-ec", "0c"}, Case{"rsa:2048", "ptool-rsa", "0d"}}) {
        SCOPED_TRACE(c.label);
        auto gen =
            pkcs11_tool({"--keypairgen", "--key-type", c.type, "--label", c.label, "--id", c.id});
        ASSERT_EQ(gen.exit_code, 0) << gen.err;

        // pkcs11-tool's own export of the public key, normalised to DER SPKI by openssl.
        const std::string raw = file(std::string(c.label) + ".raw");
        auto rd = pkcs11_tool({"--read-object", "--type", "pubkey", "--id", c.id, "-o", raw});
        ASSERT_EQ(rd.exit_code, 0) << rd.err;
        const std::string der = spki_der_file(raw, "DER", file(std::string(c.label) + ".der"));
        const std::string expected = openssl_sha256(der);

        // Found by label alone (the private key is preferred), and by id and type.
        auto show =
            json_of(ok({"key", "show", token_uri(";object=" + std::string(c.label)), "--json"}));
        EXPECT_EQ(show.at("class").get<std::string>(), "private key");
        EXPECT_EQ(show.at("spki_sha256").get<std::string>(), expected);
        auto by_id = json_of(
            ok({"key", "show", token_uri(";id=%" + std::string(c.id) + ";type=public"), "--json"}));
        EXPECT_EQ(by_id.at("spki_sha256").get<std::string>(), expected);
        EXPECT_EQ(by_id.at("label").get<std::string>(), c.label);
    }
}

TEST_F(InteropTest, CertificateImportAndListRoundTrip) {
    ok({"key", "generate", "--token", token_uri(), "--type", "ec:p-256", "--label", "leaf", "--id",
        "1f"});
    auto show = json_of(ok({"key", "show", token_uri(";object=leaf"), "--json"}));
    write_file(file("leaf.pub"), show.at("public_key_pem").get<std::string>());

    // A certificate for the token key, issued by a throwaway software CA with stock openssl.
    auto ca = tool({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", file("ca.key"), "-subj",
                    "/CN=Interop CA", "-days", "2", "-out", file("ca.pem")});
    ASSERT_EQ(ca.exit_code, 0) << ca.err;
    auto leaf = tool({"openssl", "x509", "-new", "-subj", "/CN=leaf.example", "-force_pubkey",
                      file("leaf.pub"), "-CA", file("ca.pem"), "-CAkey", file("ca.key"), "-days",
                      "1", "-out", file("leaf.pem")});
    ASSERT_EQ(leaf.exit_code, 0) << leaf.err;
    auto der = tool(
        {"openssl", "x509", "-in", file("leaf.pem"), "-outform", "DER", "-out", file("leaf.der")});
    ASSERT_EQ(der.exit_code, 0) << der.err;

    // A certificate for another key is refused (exit 6) and nothing is stored.
    auto wrong = ts({"cert", "import", file("ca.pem"), "--key", token_uri(";object=leaf")},
                    {{"TOKENSIGN_PIN", kPin}});
    EXPECT_EQ(wrong.exit_code, 6) << wrong.err;
    EXPECT_TRUE(contains(wrong.err, "public key differs")) << wrong.err;
    EXPECT_EQ(json_of(ok({"cert", "list", token_uri(), "--json"})).at("certificates").size(), 0u);

    // PEM input, label and id from the key.
    auto imp = json_of(
        ok({"cert", "import", file("leaf.pem"), "--key", token_uri(";object=leaf"), "--json"}));
    EXPECT_EQ(imp.at("label").get<std::string>(), "leaf");
    EXPECT_EQ(imp.at("id").get<std::string>(), "1f");
    // DER input with explicit label and id.
    auto imp2 = ok({"cert", "import", file("leaf.der"), "--token", token_uri(), "--label",
                    "leaf-copy", "--id", "2f"});
    EXPECT_TRUE(contains(imp2.out, "leaf-copy")) << imp2.out;
    // The same label again is refused with exit 3.
    auto dup = ts({"cert", "import", file("leaf.der"), "--key", token_uri(";object=leaf")},
                  {{"TOKENSIGN_PIN", kPin}});
    EXPECT_EQ(dup.exit_code, 3) << dup.err;
    // Neither --key nor --token: usage error.
    EXPECT_EQ(ts({"cert", "import", file("leaf.der")}).exit_code, 2);

    auto list = json_of(ok({"cert", "list", token_uri(), "--json"}));
    ASSERT_EQ(list.at("certificates").size(), 2u);
    const nlohmann::json* mine = nullptr;
    for (const auto& c : list.at("certificates"))
        if (c.at("label").get<std::string>() == "leaf") mine = &c;
    ASSERT_NE(mine, nullptr);
    EXPECT_EQ((*mine).at("id").get<std::string>(), "1f");
    EXPECT_EQ((*mine).at("subject").get<std::string>(), "CN=leaf.example");
    EXPECT_EQ((*mine).at("issuer").get<std::string>(), "CN=Interop CA");
    EXPECT_EQ((*mine).at("sha256").get<std::string>(), openssl_sha256(file("leaf.der")));
    EXPECT_EQ((*mine).at("pem").get<std::string>(), read_file(file("leaf.pem")));
    EXPECT_TRUE(contains((*mine).at("uri").get<std::string>(), "type=cert"));

    auto human = ok({"cert", "list", token_uri(";object=leaf"), "--pem"});
    EXPECT_TRUE(contains(human.out, "CN=leaf.example")) << human.out;
    EXPECT_TRUE(contains(human.out, "-----BEGIN CERTIFICATE-----")) << human.out;
    EXPECT_FALSE(contains(human.out, "leaf-copy")) << human.out;

    // Certificates are public objects: listing them needs no PIN.
    auto public_list = ts({"--no-prompt", "cert", "list", token_uri(), "--no-login", "--json"});
    ASSERT_EQ(public_list.exit_code, 0) << public_list.err;
    EXPECT_EQ(json_of(public_list).at("certificates").size(), 2u);

    // pkcs11-tool reads back exactly the bytes that were imported.
    auto rd =
        pkcs11_tool({"--read-object", "--type", "cert", "--label", "leaf", "-o", file("back.der")});
    ASSERT_EQ(rd.exit_code, 0) << rd.err;
    EXPECT_EQ(read_file(file("back.der")), read_file(file("leaf.der")));
    // And key show on the certificate's URI gives the key's fingerprint.
    auto via_cert = json_of(ok({"key", "show", (*mine).at("uri").get<std::string>(), "--json"}));
    EXPECT_EQ(via_cert.at("spki_sha256").get<std::string>(),
              show.at("spki_sha256").get<std::string>());
}

}  // namespace
}  // namespace ts::test
