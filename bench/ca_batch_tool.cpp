// SPDX-License-Identifier: Apache-2.0
// Helper for bench/ca_batch.sh:
//   ca_batch_tool csrs N DIR [KEY]    N CSRs (CN=host<i>.bench.example) in DIR, quickly: KEY
//                                     p-256 (the default; a key of its own for each) or
//                                     rsa:2048 (8 keys taken in turn: RSA keys are slow to make)
//   ca_batch_tool raw-sign URI N      N raw C_Sign calls with the token key URI names, on one
//                                     session after one login: the token's own signing rate,
//                                     the ceiling `tokensign ca sign` is measured against.
// Prints one line: "<count> <seconds> <per-second>".
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "hsm/crypto.hpp"
#include "hsm/object.hpp"
#include "hsm/ossl.hpp"
#include "hsm/resolve.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"

namespace {

int make_csrs(int n, const std::string& dir, const std::string& spec) {
    const bool rsa = spec == "rsa:2048";
    if (!rsa && spec != "p-256") {
        std::cerr << "ca_batch_tool: KEY is p-256 or rsa:2048, not " << spec << "\n";
        return 2;
    }
    std::vector<ts::OsslPtr<EVP_PKEY>> keys;
    for (int i = 0; i < (rsa ? 8 : n); ++i) {
        keys.emplace_back(rsa ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048})
                              : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
        if (!keys.back()) return 1;
    }
    for (int i = 0; i < n; ++i) {
        EVP_PKEY* key = keys[static_cast<std::size_t>(i) % keys.size()].get();
        ts::OsslPtr<X509_REQ> req(X509_REQ_new());
        std::string cn = "host" + std::to_string(i) + ".bench.example";
        X509_NAME* name = X509_REQ_get_subject_name(req.get());
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>("Bench"), -1, -1, 0);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
        X509_REQ_set_pubkey(req.get(), key);
        if (X509_REQ_sign(req.get(), key, EVP_sha256()) <= 0) return 1;
        char file[64];
        std::snprintf(file, sizeof file, "/req%05d.csr", i);
        ts::OsslPtr<BIO> out(BIO_new_file((dir + file).c_str(), "w"));
        if (!out || !PEM_write_bio_X509_REQ(out.get(), req.get())) return 1;
    }
    std::cout << n << " csrs\n";
    return 0;
}

// N signatures split over `threads` threads, each on its own session (as the batch's signing
// threads are).
int raw_sign(const std::string& uri_text, int n, int threads) {
    ts::hsm::Uri uri = ts::hsm::parse_uri(uri_text);
    ts::hsm::Config cfg;
    auto token = ts::hsm::open_token(cfg, uri);
    auto pins = ts::hsm::pin_sources(cfg, uri);
    token->login(pins);
    ts::hsm::Session s = token->acquire();
    ts::hsm::ObjectQuery q = ts::hsm::ObjectQuery::from_uri(uri);
    q.cls = CKO_PRIVATE_KEY;
    ts::hsm::ObjectInfo info = ts::hsm::find_one(s, q);
    ts::hsm::KeyHandle key{info.handle, false};
    // What the provider hands the token per certificate: a SHA-256 DigestInfo for RSA
    // (CKM_RSA_PKCS), the bare SHA-256 hash for ECDSA (CKM_ECDSA).
    std::vector<unsigned char> data;
    CK_MECHANISM mech{};
    if (info.key_type == CKK_RSA) {
        static const unsigned char kPrefix[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                                0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                                0x01, 0x05, 0x00, 0x04, 0x20};
        data.assign(kPrefix, kPrefix + sizeof kPrefix);
        data.resize(data.size() + 32, 0x5a);
        mech.mechanism = CKM_RSA_PKCS;
    } else {
        data.assign(32, 0x5a);
        mech.mechanism = CKM_ECDSA;
    }
    std::vector<ts::hsm::Session> sessions;
    sessions.push_back(std::move(s));
    for (int t = 1; t < threads; ++t) sessions.push_back(token->acquire());
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            std::vector<unsigned char> mine = data;
            for (int i = t; i < n; i += threads) {
                mine.back() = static_cast<unsigned char>(i);
                (void)ts::hsm::sign(sessions[static_cast<std::size_t>(t)], key, mech, mine, pins);
            }
        });
    }
    for (auto& w : workers) w.join();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << n << " " << secs << " " << n / secs << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        std::string cmd = argc > 1 ? argv[1] : "";
        if (cmd == "csrs" && (argc == 4 || argc == 5))
            return make_csrs(std::atoi(argv[2]), argv[3], argc == 5 ? argv[4] : "p-256");
        if (cmd == "raw-sign" && (argc == 4 || argc == 5))
            return raw_sign(argv[2], std::atoi(argv[3]), argc == 5 ? std::atoi(argv[4]) : 1);
        std::cerr << "usage: ca_batch_tool csrs N DIR [p-256|rsa:2048] | raw-sign URI N [THREADS]\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "ca_batch_tool: " << e.what() << "\n";
        return 1;
    }
}
