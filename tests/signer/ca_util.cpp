// SPDX-License-Identifier: Apache-2.0
#include "tests/signer/ca_util.hpp"

#include <openssl/pem.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tests/support/softhsm.hpp"

namespace ts::test {

std::map<std::string, std::string> token_env(const SoftHsm& hsm) {
    return {{"SOFTHSM2_CONF", hsm.conf()},
            {"TOKENSIGN_MODULE", hsm.module()},
            {"TOKENSIGN_PIN", "1234"},
            {"TOKENSIGN_PROVIDER_DIR", provider_dir()}};
}

std::map<std::string, std::string> fault_token_env(
    const SoftHsm& hsm, const std::map<std::string, std::string>& faults) {
    auto e = token_env(hsm);
    e["TOKENSIGN_MODULE"] = fault_module();
    e["TS_FAULT_TARGET"] = hsm.module();
    for (const auto& [k, v] : faults) e[k] = v;
    return e;
}

OsslPtr<EVP_PKEY> make_rsa_key(unsigned bits) {
    OsslPtr<EVP_PKEY> k(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
    if (!k) throw std::runtime_error("RSA keygen failed");
    return k;
}

OsslPtr<EVP_PKEY> make_ec_key() {
    OsslPtr<EVP_PKEY> k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    if (!k) throw std::runtime_error("EC keygen failed");
    return k;
}

void write_key(const std::string& path, EVP_PKEY* key) {
    OsslPtr<BIO> bio(BIO_new_file(path.c_str(), "w"));
    if (!bio || !PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr))
        throw std::runtime_error("cannot write " + path);
}

std::string make_csr(EVP_PKEY* key, const Dn& dn, const Dn& extensions) {
    OsslPtr<X509_REQ> req(X509_REQ_new());
    X509_NAME* name = X509_REQ_get_subject_name(req.get());
    for (const auto& [k, v] : dn)
        X509_NAME_add_entry_by_txt(name, k.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(v.c_str()), -1, -1, 0);
    X509_REQ_set_pubkey(req.get(), key);
    if (!extensions.empty()) {
        STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
        for (const auto& [k, v] : extensions) {
            X509_EXTENSION* e = X509V3_EXT_nconf(nullptr, nullptr, k.c_str(), v.c_str());
            if (e == nullptr) throw std::runtime_error("bad extension " + k + "=" + v);
            sk_X509_EXTENSION_push(exts, e);
        }
        X509_REQ_add_extensions(req.get(), exts);
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    }
    if (X509_REQ_sign(req.get(), key, EVP_sha256()) <= 0) throw std::runtime_error("CSR sign");
    OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509_REQ(bio.get(), req.get());
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<size_t>(n));
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::map<std::string, std::string> snapshot(const std::string& dir) {
    std::map<std::string, std::string> files;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
        if (!e.is_regular_file()) continue;
        std::string rel = std::filesystem::relative(e.path(), dir).string();
        if (rel.size() >= 5 && rel.compare(rel.size() - 5, 5, ".lock") == 0) continue;
        files[rel] = read_text(e.path().string());
    }
    return files;
}

RunResult tokensign(std::vector<std::string> args, const std::map<std::string, std::string>& env,
                    const std::string& input) {
    args.insert(args.begin(), cli_path());
    return run(args, env, input);
}

std::vector<std::string> index_without_dates(const std::string& index_path) {
    std::vector<std::string> out;
    std::istringstream in(read_text(index_path));
    std::string line;
    while (std::getline(in, line)) {
        std::vector<std::string> f;
        std::size_t start = 0;
        for (;;) {
            auto tab = line.find('\t', start);
            f.push_back(line.substr(start, tab == std::string::npos ? tab : tab - start));
            if (tab == std::string::npos) break;
            start = tab + 1;
        }
        if (f.size() == 6) {
            f[1] = "<expiry>";
            auto comma = f[2].find(',');
            f[2] = f[2].empty() ? ""
                                : "<date>" + (comma == std::string::npos ? "" : f[2].substr(comma));
        }
        std::string joined;
        for (std::size_t i = 0; i < f.size(); ++i) joined += (i ? "\t" : "") + f[i];
        out.push_back(joined);
    }
    return out;
}

}  // namespace ts::test
