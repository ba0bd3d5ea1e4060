// SPDX-License-Identifier: Apache-2.0
#include "signer/ceremony/rehearsal.hpp"

#include <openssl/rand.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "hsm/admin.hpp"
#include "hsm/error.hpp"
#include "hsm/module.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"
#include "signer/error.hpp"

namespace fs = std::filesystem;

namespace ts::signer::ceremony {

namespace {

hsm::Pin random_pin() {
    unsigned char raw[12];
    if (RAND_bytes(raw, sizeof raw) != 1) throw OpenSslError("RAND_bytes");
    std::string hex = hsm::to_hex(raw);
    hsm::Pin pin = hsm::Pin::from(hex);
    OPENSSL_cleanse(raw, sizeof raw);
    OPENSSL_cleanse(hex.data(), hex.size());
    return pin;
}

}  // namespace

std::string find_softhsm2_module(const std::string& given) {
    if (!given.empty()) return given;
    for (const char* p :
         {"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
          "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/softhsm/libsofthsm2.so"}) {
        std::error_code ec;
        if (fs::exists(p, ec)) return p;
    }
    throw InputError(
        "a rehearsal runs on SoftHSM2 tokens, and its module was not found: install softhsm2 "
        "(apt install softhsm2) or give its module with --module PATH");
}

Rehearsal::Rehearsal(const File& f, const std::string& module) {
    std::string tmpl = (fs::temp_directory_path() / "tokensign-rehearsal-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
        throw CaDbError("cannot create a temporary directory for the rehearsal tokens");
    m_dir = tmpl;
    try {
        fs::create_directory(fs::path(m_dir) / "tokens");
        std::string conf = m_dir + "/softhsm2.conf";
        std::ofstream(conf) << "directories.tokendir = " << m_dir << "/tokens\n"
                            << "objectstore.backend = file\nlog.level = ERROR\n"
                            << "slots.removable = false\n";
        ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);
        auto mod = hsm::Module::load_path(module);
        std::string maker = hsm::padded(mod->info().manufacturerID);
        if (maker.find("SoftHSM") == std::string::npos)
            throw InputError("--module " + module + " is not SoftHSM2 (its manufacturer is '" +
                             maker + "'); a rehearsal never opens another module's tokens");
        for (const auto& d : f.tokens) {
            hsm::Uri uri = hsm::parse_uri(d.uri);
            std::string label = uri.token().value_or(d.id);
            std::vector<hsm::TokenInfo> all = hsm::list_tokens({mod});
            std::vector<std::string> serials;
            const hsm::TokenInfo* spare = nullptr;
            for (const auto& t : all) {
                serials.push_back(t.serial());
                if (!(t.token_info.flags & CKF_TOKEN_INITIALIZED) && spare == nullptr) spare = &t;
            }
            if (spare == nullptr)
                throw hsm::Error("SoftHSM2 offers no free slot for the rehearsal token " + d.id);
            hsm::Pin so = random_pin();
            hsm::Pin user = random_pin();
            hsm::init_token(*spare, so, label);
            hsm::TokenInfo made = hsm::find_initialised_token(*spare, label, serials);
            hsm::init_user_pin(made, so, user, false);
            TokenOverride o;
            o.uri = "pkcs11:token=" + hsm::percent_encode_text(label) +
                    ";serial=" + hsm::percent_encode_text(made.serial());
            o.cfg.modules.explicit_path = module;
            o.cfg.modules.use_env = false;
            o.cfg.use_env_pin = false;
            o.cfg.allow_prompt = false;
            o.pin = std::make_shared<const hsm::Pin>(std::move(user));
            m_tokens[d.id] = std::move(o);
        }
    } catch (...) {
        std::error_code ec;
        fs::remove_all(m_dir, ec);
        throw;
    }
}

Rehearsal::~Rehearsal() {
    std::error_code ec;
    fs::remove_all(m_dir, ec);
}

}  // namespace ts::signer::ceremony
