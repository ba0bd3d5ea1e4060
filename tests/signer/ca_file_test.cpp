// SPDX-License-Identifier: Apache-2.0
// `tokensign ca` with a CA key in a file: the workflow, every refusal (with nothing changed),
// and compatibility with the real `openssl ca` in both directions. The token variant of the
// same path is ca_token_test.cpp.
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <regex>
#include <set>
#include <thread>

#include "tests/signer/ca_util.hpp"
#include "tests/support/softhsm.hpp"

namespace ts::test {
namespace {

namespace fs = std::filesystem;

const Dn kCaDn = {{"C", "US"}, {"O", "Test Org"}, {"CN", "Test Root"}};

Dn leaf(const std::string& cn) { return {{"C", "US"}, {"O", "Test Org"}, {"CN", cn}}; }

class CaFileTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        s_keys = new TempDir("tokensign-cakeys");
        auto k = make_rsa_key(2048);
        write_key(s_keys->file("ca.key"), k.get());
        auto other = make_rsa_key(2048);
        write_key(s_keys->file("other.key"), other.get());
        s_leaf_key = make_rsa_key(2048).release();
    }
    static void TearDownTestSuite() {
        delete s_keys;
        EVP_PKEY_free(s_leaf_key);
    }

    void SetUp() override { init_ca(m_dir.file("ca"), {}); }

