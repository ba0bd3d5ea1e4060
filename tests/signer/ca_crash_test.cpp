// SPDX-License-Identifier: Apache-2.0
// `tokensign ca sign|revoke|gencrl` killed (SIGKILL) or stopped (SIGINT, SIGTERM) at many
// moments, against a real SoftHSM2 token slowed by tests/fault: no serial or CRL number is ever
// on two documents, and every certificate the CA key signed is in index.txt after the next open.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>

#include "tests/signer/ca_util.hpp"
#include "tests/support/softhsm.hpp"

namespace ts::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr int kBatch = 10;            // CSRs per killed batch
constexpr int kMoments = 30;          // kill moments per command
constexpr const char* kDelay = "15";  // ms the fault module adds to each C_Sign

// Every PEM certificate in a file (newcerts/ files hold openssl ca's text before the PEM).
std::vector<OsslPtr<X509>> certificates_in(const std::string& path) {
    std::vector<OsslPtr<X509>> out;
    OsslPtr<BIO> bio(BIO_new_file(path.c_str(), "r"));
    if (!bio) return out;
    while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
    ERR_clear_error();
    return out;
}

std::string serial_of(const X509* x) {
    OsslPtr<BIGNUM> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr));
    OsslPtr<char> hex(BN_bn2hex(bn.get()));
    return hex.get();
}

std::string der_of(X509* x) {
    unsigned char* der = nullptr;
    int n = i2d_X509(x, &der);
    std::string s(reinterpret_cast<char*>(der), static_cast<std::size_t>(n > 0 ? n : 0));
    OPENSSL_free(der);
    return s;
}

long hex_value(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return std::stol(text, nullptr, 16);
}

class CaCrashTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        s_hsm = new SoftHsm();
        s_hsm->add_token("crash-token");
        s_leaf_key = make_ec_key().release();
    }
    static void TearDownTestSuite() {
        delete s_hsm;
        s_hsm = nullptr;
        EVP_PKEY_free(s_leaf_key);
    }

    std::map<std::string, std::string> env() const { return token_env(*s_hsm); }
    // The token behind tests/fault, every signature kDelay ms slower: the moments of a kill
    // spread over the signing.
    std::map<std::string, std::string> slow_env() const {
        return fault_token_env(*s_hsm, {{"TS_FAULT_SIGN_DELAY_MS", kDelay}});
    }

    void SetUp() override {
        m_ca = m_dir.file("ca");
        auto r =
            tokensign({"ca", "init", "--dir", m_ca, "--key",
                       "pkcs11:token=crash-token;object=crash-root-" + std::to_string(s_n++),
                       "--generate", "ec:p-256", "--subject", "/C=US/O=Crash Org/CN=Crash Root"},
                      env());
        ASSERT_EQ(r.exit_code, 0) << r.err;
        m_ca_cert = std::move(certificates_in(m_ca + "/certs/ca.pem").front());
        // SoftHSM2 rewrites its token file in place at C_Login: a kill at that moment can blank
        // the token (its defect, see NOTES). The token is restored after every kill.
        fs::copy(s_hsm->dir() + "/tokens", m_dir.file("tokens-backup"),
                 fs::copy_options::recursive);
    }

    void restore_token() {
        fs::remove_all(s_hsm->dir() + "/tokens");
        fs::copy(m_dir.file("tokens-backup"), s_hsm->dir() + "/tokens",
                 fs::copy_options::recursive);
    }

    std::vector<std::string> csrs(const std::string& tag, int n) {
        std::vector<std::string> paths;
        for (int i = 0; i < n; ++i) {
            std::string name = tag + "-" + std::to_string(i);
            std::string path = m_dir.file(name + ".csr");
            write_text(
                path,
                make_csr(s_leaf_key, {{"C", "US"}, {"O", "Crash Org"}, {"CN", name + ".example"}}));
            paths.push_back(path);
        }
        return paths;
    }

    std::vector<std::string> sign_args(const std::vector<std::string>& in,
                                       const std::string& out_dir) {
        std::vector<std::string> a = {"ca",      "sign",      "--config", m_ca + "/openssl.cnf",
                                      "--batch", "--out-dir", out_dir,    "--in"};
        a.insert(a.end(), in.begin(), in.end());
        return a;
    }

    // The next open of the CA directory (any writer; updatedb is the cheapest) records what an
    // interrupted run's journal holds.
    RunResult reopen() {
        auto r = tokensign({"ca", "updatedb", "--config", m_ca + "/openssl.cnf"}, env());
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return r;
    }

    // The invariants after any interruption, once the directory was reopened:
    // - no two different certificates signed by the CA share a serial, anywhere (newcerts/,
    //   every output directory, temp files included);
    // - every certificate signed by the CA is in index.txt;
    // - index.txt has no serial twice, and the serial file is past all of them;
    // - no journal is left.
    void expect_consistent(const std::string& when) {
        SCOPED_TRACE(when);
        std::map<std::string, std::string> der_by_serial;
        std::vector<std::string> dirs = {m_ca + "/newcerts"};
        for (const auto& e : fs::directory_iterator(m_dir.path()))
            if (e.is_directory() && e.path().filename().string().rfind("out", 0) == 0)
                dirs.push_back(e.path().string());
        std::size_t signed_by_ca = 0;
        for (const auto& d : dirs) {
            for (const auto& f : fs::directory_iterator(d)) {
                for (auto& x : certificates_in(f.path().string())) {
                    if (X509_verify(x.get(), X509_get0_pubkey(m_ca_cert.get())) != 1) {
                        ERR_clear_error();
                        continue;
                    }
                    ++signed_by_ca;
                    std::string serial = serial_of(x.get());
                    auto [it, fresh] = der_by_serial.emplace(serial, der_of(x.get()));
                    EXPECT_TRUE(fresh || it->second == der_of(x.get()))
                        << "two different certificates with serial " << serial << " (" << f.path()
                        << ")";
                }
            }
        }
        std::set<std::string> indexed;
        long max_serial = 0;
        for (const auto& line : index_without_dates(m_ca + "/index.txt")) {
            // status, expiry, revocation, serial, file, subject
            std::size_t at = 0;
            for (int field = 0; field < 3; ++field) at = line.find('\t', at) + 1;
            std::string serial = line.substr(at, line.find('\t', at) - at);
            EXPECT_TRUE(indexed.insert(serial).second) << "serial " << serial << " twice in index";
            max_serial = std::max(max_serial, hex_value(serial));
        }
        for (const auto& [serial, der] : der_by_serial)
            EXPECT_TRUE(indexed.count(serial))
                << "certificate " << serial << " was signed but is not in index.txt";
        EXPECT_GT(hex_value(read_text(m_ca + "/serial")), max_serial);
        EXPECT_FALSE(fs::exists(m_ca + "/index.txt.journal"));
        m_signed_seen = std::max(m_signed_seen, signed_by_ca);
    }

    // How long an uninterrupted run of `args` takes: the kill moments are spread over it.
    milliseconds duration_of(const std::vector<std::string>& args) {
        auto t0 = std::chrono::steady_clock::now();
        auto r = tokensign(args, slow_env());
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
    }

    static SoftHsm* s_hsm;
    static EVP_PKEY* s_leaf_key;
    static int s_n;
    TempDir m_dir{"tokensign-crash"};
    std::string m_ca;
    OsslPtr<X509> m_ca_cert;
    std::size_t m_signed_seen = 0;
};

