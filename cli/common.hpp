// SPDX-License-Identifier: Apache-2.0
// What every tokensign subcommand shares: global options, exit codes, JSON output.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "hsm/object.hpp"
#include "hsm/resolve.hpp"

namespace ts::cli {

/// Documented exit codes (tokensign(1), README "Exit codes").
enum ExitCode : int {
    kExitOk = 0,
    kExitFailure = 1,    // anything not listed below
    kExitUsage = 2,      // bad command line
    kExitSelection = 3,  // no such token/object, or several matched
    kExitAuth = 4,       // PIN rejected, locked, or unobtainable
    kExitToken = 5,      // the token or module failed (other CKR_*)
    kExitRefused = 6,    // input or policy refused (weak digest, bad CSR, policy mismatch)
    kExitCaDb = 7,       // CA directory or database unusable, or locked by another signer
    kExitDeclined = 8,   // the user answered "no" at a confirmation prompt
};

/// Options every subcommand accepts (bound on the top-level app).
struct GlobalOptions {
    std::string module;      // --module PATH
    std::string pin_source;  // --pin-source FILE|file:URI
    bool no_prompt = false;  // --no-prompt: fail instead of asking for a PIN
    bool allow_final_pin_try = false;
    /// The hsm configuration these options describe.
    hsm::Config hsm_config() const;
};

void setup_global(CLI::App& app, GlobalOptions& g);

/// After every setup_<noun>: the shared reference text (URIs, PIN sources, exit codes) as the
/// top-level footer only, natural placeholders (--days N, not INT) on every option, and the
/// hidden --dump-commands flag that prints the command tree.
void finish_cli(CLI::App& app);

// One per subcommand group: cmd_<noun>.cpp.
void setup_token(CLI::App& app, const GlobalOptions& g);
void setup_key(CLI::App& app, const GlobalOptions& g);
void setup_cert(CLI::App& app, const GlobalOptions& g);
void setup_ca(CLI::App& app, const GlobalOptions& g);
void setup_req(CLI::App& app, const GlobalOptions& g);  // cmd_req.cpp: a top-level command
void setup_ceremony(CLI::App& app, const GlobalOptions& g);

/// `--json` output: `j` as one line of compact JSON. Bytes that are not UTF-8 (a token label is
/// CK_UTF8CHAR, but a broken token may say anything) become U+FFFD instead of failing.
std::string json_text(const nlohmann::ordered_json& j);

/// Parses a URI given on the command line (hsm::parse_uri; UriError names `what` and the bad
/// part). `what` is the option or argument name ("--token", "KEY-URI").
hsm::Uri parse_cli_uri(const std::string& text, std::string_view what);

/// The one token `uri` names under the global options, and the PIN sources for it. Logs the
/// user in first when `login` is set and the token requires it (Token::login: one C_Login).
struct OpenToken {
    std::shared_ptr<hsm::Token> token;
    hsm::PinSources pins;
};
OpenToken open_token(const GlobalOptions& g, const hsm::Uri& uri, bool login);

/// The key `uri` names on the token of `s`: with type= in the URI exactly that object; else a
/// private key if one matches, then a public key, then (if `or_certificate`) a certificate.
/// Throws hsm::SelectionError when several objects of that class match (listing them) or none
/// does (listing the keys the token has).
hsm::ObjectInfo select_key(hsm::Session& s, const hsm::Uri& uri, bool or_certificate);

/// Wraps a subcommand's body for CLI::App::callback. PKCS#11 modules built on OpenSSL (SoftHSM2)
/// leave entries on this thread's OpenSSL error queue (e.g. its rdrand engine probe) that say
/// nothing about a failure hsm::Error already explains; they are dropped so main() does not
/// print them under the real message.
std::function<void()> command(std::function<void()> body);

/// CLI11 validator body for --id: empty when `text` is a non-empty hex id, else the problem.
std::string check_hex_id(const std::string& text);

}  // namespace ts::cli
