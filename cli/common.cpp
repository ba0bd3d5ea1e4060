// SPDX-License-Identifier: Apache-2.0
// Global options, the help text every subcommand shares, and JSON output.
#include "cli/common.hpp"

#include <openssl/err.h>

#include <cctype>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "hsm/error.hpp"
#include "hsm/token.hpp"

namespace ts::cli {

namespace {

// The shared reference text appears once, under `tokensign --help` (and in tokensign(1)); every
// subcommand inherits the one-line pointer instead (CLI11 copies footer_ into subcommands created
// after it is set), so a subcommand's --help is its own options.
constexpr const char* kFooter =
    "Global options (--module, --pin-source, --no-prompt, --allow-final-pin-try) are accepted\n"
    "before or after the subcommand.\n"
    "\n"
    "Tokens and objects are named by RFC 7512 URIs, e.g.\n"
    "  pkcs11:token=root-ca                       a token (also manufacturer=, model=, serial=,\n"
    "                                             library-manufacturer=, library-description=,\n"
    "                                             slot-id=)\n"
    "  pkcs11:token=root-ca;object=ca-key;type=private   a key (also id=%01%02)\n"
    "  query part: ?module-path=PATH | ?module-name=NAME | ?pin-source=FILE\n"
    "Values are percent-encoded where RFC 7512 says so (object=my%20key). A URI without\n"
    "token= names the one initialised token that holds the object (found without logging in).\n"
    "\n"
    "The user PIN comes from, in this order: the URI's pin-value (tests only), the URI's\n"
    "pin-source, --pin-source, the environment variable TOKENSIGN_PIN, else a prompt on the\n"
    "terminal with echo off. Never from a command-line flag. A rejected PIN is not retried.\n"
    "\n"
    "Exit codes: 0 ok, 1 failure, 2 usage or malformed URI, 3 no token/object or several\n"
    "matched, 4 PIN rejected/locked/unavailable, 5 token or module error, 6 input or policy\n"
    "refused, 7 CA database unusable or locked, 8 declined at a prompt.\n"
    "\n"
    "Each command's own options: tokensign COMMAND --help. All of it: man tokensign.";

constexpr const char* kPointer =
    "Global options (--module, --pin-source, --no-prompt, --allow-final-pin-try), pkcs11: URIs,\n"
    "PIN sources and exit codes: tokensign --help, or man tokensign.";

// CLI11's default placeholders say the C++ type (TEXT, INT) and append each validator's name
// (TYPE:TYPE, INT:INT in [1 - 16]): say what to write instead. Applied to every command after
// all are set up, so options added later read the same.
void natural_placeholders(CLI::App& app) {
    for (CLI::Option* o : app.get_options()) {
        if (o->get_type_size() == 0) continue;  // a flag
        for (int i = 0;; ++i) {
            try {
                o->get_validator(i)->description("");
            } catch (const CLI::OptionNotFound&) {
                break;
            }
        }
        if (!o->nonpositional()) {
            o->type_name("");  // the argument's own name is the placeholder
            continue;
        }
        const std::string t = o->get_type_name();
        if (t == "INT" || t == "UINT" || t == "FLOAT" || t == "NUMBER") {
            o->type_name("N");
        } else if (t == "TEXT" && !o->get_lnames().empty()) {
            std::string name = o->get_lnames().front();
            for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            o->type_name(name);
        }
    }
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
        natural_placeholders(*sub);
}

// One line per command, option and argument, tab-separated, for tests and the bash completion:
//   command<TAB>PATH
//   option<TAB>PATH<TAB>NAME<TAB>PLACEHOLDER ("-" for a flag)
//   argument<TAB>PATH<TAB>NAME
void dump_commands(const CLI::App& app, const std::string& path, std::ostream& out) {
    out << "command\t" << path << "\n";
    for (const CLI::Option* o : app.get_options()) {
        if (o->get_group().empty()) continue;  // hidden
        if (!o->nonpositional()) {
            out << "argument\t" << path << "\t" << o->get_name() << "\n";
            continue;
        }
        const std::string value = o->get_type_size() == 0 ? "-" : o->get_type_name();
        for (const auto& n : o->get_snames())
            out << "option\t" << path << "\t-" << n << "\t" << value << "\n";
        for (const auto& n : o->get_lnames())
            out << "option\t" << path << "\t--" << n << "\t" << value << "\n";
    }
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
        dump_commands(*sub, path + " " + sub->get_name(), out);
}

}  // namespace

hsm::Config GlobalOptions::hsm_config() const {
    hsm::Config cfg;
    cfg.modules.explicit_path = module;
    cfg.modules.use_env = true;  // hsm::load_modules reads TOKENSIGN_MODULE
    cfg.pin_source = pin_source;
    cfg.use_env_pin = true;
    cfg.allow_prompt = !no_prompt;
    cfg.allow_final_try = allow_final_pin_try;
    return cfg;
}

void setup_global(CLI::App& app, GlobalOptions& g) {
    // Global options may follow the subcommand: unknown options fall through to the parent.
    app.fallthrough();
    app.footer(kPointer);
    app.add_option("--module", g.module,
                   "PKCS#11 module (shared object) to load instead of TOKENSIGN_MODULE or the "
                   "modules registered with p11-kit (a module-path or module-name in the URI "
                   "wins)")
        ->type_name("PATH");
    app.add_option("--pin-source", g.pin_source,
                   "file (or file: URI) holding the user PIN; used when the URI has no "
                   "pin-value or pin-source")
        ->type_name("FILE");
    app.add_flag("--no-prompt", g.no_prompt,
                 "never prompt for a PIN: fail (exit 4) when no pin source gives one");
    app.add_flag("--allow-final-pin-try", g.allow_final_pin_try,
                 "log in even when the token says only one PIN try is left");
}

void finish_cli(CLI::App& app) {
    app.footer(kFooter);
    natural_placeholders(app);
    // Hidden (no group): the command tree, read by tests/cli's man page check and by the bash
    // completion, so neither keeps a copy of the options that could fall behind.
    app.add_flag_callback(
           "--dump-commands",
           [&app] {
               std::ostringstream out;
               dump_commands(app, app.get_name(), out);
               std::cout << out.str();
               throw CLI::Success();
           },
           "print every command, option and argument, one per line")
        ->group("");
}

std::string json_text(const nlohmann::ordered_json& j) {
    return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

hsm::Uri parse_cli_uri(const std::string& text, std::string_view what) {
    if (!hsm::is_pkcs11_uri(text)) {
        // Not echoing `text`: a mistyped URI may still carry a pin-value.
        throw hsm::UriError(std::string(what) +
                            ": expected a pkcs11: URI (RFC 7512), e.g. pkcs11:token=NAME");
    }
    try {
        return hsm::parse_uri(text);
    } catch (const hsm::UriError& e) {
        throw hsm::UriError(std::string(what) + ": " + e.what());
    }
}

OpenToken open_token(const GlobalOptions& g, const hsm::Uri& uri, bool login) {
    hsm::Config cfg = g.hsm_config();
    OpenToken t{hsm::open_token(cfg, uri), hsm::pin_sources(cfg, uri)};
    if (login) t.token->login(t.pins);
    return t;
}

hsm::ObjectInfo select_key(hsm::Session& s, const hsm::Uri& uri, bool or_certificate) {
    hsm::ObjectQuery q = hsm::ObjectQuery::from_uri(uri);
    if (q.cls) return hsm::find_one(s, q);
    std::vector<CK_OBJECT_CLASS> classes{CKO_PRIVATE_KEY, CKO_PUBLIC_KEY};
    if (or_certificate) classes.push_back(CKO_CERTIFICATE);
    for (CK_OBJECT_CLASS cls : classes) {
        q.cls = cls;
        if (!hsm::find_objects(s, q).empty()) return hsm::find_one(s, q);
    }
    // Nothing matched: say what is there, so the user can pick.
    std::string candidates;
    for (CK_OBJECT_CLASS cls : {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY}) {
        hsm::ObjectQuery all;
        all.cls = cls;
        for (const auto& o : hsm::find_objects(s, all)) candidates += "\n  " + o.describe();
    }
    throw hsm::SelectionError("no key matches " + uri.to_string() + " on " + s.token().what() +
                              (candidates.empty() ? std::string("; the token holds no keys")
                                                  : "; keys on the token:" + candidates));
}

std::function<void()> command(std::function<void()> body) {
    return [body = std::move(body)] {
        try {
            body();
        } catch (const hsm::Error&) {
            ERR_clear_error();
            throw;
        }
    };
}

std::string check_hex_id(const std::string& text) {
    try {
        if (hsm::from_hex(text).empty()) return "the id must not be empty";
        return {};
    } catch (const std::exception& e) {
        return std::string("not a hex id: ") + e.what();
    }
}

}  // namespace ts::cli
