// SPDX-License-Identifier: Apache-2.0
// `tokensign ca sign` and the extensions a request asks for: --san, --extfile, copy_extensions
// none|copy|copyall against the real `openssl ca`, a note for every requested extension that is
// dropped (batch and preview), nameConstraints and certificatePolicies in profiles. CA keys in
// files; the certificates are read back with the openssl binary and checked by certtool.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <regex>
#include <set>

#include "tests/signer/ca_util.hpp"
#include "tests/support/softhsm.hpp"

namespace ts::test {
namespace {

Dn leaf(const std::string& cn) { return {{"O", "Ext Org"}, {"CN", cn}}; }

class CaExtensionsTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        s_keys = new TempDir("tokensign-extkeys");
        auto k = make_ec_key();
        write_key(s_keys->file("ca.key"), k.get());
        s_leaf_key = make_ec_key().release();
    }
    static void TearDownTestSuite() {
        delete s_keys;
        EVP_PKEY_free(s_leaf_key);
    }

    void SetUp() override { init_ca("ca"); }

    void init_ca(const std::string& name) {
        auto r = tokensign({"ca", "init", "--dir", m_dir.file(name), "--key",
                            s_keys->file("ca.key"), "--subject", "/O=Ext Org/CN=Ext Root"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }

    std::string conf(const std::string& ca = "ca") const { return m_dir.file(ca + "/openssl.cnf"); }

    std::string csr_file(const std::string& name, const Dn& ext = {}) {
        std::string path = m_dir.file(name + ".csr");
        write_text(path, make_csr(s_leaf_key, leaf(name + ".example"), ext));
        return path;
    }

    RunResult sign(std::vector<std::string> extra, const std::string& ca = "ca") {
        std::vector<std::string> args = {"ca", "sign", "--config", conf(ca), "--batch"};
        args.insert(args.end(), extra.begin(), extra.end());
        return tokensign(args);
    }

    // Sets `key = value` in [ CA_default ] of a CA's openssl.cnf.
    void set_conf(const std::string& key, const std::string& value, const std::string& ca = "ca") {
        std::string text = read_text(conf(ca));
        std::regex re("\n" + key + "\\s*=[^\n]*");
        if (std::regex_search(text, re))
            text = std::regex_replace(text, re, "\n" + key + " = " + value);
        else
            text = std::regex_replace(text, std::regex("\\[ CA_default \\]\n"),
                                      "[ CA_default ]\n" + key + " = " + value + "\n");
        write_text(conf(ca), text);
    }

    void append_conf(const std::string& text, const std::string& ca = "ca") {
        write_text(conf(ca), read_text(conf(ca)) + "\n" + text);
    }

    // The named extensions as `openssl x509 -ext` prints them.
    static std::string ext(const std::string& cert, const std::string& names) {
        auto r = run({"openssl", "x509", "-in", cert, "-noout", "-ext", names});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return r.out;
    }

    static TempDir* s_keys;
    static EVP_PKEY* s_leaf_key;
    TempDir m_dir{"tokensign-caext"};
};

TempDir* CaExtensionsTest::s_keys = nullptr;
EVP_PKEY* CaExtensionsTest::s_leaf_key = nullptr;

// A batch makes the profile's extensions that are the same for every certificate once
// (issue 14): each certificate of one batch must still get what openssl ca gives it alone, and
// those that depend on the certificate (subjectKeyIdentifier, subjectAltName email:copy) its own.
TEST_F(CaExtensionsTest, EveryCertificateOfABatchGetsWhatOpensslCaGivesItAlone) {
    init_ca("twin");
    const std::string profile =
        "[ batch_ext ]\n"
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth, clientAuth\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid, issuer\n"
        "subjectAltName = email:copy, DNS:shared.example\n"
        "crlDistributionPoints = URI:http://crl.example/root.crl\n"
        "certificatePolicies = 1.3.6.1.4.1.99999.1\n"
        "nsComment = \"batch\"\n";
    append_conf(profile);
    append_conf(profile, "twin");
    set_conf("email_in_dn", "yes");
    set_conf("email_in_dn", "yes", "twin");
    set_conf("policy", "policy_anything");
    set_conf("policy", "policy_anything", "twin");
    append_conf("[ policy_anything ]\nO = optional\nCN = supplied\nemailAddress = optional\n");
    append_conf("[ policy_anything ]\nO = optional\nCN = supplied\nemailAddress = optional\n",
                "twin");
    std::vector<std::string> csrs;
    for (int i = 0; i < 3; ++i) {
        auto key = make_ec_key();
        const std::string name = "b" + std::to_string(i);
        csrs.push_back(m_dir.file(name + ".csr"));
        write_text(csrs.back(), make_csr(key.get(), {{"O", "Ext Org"},
                                                     {"CN", name + ".example"},
                                                     {"emailAddress", name + "@example.com"}}));
    }
    ASSERT_EQ(::mkdir(m_dir.file("out").c_str(), 0755), 0);
    std::vector<std::string> args = {"--extensions", "batch_ext", "--out-dir", m_dir.file("out"),
                                     "--in"};
    args.insert(args.end(), csrs.begin(), csrs.end());
    auto r = sign(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string names =
        "basicConstraints,keyUsage,extendedKeyUsage,subjectKeyIdentifier,authorityKeyIdentifier,"
        "subjectAltName,crlDistributionPoints,certificatePolicies,nsComment";
    std::set<std::string> skids;
    for (int i = 0; i < 3; ++i) {
        const std::string name = "b" + std::to_string(i);
        auto o = run({"openssl", "ca", "-batch", "-config", conf("twin"), "-extensions",
                      "batch_ext", "-in", csrs[static_cast<std::size_t>(i)], "-out",
                      m_dir.file(name + "-theirs.pem")});
        ASSERT_EQ(o.exit_code, 0) << o.err;
        const std::string ours = m_dir.file("out/" + name + ".pem");
        EXPECT_EQ(ext(ours, names), ext(m_dir.file(name + "-theirs.pem"), names)) << name;
        EXPECT_NE(ext(ours, "subjectAltName").find("email:" + name + "@example.com"),
                  std::string::npos)
            << ext(ours, "subjectAltName");
        skids.insert(ext(ours, "subjectKeyIdentifier"));
    }
    EXPECT_EQ(skids.size(), 3u) << "each certificate has its own key's identifier";
}

// Issue 9 §4: a CSR's subjectAltName signed with --extensions server used to vanish with rc 0.
TEST_F(CaExtensionsTest, ARequestedSanDroppedUnderCopyNoneIsNamedInBatchAndPreview) {
    auto a = csr_file(
        "a", {{"subjectAltName", "DNS:a.example,IP:192.0.2.1"}, {"keyUsage", "digitalSignature"}});
    auto r = sign({"--in", a, "--extensions", "server", "--out", m_dir.file("a.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("dropped the request's subjectAltName (DNS:a.example, IP "
                         "Address:192.0.2.1): copy_extensions = none in [CA_default]"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("dropped the request's keyUsage (Digital Signature)"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("no subjectAltName in this serverAuth certificate"), std::string::npos)
        << r.err;
    EXPECT_EQ(ext(m_dir.file("a.pem"), "subjectAltName"), "");

    // The preview before the prompt says the same (setsid: no terminal, so it then declines).
    auto b = csr_file("b", {{"subjectAltName", "DNS:b.example"}});
    auto p = run({"setsid", "-w", cli_path(), "ca", "sign", "--config", conf(), "--in", b,
                  "--extensions", "server"});
    EXPECT_EQ(p.exit_code, 8) << p.err;
    auto shown = p.err.find("Certificate to be issued for " + b);
    auto note = p.err.find("note: dropped the request's subjectAltName (DNS:b.example)");
    ASSERT_NE(shown, std::string::npos) << p.err;
    EXPECT_NE(note, std::string::npos) << p.err;
    EXPECT_GT(note, shown) << p.err;
    EXPECT_LT(note, p.err.find("use --batch")) << p.err;
}

TEST_F(CaExtensionsTest, SanOptionsSetTheNamesThatVerifiersMatch) {
    auto a = csr_file("a", {{"subjectAltName", "DNS:from-the-csr.example"}});
    auto r = sign({"--in", a, "--extensions", "server", "--san", "DNS:a.example,IP:192.0.2.1",
                   "--san", "DNS:b.example", "--out", m_dir.file("a.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("dropped the request's subjectAltName (DNS:from-the-csr.example): --san "
                         "replaces it"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("no subjectAltName"), std::string::npos) << r.err;
    EXPECT_EQ(ext(m_dir.file("a.pem"), "subjectAltName"),
              "X509v3 Subject Alternative Name: \n    DNS:a.example, IP Address:192.0.2.1, "
              "DNS:b.example\n");
    const std::string ca = m_dir.file("ca/certs/ca.pem");
    std::map<std::string, std::string> plain = {{"OPENSSL_CONF", "/dev/null"}};
    for (const std::vector<std::string>& check :
         {std::vector<std::string>{"-verify_hostname", "b.example"},
          std::vector<std::string>{"-verify_ip", "192.0.2.1"}}) {
        std::vector<std::string> args = {"openssl", "verify", "-CAfile", ca};
        args.insert(args.end(), check.begin(), check.end());
        args.push_back(m_dir.file("a.pem"));
        auto v = run(args, plain);
        EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    }
    auto bad = run({"openssl", "verify", "-CAfile", ca, "-verify_hostname", "from-the-csr.example",
                    m_dir.file("a.pem")},
                   plain);
    EXPECT_NE(bad.exit_code, 0) << bad.out;
    auto g = run({"certtool", "--verify", "--load-ca-certificate", ca, "--verify-hostname",
                  "a.example", "--infile", m_dir.file("a.pem")});
    EXPECT_EQ(g.exit_code, 0) << g.out << g.err;
}

TEST_F(CaExtensionsTest, AnInvalidSanIsRefusedBeforeAnythingIsWritten) {
    auto a = csr_file("a");
    for (const char* san : {"DNS", "IP:192.0.2", "FOO:bar", "DNS:a.example,"}) {
        auto before = snapshot(m_dir.file("ca"));
        auto r = sign({"--in", a, "--san", san});
        EXPECT_EQ(r.exit_code, 6) << san << ": " << r.err;
        EXPECT_NE(r.err.find("--san"), std::string::npos) << r.err;
        EXPECT_EQ(snapshot(m_dir.file("ca")), before) << san;
    }
}

// copy and copyall give what openssl ca gives for the same request and profile (without
// tokensign_copy_only, which openssl ca does not know), and what the profile keeps for itself
// under copy is named.
TEST_F(CaExtensionsTest, CopyAndCopyallIssueWhatOpensslCaIssues) {
    init_ca("twin");
    write_text(conf(), std::regex_replace(read_text(conf()),
                                          std::regex("\ntokensign_copy_only[^\n]*"), ""));
    const Dn requested = {{"subjectAltName", "DNS:c.example,email:c@example.com"},
                          {"keyUsage", "critical,digitalSignature"},
                          {"nsComment", "from the request"}};
    for (const char* mode : {"copy", "copyall"}) {
        SCOPED_TRACE(mode);
        set_conf("copy_extensions", mode);
        set_conf("copy_extensions", mode, "twin");
        auto c = csr_file(std::string("c-") + mode, requested);
        std::string ours = m_dir.file(std::string("ours-") + mode + ".pem");
        std::string theirs = m_dir.file(std::string("theirs-") + mode + ".pem");
        auto r = sign({"--in", c, "--extensions", "server", "--out", ours});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        auto o = run({"openssl", "ca", "-batch", "-config", conf("twin"), "-extensions", "server",
                      "-in", c, "-out", theirs});
        ASSERT_EQ(o.exit_code, 0) << o.err;
        const std::string names =
            "subjectAltName,keyUsage,extendedKeyUsage,basicConstraints,nsComment";
        EXPECT_EQ(ext(ours, names), ext(theirs, names));
        EXPECT_NE(ext(ours, "subjectAltName").find("DNS:c.example, email:c@example.com"),
                  std::string::npos);
        bool kept = std::string(mode) == "copy";
        EXPECT_EQ(r.err.find("dropped the request's keyUsage (critical, Digital Signature): the "
                             "profile [server] sets its own") != std::string::npos,
                  kept)
            << r.err;
        EXPECT_EQ(r.err.find("subjectAltName ("), std::string::npos) << r.err;
    }
}

// The configuration ca init writes: copy_extensions = copy takes a request's subjectAltName
// and nothing else (tokensign_copy_only = subjectAltName); what it leaves out is named.
TEST_F(CaExtensionsTest, WithCopyTheDefaultConfigurationTakesOnlyTheRequestsSan) {
    set_conf("copy_extensions", "copy");
    auto c = csr_file("c", {{"subjectAltName", "DNS:c.example"},
                            {"crlDistributionPoints", "URI:http://crl.example/evil.crl"},
                            {"nsComment", "from the request"}});
    auto r = sign({"--in", c, "--extensions", "server", "--out", m_dir.file("c.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(ext(m_dir.file("c.pem"), "subjectAltName").find("DNS:c.example"), std::string::npos);
    EXPECT_EQ(ext(m_dir.file("c.pem"), "crlDistributionPoints,nsComment"), "");
    for (const char* name : {"crlDistributionPoints (Full Name: URI:http://crl.example/evil.crl)",
                             "nsComment (from the request)"})
        EXPECT_NE(r.err.find(std::string("dropped the request's ") + name), std::string::npos)
            << name << "\n"
            << r.err;
    EXPECT_NE(r.err.find("not in tokensign_copy_only of [CA_default]"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("subjectAltName ("), std::string::npos) << r.err;

    set_conf("tokensign_copy_only", "subjectAltName, noSuchExtension");
    auto before = snapshot(m_dir.file("ca"));
    r = sign({"--in", c});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_NE(r.err.find("'noSuchExtension', which is not an extension name"), std::string::npos)
        << r.err;
    EXPECT_EQ(snapshot(m_dir.file("ca")), before);
}

// --extfile: the section comes from the file (`extensions =` at its top, else --extensions,
// else its unnamed section) and the CA's x509_extensions is not used, as openssl ca -extfile.
TEST_F(CaExtensionsTest, ExtfileReplacesTheExtensionSectionAsOpensslCaExtfileDoes) {
    init_ca("twin");
    std::string extfile = m_dir.file("ext.cnf");
    write_text(extfile,
               "extensions = leaf_ext\n"
               "[ leaf_ext ]\n"
               "basicConstraints = critical, CA:FALSE\n"
               "extendedKeyUsage = serverAuth, clientAuth\n"
               "subjectAltName = @alt\n"
               "[ alt ]\n"
               "DNS.1 = e.example\n"
               "DNS.2 = www.e.example\n"
               "[ other_ext ]\n"
               "keyUsage = digitalSignature\n"
               "subjectKeyIdentifier = none\n");
    auto e = csr_file("e");
    auto r = sign({"--in", e, "--extfile", extfile, "--out", m_dir.file("ours.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto o = run({"openssl", "ca", "-batch", "-config", conf("twin"), "-extfile", extfile, "-in", e,
                  "-out", m_dir.file("theirs.pem")});
    ASSERT_EQ(o.exit_code, 0) << o.err;
    // Without them in the section, openssl ca 3.x adds subjectKeyIdentifier and
    // authorityKeyIdentifier; `subjectKeyIdentifier = none` leaves it out.
    const std::string names =
        "subjectAltName,keyUsage,extendedKeyUsage,basicConstraints,subjectKeyIdentifier,"
        "authorityKeyIdentifier";
    EXPECT_EQ(ext(m_dir.file("ours.pem"), names), ext(m_dir.file("theirs.pem"), names));
    EXPECT_NE(
        ext(m_dir.file("ours.pem"), "subjectAltName").find("DNS:e.example, DNS:www.e.example"),
        std::string::npos);
    // usr_cert (x509_extensions) would have added a keyUsage and clientAuth/emailProtection.
    EXPECT_EQ(ext(m_dir.file("ours.pem"), "keyUsage"), "");

    auto e2 = csr_file("e2");
    r = sign({"--in", e2, "--extfile", extfile, "--extensions", "other_ext", "--out",
              m_dir.file("ours2.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    o = run({"openssl", "ca", "-batch", "-config", conf("twin"), "-extfile", extfile, "-extensions",
             "other_ext", "-in", e2, "-out", m_dir.file("theirs2.pem")});
    ASSERT_EQ(o.exit_code, 0) << o.err;
    EXPECT_EQ(ext(m_dir.file("ours2.pem"), names), ext(m_dir.file("theirs2.pem"), names));
    EXPECT_NE(ext(m_dir.file("ours2.pem"), "keyUsage").find("Digital Signature"),
              std::string::npos);
    EXPECT_EQ(ext(m_dir.file("ours2.pem"), "subjectKeyIdentifier"), "");
    EXPECT_NE(ext(m_dir.file("ours.pem"), "subjectKeyIdentifier"), "");

    // Refused, nothing written: a section the file does not have, a file whose section is
    // empty (openssl ca would silently issue a certificate without extensions), no file.
    auto before = snapshot(m_dir.file("ca"));
    r = sign({"--in", e, "--extfile", extfile, "--extensions", "missing_ext"});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_NE(r.err.find("unknown extension section [missing_ext]"), std::string::npos) << r.err;
    std::string empty = m_dir.file("empty.cnf");
    write_text(empty, "[ only_ext ]\nbasicConstraints = CA:FALSE\n");
    r = sign({"--in", e, "--extfile", empty});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_NE(r.err.find("the section [default] has no extensions"), std::string::npos) << r.err;
    r = sign({"--in", e, "--extfile", m_dir.file("no-such.cnf")});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_EQ(snapshot(m_dir.file("ca")), before);
}

TEST_F(CaExtensionsTest, ProfilesCarryNameConstraintsAndCertificatePolicies) {
    append_conf(
        "[ constrained_sub ]\n"
        "basicConstraints = critical, CA:true, pathlen:0\n"
        "keyUsage = critical, keyCertSign, cRLSign\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid:always\n"
        "nameConstraints = critical, permitted;DNS:.example.com, excluded;IP:10.0.0.0/255.0.0.0\n"
        "certificatePolicies = 2.23.140.1.2.1, @cps_policy\n"
        "[ cps_policy ]\n"
        "policyIdentifier = 1.3.6.1.4.1.99999.1\n"
        "CPS.1 = https://pki.example.com/cps\n");
    auto s = csr_file("sub");
    auto r = sign({"--in", s, "--extensions", "constrained_sub", "--out", m_dir.file("sub.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto t = run({"openssl", "x509", "-in", m_dir.file("sub.pem"), "-noout", "-text"});
    for (const char* want :
         {"X509v3 Name Constraints: critical\n                Permitted:\n                  "
          "DNS:.example.com\n                Excluded:\n                  "
          "IP:10.0.0.0/255.0.0.0",
          "X509v3 Certificate Policies: \n                Policy: 2.23.140.1.2.1\n"
          "                Policy: 1.3.6.1.4.1.99999.1\n                  CPS: "
          "https://pki.example.com/cps"})
        EXPECT_NE(t.out.find(want), std::string::npos) << want << "\n" << t.out;
    auto g = run({"certtool", "--verify", "--load-ca-certificate", m_dir.file("ca/certs/ca.pem"),
                  "--infile", m_dir.file("sub.pem")});
    EXPECT_EQ(g.exit_code, 0) << g.out << g.err;
}

}  // namespace
}  // namespace ts::test
