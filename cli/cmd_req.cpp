// SPDX-License-Identifier: Apache-2.0
// tokensign req: a CSR signed by a token key, without openssl req's -provider incantation.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/admin.hpp"
#include "cli/common.hpp"
#include "signer/ca_db.hpp"
#include "signer/error.hpp"
#include "signer/libctx.hpp"
#include "signer/request.hpp"

namespace ts::cli {

namespace {

struct ReqOptions {
    signer::RequestOptions request;
    std::string out;  // empty: stdout
};

void run_req(const ReqOptions& o, const GlobalOptions& g) {
    (void)parse_cli_uri(o.request.key, "--key");  // a malformed URI is a usage error (exit 2)
    signer::LibCtx ctx;
    std::string pem = signer::make_request(ctx, o.request, g.hsm_config());
    if (o.out.empty()) {
        std::cout << pem << std::flush;
    } else {
        signer::write_atomic(o.out, pem, false, 0644);
        std::cerr << "Wrote the certificate request to " << o.out << "\n";
    }
}

std::string check_san(const std::string& text) {
    try {
        (void)signer::san_extension({text});
        return {};
    } catch (const std::exception& e) {
        return e.what();
    }
}

}  // namespace

void setup_req(CLI::App& app, const GlobalOptions& g) {
    auto opts = std::make_shared<ReqOptions>();
    auto* req = app.add_subcommand(
        "req",
        "Make a certificate signing request (PKCS#10) signed by a private key on the token, "
        "through the tokensign provider: what `openssl req -new -provider tokensign -provider "
        "default -key pkcs11:...` does. The request is verified with the token's public key "
        "before it is written. md5 and sha1 are refused (exit 6).");
    req->add_option("--key", opts->request.key, "pkcs11: URI of the private key")
        ->required()
        ->type_name("KEY-URI");
    req->add_option("--subject", opts->request.subject,
                    "the subject DN: /C=US/O=Example/CN=host or CN=host,O=Example,C=US")
        ->required()
        ->type_name("DN");
    req->add_option("--san", opts->request.sans,
                    "subjectAltName entries, requested as an extension: DNS:name, IP:address, "
                    "email:address, URI:uri, comma-separated; repeatable")
        ->type_name("NAMES")
        ->check(CLI::Validator(check_san, "NAMES"));
    req->add_option("--md", opts->request.md,
                    "digest to sign with (default sha256; not used by Ed25519/Ed448 keys)")
        ->type_name("DIGEST");
    req->add_option("--out", opts->out, "write the PEM request to FILE (default: stdout)")
        ->type_name("FILE");
    req->callback(command([opts, &g] { run_req(*opts, g); }));
}

}  // namespace ts::cli
