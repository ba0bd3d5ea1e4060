// SPDX-License-Identifier: Apache-2.0
// Global options, the help text every subcommand shares, and JSON string escaping.
#include "cli/common.hpp"

#include <openssl/err.h>

#include <cstdio>

#include "hsm/error.hpp"
#include "hsm/token.hpp"

namespace ts::cli {

namespace {

// Every subcommand inherits this footer (CLI11 copies footer_ into subcommands created after it
// is set), so `tokensign <noun> <verb> --help` is complete on its own.
constexpr const char* kFooter =
    "Global options (accepted before or after the subcommand):\n"
    "  --module PATH         PKCS#11 module to load (env TOKENSIGN_MODULE); default: the URI's\n"
    "                        module-path or module-name, else every module registered with\n"
    "                        p11-kit (pkcs11.conf(5))\n"
    "  --pin-source FILE     read the user PIN from FILE or a file: URI\n"
    "  --no-prompt           fail instead of asking for a PIN on the terminal\n"
    "  --allow-final-pin-try spend the last PIN try the token allows\n"
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
    "refused, 7 CA database unusable or locked, 8 declined at a prompt.";

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
    app.footer(kFooter);
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

std::string json_string(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (u < 0x20 || u == 0x7f) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(u));
                    out += buf;
                } else {
                    // UTF-8 passes through; token labels are CK_UTF8CHAR.
                    out += c;
                }
        }
    }
    out += '"';
    return out;
}

std::string json_string_array(const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) out += ",";
        out += json_string(items[i]);
    }
    return out + "]";
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
