// SPDX-License-Identifier: Apache-2.0
// Intermediate CAs: `ca init --csr-out`, the root signing it with sub_ca, `ca install-cert`
// (and everything it refuses), chains in `ca verify` and in the check after signing (pathlen,
// nameConstraints), checked with openssl verify (default provider only) and certtool. CA keys
// in files; the token variant is tests/e2e/ca_root_intermediate_server.sh.
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <filesystem>
#include <regex>

#include "tests/signer/ca_util.hpp"
#include "tests/support/softhsm.hpp"

namespace ts::test {
namespace {

namespace fs = std::filesystem;

Dn dn(const std::string& cn) { return {{"O", "Chain Org"}, {"CN", cn}}; }

class CaIntermediateTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        s_keys = new TempDir("tokensign-chainkeys");
        for (const char* k : {"root", "int", "other", "leaf"}) {
            auto key = make_ec_key();
            write_key(s_keys->file(std::string(k) + ".key"), key.get());
        }
    }
    static void TearDownTestSuite() { delete s_keys; }

    static std::string key(const std::string& name) { return s_keys->file(name + ".key"); }
    std::string f(const std::string& rel) const { return m_dir.file(rel); }
    std::string conf(const std::string& ca) const { return f(ca + "/openssl.cnf"); }

    static OsslPtr<EVP_PKEY> read_key(const std::string& path) {
        OsslPtr<BIO> b(BIO_new_file(path.c_str(), "r"));
        return OsslPtr<EVP_PKEY>(PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr));
    }

    void init_root(const std::string& dir, const std::string& cn, const std::string& k = "root") {
        auto r = tokensign(
            {"ca", "init", "--dir", f(dir), "--key", key(k), "--subject", "/O=Chain Org/CN=" + cn});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }

    // The root signs `csr` with `profile`; the certificate goes to `out`.
    RunResult sign(const std::string& ca, const std::string& csr, const std::string& out,
                   std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"ca",   "sign", "--config", conf(ca), "--batch",
                                         "--in", csr,    "--out",    out};
        args.insert(args.end(), extra.begin(), extra.end());
        return tokensign(args);
    }

    // root CA, intermediate made with --csr-out, signed with sub_ca, installed.
    void make_chain() {
        init_root("root", "Chain Root");
        auto r = tokensign({"ca", "init", "--dir", f("int"), "--key", key("int"), "--subject",
                            "/O=Chain Org/CN=Chain Intermediate", "--csr-out", f("int.csr")});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        r = sign("root", f("int.csr"), f("int.pem"), {"--extensions", "sub_ca"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        r = tokensign({"ca", "install-cert", "--dir", f("int"), f("int.pem"), "--chain",
                       f("root/certs/ca.pem")});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }

    std::string leaf_csr(const std::string& name) {
        auto k = read_key(key("leaf"));
        std::string path = f(name + ".csr");
        write_text(path, make_csr(k.get(), dn(name + ".example.com")));
        return path;
    }

    // Verifiers that do not load tokensign: plain openssl (root trusted, chain untrusted) and
    // certtool (the certificate followed by the chain).
    void expect_chain_verifies(const std::string& cert, bool ok = true) {
        auto v = run({"openssl", "verify", "-CAfile", f("root/certs/ca.pem"), "-untrusted",
                      f("int/certs/chain.pem"), cert},
                     {{"OPENSSL_CONF", "/dev/null"}});
        EXPECT_EQ(v.exit_code == 0, ok) << cert << ": " << v.out << v.err;
        write_text(f("bundle.pem"), read_text(cert) + read_text(f("int/certs/ca.pem")));
        auto g = run({"certtool", "--verify", "--load-ca-certificate", f("root/certs/ca.pem"),
                      "--infile", f("bundle.pem")});
        EXPECT_EQ(g.exit_code == 0, ok) << cert << ": " << g.out << g.err;
    }

    // What a refusal after the signature must leave as it was: nothing issued (index.txt,
    // newcerts/) and no certificate in the output. (The serial it would have had may be spent:
    // serials are reserved before signing.)
    std::map<std::string, std::string> issued(const std::string& ca) const {
        std::map<std::string, std::string> out;
        for (const auto& [rel, text] : snapshot(f(ca)))
            if (rel == "index.txt" || rel.rfind("newcerts/", 0) == 0) out[rel] = text;
        return out;
    }
    void expect_no_certificate_in(const std::string& path) const {
        EXPECT_EQ(read_text(path).find("BEGIN CERTIFICATE"), std::string::npos) << path;
    }

    static TempDir* s_keys;
    TempDir m_dir{"tokensign-chain"};
};

TempDir* CaIntermediateTest::s_keys = nullptr;

TEST_F(CaIntermediateTest, InitCsrOutWritesARequestFromTheKeyAndNoRoot) {
    auto r = tokensign({"ca", "init", "--dir", f("int"), "--key", key("int"), "--subject",
                        "/O=Chain Org/CN=Chain Intermediate", "--csr-out", f("int.csr")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("install-cert"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(f("int/certs/ca.pem")));
    EXPECT_EQ(read_text(f("int/certs/ca.csr")), read_text(f("int.csr")));
    EXPECT_NE(read_text(conf("int")).find("tokensign_chain   = $dir/certs/chain.pem"),
              std::string::npos);
    auto v = run({"openssl", "req", "-in", f("int.csr"), "-noout", "-verify", "-subject"});
    EXPECT_EQ(v.exit_code, 0) << v.err;
    EXPECT_NE(v.out.find("subject=O = Chain Org, CN = Chain Intermediate"), std::string::npos)
        << v.out;
    // Its key is the CA key.
    auto a = run({"openssl", "req", "-in", f("int.csr"), "-noout", "-pubkey"});
    auto b = run({"openssl", "pkey", "-in", key("int"), "-pubout"});
    EXPECT_EQ(a.out, b.out);

    // Refused: --store-cert (no certificate yet) and an existing --csr-out file.
    r = tokensign({"ca", "init", "--dir", f("int2"), "--key", key("int"), "--subject", "/CN=x",
                   "--csr-out", f("x.csr"), "--store-cert"});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_FALSE(fs::exists(f("int2")));
    r = tokensign({"ca", "init", "--dir", f("int2"), "--key", key("int"), "--subject", "/CN=x",
                   "--csr-out", f("int.csr")});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(f("int2")));
}

// ca init --crl-uri / --ca-issuers-uri: what the CA issues says where its CRL and certificate
// are; a URI that openssl.cnf would read as syntax is refused before anything is made.
TEST_F(CaIntermediateTest, InitPublishesTheCrlAndIssuerUrisInWhatTheCaIssues) {
    auto r =
        tokensign({"ca", "init", "--dir", f("root"), "--key", key("root"), "--subject",
                   "/O=Chain Org/CN=Chain Root", "--crl-uri", "http://pki.example.com/root.crl",
                   "--ca-issuers-uri", "http://pki.example.com/root.crt"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto k = read_key(key("int"));
    write_text(f("int.csr"), make_csr(k.get(), dn("Published Intermediate")));
    for (const char* profile : {"sub_ca", "server"}) {
        std::string out = f(std::string(profile) + ".pem");
        r = sign("root", profile == std::string("server") ? leaf_csr("www") : f("int.csr"), out,
                 {"--extensions", profile});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        auto x = run({"openssl", "x509", "-in", out, "-noout", "-ext",
                      "crlDistributionPoints,authorityInfoAccess"});
        EXPECT_NE(x.out.find("URI:http://pki.example.com/root.crl"), std::string::npos) << x.out;
        EXPECT_NE(x.out.find("CA Issuers - URI:http://pki.example.com/root.crt"), std::string::npos)
            << x.out;
    }
    for (const char* bad :
         {"http://pki.example.com/a#b", "pki.example.com/root.crl", "http://pki.example.com/a,b",
          "http://pki.example.com/$dir", "http://pki.example.com/a b"}) {
        r = tokensign({"ca", "init", "--dir", f("bad"), "--key", key("root"), "--subject",
                       "/CN=bad", "--crl-uri", bad});
        EXPECT_EQ(r.exit_code, 6) << bad << ": " << r.err;
        EXPECT_NE(r.err.find("is not a URI tokensign can publish"), std::string::npos) << r.err;
        EXPECT_FALSE(fs::exists(f("bad"))) << bad;
    }
}

// Issue 9 §3: an intermediate's certificates verify, in ca verify and with every verifier.
TEST_F(CaIntermediateTest, RootIntermediateServerVerifiesInTokensignOpensslAndCerttool) {
    make_chain();
    auto x = run(
        {"openssl", "x509", "-in", f("int/certs/ca.pem"), "-noout", "-ext", "basicConstraints"});
    EXPECT_NE(x.out.find("CA:TRUE, pathlen:0"), std::string::npos) << x.out;
    // The chain file: the intermediate, then the root.
    auto chain = read_text(f("int/certs/chain.pem"));
    EXPECT_EQ(chain, read_text(f("int/certs/ca.pem")) + read_text(f("root/certs/ca.pem")));

    auto r = sign("int", leaf_csr("www"), f("www.pem"),
                  {"--extensions", "server", "--san", "DNS:www.example.com"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = tokensign({"ca", "verify", "--config", conf("int"), f("www.pem")});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find(f("www.pem") + ": OK"), std::string::npos) << r.out;
    expect_chain_verifies(f("www.pem"));

    // openssl ca continues the intermediate's directory (tokensign_chain means nothing to it),
    // and tokensign verifies what it issued.
    auto o = run({"openssl", "ca", "-batch", "-config", conf("int"), "-extensions", "client", "-in",
                  leaf_csr("client"), "-out", f("client.pem")});
    ASSERT_EQ(o.exit_code, 0) << o.err;
    r = tokensign({"ca", "verify", "--config", conf("int"), f("client.pem")});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    expect_chain_verifies(f("client.pem"));

    // A CA directory that does not name its chain (as openssl ca users keep them): --chain
    // gives it; without, the check ends at the CA certificate and says so.
    std::string text = read_text(conf("int"));
    write_text(conf("int"), std::regex_replace(text, std::regex("\ntokensign_chain[^\n]*"), ""));
    r = tokensign({"ca", "verify", "--config", conf("int"), f("www.pem")});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("verified up to"), std::string::npos) << r.err;
    r = tokensign(
        {"ca", "verify", "--config", conf("int"), "--chain", f("root/certs/ca.pem"), f("www.pem")});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.find("verified up to"), std::string::npos) << r.err;
    // A chain to another root does not verify it.
    init_root("other", "Other Root", "other");
    r = tokensign({"ca", "verify", "--config", conf("int"), "--chain", f("other/certs/ca.pem"),
                   f("www.pem")});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_NE(r.err.find("unable to get local issuer certificate"), std::string::npos) << r.err;
}

TEST_F(CaIntermediateTest, InstallCertRefusesAnythingButThisCasSignedCaCertificate) {
    init_root("root", "Chain Root");
    init_root("other", "Other Root", "other");
    auto r = tokensign({"ca", "init", "--dir", f("int"), "--key", key("int"), "--subject",
                        "/O=Chain Org/CN=Chain Intermediate", "--csr-out", f("int.csr")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(tokensign({"ca", "init", "--dir", f("int-other"), "--key", key("other"), "--subject",
                         "/O=Chain Org/CN=Someone Else", "--csr-out", f("o.csr")})
                  .exit_code,
              0);
    std::string cnf = read_text(conf("root"));
    write_text(conf("root"), std::regex_replace(cnf, std::regex("unique_subject    = yes"),
                                                "unique_subject = no") +
                                 "\n[ ca_no_certsign ]\nbasicConstraints = critical, CA:true\n"
                                 "keyUsage = critical, digitalSignature, cRLSign\n");
    ASSERT_EQ(sign("root", f("int.csr"), f("int.pem"), {"--extensions", "sub_ca"}).exit_code, 0);
    ASSERT_EQ(sign("root", f("int.csr"), f("leafish.pem"), {"--extensions", "server"}).exit_code,
              0);
    ASSERT_EQ(
        sign("root", f("int.csr"), f("nocs.pem"), {"--extensions", "ca_no_certsign"}).exit_code, 0);
    ASSERT_EQ(sign("root", f("o.csr"), f("o.pem"), {"--extensions", "sub_ca"}).exit_code, 0);
    ASSERT_EQ(sign("other", f("int.csr"), f("by-other.pem"), {"--extensions", "sub_ca"}).exit_code,
              0);

    auto refused = [&](std::vector<std::string> args, int code, const std::string& what) {
        auto before = snapshot(f("int"));
        args.insert(args.begin(), {"ca", "install-cert", "--dir", f("int")});
        auto res = tokensign(args);
        EXPECT_EQ(res.exit_code, code) << res.err;
        EXPECT_NE(res.err.find(what), std::string::npos) << res.err;
        EXPECT_EQ(snapshot(f("int")), before) << "a refused install-cert changed the directory";
    };
    const std::string root = f("root/certs/ca.pem");
    refused({f("leafish.pem"), "--chain", root}, 6, "is not a CA certificate");
    refused({f("nocs.pem"), "--chain", root}, 6, "keyCertSign");
    refused({f("o.pem"), "--chain", root}, 6, "certifies another key");
    refused({root, "--chain", root}, 6, "is self-signed");
    refused({f("int.pem")}, 6, "no chain");
    refused({f("int.pem"), "--chain", f("other/certs/ca.pem")}, 6,
            "does not verify with the chain given");
    refused({f("by-other.pem"), "--chain", root}, 6, "does not verify with the chain given");
    // Without certs/ca.csr the key is checked on the CA key itself (private_key).
    fs::remove(f("int/certs/ca.csr"));
    refused({f("o.pem"), "--chain", root}, 6, "is not for this CA's key");

    // The right one, with its chain in the same file, installs; a second install is refused.
    write_text(f("int-bundle.pem"), read_text(f("int.pem")) + read_text(root));
    r = tokensign({"ca", "install-cert", "--dir", f("int"), f("int-bundle.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_text(f("int/certs/ca.pem")), read_text(f("int.pem")));
    refused({f("int.pem"), "--chain", root}, 7, "already has its certificate");
}

// pathlen:0 in the intermediate: a CA certificate it issued would verify as the end of a path
// (RFC 5280 counts the intermediates that follow) but could never issue a certificate that
// verifies. The check after signing refuses it, nothing is written; and a certificate issued
// under such a CA anyway (here by openssl ca) is rejected by the verifiers.
TEST_F(CaIntermediateTest, APathlenZeroIntermediateCannotIssueASubordinateCa) {
    make_chain();
    auto before = issued("int");
    auto r = sign("int", leaf_csr("subsub"), f("subsub.pem"), {"--extensions", "sub_ca"});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_NE(r.err.find("cannot issue anything that verifies: /O=Chain Org/CN=Chain "
                         "Intermediate has pathlen:0 (use an end-entity profile, or a parent that "
                         "allows more levels); not signed"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(issued("int"), before);
    expect_no_certificate_in(f("subsub.pem"));

    auto o = run({"openssl", "ca", "-batch", "-config", conf("int"), "-extensions", "sub_ca", "-in",
                  f("subsub.csr"), "-out", f("subsub.pem")});
    ASSERT_EQ(o.exit_code, 0) << o.err;
    auto k = read_key(key("other"));
    write_text(f("below.csr"), make_csr(k.get(), dn("below.example.com")));
    o = run({"openssl", "x509", "-req", "-in", f("below.csr"), "-CA", f("subsub.pem"), "-CAkey",
             key("leaf"), "-days", "30", "-out", f("below.pem")});
    ASSERT_EQ(o.exit_code, 0) << o.err;
    write_text(f("chain2.pem"), read_text(f("subsub.pem")) + read_text(f("int/certs/ca.pem")));
    auto v = run({"openssl", "verify", "-CAfile", f("root/certs/ca.pem"), "-untrusted",
                  f("chain2.pem"), f("below.pem")},
                 {{"OPENSSL_CONF", "/dev/null"}});
    EXPECT_NE(v.exit_code, 0) << v.out;
    EXPECT_NE((v.out + v.err).find("path length constraint exceeded"), std::string::npos)
        << v.out << v.err;
}

// nameConstraints from the root's profile bind what the intermediate issues: a name inside
// is issued and verifies; one outside is refused by the check after signing, and verifiers
// reject such a certificate (made here by openssl ca, which does not check).
TEST_F(CaIntermediateTest, TheIntermediatesNameConstraintsAreEnforcedWhenItSigns) {
    init_root("root", "Chain Root");
    write_text(conf("root"),
               read_text(conf("root")) +
                   "\n[ constrained_sub ]\n"
                   "basicConstraints = critical, CA:true, pathlen:0\n"
                   "keyUsage = critical, keyCertSign, cRLSign\n"
                   "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n"
                   "nameConstraints = critical, permitted;DNS:.example.com\n"
                   "certificatePolicies = 2.23.140.1.2.1\n");
    auto r = tokensign({"ca", "init", "--dir", f("int"), "--key", key("int"), "--subject",
                        "/O=Chain Org/CN=Constrained Intermediate", "--csr-out", f("int.csr")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(
        sign("root", f("int.csr"), f("int.pem"), {"--extensions", "constrained_sub"}).exit_code, 0);
    r = tokensign(
        {"ca", "install-cert", "--dir", f("int"), f("int.pem"), "--chain", f("root/certs/ca.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.err;

    r = sign("int", leaf_csr("inside"), f("inside.pem"),
             {"--extensions", "server", "--san", "DNS:www.example.com"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_chain_verifies(f("inside.pem"));

    auto before = issued("int");
    auto outside = leaf_csr("outside");
    r = sign("int", outside, f("outside.pem"), {"--extensions", "server", "--san", "DNS:evil.org"});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_NE(r.err.find("is outside the nameConstraints of /O=Chain Org/CN=Constrained "
                         "Intermediate (permitted subtree violation); not signed"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(issued("int"), before);
    expect_no_certificate_in(f("outside.pem"));
    // Without a subjectAltName the commonName is held to the constraints, as verifiers do.
    auto k = read_key(key("leaf"));
    write_text(f("cn.csr"), make_csr(k.get(), {{"CN", "www.evil.org"}}));
    r = sign("int", f("cn.csr"), f("cn.pem"), {"--extensions", "client"});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_NE(r.err.find("is outside the nameConstraints"), std::string::npos) << r.err;
    EXPECT_EQ(issued("int"), before);

    write_text(f("evil-ext.cnf"), "basicConstraints = CA:FALSE\nsubjectAltName = DNS:evil.org\n");
    auto o = run({"openssl", "ca", "-batch", "-config", conf("int"), "-extfile", f("evil-ext.cnf"),
                  "-in", outside, "-out", f("evil.pem")});
    ASSERT_EQ(o.exit_code, 0) << o.err;
    expect_chain_verifies(f("evil.pem"), false);
    r = tokensign({"ca", "verify", "--config", conf("int"), f("evil.pem")});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_NE(r.err.find("permitted subtree violation"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ts::test
