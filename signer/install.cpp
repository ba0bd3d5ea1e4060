// SPDX-License-Identifier: Apache-2.0
#include "signer/install.hpp"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <vector>

#include "signer/ca_db.hpp"
#include "signer/chain.hpp"
#include "signer/config.hpp"
#include "signer/csr.hpp"
#include "signer/error.hpp"
#include "signer/issue.hpp"
#include "signer/profile.hpp"

namespace fs = std::filesystem;

namespace ts::signer {

namespace {

std::vector<unsigned char> spki_der(X509_PUBKEY* key) { return to_der(key, i2d_X509_PUBKEY); }

}  // namespace

void install_ca_certificate(LibCtx& ctx, const InstallOptions& opts, const hsm::Config& hsm_cfg,
                            std::ostream& log) {
    if (opts.dir.empty()) throw InputError("--dir is required");
    const fs::path dir = fs::absolute(opts.dir).lexically_normal();
    const std::string cnf = (dir / "openssl.cnf").string();
    // As ca sign reads a configuration: one that says dir = $ENV::TOKENSIGN_CA_DIR is used
    // where it is, even if the directory was moved after ca init.
    if (::setenv("TOKENSIGN_CA_DIR", dir.string().c_str(), 1) != 0)
        throw InputError("cannot set TOKENSIGN_CA_DIR: " + std::string(std::strerror(errno)));
    if (!fs::exists(cnf))
        throw CaDbError(dir.string() +
                        " is not a CA directory (it has no openssl.cnf): make one with "
                        "tokensign ca init --csr-out");
    Conf conf = Conf::load(cnf, ctx.get());
    CaConfig cfg = CaConfig::load(conf);
    if (fs::exists(cfg.certificate))
        throw CaDbError("the CA in " + dir.string() + " already has its certificate (" +
                        cfg.certificate +
                        "); install-cert completes a CA made with tokensign ca init --csr-out, "
                        "it never replaces a certificate");

    // The certificate, and whatever chain comes with it or with --chain.
    std::vector<OsslPtr<X509>> certs = load_certificates(ctx, opts.cert);
    OsslPtr<X509> cert = std::move(certs.front());
    std::vector<OsslPtr<X509>> above;
    for (std::size_t i = 1; i < certs.size(); ++i) above.push_back(std::move(certs[i]));
    if (!opts.chain.empty())
        for (auto& c : load_certificates(ctx, opts.chain)) above.push_back(std::move(c));

    const std::string subject = name_text(X509_get_subject_name(cert.get()));
    if (is_self_signed(cert.get()))
        throw PolicyError(opts.cert + " (" + subject +
                          ") is self-signed: install-cert takes the certificate a parent CA "
                          "issued for this CA's request; a root is made by tokensign ca init "
                          "without --csr-out");
    if (!is_ca_certificate(cert.get()))
        throw PolicyError(opts.cert + " (" + subject +
                          ") is not a CA certificate (no basicConstraints CA:TRUE): the parent "
                          "must issue it with a CA profile, e.g. tokensign ca sign --extensions "
                          "sub_ca");
    if ((X509_get_extension_flags(cert.get()) & EXFLAG_KUSAGE) == 0 ||
        (X509_get_key_usage(cert.get()) & KU_KEY_CERT_SIGN) == 0)
        throw PolicyError(opts.cert + " (" + subject +
                          ") does not allow certificate signing (keyUsage keyCertSign): the "
                          "parent must issue it with a CA profile, e.g. tokensign ca sign "
                          "--extensions sub_ca");
    if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0)
        throw InputError(opts.cert + " (" + subject + ") expired on " +
                         time_text(X509_get0_notAfter(cert.get())));

    // The key the request was made with, before the token is touched.
    const std::string csr_path = (dir / "certs" / "ca.csr").string();
    if (fs::exists(csr_path)) {
        Csr csr = parse_csr(read_file(csr_path), csr_path, ctx.get());
        if (spki_der(X509_REQ_get_X509_PUBKEY(csr.req.get())) !=
            spki_der(X509_get_X509_PUBKEY(cert.get())))
            throw PolicyError(opts.cert + " (" + subject +
                              ") certifies another key than this CA's (the key of " + csr_path +
                              "): it was issued for a different request");
        if (X509_NAME_cmp(X509_REQ_get_subject_name(csr.req.get()),
                          X509_get_subject_name(cert.get())) != 0)
            log << "Note: the parent CA certified the subject " << subject << " (requested "
                << name_text(X509_REQ_get_subject_name(csr.req.get())) << ")\n";
    }

    if (above.empty())
        throw InputError("no chain for " + opts.cert +
                         ": give --chain FILE with the issuing CA's certificate and its issuers "
                         "up to the root (PEM), or a certificate file that holds them after the "
                         "certificate");
    CaChain chain(ctx, cert.get(), std::move(above));
    std::vector<OsslPtr<X509>> path;
    CaChain::Result r = chain.verify(cert.get(), X509_V_FLAG_X509_STRICT, &path);
    if (!r)
        throw PolicyError(opts.cert + " (" + subject + ") does not verify with the chain given: " +
                          r.reason + "; nothing was written");

    // Last, the token: the certificate must be for the key this CA signs with.
    OsslPtr<EVP_PKEY> key = load_private_key(ctx, cfg.private_key, hsm_cfg);
    if (!key_matches_certificate(ctx, key.get(), cert.get()))
        throw PolicyError(opts.cert + " (" + subject + ") is not for this CA's key " +
                          cfg.private_key + "; nothing was written");

    std::string chain_file = cfg.chain;
    if (chain_file.empty()) chain_file = (dir / "certs" / "chain.pem").string();
    std::string chain_pem;
    std::string shown;
    for (const auto& c : path) {
        chain_pem += certificate_pem(c.get());
        shown += (shown.empty() ? "" : " <- ") + name_text(X509_get_subject_name(c.get()));
    }
    write_atomic(chain_file, chain_pem, false, 0644);
    write_atomic(cfg.certificate, certificate_pem(cert.get()), false, 0644);
    log << "Installed " << cfg.certificate << ": " << subject << ", issued by "
        << name_text(X509_get_issuer_name(cert.get())) << ", valid until "
        << time_text(X509_get0_notAfter(cert.get())) << "\n"
        << "Chain " << chain_file << ": " << shown
        << (chain.rooted() ? "" : " (no self-signed root among the certificates given)") << "\n";
    if (cfg.chain.empty())
        log << "Add tokensign_chain = " << chain_file << " to [" << cfg.section << "] in " << cnf
            << " so that tokensign ca sign and verify build chains with it\n";
}

}  // namespace ts::signer
