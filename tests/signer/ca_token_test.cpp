// SPDX-License-Identifier: Apache-2.0
// `tokensign ca` with the CA key on a SoftHSM2 token, loaded through the tokensign provider:
// init --generate (--store-cert), batch signing, openssl ca continuing with the same token key,
// CRLs; every artefact checked by verifiers that do not load tokensign.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>
#include <thread>

#include "tests/signer/ca_util.hpp"
#include "tests/support/softhsm.hpp"
#include "tests/support/tty.hpp"

namespace ts::test {
namespace {

namespace fs = std::filesystem;

Dn leaf(const std::string& cn) { return {{"C", "US"}, {"O", "Token Org"}, {"CN", cn}}; }

class CaTokenTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        s_hsm = new SoftHsm();
        s_hsm->add_token("ca-token");
        s_leaf_key = make_ec_key().release();
    }
    static void TearDownTestSuite() {
        delete s_hsm;
        s_hsm = nullptr;
        EVP_PKEY_free(s_leaf_key);
    }

    std::map<std::string, std::string> env() const { return token_env(*s_hsm); }
    std::map<std::string, std::string> fault_env(
        const std::map<std::string, std::string>& faults) const {
        return fault_token_env(*s_hsm, faults);
    }

    void init(const std::string& dir, const std::string& label, const std::string& spec,
              bool store_cert) {
        std::vector<std::string> args = {"ca",         "init",
                                         "--dir",      dir,
                                         "--key",      "pkcs11:token=ca-token;object=" + label,
                                         "--generate", spec,
                                         "--subject",  "/C=US/O=Token Org/CN=" + label};
        if (store_cert) args.push_back("--store-cert");
        auto r = tokensign(args, env());
        ASSERT_EQ(r.exit_code, 0) << r.err;
    }

    std::string csr_file(const std::string& name) {
        std::string path = m_dir.file(name + ".csr");
        write_text(path, make_csr(s_leaf_key, leaf(name + ".example")));
        return path;
    }

    void expect_verifies(const std::string& ca_pem, const std::string& cert) {
        // Plain openssl: no provider configuration at all.
        auto v =
            run({"openssl", "verify", "-CAfile", ca_pem, cert}, {{"OPENSSL_CONF", "/dev/null"}});
        EXPECT_EQ(v.exit_code, 0) << cert << ": " << v.out << v.err;
        auto g = run({"certtool", "--verify", "--load-ca-certificate", ca_pem, "--infile", cert});
        EXPECT_EQ(g.exit_code, 0) << cert << ": " << g.out << g.err;
    }

    static SoftHsm* s_hsm;
    static EVP_PKEY* s_leaf_key;
    TempDir m_dir{"tokensign-catoken"};
};

SoftHsm* CaTokenTest::s_hsm = nullptr;
EVP_PKEY* CaTokenTest::s_leaf_key = nullptr;

