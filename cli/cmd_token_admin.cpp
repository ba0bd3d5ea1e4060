// SPDX-License-Identifier: Apache-2.0
// tokensign token init | change-pin | unlock: what a security officer needed pkcs11-tool or
// softhsm2-util for. PINs come from pin-source files, the environment or a prompt, never argv.
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/admin.hpp"
#include "cli/common.hpp"
#include "hsm/admin.hpp"
#include "hsm/error.hpp"
#include "hsm/module.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"
#include "signer/error.hpp"

namespace ts::cli {

namespace {

constexpr const char* kSoEnv = "TOKENSIGN_SO_PIN";
constexpr const char* kNewEnv = "TOKENSIGN_NEW_PIN";

struct TokenInitOptions {
    std::string uri;  // empty: the one uninitialised token
    std::string label;
    std::string so_pin_source;
    std::string new_pin_source;
    bool reinitialize = false;
    std::string confirm_label;
    bool json = false;
};

struct TokenChangePinOptions {
    std::string uri;
    bool so = false;
    std::string so_pin_source;
    std::string new_pin_source;
};

struct TokenUnlockOptions {
    std::string uri;
    std::string so_pin_source;
    std::string new_pin_source;
};

bool initialised(const hsm::TokenInfo& t) {
    return (t.token_info.flags & CKF_TOKEN_INITIALIZED) != 0;
}

bool pin_pad(const hsm::TokenInfo& t) {
    return (t.token_info.flags & CKF_PROTECTED_AUTHENTICATION_PATH) != 0;
}

std::string candidates(const std::vector<hsm::TokenInfo>& ts) {
    std::string out;
    for (const auto& t : ts)
        out += "\n  " + t.describe() + (initialised(t) ? "" : " (not initialised)") + "  " +
               (initialised(t) ? hsm::token_uri(t.token_info)
                               : "pkcs11:slot-id=" + std::to_string(t.slot));
    return out;
}

/// The token `text` names (uninitialised ones included: those are what init is for); without
/// a URI, the one uninitialised token.
hsm::TokenInfo target_token(const GlobalOptions& g, const std::string& text) {
    std::optional<hsm::Uri> uri;
    if (!text.empty()) uri = parse_cli_uri(text, "TOKEN-URI");
    auto modules = hsm::load_modules(g.hsm_config().modules, uri ? &*uri : nullptr);
    if (uri) return hsm::select_token(modules, *uri);
    std::vector<hsm::TokenInfo> all, blank;
    for (auto& t : hsm::list_tokens(modules)) {
        if (!initialised(t)) blank.push_back(t);
        all.push_back(std::move(t));
    }
    if (blank.size() == 1) return blank.front();
    throw hsm::SelectionError(std::string(blank.empty() ? "no uninitialised token is present"
                                                        : std::to_string(blank.size()) +
                                                              " uninitialised tokens are "
                                                              "present") +
                              "; name the token with TOKEN-URI (e.g. pkcs11:slot-id=N)" +
                              (all.empty() ? std::string() : ":" + candidates(all)));
}

hsm::SecretSource so_source(const GlobalOptions& g, const std::string& file) {
    return {file, kSoEnv, !g.no_prompt, "--so-pin-source FILE or " + std::string(kSoEnv)};
}

hsm::SecretSource new_source(const GlobalOptions& g, const std::string& file) {
    return {file, kNewEnv, !g.no_prompt, "--new-pin-source FILE or " + std::string(kNewEnv)};
}

/// The user's current PIN: the usual login sources (URI, --pin-source, TOKENSIGN_PIN, prompt).
hsm::Pin current_user_pin(const GlobalOptions& g, const std::string& uri_text,
                          const hsm::TokenInfo& t) {
    hsm::PinSources sources =
        hsm::pin_sources(g.hsm_config(), parse_cli_uri(uri_text, "TOKEN-URI"));
    return hsm::obtain_pin(sources, "token '" + t.label() + "' (current user PIN)");
}

void run_token_init(const TokenInitOptions& o, const GlobalOptions& g) {
    hsm::TokenInfo t = target_token(g, o.uri);
    const bool was_initialised = initialised(t);
    if (was_initialised) {
        if (!o.reinitialize)
            throw signer::InputError(
                "token " + t.describe() +
                " is already initialised; initialising it again destroys every key and "
                "certificate on it. Give --reinitialize (and confirm its label) if that is "
                "what you want");
        const std::string current = t.label();
        if (!o.confirm_label.empty()) {
            if (o.confirm_label != current)
                throw signer::Declined("--confirm-label '" + o.confirm_label +
                                       "' is not the label of token " + t.describe() +
                                       "; nothing was changed");
        } else {
            std::cerr << "Reinitialising token " << t.describe()
                      << " destroys EVERY object on it (keys, certificates, data) and sets a new "
                         "user PIN.\n";
            confirm_typed("Type the token's current label '" + current + "' to confirm: ", current,
                          "--confirm-label '" + current + "'");
        }
    } else if (o.reinitialize || !o.confirm_label.empty()) {
        // Harmless, but a sign the command was meant for another token.
        std::cerr << "tokensign: note: token in slot " << t.slot
                  << " is not initialised; --reinitialize/--confirm-label are not needed\n";
    }
    // A second token with this label would make every token=LABEL URI ambiguous (exit 3 later).
    std::vector<std::string> serials_before;
    for (const auto& other : hsm::list_tokens({t.module})) {
        if (initialised(other)) serials_before.push_back(other.serial());
        if (other.slot != t.slot && initialised(other) && other.label() == o.label)
            throw hsm::SelectionError("another token is already labelled '" + o.label +
                                      "': " + other.describe() +
                                      "; pkcs11:token= URIs would match both. Choose another "
                                      "--label");
    }

    hsm::Pin so_pin, user_pin;
    if (!pin_pad(t)) {
        // A new token's SO PIN is new (typed twice); a reinitialised one's must be its SO PIN.
        so_pin = was_initialised ? hsm::obtain_secret(so_source(g, o.so_pin_source),
                                                      "SO PIN of token '" + t.label() + "'")
                                 : hsm::obtain_new_pin(
                                       so_source(g, o.so_pin_source), "new SO PIN for the token",
                                       t.token_info.ulMinPinLen, t.token_info.ulMaxPinLen);
        user_pin = hsm::obtain_new_pin(new_source(g, o.new_pin_source),
                                       "new user PIN for token '" + o.label + "'",
                                       t.token_info.ulMinPinLen, t.token_info.ulMaxPinLen);
    }
    if (was_initialised) hsm::check_pin_tries(t, true, g.allow_final_pin_try);
    hsm::init_token(t, so_pin, o.label);
    hsm::TokenInfo now = hsm::find_initialised_token(t, o.label, serials_before);
    try {
        hsm::init_user_pin(now, so_pin, user_pin, g.allow_final_pin_try);
    } catch (const hsm::Pkcs11Error& e) {
        // C_InitToken is done and cannot be undone: say where that leaves the token.
        throw hsm::Pkcs11Error(e.rv(), e.function(),
                               std::string(e.what()) + "; the token is initialised as '" + o.label +
                                   "' but has no user PIN yet: set one with "
                                   "`tokensign token unlock`");
    }
    now = hsm::find_initialised_token(now, o.label, serials_before);  // flags after C_InitPIN

    const std::string uri = hsm::token_uri(now.token_info);
    if (o.json) {
        std::cout << json_text({{"label", now.label()},
                                {"serial", now.serial()},
                                {"reinitialized", was_initialised},
                                {"uri", uri}})
                  << "\n";
    } else {
        std::cout << (was_initialised ? "Reinitialised" : "Initialised") << " token '"
                  << now.label() << "' (serial " << now.serial() << "); user PIN set\n"
                  << "  uri: " << uri << "\n";
    }
}

void run_token_change_pin(const TokenChangePinOptions& o, const GlobalOptions& g) {
    hsm::TokenInfo t = target_token(g, o.uri);
    if (!initialised(t))
        throw signer::InputError("token in slot " + std::to_string(t.slot) +
                                 " is not initialised: run `tokensign token init` first");
    hsm::Pin old_pin, new_pin;
    if (o.so) {
        if (!pin_pad(t)) {
            old_pin = hsm::obtain_secret(so_source(g, o.so_pin_source),
                                         "current SO PIN of token '" + t.label() + "'");
            new_pin = hsm::obtain_new_pin(new_source(g, o.new_pin_source),
                                          "new SO PIN for token '" + t.label() + "'",
                                          t.token_info.ulMinPinLen, t.token_info.ulMaxPinLen);
        }
        hsm::change_so_pin(t, old_pin, new_pin, g.allow_final_pin_try);
        std::cout << "Changed the SO PIN of token '" << t.label() << "'\n";
    } else {
        if (!pin_pad(t)) {
            old_pin = current_user_pin(g, o.uri, t);
            new_pin = hsm::obtain_new_pin(new_source(g, o.new_pin_source),
                                          "new user PIN for token '" + t.label() + "'",
                                          t.token_info.ulMinPinLen, t.token_info.ulMaxPinLen);
        }
        hsm::change_user_pin(t, old_pin, new_pin, g.allow_final_pin_try);
        std::cout << "Changed the user PIN of token '" << t.label() << "'\n";
    }
}

void run_token_unlock(const TokenUnlockOptions& o, const GlobalOptions& g) {
    hsm::TokenInfo t = target_token(g, o.uri);
    if (!initialised(t))
        throw signer::InputError("token in slot " + std::to_string(t.slot) +
                                 " is not initialised: run `tokensign token init` first");
    const bool was_locked = (t.token_info.flags & CKF_USER_PIN_LOCKED) != 0;
    hsm::Pin so_pin, user_pin;
    if (!pin_pad(t)) {
        so_pin = hsm::obtain_secret(so_source(g, o.so_pin_source),
                                    "SO PIN of token '" + t.label() + "'");
        user_pin = hsm::obtain_new_pin(new_source(g, o.new_pin_source),
                                       "new user PIN for token '" + t.label() + "'",
                                       t.token_info.ulMinPinLen, t.token_info.ulMaxPinLen);
    }
    hsm::init_user_pin(t, so_pin, user_pin, g.allow_final_pin_try);
    std::cout << "Set a new user PIN on token '" << t.label() << "'"
              << (was_locked ? " (it was locked; it is unlocked now)" : "") << "\n";
}

std::string check_label(const std::string& text) { return hsm::check_token_label(text); }

void add_so_source(CLI::App* cmd, std::string& target, const char* what) {
    cmd->add_option("--so-pin-source", target,
                    std::string("file (or file: URI) holding ") + what +
                        "; else the environment variable " + kSoEnv + ", else a prompt")
        ->type_name("FILE");
}

void add_new_source(CLI::App* cmd, std::string& target, const char* what) {
    cmd->add_option("--new-pin-source", target,
                    std::string("file (or file: URI) holding ") + what +
                        "; else the environment variable " + kNewEnv +
                        ", else a prompt (typed twice)")
        ->type_name("FILE");
}

}  // namespace

void setup_token_admin(CLI::App& token, const GlobalOptions& g) {
    auto init_opts = std::make_shared<TokenInitOptions>();
    auto* init = token.add_subcommand(
        "init",
        "Initialise a token (C_InitToken), then set its user PIN as the SO (C_InitPIN). "
        "Without TOKEN-URI: the one uninitialised token (SoftHSM2 always offers one). A new "
        "token's SO PIN and the user PIN are new: typed twice at the prompt, or from "
        "--so-pin-source / --new-pin-source / TOKENSIGN_SO_PIN / TOKENSIGN_NEW_PIN. An already "
        "initialised token is refused (exit 6) unless --reinitialize is given and its current "
        "label is typed on the terminal (or given with --confirm-label); a wrong or missing "
        "confirmation exits 8. Reinitialising destroys every object on the token and needs its "
        "current SO PIN.");
    init->add_option("TOKEN-URI", init_opts->uri,
                     "pkcs11: URI of the token, e.g. pkcs11:slot-id=N for an uninitialised one "
                     "(see `token list`); default: the one uninitialised token");
    init->add_option("--label", init_opts->label, "the token's new label (1 to 32 bytes)")
        ->required()
        ->type_name("LABEL")
        ->check(CLI::Validator(check_label, "LABEL"));
    add_so_source(init, init_opts->so_pin_source,
                  "the SO PIN (new for a blank token, the current one to reinitialise)");
    add_new_source(init, init_opts->new_pin_source, "the new user PIN");
    init->add_flag("--reinitialize", init_opts->reinitialize,
                   "allow initialising a token that is already initialised (destroys all its "
                   "objects); asks for its current label on the terminal");
    init->add_option("--confirm-label", init_opts->confirm_label,
                     "for scripts: the current label of the token being reinitialised, instead "
                     "of typing it at the prompt")
        ->type_name("LABEL");
    init->add_flag("--json", init_opts->json, "machine-readable output (one JSON object)");
    init->callback(command([init_opts, &g] { run_token_init(*init_opts, g); }));

    auto cp_opts = std::make_shared<TokenChangePinOptions>();
    auto* cp = token.add_subcommand(
        "change-pin",
        "Change the user PIN (C_SetPIN; the current PIN from the URI's pin-source, "
        "--pin-source, TOKENSIGN_PIN or a prompt) or, with --so, the SO PIN (C_Login as SO, "
        "C_SetPIN; the current SO PIN from --so-pin-source, TOKENSIGN_SO_PIN or a prompt). The "
        "new PIN from --new-pin-source, TOKENSIGN_NEW_PIN, or a prompt (typed twice).");
    cp->add_option("TOKEN-URI", cp_opts->uri, "pkcs11: URI naming exactly one token")->required();
    cp->add_flag("--so", cp_opts->so, "change the security officer's PIN instead of the user's");
    add_so_source(cp, cp_opts->so_pin_source, "the current SO PIN (with --so)");
    add_new_source(cp, cp_opts->new_pin_source, "the new PIN");
    cp->callback(command([cp_opts, &g] { run_token_change_pin(*cp_opts, g); }));

    auto un_opts = std::make_shared<TokenUnlockOptions>();
    auto* un = token.add_subcommand(
        "unlock",
        "The SO sets a new user PIN (C_Login as SO, C_InitPIN), which also unlocks a user PIN "
        "locked by too many wrong tries. The SO PIN from --so-pin-source, TOKENSIGN_SO_PIN or a "
        "prompt; the new user PIN from --new-pin-source, TOKENSIGN_NEW_PIN or a prompt (typed "
        "twice). Keys and certificates stay.");
    un->add_option("TOKEN-URI", un_opts->uri, "pkcs11: URI naming exactly one token")->required();
    add_so_source(un, un_opts->so_pin_source, "the SO PIN");
    add_new_source(un, un_opts->new_pin_source, "the new user PIN");
    un->callback(command([un_opts, &g] { run_token_unlock(*un_opts, g); }));
}

}  // namespace ts::cli
