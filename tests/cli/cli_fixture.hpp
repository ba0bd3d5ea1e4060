// SPDX-License-Identifier: Apache-2.0
// Running the built tokensign against a fresh SoftHSM2 token directory (one per suite).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/softhsm.hpp"

namespace ts::test {

inline std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
}

inline bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

/// A program the tests drive; fails the test naming the package when it is missing.
inline std::string need_program(const std::string& name, const std::string& package) {
    for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
        std::string p = std::string(dir) + "/" + name;
        if (access(p.c_str(), X_OK) == 0) return p;
    }
    ADD_FAILURE() << name << " is not installed: run scripts/install-deps.sh (package " << package
                  << ")";
    throw std::runtime_error(name + " missing");
}

class CliTest : public ::testing::Test {
  public:
    static constexpr const char* kToken = "cli-test";
    static constexpr const char* kPin = "1234";
    static constexpr const char* kOther = "cli-other";
    static constexpr const char* kOtherPin = "5678";

    static void SetUpTestSuite() {
        // The environment must not choose for the tests: they set what they mean.
        unsetenv("TOKENSIGN_MODULE");
        unsetenv("TOKENSIGN_PIN");
        s_hsm = std::make_unique<SoftHsm>();
        s_hsm->add_token(kToken, kPin);
        s_hsm->add_token(kOther, kOtherPin);
        s_dir = std::make_unique<TempDir>("tokensign-cli");
    }
    static void TearDownTestSuite() {
        s_dir.reset();
        s_hsm.reset();
    }

  protected:
    /// tokensign ARGS with SOFTHSM2_CONF of this suite and `env` added.
    static RunResult ts(std::vector<std::string> args,
                        std::map<std::string, std::string> env = {}) {
        args.insert(args.begin(), cli_path());
        env.emplace("SOFTHSM2_CONF", s_hsm->conf());
        return run(args, env);
    }
    /// tokensign with the right PIN in TOKENSIGN_PIN; the test fails unless it exits 0.
    static RunResult ok(std::vector<std::string> args) {
        auto r = ts(std::move(args), {{"TOKENSIGN_PIN", kPin}});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return r;
    }
    /// The `--json` output of `r`, parsed strictly (one document, RFC 8259).
    static nlohmann::json json_of(const RunResult& r) {
        try {
            return nlohmann::json::parse(r.out);
        } catch (const std::exception& e) {
            ADD_FAILURE() << e.what() << " in:\n" << r.out;
            return nlohmann::json{};
        }
    }
    /// Any program with SOFTHSM2_CONF of this suite.
    static RunResult tool(const std::vector<std::string>& argv,
                          std::map<std::string, std::string> env = {}) {
        env.emplace("SOFTHSM2_CONF", s_hsm->conf());
        return run(argv, env);
    }
    static std::string token_uri(const std::string& extra = "") {
        return std::string("pkcs11:token=") + kToken + extra;
    }
    static std::string file(const std::string& name) { return s_dir->file(name); }
    static SoftHsm& softhsm() { return *s_hsm; }

    /// pkcs11-tool against this suite's SoftHSM2, logged in to kToken.
    static RunResult pkcs11_tool(std::vector<std::string> args) {
        std::vector<std::string> argv{need_program("pkcs11-tool", "opensc"),
                                      "--module",
                                      softhsm_module(),
                                      "--token-label",
                                      kToken,
                                      "--login",
                                      "--pin",
                                      kPin};
        argv.insert(argv.end(), args.begin(), args.end());
        return tool(argv);
    }
    /// SHA-256 of a file as colon-separated upper-case hex, computed by `openssl dgst`.
    static std::string openssl_sha256(const std::string& path) {
        // "SHA2-256(path)= ab:cd:..."
        auto r = tool({"openssl", "dgst", "-sha256", "-c", path});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        auto eq = r.out.rfind("= ");
        if (eq == std::string::npos) return "unparsable: " + r.out;
        std::string hex = r.out.substr(eq + 2);
        while (!hex.empty() && (hex.back() == '\n' || hex.back() == ' ')) hex.pop_back();
        for (auto& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return hex;
    }
    /// DER SubjectPublicKeyInfo of a PEM/DER public key file, re-encoded by stock openssl.
    static std::string spki_der_file(const std::string& in, const std::string& inform,
                                     const std::string& out) {
        auto r = tool({"openssl", "pkey", "-pubin", "-inform", inform, "-in", in, "-outform", "DER",
                       "-out", out});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return out;
    }

  private:
    static inline std::unique_ptr<SoftHsm> s_hsm;
    static inline std::unique_ptr<TempDir> s_dir;
};

}  // namespace ts::test
