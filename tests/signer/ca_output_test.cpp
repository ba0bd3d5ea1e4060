// SPDX-License-Identifier: Apache-2.0
// What `ca list` and `ca gencrl` tell a person: a header and readable dates (not index.txt's
// YYMMDDhhmmssZ), ISO 8601 beside index.txt's fields in --json, and a CRL's true entry count.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "tests/signer/ca_util.hpp"
#include "tests/support/softhsm.hpp"

namespace ts::test {
namespace {

bool contains(const std::string& text, const std::string& what) {
    return text.find(what) != std::string::npos;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t pos = 0;
    for (auto nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', pos)) {
        lines.push_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
    if (pos < text.size()) lines.push_back(text.substr(pos));
    return lines;
}

// Field `n` (0-based) of an index.txt line.
std::string index_field(const std::string& line, int n) {
    std::size_t start = 0;
    for (int i = 0; i < n; ++i) start = line.find('\t', start) + 1;
    return line.substr(start, line.find('\t', start) - start);
}

// "271211095931Z" -> "2027-12-11 09:59:31 UTC" (iso: "2027-12-11T09:59:31Z"), by hand.
std::string expected_time(const std::string& utc, bool iso) {
    std::string s = utc.size() == 13 ? (utc.substr(0, 2) < "50" ? "20" : "19") + utc : utc;
    return s.substr(0, 4) + "-" + s.substr(4, 2) + "-" + s.substr(6, 2) + (iso ? "T" : " ") +
           s.substr(8, 2) + ":" + s.substr(10, 2) + ":" + s.substr(12, 2) + (iso ? "Z" : " UTC");
}

class CaOutputTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto key = make_rsa_key(2048);
        write_key(m_dir.file("ca.key"), key.get());
        auto r = tokensign({"ca", "init", "--dir", m_dir.file("ca"), "--key", m_dir.file("ca.key"),
                            "--subject", "/O=Output/CN=Output Root"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        m_leaf = make_rsa_key(2048);
    }
    std::string conf() const { return m_dir.file("ca/openssl.cnf"); }
    void sign(const std::string& cn) {
        std::string csr = m_dir.file(cn + ".csr");
        write_text(csr, make_csr(m_leaf.get(), {{"CN", cn}}));
        auto r = tokensign({"ca", "sign", "--config", conf(), "--batch", "--in", csr, "--out",
                            m_dir.file(cn + ".pem")});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    RunResult gencrl() {
        // The same file each time: replaced, as asked with --force.
        return tokensign(
            {"ca", "gencrl", "--config", conf(), "--out", m_dir.file("crl.pem"), "--force"});
    }

    TempDir m_dir{"tokensign-ca-out"};
    OsslPtr<EVP_PKEY> m_leaf;
};

TEST_F(CaOutputTest, GencrlCountsTheRevokedCertificatesFromZero) {
    sign("a.example");
    sign("b.example");
    auto none = gencrl();
    ASSERT_EQ(none.exit_code, 0) << none.err;
    EXPECT_TRUE(contains(none.err, "CRL with 0 revoked certificates written to")) << none.err;
    EXPECT_FALSE(contains(none.err, "with -1")) << none.err;  // not the temp dir's name

    ASSERT_EQ(tokensign({"ca", "revoke", "--config", conf(), "--serial", "1000"}).exit_code, 0);
    auto one = gencrl();
    EXPECT_TRUE(contains(one.err, "CRL with 1 revoked certificate written to")) << one.err;
    ASSERT_EQ(tokensign({"ca", "revoke", "--config", conf(), "--serial", "1001"}).exit_code, 0);
    auto two = gencrl();
    EXPECT_TRUE(contains(two.err, "CRL with 2 revoked certificates written to")) << two.err;
    // The count is the CRL's: openssl agrees.
    auto crl = run({"openssl", "crl", "-in", m_dir.file("crl.pem"), "-noout", "-text"});
    ASSERT_EQ(crl.exit_code, 0) << crl.err;
    EXPECT_EQ(std::regex_search(crl.out, std::regex("Serial Number: 100[01]")), true) << crl.out;
}

TEST_F(CaOutputTest, ListHasAHeaderAndReadableDates) {
    auto empty = tokensign({"ca", "list", "--config", conf()});
    ASSERT_EQ(empty.exit_code, 0) << empty.err;
    EXPECT_EQ(lines_of(empty.out).size(), 1u) << empty.out;  // the header alone
    sign("a.example");
    sign("b.example");
    ASSERT_EQ(tokensign({"ca", "revoke", "--config", conf(), "--serial", "1001", "--reason",
                         "keyCompromise"})
                  .exit_code,
              0);
    auto index = lines_of(read_text(m_dir.file("ca/index.txt")));
    ASSERT_EQ(index.size(), 2u);

    auto r = tokensign({"ca", "list", "--config", conf()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = lines_of(r.out);
    ASSERT_EQ(lines.size(), 3u) << r.out;
    EXPECT_TRUE(std::regex_match(lines[0], std::regex("SERIAL +STATUS +EXPIRES +REVOKED +SUBJECT")))
        << lines[0];
    // Columns line up under the header.
    for (const char* col : {"STATUS", "EXPIRES", "REVOKED", "SUBJECT"}) {
        auto at = lines[0].find(col);
        EXPECT_NE(lines[1][at], ' ') << col << "\n" << r.out;
        EXPECT_EQ(lines[1][at - 1], ' ') << col << "\n" << r.out;
        EXPECT_NE(lines[2][at], ' ') << col << "\n" << r.out;
    }
    std::string expiry0 = expected_time(index_field(index[0], 1), false);
    std::string revoked1 = expected_time(index_field(index[1], 2).substr(0, 13), false);
    EXPECT_TRUE(std::regex_match(expiry0, std::regex(R"(20\d\d-\d\d-\d\d \d\d:\d\d:\d\d UTC)")))
        << expiry0;
    EXPECT_TRUE(
        std::regex_match(lines[1], std::regex("1000 +Valid +" + expiry0 + " +- +/CN=a\\.example")))
        << lines[1];
    EXPECT_TRUE(std::regex_match(
        lines[2], std::regex("1001 +Revoked +" + expected_time(index_field(index[1], 1), false) +
                             " +" + revoked1 + " keyCompromise +/CN=b\\.example")))
        << lines[2];
    EXPECT_FALSE(contains(r.out, index_field(index[0], 1))) << "raw index.txt date shown";
}

// --status keeps only the entries of that status, in the table and in JSON; a wrong one is a
// usage error.
TEST_F(CaOutputTest, ListStatusShowsOnlyThatStatus) {
    sign("a.example");
    sign("b.example");
    ASSERT_EQ(tokensign({"ca", "revoke", "--config", conf(), "--serial", "1001"}).exit_code, 0);
    auto v = tokensign({"ca", "list", "--config", conf(), "--status", "V"});
    ASSERT_EQ(v.exit_code, 0) << v.err;
    EXPECT_TRUE(contains(v.out, "/CN=a.example")) << v.out;
    EXPECT_FALSE(contains(v.out, "/CN=b.example")) << v.out;
    EXPECT_TRUE(contains(v.out, "SERIAL")) << v.out;
    auto r = tokensign({"ca", "list", "--config", conf(), "--status", "revoked", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(contains(r.out, "/CN=a.example")) << r.out;
    EXPECT_TRUE(contains(r.out, "\"serial\":\"1001\"")) << r.out;
    EXPECT_EQ(tokensign({"ca", "list", "--config", conf(), "--status", "X"}).exit_code, 2);
}

TEST_F(CaOutputTest, ListAndStatusJsonKeepIndexFieldsAndAddIso8601Dates) {
    sign("a.example");
    sign("b.example");
    ASSERT_EQ(tokensign({"ca", "revoke", "--config", conf(), "--serial", "1001", "--reason",
                         "superseded"})
                  .exit_code,
              0);
    auto index = lines_of(read_text(m_dir.file("ca/index.txt")));
    auto r = tokensign({"ca", "list", "--config", conf(), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // Checked member by member (compact "name":value pairs, any order), each within its entry.
    auto a_at = r.out.find("\"serial\":\"1000\""), b_at = r.out.find("\"serial\":\"1001\"");
    ASSERT_NE(a_at, std::string::npos) << r.out;
    ASSERT_NE(b_at, std::string::npos) << r.out;
    auto object_at = [&](std::size_t at) {
        auto from = r.out.rfind('{', at), to = r.out.find('}', at);
        return r.out.substr(from, to - from + 1);
    };
    std::string a = object_at(a_at), b = object_at(b_at);
    auto member = [](const std::string& name, const std::string& value) {
        return "\"" + name + "\":" + value;
    };
    auto str = [](const std::string& v) { return "\"" + v + "\""; };
    EXPECT_EQ(r.out.front(), '[') << r.out;
    for (const auto& m :
         {member("status", str("Valid")), member("expiry", str(index_field(index[0], 1))),
          member("revocation", str("")),
          member("expires_at", str(expected_time(index_field(index[0], 1), true))),
          member("revoked_at", "null"), member("reason", "null"),
          member("subject", str("/CN=a.example"))})
        EXPECT_TRUE(contains(a, m)) << m << " not in " << a;
    for (const auto& m :
         {member("status", str("Revoked")), member("revocation", str(index_field(index[1], 2))),
          member("revoked_at", str(expected_time(index_field(index[1], 2).substr(0, 13), true))),
          member("reason", str("superseded"))})
        EXPECT_TRUE(contains(b, m)) << m << " not in " << b;

    auto s = tokensign({"ca", "status", "--config", conf(), "1001", "--json"});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    for (const auto& m :
         {member("status", str("Revoked")),
          member("revoked_at", str(expected_time(index_field(index[1], 2).substr(0, 13), true))),
          member("expires_at", str(expected_time(index_field(index[1], 1), true)))})
        EXPECT_TRUE(contains(s.out, m)) << m << " not in " << s.out;
}

}  // namespace
}  // namespace ts::test
