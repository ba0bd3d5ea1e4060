// SPDX-License-Identifier: Apache-2.0
// tokensign: the signer CLI. The one place errors become a message and an exit code.
#include <cstdio>
#include <iostream>

#include <openssl/err.h>

#include "cli/common.hpp"
#include "hsm/error.hpp"
#include "signer/error.hpp"

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

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "tokensign: sign with a CA key that lives on a PKCS#11 token (HSM, smartcard, SoftHSM2).\n"
        "Keys are named by RFC 7512 pkcs11: URIs. PINs come from the URI's pin-source,\n"
        "--pin-source, TOKENSIGN_PIN, or a prompt; never from a command-line flag.\n"
        "Exit codes: 0 ok, 1 failure, 2 usage, 3 no/several tokens or objects matched,\n"
        "4 PIN rejected/locked/unavailable, 5 token error, 6 input or policy refused,\n"
        "7 CA database unusable or locked, 8 declined at a prompt.",
        "tokensign"};
    app.set_version_flag("--version", "tokensign 0.1.0");
    GlobalOptions g;
    setup_global(app, g);
    setup_token(app, g);
    setup_key(app, g);
    setup_cert(app, g);
    setup_ca(app, g);
    setup_req(app, g);
    app.require_subcommand(1);

    try {
        app.parse(argc, argv);
        return kExitOk;
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? kExitOk : kExitUsage;
    } catch (const ts::hsm::SelectionError& e) {
        return report(e.what(), kExitSelection);
    } catch (const ts::hsm::PinError& e) {
        return report(e.what(), kExitAuth);
    } catch (const ts::hsm::Pkcs11Error& e) {
        return report(e.what(), exit_code_for(e));
    } catch (const ts::hsm::UriError& e) {
        return report(e.what(), kExitUsage);
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