TEST_F(CaTokenTest, RsaCaOnTheTokenSignsABatchAndOpensslCaContinuesWithTheSameKey) {
    std::string dir = m_dir.file("rsa");
    init(dir, "rsa-root", "rsa:2048", true);
    std::string cnf = dir + "/openssl.cnf";
    std::string text = read_text(cnf);
    EXPECT_NE(text.find("private_key       = pkcs11:"), std::string::npos);
    EXPECT_EQ(text.find("pin-value"), std::string::npos);
    EXPECT_EQ(text.find("1234"), std::string::npos);
    expect_verifies(dir + "/certs/ca.pem", dir + "/certs/ca.pem");

    // --store-cert: the root is on the token beside its key.
    auto objs = run({"pkcs11-tool", "--module", s_hsm->module(), "--token-label", "ca-token",
                     "--list-objects", "--type", "cert"},
                    env());
    EXPECT_NE(objs.out.find("rsa-root"), std::string::npos) << objs.out << objs.err;

    fs::create_directory(m_dir.file("out"));
    auto r =
        tokensign({"ca", "sign", "--config", cnf, "--batch", "--in", csr_file("t0"), csr_file("t1"),
                   csr_file("t2"), "--out-dir", m_dir.file("out"), "--extensions", "server"},
                  env());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* n : {"t0", "t1", "t2"})
        expect_verifies(dir + "/certs/ca.pem", m_dir.file(std::string("out/") + n + ".pem"));

    // openssl ca, through the provider that openssl.cnf activates, signs with the token key.
    r = run({"openssl", "ca", "-batch", "-config", cnf, "-in", csr_file("o0"), "-out",
             m_dir.file("o0.pem")},
            env());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_verifies(dir + "/certs/ca.pem", m_dir.file("o0.pem"));
    r = tokensign({"ca", "sign", "--config", cnf, "--batch", "--in", csr_file("t3"), "--out",
                   m_dir.file("t3.pem")},
                  env());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto lines = index_without_dates(dir + "/index.txt");
    ASSERT_EQ(lines.size(), 5u);
    EXPECT_EQ(lines[3], "V\t<expiry>\t\t1003\tunknown\t/C=US/O=Token Org/CN=o0.example");
    EXPECT_EQ(lines[4], "V\t<expiry>\t\t1004\tunknown\t/C=US/O=Token Org/CN=t3.example");

    // CRLs from both, verified without tokensign.
    ASSERT_EQ(tokensign({"ca", "revoke", "--config", cnf, "--cert", m_dir.file("o0.pem"),
                         "--reason", "keyCompromise"},
                        env())
                  .exit_code,
              0);
    r = tokensign({"ca", "gencrl", "--config", cnf, "--out", m_dir.file("crl.pem")}, env());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto v = run({"openssl", "crl", "-in", m_dir.file("crl.pem"), "-CAfile", dir + "/certs/ca.pem",
                  "-verify", "-noout"},
                 {{"OPENSSL_CONF", "/dev/null"}});
    EXPECT_EQ(v.exit_code, 0) << v.err;
    r = run({"openssl", "ca", "-config", cnf, "-gencrl", "-out", m_dir.file("crl2.pem")}, env());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    v = run({"openssl", "crl", "-in", m_dir.file("crl2.pem"), "-CAfile", dir + "/certs/ca.pem",
             "-verify", "-noout"},
            {{"OPENSSL_CONF", "/dev/null"}});
    EXPECT_EQ(v.exit_code, 0) << v.err;
}

TEST_F(CaTokenTest, ParallelSigningSessionsKeepEachCertificateWithItsRequest) {
    std::string dir = m_dir.file("par");
    init(dir, "par-root", "ec:p-256", false);
    std::vector<std::string> args = {"ca",
                                     "sign",
                                     "--config",
                                     dir + "/openssl.cnf",
                                     "--batch",
                                     "--signing-threads",
                                     "2",
                                     "--out-dir",
                                     m_dir.file("par-out"),
                                     "--in"};
    fs::create_directory(m_dir.file("par-out"));
    for (int i = 0; i < 24; ++i) args.push_back(csr_file("p" + std::to_string(i)));
    auto r = tokensign(args, env());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (int i = 0; i < 24; ++i) {
        std::string cert = m_dir.file("par-out/p" + std::to_string(i) + ".pem");
        auto s = run({"openssl", "x509", "-in", cert, "-noout", "-subject", "-serial"});
        char serial[16];
        std::snprintf(serial, sizeof serial, "%04X", 0x1000 + i);
        EXPECT_EQ(s.out, "subject=C = US, O = Token Org, CN = p" + std::to_string(i) +
                             ".example\nserial=" + serial + "\n");
        if (i % 6 == 0) expect_verifies(dir + "/certs/ca.pem", cert);
    }
    EXPECT_EQ(read_text(dir + "/serial"), "1018\n");
}