SoftHsm* CaCrashTest::s_hsm = nullptr;
EVP_PKEY* CaCrashTest::s_leaf_key = nullptr;
int CaCrashTest::s_n = 0;

TEST_F(CaCrashTest, ABatchKilledAtAnyMomentNeverReusesASerialAndLosesNoCertificate) {
    fs::create_directory(m_dir.file("out-timing"));
    const milliseconds full =
        duration_of(sign_args(csrs("timing", kBatch), m_dir.file("out-timing")));
    int recovered_runs = 0;
    for (int k = 0; k < kMoments; ++k) {
        std::string tag = "k" + std::to_string(k);
        std::string out = m_dir.file("out-" + tag);
        fs::create_directory(out);
        const milliseconds at(full.count() * k / kMoments);
        auto killed = run_signalled(
            [&] {
                auto a = sign_args(csrs(tag, kBatch), out);
                a.insert(a.begin(), cli_path());
                return a;
            }(),
            slow_env(), SIGKILL, at);
        restore_token();
        auto r = reopen();
        if (r.err.find("recovered ") != std::string::npos) ++recovered_runs;
        expect_consistent("killed at " + std::to_string(at.count()) + " ms of " +
                          std::to_string(full.count()) + " (" + killed.err + ")");
        if (HasFailure()) return;
    }
    std::cout << "[ killed ] " << kMoments << " moments over " << full.count() << " ms; "
              << recovered_runs << " runs left signed certificates for the next open to record\n";
    // The moments covered the signing: some kills left a journal to recover.
    EXPECT_GT(recovered_runs, 0);
    // openssl ca and tokensign both continue the directory.
    auto u = run({"openssl", "ca", "-config", m_ca + "/openssl.cnf", "-updatedb"}, env());
    EXPECT_EQ(u.exit_code, 0) << u.err;
    fs::create_directory(m_dir.file("out-after"));
    auto next = tokensign(sign_args(csrs("after", 2), m_dir.file("out-after")), env());
    EXPECT_EQ(next.exit_code, 0) << next.err;
    expect_consistent("after the kills");
}

