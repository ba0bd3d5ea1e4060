// SPDX-License-Identifier: Apache-2.0
// In-process signing throughput: EVP_DigestSign through tokensign.so vs a raw C_Sign loop
// (hsm::sign: C_SignInit + C_Sign over a precomputed digest) on the same SoftHSM2 key, with 1
// and 2 threads (2 threads, 2 sessions for the raw loop). Makes its own temp token.
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "hsm/crypto.hpp"
#include "hsm/object.hpp"
#include "hsm/resolve.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"

namespace {

const char* kModules[] = {"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                          "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
                          "/usr/lib/softhsm/libsofthsm2.so"};

struct Env {
    std::string dir;
    std::string module;
    OSSL_LIB_CTX* ctx = nullptr;
    EVP_PKEY* rsa = nullptr;
    EVP_PKEY* ec = nullptr;

    Env() {
        for (const char* m : kModules)
            if (access(m, R_OK) == 0) module = m;
        if (module.empty()) throw std::runtime_error("SoftHSM2 is not installed");
        char templ[] = "/tmp/tokensign-bench-XXXXXX";
        if (mkdtemp(templ) == nullptr) throw std::runtime_error("mkdtemp");
        dir = templ;
        std::filesystem::create_directory(dir + "/tokens");
        std::ofstream(dir + "/softhsm2.conf") << "directories.tokendir = " << dir << "/tokens\n"
                                              << "objectstore.backend = file\n"
                                              << "log.level = ERROR\n";
        setenv("SOFTHSM2_CONF", (dir + "/softhsm2.conf").c_str(), 1);
        setenv("TOKENSIGN_MODULE", module.c_str(), 1);
        setenv("TOKENSIGN_PIN", "1234", 1);
        sh("softhsm2-util --init-token --free --label bench --pin 1234 --so-pin 123456");
        sh("pkcs11-tool --module " + module +
           " --login --pin 1234 --keypairgen --key-type rsa:2048 --label rsa --id 01");
        sh("pkcs11-tool --module " + module +
           " --login --pin 1234 --keypairgen --key-type EC:prime256v1 --label ec --id 02");
        ctx = OSSL_LIB_CTX_new();
        OSSL_PROVIDER_set_default_search_path(ctx, TS_BENCH_PROVIDER_DIR);
        if (!OSSL_PROVIDER_load(ctx, "tokensign") || !OSSL_PROVIDER_load(ctx, "default")) {
            throw std::runtime_error("cannot load tokensign.so from " TS_BENCH_PROVIDER_DIR);
        }
        rsa = load("pkcs11:token=bench;object=rsa");
        ec = load("pkcs11:token=bench;object=ec");
    }
    ~Env() {
        EVP_PKEY_free(rsa);
        EVP_PKEY_free(ec);
        std::error_code ec_;
        std::filesystem::remove_all(dir, ec_);
    }
    static void sh(const std::string& cmd) {
        if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0) {
            throw std::runtime_error("failed: " + cmd);
        }
    }
    EVP_PKEY* load(const std::string& uri) {
        OSSL_STORE_CTX* st = OSSL_STORE_open_ex(uri.c_str(), ctx, nullptr, nullptr, nullptr,
                                                nullptr, nullptr, nullptr);
        if (st == nullptr) throw std::runtime_error("cannot open " + uri);
        OSSL_STORE_expect(st, OSSL_STORE_INFO_PKEY);
        OSSL_STORE_INFO* info = OSSL_STORE_load(st);
        EVP_PKEY* k = info ? OSSL_STORE_INFO_get1_PKEY(info) : nullptr;
        OSSL_STORE_INFO_free(info);
        OSSL_STORE_close(st);
        if (k == nullptr) throw std::runtime_error("cannot load " + uri);
        return k;
    }
};

Env& env() {
    static Env* e = new Env();  // kept to process exit: tokensign never finalises at exit
    return *e;
}

const std::string kMessage(64, 'm');

void evp_sign(benchmark::State& state, EVP_PKEY* key) {
    std::vector<unsigned char> sig(512);
    for (auto _ : state) {
        EVP_MD_CTX* md = EVP_MD_CTX_new();
        size_t len = sig.size();
        if (EVP_DigestSignInit_ex(md, nullptr, "SHA256", env().ctx, nullptr, key, nullptr) != 1 ||
            EVP_DigestSign(md, sig.data(), &len,
                           reinterpret_cast<const unsigned char*>(kMessage.data()),
                           kMessage.size()) != 1) {
            state.SkipWithError("EVP_DigestSign failed");
        }
        EVP_MD_CTX_free(md);
    }
    state.SetItemsProcessed(state.iterations());
}

// The baseline: what a caller of PKCS#11 does by hand, one session per thread, C_SignInit +
// C_Sign on a digest computed beforehand (so it costs less than the provider's path by the
// hashing of 64 bytes).
void raw_sign(benchmark::State& state, const char* label, bool rsa) {
    static std::mutex m;
    std::shared_ptr<ts::hsm::Token> token;
    ts::hsm::PinSources pins;
    {
        std::lock_guard lock(m);
        ts::hsm::Config cfg;
        cfg.allow_prompt = false;
        ts::hsm::Uri uri = ts::hsm::parse_uri(std::string("pkcs11:token=bench;object=") + label);
        token = ts::hsm::open_token(cfg, uri);
        pins = ts::hsm::pin_sources(cfg, uri);
        token->login(pins);
    }
    ts::hsm::Session s = token->acquire();
    ts::hsm::ObjectQuery q;
    q.cls = CKO_PRIVATE_KEY;
    q.label = label;
    ts::hsm::KeyHandle key{ts::hsm::find_one(s, q).handle, false};
    // SHA-256 DigestInfo (RSA) or the bare digest (ECDSA) of the message.
    std::vector<unsigned char> digest(32, 0x5a);
    static const unsigned char kPrefix[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                            0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                            0x01, 0x05, 0x00, 0x04, 0x20};
    std::vector<unsigned char> data = digest;
    if (rsa) data.insert(data.begin(), std::begin(kPrefix), std::end(kPrefix));
    CK_MECHANISM mech{rsa ? CKM_RSA_PKCS : CKM_ECDSA, nullptr, 0};
    std::size_t size = rsa ? 256 : 64;
    for (auto _ : state) {
        auto sig = ts::hsm::sign(s, key, mech, data, pins, size);
        benchmark::DoNotOptimize(sig.data());
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_Raw_CSign_RSA2048(benchmark::State& s) { raw_sign(s, "rsa", true); }
void BM_Provider_DigestSign_RSA2048(benchmark::State& s) { evp_sign(s, env().rsa); }
void BM_Raw_CSign_P256(benchmark::State& s) { raw_sign(s, "ec", false); }
void BM_Provider_DigestSign_P256(benchmark::State& s) { evp_sign(s, env().ec); }

BENCHMARK(BM_Raw_CSign_RSA2048)->Threads(1)->Threads(2)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Provider_DigestSign_RSA2048)->Threads(1)->Threads(2)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Raw_CSign_P256)->Threads(1)->Threads(2)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Provider_DigestSign_P256)->Threads(1)->Threads(2)->UseRealTime()->MinTime(2.0);

}  // namespace

int main(int argc, char** argv) {
    try {
        (void)env();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "provider_bench: %s\n", e.what());
        return 1;
    }
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
