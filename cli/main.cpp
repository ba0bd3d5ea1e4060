// SPDX-License-Identifier: Apache-2.0
// tokensign: the signer CLI. The one place errors become a message and an exit code.
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cstdio>
#include <iostream>

#include "cli/common.hpp"
#include "cli/signals.hpp"
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