TEST_F(CaCrashTest, SigintAndSigtermStopABatchCleanlyAndRecordWhatWasSigned) {
    // A longer batch: the signal lands well inside the signing.
    constexpr int kLong = 3 * kBatch;
    fs::create_directory(m_dir.file("out-timing"));
    const milliseconds full =
        duration_of(sign_args(csrs("timing", kLong), m_dir.file("out-timing")));
    const long serial_before = hex_value(read_text(m_ca + "/serial"));
    for (int sig : {SIGINT, SIGTERM}) {
        std::string tag = sig == SIGINT ? "int" : "term";
        std::string out = m_dir.file("out-" + tag);
        fs::create_directory(out);
        auto args = sign_args(csrs(tag, kLong), out);
        args.insert(args.begin(), cli_path());
        // Past the login, inside the signing (half an uninterrupted run).
        auto r = run_signalled(args, slow_env(), sig, milliseconds(full.count() / 2));
        restore_token();
        SCOPED_TRACE(r.err);
        EXPECT_EQ(r.term_signal, 0) << "killed instead of stopping cleanly";
        EXPECT_EQ(r.exit_code, 128 + sig);
        EXPECT_NE(r.err.find("interrupted by"), std::string::npos);
        EXPECT_NE(r.err.find("not processed: "), std::string::npos);
        // Committed by the stopped run itself: nothing left for the next open.
        EXPECT_FALSE(fs::exists(m_ca + "/index.txt.journal"));
        // Each certificate issued has its output file, no temp file is left.
        std::size_t outputs = 0;
        for (const auto& f : fs::directory_iterator(out)) {
            EXPECT_EQ(f.path().filename().string().find(".tmp."), std::string::npos) << f.path();
            ++outputs;
        }
        EXPECT_GT(outputs, 0u);
        EXPECT_LT(outputs, static_cast<std::size_t>(kLong));
        auto r2 = reopen();
        EXPECT_EQ(r2.err.find("recovered"), std::string::npos) << r2.err;
        expect_consistent("stopped by signal " + std::to_string(sig));
    }
    // Both batches reserved all their serials (the timing run too).
    EXPECT_EQ(hex_value(read_text(m_ca + "/serial")), serial_before + 2 * kLong);
}

TEST_F(CaCrashTest, GencrlAndRevokeKilledAtAnyMomentNeverReuseACrlNumber) {
    // Something to revoke: a few certificates, then kills in the middle of revocations.
    fs::create_directory(m_dir.file("out-revoke"));
    auto r = tokensign(sign_args(csrs("rv", kMoments), m_dir.file("out-revoke")), env());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto revoke = [&](int k) {
        return std::vector<std::string>{cli_path(),
                                        "ca",
                                        "revoke",
                                        "--config",
                                        m_ca + "/openssl.cnf",
                                        "--cert",
                                        m_dir.file("out-revoke/rv-" + std::to_string(k) + ".pem"),
                                        "--reason",
                                        "superseded"};
    };
    auto gencrl = [&](const std::string& out) {
        return std::vector<std::string>{
            cli_path(), "ca", "gencrl", "--config", m_ca + "/openssl.cnf", "--out", out};
    };
    auto t0 = std::chrono::steady_clock::now();
    auto g = run(gencrl(m_dir.file("crl-timing.pem")), slow_env());
    ASSERT_EQ(g.exit_code, 0) << g.err;
    const auto full =
        std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
    std::vector<std::string> crls = {m_dir.file("crl-timing.pem")};
    for (int k = 0; k < kMoments; ++k) {
        // Over 1.2 times an uninterrupted run: some runs finish, some are killed.
        const milliseconds at(full.count() * 6 * k / (5 * kMoments));
        run_signalled(revoke(k), env(), SIGKILL, at);
        std::string crl = m_dir.file("crl-" + std::to_string(k) + ".pem");
        run_signalled(gencrl(crl), slow_env(), SIGKILL, at);
        crls.push_back(crl);
        restore_token();
        reopen();
        expect_consistent("revoke and gencrl killed at " + std::to_string(at.count()) + " ms");
        if (HasFailure()) return;
    }
    // Every revocation either happened or did not: index.txt parses for both tools, and the
    // next CRL is signed.
    auto list = tokensign({"ca", "list", "--config", m_ca + "/openssl.cnf"}, env());
    EXPECT_EQ(list.exit_code, 0) << list.err;
    auto u = run({"openssl", "ca", "-config", m_ca + "/openssl.cnf", "-updatedb"}, env());
    EXPECT_EQ(u.exit_code, 0) << u.err;
    auto last = run(gencrl(m_dir.file("crl-last.pem")), env());
    EXPECT_EQ(last.exit_code, 0) << last.err;
    crls.push_back(m_dir.file("crl-last.pem"));
    // Every CRL that was written has its own number, below the crlnumber file's.
    std::set<long> numbers;
    for (const auto& path : crls) {
        OsslPtr<BIO> bio(BIO_new_file(path.c_str(), "r"));
        if (!bio) continue;  // killed before it was written
        OsslPtr<X509_CRL> crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
        ASSERT_TRUE(crl) << path << " exists but is not a whole CRL";
        EXPECT_EQ(X509_CRL_verify(crl.get(), X509_get0_pubkey(m_ca_cert.get())), 1) << path;
        OsslPtr<ASN1_INTEGER> n(static_cast<ASN1_INTEGER*>(
            X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, nullptr, nullptr)));
        ASSERT_TRUE(n) << path;
        long v = ASN1_INTEGER_get(n.get());
        EXPECT_TRUE(numbers.insert(v).second) << "CRL number " << v << " on two CRLs";
        EXPECT_GT(hex_value(read_text(m_ca + "/crlnumber")), v);
    }
    EXPECT_GE(numbers.size(), 2u);
}

}  // namespace
}  // namespace ts::test
