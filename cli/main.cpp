// SPDX-License-Identifier: Apache-2.0
// tokensign: the signer CLI. The one place errors become a message and an exit code.
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cctype>
#include <cstdio>
#include <iostream>
#include <string>

#include "cli/common.hpp"
#include "cli/signals.hpp"
#include "hsm/error.hpp"
#include "signer/error.hpp"
#include "signer/libctx.hpp"

namespace {

using namespace ts::cli;

int report(const char* message, int code) {
    std::cerr << "tokensign: error: " << message << "\n";
    // Whatever OpenSSL queued and nobody drained yet: one line each, as `openssl` prints them.
    unsigned long e;
    const char *file, *data;
    int line, flags;
    while ((e = ERR_get_error_all(&file, &line, nullptr, &data, &flags)) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        std::cerr << "tokensign:   " << buf;
        if ((flags & ERR_TXT_STRING) && data && *data) std::cerr << " (" << data << ")";
        std::cerr << "\n";
    }
    return code;
}

int exit_code_for(const ts::hsm::Pkcs11Error& e) {
    return e.is_authentication_failure() ? kExitAuth : kExitToken;
}

// The deepest subcommand the command line selected ("tokensign ca sign"), the app when none.
const CLI::App* selected_command(const CLI::App& app) {
    const CLI::App* at = &app;
    for (auto subs = at->get_subcommands(); !subs.empty(); subs = at->get_subcommands())
        at = subs.front();
    return at;
}

std::string command_path(const CLI::App* at) {
    std::string path = at->get_name();
    for (const CLI::App* p = at->get_parent(); p != nullptr; p = p->get_parent())
        path = p->get_name() + " " + path;
    return path;
}

std::string subcommand_names(const CLI::App* at) {
    std::string names;
    for (const CLI::App* sub : at->get_subcommands(nullptr))
        names += (names.empty() ? "" : ", ") + sub->get_name();
    return names;
}

// An argument as it may be shown: a mistyped URI may carry a pin-value.
std::string shown_argument(const std::string& arg) {
    std::string lower;
    for (char c : arg) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.find("pin-value") != std::string::npos) return "(an argument with a pin-value)";
    return "'" + arg + "'";
}

// CLI11's own messages name neither the unknown word nor the way out ("A subcommand is
// required" for `tokensign frobnicate`; a stray `--pin 1234` echoed back, PIN included): the
// common mistakes get a message that says what was wrong and what to do. Exit 2 for all of them.
int usage_error(const CLI::App& app, const CLI::ParseError& e) {
    const CLI::App* at = selected_command(app);
    const std::string where = command_path(at);
    const std::string help = "; see '" + where + " --help'";
    // With fallthrough, every word no subcommand took ends up in the app's list.
    std::vector<std::string> extra = app.remaining(true);
    for (const auto& x : extra) {
        std::string name = x.substr(0, x.find('='));
        if (name.rfind("--pin", 0) == 0 && name != "--pin-source")
            return report(("there is no " + name +
                           " option: a PIN on the command line shows in the process list and "
                           "the shell history, so none is accepted. Give --pin-source FILE (a "
                           "file only you can read), set TOKENSIGN_PIN, or let tokensign prompt")
                              .c_str(),
                          kExitUsage);
    }
    for (const auto& x : extra)
        if (x.size() > 1 && x[0] == '-')
            return report(("unknown option " + shown_argument(x.substr(0, x.find('='))) + " for '" +
                           where + "'" + help)
                              .c_str(),
                          kExitUsage);
    if (!extra.empty()) {
        if (at->get_require_subcommand_min() > 0)
            return report((shown_argument(extra.front()) + " is not a command of '" + where +
                           "'; choose one of: " + subcommand_names(at) + help)
                              .c_str(),
                          kExitUsage);
        return report(
            ("unexpected argument " + shown_argument(extra.front()) + " for '" + where + "'" + help)
                .c_str(),
            kExitUsage);
    }
    if (at->get_require_subcommand_min() > 0 && at->get_subcommands().empty())
        return report(("'" + where + "' needs a command: " + subcommand_names(at) + help).c_str(),
                      kExitUsage);
    return report((e.what() + help).c_str(), kExitUsage);
}

}  // namespace

// The CLI holds PINs: no core dump may contain one, and no other process of this user may read
// its memory (PR_SET_DUMPABLE 0 also refuses ptrace attachment). PIN buffers (SecureBytes) live
// in OpenSSL's secure heap: mlock'd (never swapped, where RLIMIT_MEMLOCK allows) and excluded
// from dumps (MADV_DONTDUMP).
void protect_secrets() {
    rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    // 1 MiB: PINs are a few bytes, but OpenSSL also puts private-key numbers there when the CA
    // key is a file (BN_secure_new); a full heap would fail allocations, not fall back.
    CRYPTO_secure_malloc_init(1 << 20, 16);
}

int main(int argc, char** argv) {
    protect_secrets();
    CLI::App app{
        "tokensign: sign with a CA key that lives on a PKCS#11 token (HSM, smartcard, SoftHSM2).",
        "tokensign"};
    app.set_version_flag("--version", [] {
        return std::string("tokensign ") + TS_VERSION +
               "\nprovider: " + ts::signer::provider_dir() + "/tokensign.so";
    });
    GlobalOptions g;
    setup_global(app, g);
    setup_token(app, g);
    setup_key(app, g);
    setup_cert(app, g);
    setup_ca(app, g);
    setup_req(app, g);
    setup_ceremony(app, g);
    finish_cli(app);
    app.require_subcommand(1);

    try {
        app.parse(argc, argv);
        return kExitOk;
    } catch (const CLI::ParseError& e) {
        // --help and --version end the parse with a "success" error: CLI11 prints them.
        if (e.get_exit_code() == 0) return app.exit(e);
        return usage_error(app, e);
    } catch (const Interrupted& e) {
        return report(e.what(), 128 + e.signal());
    } catch (const UsageError& e) {
        return report(e.what(), kExitUsage);
    } catch (const ts::hsm::SelectionError& e) {
        return report(e.what(), kExitSelection);
    } catch (const ts::hsm::PinError& e) {
        return report(e.what(), kExitAuth);
    } catch (const ts::hsm::Pkcs11Error& e) {
        return report(e.what(), exit_code_for(e));
    } catch (const ts::hsm::UriError& e) {
        return report(e.what(), kExitUsage);
    } catch (const ts::signer::OpenSslError& e) {
        // A token failure reported through the provider: the token's exit code, not "other".
        unsigned long rv = e.token_rv();
        bool pin = rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED || rv == CKR_PIN_EXPIRED ||
                   rv == CKR_PIN_LEN_RANGE || rv == CKR_USER_NOT_LOGGED_IN;
        return report(e.what(), rv == 0 ? kExitFailure : pin ? kExitAuth : kExitToken);
    } catch (const ts::signer::InputError& e) {
        return report(e.what(), kExitRefused);
    } catch (const ts::signer::PolicyError& e) {
        return report(e.what(), kExitRefused);
    } catch (const ts::signer::CaDbError& e) {
        return report(e.what(), kExitCaDb);
    } catch (const ts::signer::Declined& e) {
        return report(e.what(), kExitDeclined);
    } catch (const std::exception& e) {
        return report(e.what(), kExitFailure);
    }
}