    void init_ca(const std::string& dir, std::vector<std::string> extra) {
        std::vector<std::string> args = {"ca",        "init",
                                         "--dir",     dir,
                                         "--key",     s_keys->file("ca.key"),
                                         "--subject", "/C=US/O=Test Org/CN=Test Root"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto r = tokensign(args);
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }

    std::string conf() const { return m_dir.file("ca/openssl.cnf"); }
    std::string ca(const std::string& rel) const { return m_dir.file("ca/" + rel); }

    std::string csr_file(const std::string& name, const Dn& dn, const Dn& ext = {},
                         EVP_PKEY* key = nullptr) {
        std::string path = m_dir.file(name + ".csr");
        write_text(path, make_csr(key ? key : s_leaf_key, dn, ext));
        return path;
    }

    RunResult sign(std::vector<std::string> extra) {
        std::vector<std::string> args = {"ca", "sign", "--config", conf(), "--batch"};
        args.insert(args.end(), extra.begin(), extra.end());
        return tokensign(args);
    }

    // Replaces `key = ...` in the CA's openssl.cnf.
    void set_conf(const std::string& key, const std::string& value) {
        std::string text = read_text(conf());
        std::regex re("\n" + key + "\\s*=[^\n]*");
        if (std::regex_search(text, re))
            text = std::regex_replace(text, re, "\n" + key + " = " + value);
        else
            text = std::regex_replace(text, std::regex("\\[ CA_default \\]\n"),
                                      "[ CA_default ]\n" + key + " = " + value + "\n");
        write_text(conf(), text);
    }

    // A refused run: exit code 6, the message contains `what`, and the CA directory is
    // byte-for-byte what it was.
    void expect_refused(std::vector<std::string> extra, const std::string& what) {
        auto before = snapshot(m_dir.file("ca"));
        auto r = sign(std::move(extra));
        EXPECT_EQ(r.exit_code, 6) << r.err;
        EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
        EXPECT_EQ(snapshot(m_dir.file("ca")), before) << "a refused signing changed the CA";
    }

    static TempDir* s_keys;
    static EVP_PKEY* s_leaf_key;
    TempDir m_dir{"tokensign-cafile"};
};

TempDir* CaFileTest::s_keys = nullptr;
EVP_PKEY* CaFileTest::s_leaf_key = nullptr;

TEST_F(CaFileTest, InitWritesTheGuidesLayoutAndARootWithCaExtensions) {
    for (const char* d : {"certs", "crl", "newcerts", "private"})
        EXPECT_TRUE(fs::is_directory(ca(d))) << d;
    EXPECT_EQ(read_text(ca("index.txt")), "");
    EXPECT_EQ(read_text(ca("index.txt.attr")), "unique_subject = yes\n");
    EXPECT_EQ(read_text(ca("serial")), "1000\n");
    EXPECT_TRUE(fs::exists(ca("crlnumber")));
    std::string cnf = read_text(conf());
    for (const char* s : {"[ ca ]", "[ CA_default ]", "[ policy_default ]", "[ policy_strict ]",
                          "[ v3_ca ]", "[ usr_cert ]", "[ server ]", "[ client ]", "[ sub_ca ]"})
        EXPECT_NE(cnf.find(s), std::string::npos) << s;
    EXPECT_NE(cnf.find("private_key       = " + s_keys->file("ca.key")), std::string::npos);

    auto r = run({"openssl", "x509", "-in", ca("certs/ca.pem"), "-noout", "-text"});
    ASSERT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("X509v3 Basic Constraints: critical\n                CA:TRUE"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("X509v3 Key Usage: critical\n                Certificate Sign, CRL Sign"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("X509v3 Subject Key Identifier"), std::string::npos);
    EXPECT_NE(r.out.find("X509v3 Authority Key Identifier"), std::string::npos);
    EXPECT_NE(r.out.find("sha256WithRSAEncryption"), std::string::npos);
    auto v = run({"openssl", "verify", "-CAfile", ca("certs/ca.pem"), ca("certs/ca.pem")});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
}

// --out to something that is not a regular file (here a FIFO; /dev/null or /dev/stdout in real
// use) is written to, never replaced by a renamed temp file.
TEST_F(CaFileTest, OutputToAFifoIsWrittenInPlaceNotReplaced) {
    auto a = csr_file("a", leaf("a.example"));
    std::string fifo = m_dir.file("fifo"), got = m_dir.file("got.pem");
    std::string cmd = "mkfifo '" + fifo + "' && { cat '" + fifo + "' > '" + got + "' & } && '" +
                      cli_path() + "' ca sign --batch --config '" + conf() + "' --in '" + a +
                      "' --out '" + fifo + "' && wait";
    auto r = run({"bash", "-c", cmd});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(fs::is_fifo(fifo));
    EXPECT_EQ(read_text(got).rfind("-----BEGIN CERTIFICATE-----", 0), 0u) << read_text(got);
}

// Every output is checked before anything is signed: a mistyped path is a command-line mistake
// (exit 2) that leaves the CA directory as it was, so the retry is not refused as a duplicate.
TEST_F(CaFileTest, UnwritableOrExistingOutputsAreRefusedBeforeAnythingIsSigned) {
    auto a = csr_file("a", leaf("a.example"));
    auto before = snapshot(m_dir.file("ca"));
    auto expect_usage = [&](std::vector<std::string> args, const std::string& what) {
        auto r = tokensign(args);
        EXPECT_EQ(r.exit_code, 2) << r.err;
        EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
        EXPECT_EQ(snapshot(m_dir.file("ca")), before) << "a refused output changed the CA";
    };
    expect_usage({"ca", "sign", "--config", conf(), "--batch", "--in", a, "--out",
                  m_dir.file("no/such/dir/a.pem")},
                 "does not exist");
    expect_usage({"ca", "sign", "--config", conf(), "--batch", "--in", a, "--out-dir",
                  m_dir.file("no-such-dir")},
                 "not an existing directory");
    expect_usage({"ca", "sign", "--config", conf(), "--batch", "--in", a, "--out",
                  m_dir.file("x.pem"), "--out-dir", m_dir.path()},
                 "cannot be combined");
    expect_usage({"ca", "gencrl", "--config", conf(), "--out", m_dir.file("no/such/crl.pem")},
                 "does not exist");
    // An existing file is never replaced without --force, for --out, --out-dir and gencrl alike.
    write_text(m_dir.file("taken.pem"), "keep me\n");
    expect_usage(
        {"ca", "sign", "--config", conf(), "--batch", "--in", a, "--out", m_dir.file("taken.pem")},
        "already exists");
    expect_usage({"ca", "gencrl", "--config", conf(), "--out", m_dir.file("taken.pem")}, "--force");
    fs::create_directory(m_dir.file("outdir"));
    write_text(m_dir.file("outdir/a.pem"), "keep me\n");
    expect_usage(
        {"ca", "sign", "--config", conf(), "--batch", "--in", a, "--out-dir", m_dir.file("outdir")},
        "already exists");
    EXPECT_EQ(read_text(m_dir.file("taken.pem")), "keep me\n");
    EXPECT_EQ(read_text(m_dir.file("outdir/a.pem")), "keep me\n");
    // --force replaces; nothing else is left beside the outputs.
    auto r = tokensign({"ca", "sign", "--config", conf(), "--batch", "--in", a, "--out-dir",
                        m_dir.file("outdir"), "--force"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_text(m_dir.file("outdir/a.pem")).rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
    r = tokensign(
        {"ca", "gencrl", "--config", conf(), "--out", m_dir.file("taken.pem"), "--force"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_text(m_dir.file("taken.pem")).rfind("-----BEGIN X509 CRL-----", 0), 0u);
    for (const auto& e : fs::directory_iterator(m_dir.path()))
        EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
    for (const auto& e : fs::directory_iterator(m_dir.file("outdir")))
        EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
}

// Under umask 000, ca init still makes nothing group- or world-writable (its openssl.cnf names
// the module OpenSSL loads), and private/ is 0700.
TEST_F(CaFileTest, InitUnderALaxUmaskMakesNothingWritableByOthers) {
    std::string dir = m_dir.file("lax");
    auto r = run({"bash", "-c",
                  "umask 000 && exec '" + cli_path() + "' ca init --dir '" + dir + "' --key '" +
                      s_keys->file("ca.key") + "' --subject '/C=US/O=Test Org/CN=Lax Root'"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        auto perms = fs::status(e.path()).permissions();
        EXPECT_EQ(perms & (fs::perms::group_write | fs::perms::others_write), fs::perms::none)
            << e.path();
    }
    auto perms = fs::status(dir).permissions();
    EXPECT_EQ(perms & (fs::perms::group_write | fs::perms::others_write), fs::perms::none);
    EXPECT_EQ(fs::status(dir + "/private").permissions() & fs::perms::all, fs::perms::owner_all);
}

TEST_F(CaFileTest, InitNeverOverwritesAnExistingCaDirectory) {
    auto before = snapshot(ca(""));
    auto r = tokensign({"ca", "init", "--dir", ca(""), "--key", s_keys->file("other.key"),
                        "--subject", "/CN=Other"});
    EXPECT_EQ(r.exit_code, 7) << r.err;
    EXPECT_NE(r.err.find("never overwrites"), std::string::npos) << r.err;
    EXPECT_EQ(snapshot(ca("")), before);
}

TEST_F(CaFileTest, BatchSignIssuesCertificatesThatIndependentVerifiersAccept) {
    auto a = csr_file("a", leaf("a.example"));
    auto b = csr_file("b", leaf("b.example"));
    auto c = csr_file("c", leaf("c.example"));
    fs::create_directory(m_dir.file("out"));
    auto r = sign({"--in", a, b, c, "--out-dir", m_dir.file("out")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_text(ca("serial")), "1003\n");
    EXPECT_EQ(read_text(ca("serial.old")), "1000\n");
    auto lines = index_without_dates(ca("index.txt"));
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0], "V\t<expiry>\t\t1000\tunknown\t/C=US/O=Test Org/CN=a.example");
    EXPECT_EQ(lines[2], "V\t<expiry>\t\t1002\tunknown\t/C=US/O=Test Org/CN=c.example");
    // newcerts/ as openssl ca writes it: the text form, then the PEM.
    std::string nc = read_text(ca("newcerts/1001.pem"));
    EXPECT_EQ(nc.rfind("Certificate:\n    Data:\n", 0), 0u) << nc.substr(0, 80);
    EXPECT_NE(nc.find("-----BEGIN CERTIFICATE-----"), std::string::npos);

    for (const char* n : {"a", "b", "c"}) {
        std::string cert = m_dir.file(std::string("out/") + n + ".pem");
        auto v = run({"openssl", "verify", "-CAfile", ca("certs/ca.pem"), cert},
                     {{"OPENSSL_CONF", "/dev/null"}});
        EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
        auto g = run({"certtool", "--verify", "--load-ca-certificate", ca("certs/ca.pem"),
                      "--infile", cert});
        EXPECT_EQ(g.exit_code, 0) << g.out << g.err;
    }
    auto x = run({"openssl", "x509", "-in", m_dir.file("out/b.pem"), "-noout", "-text"});
    EXPECT_NE(x.out.find("CA:FALSE"), std::string::npos);
    EXPECT_NE(x.out.find("Serial Number: 4097 (0x1001)"), std::string::npos) << x.out;
}

TEST_F(CaFileTest, Md5InTheConfigIsRefusedWithTheReasonAndNothingChanges) {
    set_conf("default_md", "md5");
    auto a = csr_file("a", leaf("a.example"));
    expect_refused({"--in", a}, "default_md in [CA_default]");
    auto r = sign({"--in", a});
    EXPECT_NE(r.err.find("MD5"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("set default_md = sha256"), std::string::npos) << r.err;
    set_conf("default_md", "sha1");
    expect_refused({"--in", a}, "SHA-1");
}

TEST_F(CaFileTest, PolicyViolationsNameTheFieldAndTheExpectation) {
    set_conf("policy", "policy_strict");
    auto de = csr_file("de", {{"C", "DE"}, {"O", "Test Org"}, {"CN", "x.example"}});
    expect_refused({"--in", de}, "the countryName field must match the CA ('US'");
    auto noorg = csr_file("noorg", {{"C", "US"}, {"CN", "x.example"}});
    expect_refused({"--in", noorg}, "organizationName field is mandatory");
    set_conf("policy", "policy_default");
    auto nocn = csr_file("nocn", {{"C", "US"}, {"O", "Test Org"}});
    expect_refused({"--in", nocn}, "the commonName field must be supplied");
}

TEST_F(CaFileTest, PolicyKeepsOnlyPolicyFieldsInPolicyOrderUnlessPreserve) {
    // policy_default lists C, ST, L, O, OU, CN, emailAddress; an extra field (title) is dropped
    // and the order is the policy's, as openssl ca does.
    auto r1 = csr_file("r1", {{"CN", "r1.example"}, {"title", "boss"}, {"C", "US"}});
    ASSERT_EQ(sign({"--in", r1, "--out", m_dir.file("r1.pem")}).exit_code, 0);
    auto s = run({"openssl", "x509", "-in", m_dir.file("r1.pem"), "-noout", "-subject"});
    EXPECT_EQ(s.out, "subject=C = US, CN = r1.example\n");
    // preserve = yes in [ca] (where openssl reads it) keeps the request's subject whole.
    std::string text = read_text(conf());
    text = std::regex_replace(text, std::regex("default_ca = CA_default"),
                              "default_ca = CA_default\npreserve = yes");
    write_text(conf(), text);
    auto r2 = csr_file("r2", {{"CN", "r2.example"}, {"title", "boss"}, {"C", "US"}});
    ASSERT_EQ(sign({"--in", r2, "--out", m_dir.file("r2.pem")}).exit_code, 0);
    s = run({"openssl", "x509", "-in", m_dir.file("r2.pem"), "-noout", "-subject"});
    EXPECT_EQ(s.out, "subject=CN = r2.example, title = boss, C = US\n");
}

TEST_F(CaFileTest, EmailInDnNoDropsTheEmailAddressFromTheSubject) {
    // The openssl.cnf tokensign writes says email_in_dn = no.
    auto e = csr_file("e", {{"C", "US"}, {"CN", "e.example"}, {"emailAddress", "e@example.org"}});
    ASSERT_EQ(sign({"--in", e, "--out", m_dir.file("e.pem")}).exit_code, 0);
    auto s = run({"openssl", "x509", "-in", m_dir.file("e.pem"), "-noout", "-subject"});
    EXPECT_EQ(s.out, "subject=C = US, CN = e.example\n");
    set_conf("email_in_dn", "yes");
    auto f = csr_file("f", {{"C", "US"}, {"CN", "f.example"}, {"emailAddress", "f@example.org"}});
    ASSERT_EQ(sign({"--in", f, "--out", m_dir.file("f.pem")}).exit_code, 0);
    s = run({"openssl", "x509", "-in", m_dir.file("f.pem"), "-noout", "-subject"});
    EXPECT_EQ(s.out, "subject=C = US, CN = f.example, emailAddress = f@example.org\n");
}

TEST_F(CaFileTest, RandSerialLeavesTheSerialFileAloneAndNeverRepeats) {
    set_conf("rand_serial", "yes");
    auto a = csr_file("a", leaf("a.example"));
    auto b = csr_file("b", leaf("b.example"));
    ASSERT_EQ(sign({"--in", a, b}).exit_code, 0);
    EXPECT_EQ(read_text(ca("serial")), "1000\n");
    auto lines = index_without_dates(ca("index.txt"));
    ASSERT_EQ(lines.size(), 2u);
    std::set<std::string> serials;
    for (const auto& l : lines) {
        std::string serial = l.substr(l.find("\t\t") + 2);
        serial = serial.substr(0, serial.find('\t'));
        EXPECT_GE(serial.size(), 32u) << l;  // ~159 random bits
        EXPECT_TRUE(fs::exists(ca("newcerts/" + serial + ".pem"))) << serial;
        serials.insert(serial);
    }
    EXPECT_EQ(serials.size(), 2u);
}

TEST_F(CaFileTest, FixedDatesAreUsedAndUpdatedbMarksExpiredEntries) {
    set_conf("default_startdate", "200101000000Z");
    set_conf("default_enddate", "200201000000Z");
    auto old = csr_file("old", leaf("old.example"));
    ASSERT_EQ(sign({"--in", old, "--out", m_dir.file("old.pem")}).exit_code, 0);
    auto d = run({"openssl", "x509", "-in", m_dir.file("old.pem"), "-noout", "-dates"});
    EXPECT_EQ(d.out, "notBefore=Jan  1 00:00:00 2020 GMT\nnotAfter=Feb  1 00:00:00 2020 GMT\n");
    auto u = tokensign({"ca", "updatedb", "--config", conf()});
    ASSERT_EQ(u.exit_code, 0) << u.err;
    EXPECT_NE(u.err.find("1 entry marked as expired"), std::string::npos) << u.err;
    EXPECT_EQ(index_without_dates(ca("index.txt"))[0],
              "E\t<expiry>\t\t1000\tunknown\t/C=US/O=Test Org/CN=old.example");
    auto st = tokensign({"ca", "status", "--config", conf(), "1000"});
    EXPECT_EQ(st.out, "1000=Expired (E)\n");
}

TEST_F(CaFileTest, SmallRsaKeysInCsrsAreRefusedAtTheConfigurableFloor) {
    auto small = make_rsa_key(1024);
    auto p = csr_file("small", leaf("small.example"), {}, small.get());
    expect_refused({"--in", p}, "RSA key has 1024 bits; this CA requires at least 2048");
    set_conf("tokensign_min_rsa_bits", "3072");
    auto mid = csr_file("mid", leaf("mid.example"));
    expect_refused({"--in", mid}, "at least 3072");
}

TEST_F(CaFileTest, ATamperedCsrSignatureIsRefused) {
    std::string pem = make_csr(s_leaf_key, leaf("t.example"));
    OsslPtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    OsslPtr<X509_REQ> req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    ASSERT_TRUE(req);
    unsigned char* der = nullptr;
    int len = i2d_X509_REQ(req.get(), &der);
    ASSERT_GT(len, 100);
    der[len - 10] ^= 0x01;  // inside the signature value
    write_text(m_dir.file("t.csr"),
               std::string(reinterpret_cast<char*>(der), static_cast<std::size_t>(len)));
    OPENSSL_free(der);
    expect_refused({"--in", m_dir.file("t.csr")}, "signature does not verify");
}

TEST_F(CaFileTest, MalformedAndTruncatedCsrsAreRefused) {
    std::string pem = make_csr(s_leaf_key, leaf("t.example"));
    write_text(m_dir.file("trunc.csr"), pem.substr(0, pem.size() / 2));
    expect_refused({"--in", m_dir.file("trunc.csr")}, "malformed or truncated");
    write_text(m_dir.file("junk.csr"), "this is not a CSR\n");
    expect_refused({"--in", m_dir.file("junk.csr")}, "malformed or truncated");
    // A bad CSR first in a batch: nothing is signed, and the CA directory is unchanged (no
    // serial is reserved before a request passed).
    auto good = csr_file("good", leaf("good.example"));
    expect_refused({"--in", m_dir.file("trunc.csr"), good}, "trunc.csr");
    // A bad CSR after a good one: the batch stops there; the certificate the token had signed
    // already is issued and recorded, never discarded, and the inputs not processed are named.
    auto r = sign({"--in", good, m_dir.file("trunc.csr")});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_NE(r.err.find("issued 1 of 2 certificates"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not processed: " + m_dir.file("trunc.csr")), std::string::npos) << r.err;
    auto index = read_text(m_dir.file("ca/index.txt"));
    EXPECT_NE(index.find("CN=good.example"), std::string::npos) << index;
    EXPECT_TRUE(std::filesystem::exists(m_dir.file("ca/newcerts/1000.pem")));
}

TEST_F(CaFileTest, DuplicateSubjectIsRefusedUntilTheFirstIsRevoked) {
    auto a1 = csr_file("a1", leaf("dup.example"));
    ASSERT_EQ(sign({"--in", a1, "--out", m_dir.file("a1.pem")}).exit_code, 0);
    auto a2 = csr_file("a2", leaf("dup.example"));
    expect_refused({"--in", a2},
                   "a valid certificate for /C=US/O=Test Org/CN=dup.example "
                   "already exists (serial 1000)");
    auto rv = tokensign({"ca", "revoke", "--config", conf(), "--cert", m_dir.file("a1.pem"),
                         "--reason", "superseded"});
    ASSERT_EQ(rv.exit_code, 0) << rv.err;
    EXPECT_EQ(sign({"--in", a2}).exit_code, 0);
    // Two identical subjects in one batch are a clash as well: the first is issued, the second
    // refused.
    auto b1 = csr_file("b1", leaf("twice.example"));
    auto r = sign({"--in", b1, b1});
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_NE(r.err.find("this run"), std::string::npos) << r.err;
    auto index = read_text(m_dir.file("ca/index.txt"));
    EXPECT_EQ(std::count(index.begin(), index.end(), '\n'), 3) << index;  // a1, a2, b1
}

TEST_F(CaFileTest, ACsrCannotObtainCaTrueUnlessTheProfileIsACaProfile) {
    set_conf("copy_extensions", "copyall");
    // ca init's tokensign_copy_only = subjectAltName would not copy them at all.
    set_conf("tokensign_copy_only", "subjectAltName, basicConstraints, keyUsage");
    auto evil = csr_file("evil", leaf("evil.example"), {{"basicConstraints", "critical,CA:TRUE"}});
    expect_refused({"--in", evil}, "asks for basicConstraints CA:TRUE");
    auto ku = csr_file("ku", leaf("ku.example"), {{"keyUsage", "keyCertSign"}});
    expect_refused({"--in", ku}, "keyCertSign");
    // The sub_ca profile issues CA certificates, so the request is acceptable there.
    auto r = sign({"--in", evil, "--extensions", "sub_ca", "--out", m_dir.file("sub.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto x = run(
        {"openssl", "x509", "-in", m_dir.file("sub.pem"), "-noout", "-ext", "basicConstraints"});
    EXPECT_NE(x.out.find("CA:TRUE"), std::string::npos) << x.out;
    // copy (not copyall) keeps the profile's CA:FALSE and so issues the certificate.
    set_conf("copy_extensions", "copy");
    auto evil2 = csr_file(
        "evil2", leaf("evil2.example"),
        {{"basicConstraints", "critical,CA:TRUE"}, {"subjectAltName", "DNS:evil2.example"}});
    r = sign({"--in", evil2, "--out", m_dir.file("evil2.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    x = run({"openssl", "x509", "-in", m_dir.file("evil2.pem"), "-noout", "-ext",
             "basicConstraints,subjectAltName"});
    EXPECT_NE(x.out.find("CA:FALSE"), std::string::npos) << x.out;
    EXPECT_NE(x.out.find("DNS:evil2.example"), std::string::npos) << x.out;
}

TEST_F(CaFileTest, UnknownExtensionSectionIsRefused) {
    auto a = csr_file("a", leaf("a.example"));
    expect_refused({"--in", a, "--extensions", "no_such_section"},
                   "unknown extension section [no_such_section]");
    set_conf("x509_extensions", "also_missing");
    expect_refused({"--in", a}, "unknown extension section [also_missing]");
}

TEST_F(CaFileTest, AKeyThatDoesNotMatchTheCaCertificateIsRefused) {
    set_conf("private_key", s_keys->file("other.key"));
    auto a = csr_file("a", leaf("a.example"));
    expect_refused({"--in", a}, "does not match the CA certificate");
}

TEST_F(CaFileTest, CertificatesAreClippedToTheCaEndOrRefusedWhenConfigured) {
    init_ca(m_dir.file("short"), {"--days", "30"});
    std::string cnf = m_dir.file("short/openssl.cnf");
    auto a = csr_file("a", leaf("a.example"));
    auto r = tokensign({"ca", "sign", "--config", cnf, "--batch", "--in", a, "--days", "400",
                        "--out", m_dir.file("a.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("validity clipped"), std::string::npos) << r.err;
    auto ca_end =
        run({"openssl", "x509", "-in", m_dir.file("short/certs/ca.pem"), "-noout", "-enddate"});
    auto leaf_end = run({"openssl", "x509", "-in", m_dir.file("a.pem"), "-noout", "-enddate"});
    EXPECT_EQ(leaf_end.out, ca_end.out);

    std::string text = read_text(cnf);
    write_text(cnf, std::regex_replace(text, std::regex("\\[ CA_default \\]\n"),
                                       "[ CA_default ]\ntokensign_clip_to_ca = no\n"));
    auto b = csr_file("b", leaf("b.example"));
    auto before = snapshot(m_dir.file("short"));
    r = tokensign({"ca", "sign", "--config", cnf, "--batch", "--in", b, "--days", "400"});
    EXPECT_EQ(r.exit_code, 6);
    EXPECT_NE(r.err.find("after the CA certificate ends"), std::string::npos) << r.err;
    EXPECT_EQ(snapshot(m_dir.file("short")), before);
}

TEST_F(CaFileTest, AnExpiredCaCertificateIsRefused) {
    // Re-issue the root with the same key, valid only in the past.
    OsslPtr<BIO> kb(BIO_new_file(s_keys->file("ca.key").c_str(), "r"));
    OsslPtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr));
    OsslPtr<BIO> cb(BIO_new_file(ca("certs/ca.pem").c_str(), "r"));
    OsslPtr<X509> cert(PEM_read_bio_X509(cb.get(), nullptr, nullptr, nullptr));
    ASSERT_TRUE(key && cert);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -10L * 86400);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), -86400);
    ASSERT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
    {
        OsslPtr<BIO> out(BIO_new_file(ca("certs/ca.pem").c_str(), "w"));
        PEM_write_bio_X509(out.get(), cert.get());
    }
    auto a = csr_file("a", leaf("a.example"));
    expect_refused({"--in", a}, "expired on");
}

TEST_F(CaFileTest, WithoutBatchAndWithoutATerminalSigningIsDeclined) {
    auto a = csr_file("a", leaf("a.example"));
    auto before = snapshot(ca(""));
    // setsid: no controlling terminal, as under CI or a pipe.
    auto r = run({"setsid", "-w", cli_path(), "ca", "sign", "--config", conf(), "--in", a});
    EXPECT_EQ(r.exit_code, 8) << r.err;
    EXPECT_NE(r.err.find("use --batch"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Certificate to be issued"), std::string::npos) << r.err;
    EXPECT_EQ(snapshot(ca("")), before);
}

// The prompt on a real terminal: script(1) gives tokensign a pseudo-terminal and types the
// answer.
TEST_F(CaFileTest, WithoutBatchTheCertificateIsShownAndOnlyYesSignsIt) {
    auto a = csr_file("a", leaf("a.example"));
    auto before = snapshot(ca(""));
    std::string cmd =
        cli_path() + " ca sign --config " + conf() + " --in " + a + " --out " + m_dir.file("a.pem");
    auto no = run({"script", "-qec", cmd, "/dev/null"}, {}, "n\n");
    EXPECT_EQ(no.exit_code, 8) << no.out << no.err;
    EXPECT_NE(no.out.find("Subject: C = US, O = Test Org, CN = a.example"), std::string::npos)
        << no.out;
    EXPECT_NE(no.out.find("[y/N]"), std::string::npos) << no.out;
    EXPECT_EQ(snapshot(ca("")), before);
    EXPECT_FALSE(fs::exists(m_dir.file("a.pem")));
    auto yes = run({"script", "-qec", cmd, "/dev/null"}, {}, "y\n");
    EXPECT_EQ(yes.exit_code, 0) << yes.out << yes.err;
    EXPECT_TRUE(fs::exists(m_dir.file("a.pem")));
    EXPECT_EQ(read_text(ca("serial")), "1001\n");
}

TEST_F(CaFileTest, RevokeGencrlStatusListAndVerify) {
    std::vector<std::string> in = {"--in"};
    for (const char* n : {"r0", "r1", "r2"})
        in.push_back(csr_file(n, leaf(std::string(n) + ".example")));
    fs::create_directory(m_dir.file("o"));
    in.push_back("--out-dir");
    in.push_back(m_dir.file("o"));
    ASSERT_EQ(sign(in).exit_code, 0);
    // Revoke out of order: the CRL lists entries sorted by serial anyway.
    ASSERT_EQ(tokensign({"ca", "revoke", "--config", conf(), "--serial", "1002", "--reason",
                         "keyCompromise"})
                  .exit_code,
              0);
    ASSERT_EQ(
        tokensign({"ca", "revoke", "--config", conf(), "--cert", m_dir.file("o/r0.pem")}).exit_code,
        0);
    auto again = tokensign({"ca", "revoke", "--config", conf(), "--serial", "1002"});
    EXPECT_EQ(again.exit_code, 6);
    EXPECT_NE(again.err.find("already revoked"), std::string::npos);
    auto bad_reason =
        tokensign({"ca", "revoke", "--config", conf(), "--serial", "1001", "--reason", "bored"});
    EXPECT_EQ(bad_reason.exit_code, 6);

    auto lines = index_without_dates(ca("index.txt"));
    EXPECT_EQ(lines[0], "R\t<expiry>\t<date>\t1000\tunknown\t/C=US/O=Test Org/CN=r0.example");
    EXPECT_EQ(lines[2],
              "R\t<expiry>\t<date>,keyCompromise\t1002\tunknown\t/C=US/O=Test Org/CN=r2.example");

    std::string crlnumber = read_text(ca("crlnumber"));
    auto g = tokensign({"ca", "gencrl", "--config", conf(), "--out", m_dir.file("crl.pem")});
    ASSERT_EQ(g.exit_code, 0) << g.err;
    EXPECT_EQ(read_text(ca("crlnumber.old")), crlnumber);
    EXPECT_EQ(read_text(ca("crlnumber")), "1001\n");
    auto v = run({"openssl", "crl", "-in", m_dir.file("crl.pem"), "-CAfile", ca("certs/ca.pem"),
                  "-verify", "-noout", "-text"});
    ASSERT_EQ(v.exit_code, 0) << v.err;
    EXPECT_NE(v.err.find("verify OK"), std::string::npos) << v.err;
    auto p0 = v.out.find("Serial Number: 1000");
    auto p2 = v.out.find("Serial Number: 1002");
    ASSERT_NE(p0, std::string::npos);
    ASSERT_NE(p2, std::string::npos);
    EXPECT_LT(p0, p2);
    EXPECT_NE(v.out.find("Key Compromise"), std::string::npos);
    EXPECT_NE(v.out.find("X509v3 CRL Number: \n                4096"), std::string::npos) << v.out;
    // A revoked certificate fails an independent CRL-checking verifier.
    auto crlcheck = run({"openssl", "verify", "-crl_check", "-CAfile", ca("certs/ca.pem"),
                         "-CRLfile", m_dir.file("crl.pem"), m_dir.file("o/r2.pem")});
    EXPECT_NE(crlcheck.exit_code, 0);

    auto st = tokensign({"ca", "status", "--config", conf(), "1001"});
    EXPECT_EQ(st.out, "1001=Valid (V)\n");
    auto sj = tokensign({"ca", "status", "--config", conf(), "1002", "--json"});
    EXPECT_NE(sj.out.find("\"status\":\"Revoked\""), std::string::npos) << sj.out;
    auto ls = tokensign({"ca", "list", "--config", conf(), "--json"});
    EXPECT_EQ(ls.out.rfind("[{\"serial\":\"1000\"", 0), 0u) << ls.out;
    auto ok = tokensign({"ca", "verify", "--config", conf(), m_dir.file("o/r1.pem")});
    EXPECT_EQ(ok.exit_code, 0) << ok.err;
    auto revoked = tokensign({"ca", "verify", "--config", conf(), m_dir.file("o/r2.pem")});
    EXPECT_EQ(revoked.exit_code, 6);
    EXPECT_NE(revoked.err.find("is revoked"), std::string::npos);
}

// Same CSRs through `openssl ca` and `tokensign ca sign`: the same database, line by line.
TEST_F(CaFileTest, DatabaseFormatsAreIdenticalToOpensslCa) {
    init_ca(m_dir.file("ossl"), {});
    std::string ossl_cnf = m_dir.file("ossl/openssl.cnf");
    std::vector<std::string> csrs;
    for (const char* n : {"x0", "x1"})
        csrs.push_back(csr_file(n, leaf(std::string(n) + ".example")));
    ASSERT_EQ(sign({"--in", csrs[0], csrs[1]}).exit_code, 0);
    for (const auto& c : csrs) {
        auto r = run({"openssl", "ca", "-batch", "-config", ossl_cnf, "-in", c, "-out",
                      m_dir.file("ossl.pem")});
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    EXPECT_EQ(index_without_dates(ca("index.txt")),
              index_without_dates(m_dir.file("ossl/index.txt")));
    for (const char* f : {"serial", "index.txt.attr"})
        EXPECT_EQ(read_text(ca(f)), read_text(m_dir.file(std::string("ossl/") + f))) << f;
    // newcerts/: same layout (text then PEM), same file names.
    std::string ours = read_text(ca("newcerts/1001.pem"));
    std::string theirs = read_text(m_dir.file("ossl/newcerts/1001.pem"));
    EXPECT_EQ(ours.substr(0, ours.find("Validity")), theirs.substr(0, theirs.find("Validity")));
    // The same request, so the same subject and public key text (the dates, key identifiers and
    // signatures differ: another CA key, another moment).
    auto key_text = [](const std::string& t) {
        auto from = t.find("        Subject:"), to = t.find("X509v3 extensions:");
        return from == std::string::npos || to == std::string::npos ? std::string("<none>")
                                                                    : t.substr(from, to - from);
    };
    EXPECT_EQ(key_text(ours), key_text(theirs));
    EXPECT_NE(ours.find("Public-Key: ("), std::string::npos) << ours;
    EXPECT_EQ(ours.find("Unable to load"), std::string::npos) << ours;
}

// tokensign continues what openssl ca wrote, and openssl ca continues what tokensign wrote.
TEST_F(CaFileTest, OpensslCaAndTokensignContinueEachOthersDirectories) {
    auto o1 = csr_file("o1", leaf("o1.example"));
    auto r = run(
        {"openssl", "ca", "-batch", "-config", conf(), "-in", o1, "-out", m_dir.file("o1.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto t1 = csr_file("t1", leaf("t1.example"));
    ASSERT_EQ(sign({"--in", t1, "--out", m_dir.file("t1.pem")}).exit_code, 0);
    r = run({"openssl", "ca", "-config", conf(), "-revoke", m_dir.file("t1.pem"), "-crl_reason",
             "superseded"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(tokensign({"ca", "revoke", "--config", conf(), "--serial", "1000"}).exit_code, 0);
    r = run({"openssl", "ca", "-config", conf(), "-gencrl", "-out", m_dir.file("crl.pem")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run({"openssl", "ca", "-config", conf(), "-updatedb"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto t2 = csr_file("t2", leaf("t2.example"));
    ASSERT_EQ(sign({"--in", t2}).exit_code, 0);
    auto lines = index_without_dates(ca("index.txt"));
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0], "R\t<expiry>\t<date>\t1000\tunknown\t/C=US/O=Test Org/CN=o1.example");
    EXPECT_EQ(lines[1],
              "R\t<expiry>\t<date>,superseded\t1001\tunknown\t/C=US/O=Test Org/CN=t1.example");
    EXPECT_EQ(lines[2], "V\t<expiry>\t\t1002\tunknown\t/C=US/O=Test Org/CN=t2.example");
    EXPECT_EQ(read_text(ca("crlnumber")), "1001\n");
    auto g = tokensign({"ca", "gencrl", "--config", conf(), "--out", m_dir.file("crl2.pem")});
    ASSERT_EQ(g.exit_code, 0) << g.err;
    EXPECT_EQ(read_text(ca("crlnumber")), "1002\n");
    auto st = run({"openssl", "ca", "-config", conf(), "-status", "1002"});
    EXPECT_NE(st.err.find("1002=Valid (V)"), std::string::npos) << st.err;
}

TEST_F(CaFileTest, ConcurrentSignersNeverShareASerial) {
    constexpr int kPerSigner = 6;
    std::vector<std::vector<std::string>> batches(2);
    for (int s = 0; s < 2; ++s)
        for (int i = 0; i < kPerSigner; ++i) {
            std::string n = "s" + std::to_string(s) + "_" + std::to_string(i);
            batches[static_cast<std::size_t>(s)].push_back(csr_file(n, leaf(n + ".example")));
        }
    std::vector<RunResult> results(4);
    std::vector<std::thread> threads;
    // Two signers on two batches, each batch split over two runs: four processes at once.
    for (std::size_t t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            std::vector<std::string> args = {"--in"};
            const auto& b = batches[t % 2];
            for (std::size_t i = t / 2; i < b.size(); i += 2) args.push_back(b[i]);
            results[t] = sign(args);
        });
    for (auto& th : threads) th.join();
    for (const auto& r : results) EXPECT_EQ(r.exit_code, 0) << r.err;
    auto lines = index_without_dates(ca("index.txt"));
    ASSERT_EQ(lines.size(), 2u * kPerSigner);
    std::set<std::string> serials;
    for (const auto& l : lines) serials.insert(l.substr(l.find("\t\t") + 2, 4));
    EXPECT_EQ(serials.size(), 2u * kPerSigner);
    EXPECT_EQ(read_text(ca("serial")), "100C\n");
    EXPECT_EQ(std::distance(fs::directory_iterator(ca("newcerts")), fs::directory_iterator()),
              2 * kPerSigner);
}

}  // namespace
}  // namespace ts::test
