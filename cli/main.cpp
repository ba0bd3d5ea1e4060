// SPDX-License-Identifier: Apache-2.0
// tokensign: the signer CLI. The one place errors become a message and an exit code.
#include <openssl/err.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "cli/common.hpp"
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

}  // namespace

int main(int argc, char** argv) {
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
    finish_cli(app);
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