// ca init --generate --store-cert, and the token refuses to store the certificate (tests/fault:
// C_CreateObject fails): no CA directory, and the key generated for it is gone from the token
// again, both halves.
TEST_F(CaTokenTest, AFailedInitRemovesTheKeyItGeneratedFromTheToken) {
    std::string dir = m_dir.file("rollback");
    auto e = fault_env({{"TS_FAULT_CREATE_FAIL", "1"}});
    auto r = tokensign({"ca", "init", "--dir", dir, "--key", "pkcs11:token=ca-token;object=rb-root",
                        "--generate", "ec:p-256", "--subject", "/CN=rollback", "--store-cert"},
                       e);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("CKR_DEVICE_ERROR"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("Removed the private key"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir));
    auto list = tokensign({"key", "list", "pkcs11:token=ca-token"}, env());
    EXPECT_EQ(list.exit_code, 0) << list.err;
    EXPECT_EQ(list.out.find("rb-root"), std::string::npos) << "the key is still there:\n"
                                                           << list.out;
    // The same init without the fault succeeds: the label is free again.
    init(dir, "rb-root", "ec:p-256", true);
}

// A weak --md is refused before a key is generated for it: nothing on the token, and the advice
// names the option.
TEST_F(CaTokenTest, InitWithAWeakDigestIsRefusedBeforeAnyKeyIsGenerated) {
    std::string dir = m_dir.file("md5init");
    auto r =
        tokensign({"ca", "init", "--dir", dir, "--key", "pkcs11:token=ca-token;object=md5-root",
                   "--generate", "rsa:2048", "--subject", "/CN=md5", "--md", "md5"},
                  env());
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_NE(r.err.find("use --md sha256"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("Generating"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir));
    auto list = tokensign({"key", "list", "pkcs11:token=ca-token"}, env());
    EXPECT_EQ(list.out.find("md5-root"), std::string::npos) << list.out;
}

// The token fails in the middle of a batch (tests/fault's module: the 6th signature the process
// makes returns CKR_DEVICE_ERROR): the run stops with the token's reason; every certificate the
// token signed before is issued and recorded (never discarded), the inputs not processed are
// named, every serial of the batch stays reserved, and no temp file or journal is left.
TEST_F(CaTokenTest, ATokenFailureInTheMiddleOfABatchRecordsWhatWasSignedAndNamesTheRest) {
    std::string dir = m_dir.file("fault");
    init(dir, "fault-root", "ec:p-256", false);
    std::vector<std::string> args = {"ca",      "sign", "--config", dir + "/openssl.cnf",
                                     "--batch", "--in"};
    for (int i = 0; i < 16; ++i) args.push_back(csr_file("f" + std::to_string(i)));
    auto e = fault_env(
        {{"TS_FAULT_SIGN_FAIL_AT", "6"}, {"TS_FAULT_COUNT_FILE", m_dir.file("fault-count")}});
    auto r = tokensign(args, e);
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_NE(r.err.find("CKR_DEVICE_ERROR"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not processed: "), std::string::npos) << r.err;
    // A run that issued nothing writes no (empty) --out file.
    auto first = fault_env({{"TS_FAULT_SIGN_FAIL_AT", "1"}});
    auto none = tokensign({"ca", "sign", "--config", dir + "/openssl.cnf", "--batch", "--in",
                           csr_file("none"), "--out", m_dir.file("none.pem")},
                          first);
    EXPECT_EQ(none.exit_code, 5) << none.err;
    EXPECT_FALSE(fs::exists(m_dir.file("none.pem"))) << "an empty output was left";
    // It failed in the middle: signatures were made before the failing one.
    auto count = read_text(m_dir.file("fault-count"));
    EXPECT_GE(std::count(count.begin(), count.end(), '\n'), 6) << count;
    auto lines = index_without_dates(dir + "/index.txt");
    EXPECT_GE(lines.size(), 1u);
    EXPECT_LT(lines.size(), 16u);
    for (const auto& l : lines) {
        std::string serial = l.substr(l.find("\t\t") + 2, 4);
        expect_verifies(dir + "/certs/ca.pem", dir + "/newcerts/" + serial + ".pem");
    }
    EXPECT_EQ(read_text(dir + "/serial"), "1011\n") << "the batches' 17 serials stay reserved";
    for (const auto& f : fs::directory_iterator(dir + "/newcerts"))
        EXPECT_EQ(f.path().filename().string().find(".tmp."), std::string::npos) << f.path();
    EXPECT_FALSE(fs::exists(dir + "/index.txt.journal"));
    // The next run continues after the reserved range.
    auto next = tokensign({"ca", "sign", "--config", dir + "/openssl.cnf", "--batch", "--in",
                           csr_file("after-fault")},
                          env());
    ASSERT_EQ(next.exit_code, 0) << next.err;
    EXPECT_NE(next.err.find("Issued serial 1011"), std::string::npos) << next.err;
}

// A token that allows the login session and one more (the fault module's session limit): the
// batch's two signing threads share that one session instead of failing.
TEST_F(CaTokenTest, ABatchOnATokenThatAllowsOneSigningSessionStillSignsEverything) {
    std::string dir = m_dir.file("onesession");
    init(dir, "one-root", "ec:p-256", false);
    std::vector<std::string> args = {
        "ca", "sign", "--config", dir + "/openssl.cnf", "--batch", "--signing-threads",
        "2",  "--in"};
    for (int i = 0; i < 20; ++i) args.push_back(csr_file("s1_" + std::to_string(i)));
    auto e = fault_env({{"TS_FAULT_MAX_SESSIONS", "2"}});
    auto r = tokensign(args, e);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(index_without_dates(dir + "/index.txt").size(), 20u);
    expect_verifies(dir + "/certs/ca.pem", dir + "/newcerts/1013.pem");
}

TEST_F(CaTokenTest, ConcurrentSignersOnOneTokenKeyNeverShareASerial) {
    std::string dir = m_dir.file("conc");
    init(dir, "conc-root", "ec:p-256", false);
    std::vector<std::vector<std::string>> args(3);
    for (std::size_t t = 0; t < args.size(); ++t) {
        args[t] = {"ca", "sign", "--config", dir + "/openssl.cnf", "--batch", "--in"};
        for (int i = 0; i < 5; ++i)
            args[t].push_back(csr_file("c" + std::to_string(t) + "_" + std::to_string(i)));
    }
    std::vector<RunResult> results(args.size());
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < args.size(); ++t)
        threads.emplace_back([&, t] { results[t] = tokensign(args[t], env()); });
    for (auto& th : threads) th.join();
    for (const auto& r : results) EXPECT_EQ(r.exit_code, 0) << r.err;
    auto lines = index_without_dates(dir + "/index.txt");
    ASSERT_EQ(lines.size(), 15u);
    std::set<std::string> serials;
    for (const auto& l : lines) serials.insert(l.substr(l.find("\t\t") + 2, 4));
    EXPECT_EQ(serials.size(), 15u);
    EXPECT_EQ(read_text(dir + "/serial"), "100F\n");
    for (const auto& s : serials)
        expect_verifies(dir + "/certs/ca.pem", dir + "/newcerts/" + s + ".pem");
}

// Interactive signing asks for the PIN only after the preview was confirmed: an answer typed for
// the question is never taken as the PIN (which would spend one of the token's tries).
TEST_F(CaTokenTest, InteractiveSigningAsksForThePinOnlyAfterTheConfirmation) {
    std::string dir = m_dir.file("tty");
    init(dir, "tty-root", "ec:p-256", false);
    for (const auto& [k, v] : env())
        if (k != "TOKENSIGN_PIN") setenv(k.c_str(), v.c_str(), 1);
    unsetenv("TOKENSIGN_PIN");
    auto r = run_on_tty({cli_path(), "ca", "sign", "--config", dir + "/openssl.cnf", "--in",
                         csr_file("tty"), "--out", m_dir.file("tty.pem")},
                        "1234", "y");
    EXPECT_EQ(r.exit_code, 0) << r.screen;
    auto question = r.screen.find("[y/N]"), prompt = r.screen.find("PIN for");
    ASSERT_NE(question, std::string::npos) << r.screen;
    ASSERT_NE(prompt, std::string::npos) << r.screen;
    EXPECT_LT(question, prompt) << "the PIN was asked for before the confirmation:\n" << r.screen;
    expect_verifies(dir + "/certs/ca.pem", m_dir.file("tty.pem"));
}

TEST_F(CaTokenTest, EcCaOnTheTokenIssuesCertificatesWithNamedCurveKeys) {
    std::string dir = m_dir.file("ec");
    init(dir, "ec-root", "ec:p-384", false);
    auto x = run({"openssl", "x509", "-in", dir + "/certs/ca.pem", "-noout", "-text"});
    EXPECT_NE(x.out.find("ASN1 OID: secp384r1"), std::string::npos) << x.out;
    EXPECT_NE(x.out.find("ecdsa-with-SHA256"), std::string::npos);
    expect_verifies(dir + "/certs/ca.pem", dir + "/certs/ca.pem");
    auto r = tokensign({"ca", "sign", "--config", dir + "/openssl.cnf", "--batch", "--in",
                        csr_file("e0"), "--out", m_dir.file("e0.pem")},
                       env());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_verifies(dir + "/certs/ca.pem", m_dir.file("e0.pem"));
}

TEST_F(CaTokenTest, ATokenKeyThatDoesNotMatchTheCaCertificateIsRefused) {
    init(m_dir.file("a"), "key-a", "ec:p-256", false);
    init(m_dir.file("b"), "key-b", "ec:p-256", false);
    // CA a's configuration, but CA b's token key.
    std::string cnf = m_dir.file("a/openssl.cnf");
    std::string a_text = read_text(cnf);
    std::string b_text = read_text(m_dir.file("b/openssl.cnf"));
    auto key_line = [](const std::string& t) {
        auto p = t.find("\nprivate_key") + 1;
        return t.substr(p, t.find('\n', p) - p);
    };
    a_text.replace(a_text.find(key_line(a_text)), key_line(a_text).size(), key_line(b_text));
    write_text(cnf, a_text);
    auto before = snapshot(m_dir.file("a"));
    auto r = tokensign({"ca", "sign", "--config", cnf, "--batch", "--in", csr_file("m0")}, env());
    EXPECT_EQ(r.exit_code, 6) << r.err;
    EXPECT_NE(r.err.find("does not match the CA certificate"), std::string::npos) << r.err;
    EXPECT_EQ(snapshot(m_dir.file("a")), before);
}

TEST_F(CaTokenTest, ThePinComesFromAPinSourceFileAndIsNeverAskedForWithNoPrompt) {
    std::string dir = m_dir.file("src");
    init(dir, "src-root", "ec:p-256", false);
    auto e = env();
    e.erase("TOKENSIGN_PIN");
    e["TOKENSIGN_PIN"] = "";  // run() keeps the parent's environment: blank it explicitly
    std::string pin_file = s_hsm->pin_file();
    auto r = tokensign(
        {"--pin-source", pin_file, "--no-prompt", "ca", "sign", "--config", dir + "/openssl.cnf",
         "--batch", "--in", csr_file("s0"), "--out", m_dir.file("s0.pem")},
        e);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    expect_verifies(dir + "/certs/ca.pem", m_dir.file("s0.pem"));
    auto before = snapshot(dir);
    r = tokensign({"--no-prompt", "ca", "sign", "--config", dir + "/openssl.cnf", "--batch", "--in",
                   csr_file("s1")},
                  e);
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_EQ(snapshot(dir), before);
}

TEST_F(CaTokenTest, AWrongPinIsReportedAsAnAuthenticationFailure) {
    std::string dir = m_dir.file("pin");
    init(dir, "pin-root", "ec:p-256", false);
    auto e = env();
    e["TOKENSIGN_PIN"] = "9999";
    auto before = snapshot(dir);
    auto r = tokensign(
        {"ca", "sign", "--config", dir + "/openssl.cnf", "--batch", "--in", csr_file("p0")}, e);
    EXPECT_EQ(r.exit_code, 4) << r.err;  // authentication failure, not "no key"
    EXPECT_NE(r.err.find("CKR_PIN_INCORRECT"), std::string::npos) << r.err;
    EXPECT_EQ(snapshot(dir), before);
    // The right PIN afterwards still works (one wrong try, not a locked token).
    r = tokensign(
        {"ca", "sign", "--config", dir + "/openssl.cnf", "--batch", "--in", csr_file("p1")}, env());
    EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace ts::test
