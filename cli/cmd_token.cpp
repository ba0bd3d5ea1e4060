// SPDX-License-Identifier: Apache-2.0
// tokensign token list | mechanisms: what modules, slots and tokens there are, and what they can
// do.
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/admin.hpp"
#include "cli/common.hpp"
#include "hsm/mechanism.hpp"
#include "hsm/module.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"

namespace ts::cli {

namespace {

struct TokenListOptions {
    std::string uri;  // optional filter
    bool json = false;
};

struct TokenMechanismsOptions {
    std::string uri;
    bool json = false;
};

std::string version_string(const CK_VERSION& v) {
    return std::to_string(v.major) + "." + std::to_string(v.minor);
}

std::vector<std::string> slot_flag_names(CK_FLAGS flags) {
    std::vector<std::string> names;
    if (flags & CKF_TOKEN_PRESENT) names.emplace_back("token-present");
    if (flags & CKF_REMOVABLE_DEVICE) names.emplace_back("removable-device");
    if (flags & CKF_HW_SLOT) names.emplace_back("hardware-slot");
    return names;
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& s : items) {
        if (!out.empty()) out += ' ';
        out += s;
    }
    return out;
}

bool token_matches(const hsm::Uri& uri, const hsm::TokenInfo& t) {
    return uri.matches_slot(t.slot, t.slot_info) && uri.matches_token(t.token_info);
}

void run_token_list(const TokenListOptions& o, const GlobalOptions& g) {
    std::optional<hsm::Uri> uri;
    if (!o.uri.empty()) uri = parse_cli_uri(o.uri, "TOKEN-URI");
    hsm::Config cfg = g.hsm_config();
    auto modules = hsm::load_modules(cfg.modules, uri ? &*uri : nullptr);

    std::ostringstream out;
    nlohmann::ordered_json json_modules = nlohmann::ordered_json::array();
    bool first_module = true;
    for (const auto& m : modules) {
        CK_INFO info = m->info();
        if (uri && !uri->matches_module(info)) continue;
        std::vector<hsm::TokenInfo> tokens;
        for (auto& t : hsm::list_tokens({m})) {
            if (!uri || token_matches(*uri, t)) tokens.push_back(std::move(t));
        }
        std::string manufacturer = hsm::padded(info.manufacturerID);
        std::string description = hsm::padded(info.libraryDescription);
        nlohmann::ordered_json json_tokens = nlohmann::ordered_json::array();
        if (!o.json) {
            out << "Module " << m->name() << " (" << m->path() << ")\n"
                << "  library: " << description << ", " << manufacturer << ", version "
                << version_string(info.libraryVersion) << ", Cryptoki "
                << version_string(info.cryptokiVersion) << "\n";
            if (tokens.empty()) out << "  no token present\n";
        }
        first_module = false;
        for (const auto& t : tokens) {
            const auto& si = t.slot_info;
            const auto& ti = t.token_info;
            std::string token_uri = hsm::token_uri(ti);
            if (o.json) {
                json_tokens.push_back({{"slot_id", t.slot},
                                       {"slot_description", hsm::padded(si.slotDescription)},
                                       {"slot_manufacturer", hsm::padded(si.manufacturerID)},
                                       {"slot_flags", slot_flag_names(si.flags)},
                                       {"label", t.label()},
                                       {"manufacturer", t.manufacturer()},
                                       {"model", t.model()},
                                       {"serial", t.serial()},
                                       {"flags", hsm::token_flag_names(ti.flags)},
                                       {"uri", token_uri}});
            } else {
                out << "  Slot " << t.slot << ": " << hsm::padded(si.slotDescription);
                auto sf = slot_flag_names(si.flags);
                if (!sf.empty()) out << " [" << joined(sf) << "]";
                out << "\n"
                    << "    Token '" << t.label() << "'"
                    << ((ti.flags & CKF_TOKEN_INITIALIZED) ? "" : " (not initialized)") << "\n"
                    << "      manufacturer: " << t.manufacturer() << "\n"
                    << "      model:        " << t.model() << "\n"
                    << "      serial:       " << t.serial() << "\n"
                    << "      flags:        " << joined(hsm::token_flag_names(ti.flags)) << "\n"
                    << "      uri:          " << token_uri << "\n";
            }
        }
        if (o.json) {
            json_modules.push_back({{"name", m->name()},
                                    {"path", m->path()},
                                    {"library_manufacturer", manufacturer},
                                    {"library_description", description},
                                    {"library_version", version_string(info.libraryVersion)},
                                    {"cryptoki_version", version_string(info.cryptokiVersion)},
                                    {"tokens", std::move(json_tokens)}});
        }
    }
    if (o.json) {
        out << json_text({{"modules", std::move(json_modules)}}) << "\n";
    } else if (first_module) {
        out << "No PKCS#11 module loaded (none registered with p11-kit; use --module PATH).\n";
    }
    std::cout << out.str();
}

void run_token_mechanisms(const TokenMechanismsOptions& o, const GlobalOptions& g) {
    hsm::Uri uri = parse_cli_uri(o.uri, "TOKEN-URI");
    auto t = open_token(g, uri, false);
    const auto& info = t.token->info();
    auto mechs = hsm::list_mechanisms(t.token->module(), info.slot);

    std::ostringstream out;
    if (o.json) {
        nlohmann::ordered_json list = nlohmann::ordered_json::array();
        for (const auto& m : mechs) {
            list.push_back({{"name", hsm::mechanism_name(m.type)},
                            {"type", m.type},
                            {"min_key_size", m.info.ulMinKeySize},
                            {"max_key_size", m.info.ulMaxKeySize},
                            {"flags", hsm::mechanism_flag_names(m.info.flags)}});
        }
        out << json_text({{"token", info.label()},
                          {"uri", hsm::token_uri(info.token_info)},
                          {"mechanisms", std::move(list)}})
            << "\n";
    } else {
        out << "Mechanisms of " << info.describe() << ":\n";
        for (const auto& m : mechs) {
            std::string name = hsm::mechanism_name(m.type);
            out << "  " << name << std::string(name.size() < 32 ? 32 - name.size() : 1, ' ')
                << "keys " << m.info.ulMinKeySize << "-" << m.info.ulMaxKeySize << "  "
                << joined(hsm::mechanism_flag_names(m.info.flags)) << "\n";
        }
    }
    std::cout << out.str();
}

}  // namespace

