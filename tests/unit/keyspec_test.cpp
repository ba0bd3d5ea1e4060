// SPDX-License-Identifier: Apache-2.0
// KeySpec::parse: the --type forms of `tokensign key generate`.
#include <gtest/gtest.h>

#include <string>

#include "hsm/error.hpp"
#include "hsm/keygen.hpp"

namespace ts::hsm {
namespace {

TEST(KeySpecTest, ParsesRsaSizes) {
    for (CK_ULONG bits : {2048ul, 3072ul, 4096ul}) {
        KeySpec s = KeySpec::parse("rsa:" + std::to_string(bits));
        EXPECT_EQ(s.kind, KeyKind::Rsa);
        EXPECT_EQ(s.rsa_bits, bits);
    }
    EXPECT_EQ(KeySpec::parse("RSA:2048").rsa_bits, 2048u);
}

TEST(KeySpecTest, ParsesCurvesByNistAndOpenSslNames) {
    EXPECT_EQ(KeySpec::parse("ec:p-256").group, "prime256v1");
    EXPECT_EQ(KeySpec::parse("EC:P-384").group, "secp384r1");
    EXPECT_EQ(KeySpec::parse("ec:p-521").group, "secp521r1");
    EXPECT_EQ(KeySpec::parse("ec:prime256v1").group, "prime256v1");
    EXPECT_EQ(KeySpec::parse("ec:secp384r1").group, "secp384r1");
    EXPECT_EQ(KeySpec::parse("ec:p-256").kind, KeyKind::Ec);
}

TEST(KeySpecTest, ParsesEdwardsCurves) {
    EXPECT_EQ(KeySpec::parse("ed25519").kind, KeyKind::Ed25519);
    EXPECT_EQ(KeySpec::parse("Ed25519").kind, KeyKind::Ed25519);
    EXPECT_EQ(KeySpec::parse("ed448").kind, KeyKind::Ed448);
}

TEST(KeySpecTest, ToStringParsesBack) {
    for (const char* text :
         {"rsa:2048", "rsa:4096", "ec:p-256", "ec:p-384", "ec:p-521", "ed25519", "ed448"}) {
        KeySpec a = KeySpec::parse(text);
        KeySpec b = KeySpec::parse(a.to_string());
        EXPECT_EQ(a.kind, b.kind) << text;
        EXPECT_EQ(a.rsa_bits, b.rsa_bits) << text;
        EXPECT_EQ(a.group, b.group) << text;
    }
}

TEST(KeySpecTest, RefusesOtherFormsNamingTheAcceptedOnes) {
    for (const char* text : {"", "rsa", "rsa:", "rsa:abc", "rsa:1024", "rsa:2048x", "dsa:2048",
                             "ec", "ec:p-999", "ec:secp256k1x", "x25519", "ed25519:1"}) {
        try {
            (void)KeySpec::parse(text);
            ADD_FAILURE() << "accepted '" << text << "'";
        } catch (const UnsupportedError& e) {
            std::string msg = e.what();
            EXPECT_NE(msg.find("rsa:"), std::string::npos) << text << " -> " << msg;
            EXPECT_NE(msg.find("ec:"), std::string::npos) << text << " -> " << msg;
        }
    }
}

}  // namespace
}  // namespace ts::hsm
