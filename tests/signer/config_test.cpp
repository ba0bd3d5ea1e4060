// SPDX-License-Identifier: Apache-2.0
// The digest policy and reading openssl ca sections through NCONF.
#include "signer/config.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "signer/error.hpp"
#include "tests/support/softhsm.hpp"

namespace ts::signer {
namespace {

std::string refusal(const std::string& md) {
    try {
        check_digest(md, "default_md in [couch_ca]", nullptr);
    } catch (const InputError& e) {
        return e.what();
    }
    return "";
}

TEST(DigestPolicyTest, Md5IsRefusedSayingWhyAndWhatToSet) {
    std::string msg = refusal("md5");
    ASSERT_FALSE(msg.empty()) << "md5 accepted";
    EXPECT_NE(msg.find("default_md in [couch_ca] = md5 is refused"), std::string::npos) << msg;
    EXPECT_NE(msg.find("forgeable"), std::string::npos) << msg;
    EXPECT_NE(msg.find("set default_md = sha256"), std::string::npos) << msg;
}

TEST(DigestPolicyTest, Sha1AndOtherWeakDigestsAreRefused) {
    for (const char* md : {"sha1", "SHA1", "sha-1", "md4", "ripemd160", "md5-sha1"})
        EXPECT_FALSE(refusal(md).empty()) << md << " accepted";
    EXPECT_NE(refusal("sha1").find("SHA-1"), std::string::npos);
}

TEST(DigestPolicyTest, Sha2FamilyIsAcceptedIncludingSha224) {
    EXPECT_EQ(check_digest("sha256", "x", nullptr), "SHA2-256");
    EXPECT_EQ(check_digest("SHA384", "x", nullptr), "SHA2-384");
    EXPECT_EQ(check_digest("sha512", "x", nullptr), "SHA2-512");
    EXPECT_EQ(check_digest("sha224", "x", nullptr), "SHA2-224");
    EXPECT_FALSE(refusal("nosuchdigest").empty());
    EXPECT_FALSE(refusal("").empty());
}

TEST(DigestPolicyTest, EdDsaKeysTakeNoDigest) {
    OsslPtr<EVP_PKEY> ed(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    ASSERT_TRUE(ed);
    EXPECT_EQ(check_digest("default", "x", ed.get()), "");
    EXPECT_EQ(check_digest("md5", "x", ed.get()), "");  // ignored, as for openssl ca
}

TEST(CaConfigTest, ReadsTheGuidesConfigWithOpensslSemantics) {
    test::TempDir dir("tokensign-conf");
    std::string path = dir.file("config.cnf");
    std::ofstream(path) << "default_bits = 4096\n"
                           "[ ca ]\ndefault_ca = couch_ca\n"
                           "[ couch_ca ]\ndir = /etc/pki/CA\nnew_certs_dir = $dir/newcerts/\n"
                           "database = $dir/index.txt\ncertificate = $dir/certs/couch_ca.cert\n"
                           "private_key = $dir/private/couch_ca.pem\ndefault_days = 3650\n"
                           "default_md   = md5\npolicy       = policy_match\n"
                           "serial       = $dir/serial\npreserve = yes\n"
                           "[ policy_match ]\ncommonName = supplied\n";
    Conf conf = Conf::load(path, nullptr);
    CaConfig c = CaConfig::load(conf);
    EXPECT_EQ(c.section, "couch_ca");
    EXPECT_EQ(c.database, "/etc/pki/CA/index.txt");  // $dir expanded by NCONF
    EXPECT_EQ(c.new_certs_dir, "/etc/pki/CA/newcerts/");
    EXPECT_EQ(c.default_days, 3650);
    EXPECT_EQ(c.default_md, "md5");
    EXPECT_EQ(c.policy, "policy_match");
    // openssl ca reads preserve from [ca] only: the guide's preserve = yes has no effect.
    EXPECT_FALSE(c.preserve);
    EXPECT_FALSE(c.unique_subject.has_value());
    EXPECT_EQ(c.copy_extensions, CopyExtensions::None);
    EXPECT_TRUE(c.email_in_dn);
    EXPECT_EQ(c.min_rsa_bits, 2048);
    EXPECT_THROW(CaConfig::load(conf, "no_such_ca"), InputError);
}

TEST(CaConfigTest, MissingRequiredEntryIsNamed) {
    test::TempDir dir("tokensign-conf");
    std::string path = dir.file("c.cnf");
    std::ofstream(path) << "[ ca ]\ndefault_ca = x\n[ x ]\ndatabase = i\nnew_certs_dir = n\n"
                           "certificate = c\nserial = s\n";
    Conf conf = Conf::load(path, nullptr);
    try {
        CaConfig::load(conf);
        FAIL();
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("private_key is missing from [x]"), std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace ts::signer