void setup_token(CLI::App& app, const GlobalOptions& g) {
    auto* token = app.add_subcommand(
        "token", "List tokens and what they support; initialise them, change and reset PINs");
    token->require_subcommand(1);

    auto list_opts = std::make_shared<TokenListOptions>();
    auto* list = token->add_subcommand(
        "list",
        "List the loaded PKCS#11 modules, their slots and the tokens in them, with token flags "
        "(login-required, user-pin-count-low, user-pin-locked, ...) and each token's URI. "
        "Without --module this loads every module registered with p11-kit.");
    list->add_option("TOKEN-URI", list_opts->uri,
                     "only tokens matching this pkcs11: URI (e.g. pkcs11:token=root-ca)");
    list->add_flag("--json", list_opts->json, "machine-readable output (one JSON object)");
    list->callback(command([list_opts, &g] { run_token_list(*list_opts, g); }));

    auto mech_opts = std::make_shared<TokenMechanismsOptions>();
    auto* mech = token->add_subcommand(
        "mechanisms",
        "List the mechanisms of one token (C_GetMechanismList/C_GetMechanismInfo): "
        "name, key sizes and flags (sign, verify, generate-key-pair, ...)");
    mech->add_option("TOKEN-URI", mech_opts->uri, "pkcs11: URI naming exactly one token")
        ->required();
    mech->add_flag("--json", mech_opts->json, "machine-readable output (one JSON object)");
    mech->callback(command([mech_opts, &g] { run_token_mechanisms(*mech_opts, g); }));

    setup_token_admin(*token, g);  // init, change-pin, unlock
}

}  // namespace ts::cli
