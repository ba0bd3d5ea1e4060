// SPDX-License-Identifier: Apache-2.0
// tokensign ca init | sign | revoke | gencrl | list | status | updatedb | verify: the openssl ca
// workflow with the CA key on a token, through signer/.
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli/common.hpp"
#include "signer/ca_db.hpp"
#include "signer/ceremony.hpp"
#include "signer/chain.hpp"
#include "signer/config.hpp"
#include "signer/crl.hpp"
#include "signer/csr.hpp"
#include "signer/error.hpp"
#include "signer/install.hpp"
#include "signer/issue.hpp"
#include "signer/libctx.hpp"

namespace fs = std::filesystem;

namespace ts::cli {

namespace {

using signer::CaConfig;
using signer::CaDb;
using signer::Conf;
using signer::LibCtx;

struct CaTarget {
    std::string config;
    std::string name;
};

struct CaSignOptions {
    CaTarget ca;
    std::vector<std::string> in;
    std::string out;
    std::string out_dir;
    std::string extensions;
    std::string extfile;
    std::vector<std::string> san;
    long days = 0;
    bool batch = false;
    int lock_timeout = 30;
    int signing_threads = 2;
};

struct CaRevokeOptions {
    CaTarget ca;
    std::string cert;
    std::string serial;
    std::string reason;
    int lock_timeout = 30;
};

struct CaGencrlOptions {
    CaTarget ca;
    std::string out;
    long days = 0;
    long hours = 0;
    int lock_timeout = 30;
};

struct CaListOptions {
    CaTarget ca;
    bool json = false;
};

struct CaStatusOptions {
    CaTarget ca;
    std::string serial;
    bool json = false;
};

struct CaUpdatedbOptions {
    CaTarget ca;
    int lock_timeout = 30;
};

struct CaVerifyOptions {
    CaTarget ca;
    std::string cert;
    std::string chain;
};

signer::CaDbPaths db_paths(const CaConfig& c) {
    return {c.database, c.rand_serial ? "" : c.serial, c.crlnumber, c.new_certs_dir};
}

// The loaded configuration of one CA section.
struct OpenCa {
    LibCtx ctx;
    Conf conf;
    CaConfig cfg;
    explicit OpenCa(const CaTarget& t)
        : conf(Conf::load(t.config, ctx.get())), cfg(CaConfig::load(conf, t.name)) {}
};

std::string status_word(char s) {
    switch (s) {
        case 'V':
            return "Valid";
        case 'R':
            return "Revoked";
        case 'E':
            return "Expired";
        default:
            return "Unknown";
    }
}

// A yes/no question on the controlling terminal, never on stdin (which may carry data).
bool confirm_on_tty(const std::string& question) {
    int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        throw signer::Declined("no terminal to confirm on; use --batch to sign non-interactively");
    std::string q = question + " [y/N] ";
    if (::write(fd, q.data(), q.size()) < 0) {
        ::close(fd);
        throw signer::Declined(
            "cannot ask for confirmation; use --batch to sign non-interactively");
    }
    char buf[16] = {0};
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    return n > 0 && (buf[0] == 'y' || buf[0] == 'Y');
}

std::string certificate_summary(X509* cert) {
    OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
    X509_print_ex(bio.get(), cert, XN_FLAG_ONELINE,
                  X509_FLAG_NO_SIGDUMP | X509_FLAG_NO_SIGNAME | X509_FLAG_NO_PUBKEY);
    return bio_text(bio.get());
}

// Output copies (the database already holds each certificate durably): a regular file is
// replaced whole via rename, without an fsync; "-" is stdout; anything else that exists (a
// device such as /dev/null or /dev/stdout, a FIFO) is written to in place, never replaced.
void write_output(const std::string& path, const std::string& contents) {
    if (path == "-") {
        std::cout << contents << std::flush;
        return;
    }
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
        std::ofstream out(path, std::ios::binary);
        out << contents;
        out.flush();
        if (!out) throw signer::InputError("cannot write " + path);
        return;
    }
    signer::write_atomic(path, contents, false, 0644, false);
}

void run_ca_init(const signer::InitOptions& o, const GlobalOptions& g) {
    LibCtx ctx;
    signer::init_ca(ctx, o, g.hsm_config(), std::cerr);
    std::cout << fs::absolute(o.dir).lexically_normal().string() << "/openssl.cnf\n";
}

// TOKENSIGN_TIMING=1: phase durations on stderr (for bench/ca_batch.sh).
class PhaseTimer {
  public:
    PhaseTimer() : m_on(std::getenv("TOKENSIGN_TIMING") != nullptr), m_t(now()) {}
    void mark(const char* phase) {
        if (!m_on) return;
        double t = now();
        std::cerr << "timing: " << phase << " " << (t - m_t) * 1000.0 << " ms\n";
        m_t = t;
    }

  private:
    static double now() {
        return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
    bool m_on;
    double m_t;
};

void run_ca_sign(const CaSignOptions& o, const GlobalOptions& g) {
    PhaseTimer timer;
    if (!o.out.empty() && !o.out_dir.empty())
        throw signer::InputError("--out and --out-dir cannot be combined");
    OpenCa ca(o.ca);
    signer::IssueOptions io;
    io.extensions = o.extensions;
    io.days = o.days;
    io.extfile = o.extfile;
    io.san = o.san;
    // 1. Settings and the CA certificate (digest policy, extension section, CA validity).
    signer::Issuer issuer(ca.ctx, ca.conf, ca.cfg,
                          signer::load_certificate(ca.ctx, ca.cfg.certificate), io);

    // Output names are settled before anything is signed.
    std::vector<std::string> outputs;
    if (!o.out_dir.empty()) {
        if (!fs::is_directory(o.out_dir))
            throw signer::InputError("--out-dir " + o.out_dir + " is not a directory");
        std::set<std::string> seen;
        for (const auto& in : o.in) {
            std::string out =
                (fs::path(o.out_dir) / (fs::path(in).stem().string() + ".pem")).string();
            if (!seen.insert(out).second)
                throw signer::InputError("two CSRs would both be written to " + out +
                                         "; rename one of them");
            if (fs::exists(out))
                throw signer::InputError(out + " already exists; not overwriting it");
            outputs.push_back(out);
        }
    }

    const bool tty = ::isatty(2) && o.in.size() > 1;
    auto progress = [tty](std::size_t done, std::size_t total) {
        if (tty && (done % 10 == 0 || done == total))
            std::cerr << "\rsigned " << done << "/" << total << std::flush;
    };
    std::vector<signer::PendingCertificate> pending;
    std::unique_ptr<CaDb> db;
    std::vector<std::string> output_tmps;  // batch: --out-dir copies already written as temps
    struct TempFiles {                     // removes whatever was not renamed into place
        std::vector<std::string>& paths;
        ~TempFiles() {
            for (const auto& t : paths)
                if (!t.empty()) ::unlink(t.c_str());
        }
    } temp_guard{output_tmps};
    if (o.batch) {
        // Non-interactive: one login, then the pipeline (check + build | sign on the token |
        // verify + format) so the token is kept busy; nothing is written unless all pass.
        std::vector<signer::CsrInput> inputs;
        inputs.reserve(o.in.size());
        // Read by the pipeline itself, overlapping the token's work.
        for (const auto& in : o.in) inputs.push_back({in, std::string()});
        timer.mark("read");
        // The lock first: it also keeps concurrent signers from logging in to the token at the
        // same moment (SoftHSM2 rewrites its token file at login; another process reading it
        // then can find no token at all).
        db = CaDb::open(db_paths(ca.cfg), o.lock_timeout * 1000);
        issuer.use_key(signer::load_private_key(ca.ctx, ca.cfg.private_key, g.hsm_config()));
        timer.mark("key");
        issuer.set_signing_threads(static_cast<unsigned>(o.signing_threads));
        // --out-dir copies are written as temp files by the pipeline too, and renamed into
        // place only after the database commit.
        output_tmps.assign(o.in.size(), std::string());
        std::function<void(std::size_t, const signer::PendingCertificate&)> written;
        if (!outputs.empty())
            written = [&](std::size_t i, const signer::PendingCertificate& p) {
                output_tmps[i] = outputs[i] + ".tmp." + std::to_string(::getpid());
                signer::write_atomic(output_tmps[i], p.pem, false, 0644, false);
            };
        pending = issuer.issue_batch(inputs, *db, progress, written);
    } else {
        // 2. Every CSR parsed and its own signature and key checked, before the token is
        // touched.
        std::vector<signer::Csr> csrs;
        csrs.reserve(o.in.size());
        for (const auto& in : o.in) {
            csrs.push_back(signer::parse_csr(signer::read_file(in), in, ca.ctx.get()));
            issuer.check_request(csrs.back());
        }
        timer.mark("csrs");
        // 3. The CA key (one login for the whole run) must be the CA certificate's; loaded
        // under the database lock (see above).
        db = CaDb::open(db_paths(ca.cfg), o.lock_timeout * 1000);
        issuer.use_key(signer::load_private_key(ca.ctx, ca.cfg.private_key, g.hsm_config()));
        timer.mark("key");
        // 4. Under the lock: policy, certificates, clashes; shown and confirmed; then signed,
        // verified and committed.
        pending = issuer.prepare(csrs, *db);
        for (const auto& p : pending) {
            std::cerr << "Certificate to be issued for " << p.csr_name << ":\n"
                      << certificate_summary(p.cert.get());
            for (const auto& note : p.notes) std::cerr << "  note: " << note << "\n";
        }
        std::string q = "Sign " + std::to_string(pending.size()) + " certificate" +
                        (pending.size() == 1 ? "" : "s") + " with the CA key of [" +
                        ca.cfg.section + "]?";
        if (!confirm_on_tty(q)) throw signer::Declined("not signed: declined at the prompt");
        issuer.sign(pending, *db, progress);
    }
    if (tty) std::cerr << "\n";
    timer.mark("sign");
    db->commit();
    timer.mark("commit");

    std::string all_pem;
    // One line per certificate for small runs; a summary for batches (the details are in
    // index.txt and `tokensign ca list`).
    const bool each = pending.size() <= 20;
    for (std::size_t i = 0; i < pending.size(); ++i) {
        const auto& p = pending[i];
        const std::string& pem = p.pem;
        if (each)
            std::cerr << "Issued serial " << p.entry.serial << " for " << p.entry.subject << " ("
                      << ca.cfg.new_certs_dir << "/" << p.entry.serial << ".pem)\n";
        for (const auto& note : p.notes)
            std::cerr << (each ? "  note: " : "serial " + p.entry.serial + ": ") << note << "\n";
        if (!outputs.empty()) {
            if (i < output_tmps.size() && !output_tmps[i].empty()) {
                if (::rename(output_tmps[i].c_str(), outputs[i].c_str()) != 0)
                    throw signer::InputError("cannot write " + outputs[i] + ": " +
                                             std::strerror(errno));
                output_tmps[i].clear();
            } else {
                write_output(outputs[i], pem);
            }
        } else {
            all_pem += pem;
        }
    }
    if (!each && !pending.empty())
        std::cerr << "Issued " << pending.size() << " certificates, serials "
                  << pending.front().entry.serial << " to " << pending.back().entry.serial << " ("
                  << ca.cfg.new_certs_dir << ")\n";
    if (!o.out.empty())
        write_output(o.out, all_pem);
    else if (o.out_dir.empty())
        std::cout << all_pem;
    timer.mark("output");
}

void run_ca_revoke(const CaRevokeOptions& o, const GlobalOptions&) {
    if (o.cert.empty() == o.serial.empty())
        throw signer::InputError("give exactly one of --cert FILE or --serial HEX");
    std::string reason = o.reason.empty() ? "" : signer::canonical_reason(o.reason);
    OpenCa ca(o.ca);
    auto db = CaDb::open(db_paths(ca.cfg), o.lock_timeout * 1000);
    std::string serial = o.serial;
    if (!o.cert.empty()) {
        auto ca_cert = signer::load_certificate(ca.ctx, ca.cfg.certificate);
        auto cert = signer::load_certificate(ca.ctx, o.cert);
        serial = signer::revoke_certificate(*db, cert.get(), ca_cert.get(), reason);
    } else {
        signer::revoke_serial(*db, serial, reason);
    }
    db->commit();
    const auto* e = db->find_serial(serial);
    std::cerr << "Revoked serial " << e->serial << " (" << e->subject << ")"
              << (reason.empty() ? "" : ", reason " + reason) << "\n";
}

void run_ca_gencrl(const CaGencrlOptions& o, const GlobalOptions& g) {
    OpenCa ca(o.ca);
    auto ca_cert = signer::load_certificate(ca.ctx, ca.cfg.certificate);
    std::string md = signer::check_digest(
        ca.cfg.default_md, "default_md in [" + ca.cfg.section + "] in " + ca.conf.path(),
        X509_get0_pubkey(ca_cert.get()));
    auto db = CaDb::open(db_paths(ca.cfg), o.lock_timeout * 1000);  // before the login
    auto key = signer::load_private_key(ca.ctx, ca.cfg.private_key, g.hsm_config());
    if (!signer::key_matches_certificate(ca.ctx, key.get(), ca_cert.get()))
        throw signer::InputError("the CA key " + ca.cfg.private_key +
                                 " does not match the CA certificate " + ca.cfg.certificate);
    auto crl = signer::generate_crl(ca.ctx, ca.conf, ca.cfg, ca_cert.get(), key.get(), md, *db,
                                    o.days, o.hours);
    // The CRL number is committed before the CRL is written: a failure in between skips a
    // number, it never issues two CRLs with the same one.
    db->commit();
    write_output(o.out, signer::crl_pem(crl.get()));
    std::cerr << "CRL with " << sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl.get()))
              << " revoked certificate(s) written to " << o.out << "\n";
}

// index.txt is read under the lock as well, so a listing never sees a half-written state.
void run_ca_list(const CaListOptions& o, const GlobalOptions&) {
    OpenCa ca(o.ca);
    auto db = CaDb::open(db_paths(ca.cfg));
    std::ostringstream out;
    if (o.json) out << "[";
    bool first = true;
    for (const auto& e : db->entries()) {
        if (o.json) {
            out << (first ? "" : ",") << "{\"serial\":" << json_string(e.serial)
                << ",\"status\":" << json_string(status_word(e.status))
                << ",\"expiry\":" << json_string(e.expiry)
                << ",\"revocation\":" << json_string(e.revocation)
                << ",\"subject\":" << json_string(e.subject) << "}";
        } else {
            out << e.serial << "\t" << status_word(e.status) << "\t" << e.expiry << "\t"
                << (e.revocation.empty() ? "-" : e.revocation) << "\t" << e.subject << "\n";
        }
        first = false;
    }
    if (o.json) out << "]\n";
    std::cout << out.str();
}

void run_ca_status(const CaStatusOptions& o, const GlobalOptions&) {
    OpenCa ca(o.ca);
    auto db = CaDb::open(db_paths(ca.cfg));
    const auto* e = db->find_serial(o.serial);
    if (e == nullptr)
        throw signer::InputError("serial " + o.serial + " is not in " + ca.cfg.database);
    if (o.json) {
        std::cout << "{\"serial\":" << json_string(e->serial)
                  << ",\"status\":" << json_string(status_word(e->status))
                  << ",\"expiry\":" << json_string(e->expiry)
                  << ",\"revocation\":" << json_string(e->revocation)
                  << ",\"subject\":" << json_string(e->subject) << "}\n";
    } else {
        // The line `openssl ca -status` prints.
        std::cout << e->serial << "=" << status_word(e->status) << " (" << e->status << ")\n";
    }
}

void run_ca_updatedb(const CaUpdatedbOptions& o, const GlobalOptions&) {
    OpenCa ca(o.ca);
    auto db = CaDb::open(db_paths(ca.cfg), o.lock_timeout * 1000);
    int n = signer::update_expired(*db);
    if (n > 0) db->commit();
    std::cerr << n << " entr" << (n == 1 ? "y" : "ies") << " marked as expired\n";
}

void run_ca_install_cert(const signer::InstallOptions& o, const GlobalOptions& g) {
    LibCtx ctx;
    signer::install_ca_certificate(ctx, o, g.hsm_config(), std::cerr);
}

void run_ca_verify(const CaVerifyOptions& o, const GlobalOptions&) {
    OpenCa ca(o.ca);
    auto ca_cert = signer::load_certificate(ca.ctx, ca.cfg.certificate);
    auto cert = signer::load_certificate(ca.ctx, o.cert);
    // The chain up to the trust anchor: --chain, else the CA's chain file (tokensign_chain),
    // else the CA certificate itself.
    const std::string& chain_file = o.chain.empty() ? ca.cfg.chain : o.chain;
    auto chain = signer::CaChain::load(ca.ctx, ca_cert.get(), chain_file);
    if (auto r = chain.verify(cert.get(), X509_V_FLAG_X509_STRICT); !r)
        throw signer::InputError(
            o.cert + " does not verify against the CA certificate " + ca.cfg.certificate +
            (chain_file.empty() ? "" : " and its chain " + chain_file) + ": " + r.reason);
    if (!chain.rooted())
        std::cerr << "note: " << o.cert << " verified up to " << ca.cfg.certificate
                  << " only: no self-signed root known (give --chain FILE, or tokensign_chain in ["
                  << ca.cfg.section << "])\n";
    std::string serial = signer::serial_hex(X509_get0_serialNumber(cert.get()));
    auto db = CaDb::open(db_paths(ca.cfg));
    const auto* e = db->find_serial(serial);
    if (e == nullptr)
        throw signer::InputError(o.cert + " verifies, but serial " + serial +
                                 " is not in this CA's database " + ca.cfg.database);
    if (e->status == 'R')
        throw signer::InputError(o.cert + " (serial " + serial + ") is revoked: " + e->revocation);
    std::cout << o.cert << ": OK (serial " << serial << ", " << status_word(e->status)
              << ", valid until " << signer::time_text(X509_get0_notAfter(cert.get())) << ", "
              << e->subject << ")\n";
}

void add_ca_target(CLI::App* cmd, CaTarget& t) {
    cmd->add_option("--config", t.config, "the CA's openssl.cnf (openssl ca format)")
        ->required()
        ->type_name("FILE");
    cmd->add_option("--name", t.name, "CA section to use (default: default_ca in [ca])")
        ->type_name("SECTION");
}

}  // namespace

void setup_ca(CLI::App& app, const GlobalOptions& g) {
    auto* ca = app.add_subcommand(
        "ca", "Run a CA whose key is on a token: the openssl ca workflow (same files and formats)");
    ca->require_subcommand(1);

    auto init_o = std::make_shared<signer::InitOptions>();
    auto* init = ca->add_subcommand(
        "init",
        "Create a CA directory (certs crl newcerts private, index.txt, serial, crlnumber, "
        "openssl.cnf) and its self-signed root certificate");
    init->add_option("--dir", init_o->dir, "new CA directory (never overwritten)")
        ->required()
        ->type_name("DIR");
    init->add_option("--key", init_o->key,
                     "the CA key: pkcs11: URI (pkcs11:token=T;object=LABEL), or a key file")
        ->required()
        ->type_name("URI");
    init->add_option("--generate", init_o->generate,
                     "generate the key on the token first: rsa:2048|3072|4096, ec:p-256|p-384|"
                     "p-521, ed25519, ed448")
        ->type_name("SPEC");
    init->add_option("--subject", init_o->subject,
                     "root subject, e.g. '/C=US/O=Example/CN=Example Root CA'")
        ->required()
        ->type_name("DN");
    init->add_option("--days", init_o->days, "root validity in days")->default_val(3650);
    init->add_option("--serial", init_o->serial, "first serial for issued certificates (hex)")
        ->default_val("1000");
    init->add_option("--md", init_o->md, "digest for CA signatures (sha256, sha384, sha512)")
        ->default_val("sha256");
    init->add_flag("--store-cert", init_o->store_cert,
                   "also store the root certificate on the token, beside its key");
    init->add_option("--csr-out", init_o->csr_out,
                     "an intermediate CA: write a CSR made with the key to FILE instead of a "
                     "self-signed root; complete the directory with ca install-cert")
        ->type_name("FILE");
    init->add_option("--crl-uri", init_o->crl_uri,
                     "where this CA's CRL is published: crlDistributionPoints in the certificates "
                     "it issues (sub_ca, usr_cert, server, client)")
        ->type_name("URI");
    init->add_option("--ca-issuers-uri", init_o->ca_issuers_uri,
                     "where this CA's certificate is published: authorityInfoAccess caIssuers in "
                     "the certificates it issues")
        ->type_name("URI");
    init->callback([init_o, &g] { run_ca_init(*init_o, g); });

    auto sign_o = std::make_shared<CaSignOptions>();
    auto* sign = ca->add_subcommand(
        "sign", "Issue certificates for one or many CSRs (one login), as openssl ca does");
    add_ca_target(sign, sign_o->ca);
    sign->add_option("--in", sign_o->in, "CSR file(s), PEM or DER")
        ->required()
        ->expected(1, -1)
        ->type_name("CSR");
    sign->add_option("--out", sign_o->out, "write the certificate(s) (PEM) to FILE, not stdout")
        ->type_name("FILE");
    sign->add_option("--out-dir", sign_o->out_dir, "write each certificate to DIR/<CSR name>.pem")
        ->type_name("DIR");
    sign->add_option("--extensions", sign_o->extensions,
                     "extension section to use instead of x509_extensions (e.g. server, client, "
                     "sub_ca)")
        ->type_name("SECTION");
    sign->add_option("--extfile", sign_o->extfile,
                     "take the extension section from FILE instead of the CA configuration, as "
                     "openssl ca -extfile: --extensions, else `extensions` at the top of FILE, "
                     "else its unnamed top section")
        ->type_name("FILE");
    sign->add_option("--san", sign_o->san,
                     "the subjectAltName, e.g. DNS:www.example.com,IP:192.0.2.1 (repeatable; "
                     "replaces the profile's and the request's)")
        ->type_name("NAMES")
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    // Shown after the checks the footer below lists (which keeps what is here at its end).
    sign->footer(
        "Extensions: the profile (--extensions, or --extfile's section), then the CSR's as\n"
        "copy_extensions (and tokensign_copy_only) allow, then --san. Every extension a CSR\n"
        "asks for that the certificate does not carry is named in a note, in the preview\n"
        "and after a batch. An intermediate CA's certificates are checked up to its root\n"
        "(tokensign_chain), with its pathlen and nameConstraints.\n\n" +
        sign->get_footer());
    sign->add_option("--days", sign_o->days,
                     "validity in days (replaces default_days and default_enddate)");
    sign->add_flag("--batch", sign_o->batch, "do not show the certificates and ask; just sign");
    sign->add_option("--signing-threads", sign_o->signing_threads,
                     "with --batch: signatures made in parallel, each thread on its own token "
                     "session (a token that allows fewer sessions makes the threads take turns)")
        ->default_val(2)
        ->check(CLI::Range(1, 16));
    sign->add_option("--lock-timeout", sign_o->lock_timeout,
                     "seconds to wait for another signer's lock on the database")
        ->default_val(30);
    sign->footer(
        "Checks, in order, with nothing written unless all pass: each CSR's signature and key\n"
        "size (tokensign_min_rsa_bits, default 2048); the CA key matches the CA certificate;\n"
        "the policy; the certificate (clipped to the CA's end if it would outlive the CA, or\n"
        "refused with tokensign_clip_to_ca = no; an expired CA is refused); the\n"
        "signature on the token, verified with the CA certificate's key; then newcerts/,\n"
        "index.txt and serial, each written atomically under an exclusive lock.\n"
        "default_md md5 or sha1 is refused (sha224 and stronger are accepted).\n\n" +
        sign->get_footer());
    sign->callback([sign_o, &g] { run_ca_sign(*sign_o, g); });

    auto rev_o = std::make_shared<CaRevokeOptions>();
    auto* rev = ca->add_subcommand("revoke", "Mark a certificate revoked in index.txt");
    add_ca_target(rev, rev_o->ca);
    rev->add_option("--cert", rev_o->cert, "the certificate to revoke")->type_name("FILE");
    rev->add_option("--serial", rev_o->serial, "the serial to revoke")->type_name("HEX");
    rev->add_option("--reason", rev_o->reason,
                    "unspecified, keyCompromise, CACompromise, affiliationChanged, superseded, "
                    "cessationOfOperation, certificateHold, removeFromCRL")
        ->type_name("REASON");
    rev->add_option("--lock-timeout", rev_o->lock_timeout, "seconds to wait for the lock")
        ->default_val(30);
    rev->callback([rev_o, &g] { run_ca_revoke(*rev_o, g); });

    auto crl_o = std::make_shared<CaGencrlOptions>();
    auto* crl = ca->add_subcommand("gencrl", "Sign a CRL of the revoked certificates");
    add_ca_target(crl, crl_o->ca);
    crl->add_option("--out", crl_o->out, "CRL output file (PEM)")->required()->type_name("FILE");
    crl->add_option("--days", crl_o->days, "days until nextUpdate (default: default_crl_days)");
    crl->add_option("--hours", crl_o->hours, "hours until nextUpdate, added to --days");
    crl->add_option("--lock-timeout", crl_o->lock_timeout, "seconds to wait for the lock")
        ->default_val(30);
    crl->callback([crl_o, &g] { run_ca_gencrl(*crl_o, g); });

    auto list_o = std::make_shared<CaListOptions>();
    auto* list = ca->add_subcommand("list", "List the certificates in index.txt");
    add_ca_target(list, list_o->ca);
    list->add_flag("--json", list_o->json, "JSON output");
    list->callback([list_o, &g] { run_ca_list(*list_o, g); });

    auto status_o = std::make_shared<CaStatusOptions>();
    auto* status = ca->add_subcommand("status",
                                      "Show the status of one serial (Valid, Revoked, "
                                      "Expired)");
    add_ca_target(status, status_o->ca);
    status->add_option("serial", status_o->serial, "serial number (hex)")->required();
    status->add_flag("--json", status_o->json, "JSON output");
    status->callback([status_o, &g] { run_ca_status(*status_o, g); });

    auto upd_o = std::make_shared<CaUpdatedbOptions>();
    auto* upd = ca->add_subcommand("updatedb", "Mark expired certificates in index.txt");
    add_ca_target(upd, upd_o->ca);
    upd->add_option("--lock-timeout", upd_o->lock_timeout, "seconds to wait for the lock")
        ->default_val(30);
    upd->callback([upd_o, &g] { run_ca_updatedb(*upd_o, g); });

    auto ver_o = std::make_shared<CaVerifyOptions>();
    auto* ver = ca->add_subcommand(
        "verify", "Verify a certificate against the CA certificate and its index.txt status");
    add_ca_target(ver, ver_o->ca);
    ver->add_option("cert", ver_o->cert, "certificate file (PEM or DER)")->required();
    ver->callback([ver_o, &g] { run_ca_verify(*ver_o, g); });
    ver->add_option("--chain", ver_o->chain,
                    "the CA certificate's issuers up to the root (PEM; default: tokensign_chain "
                    "of the CA section)")
        ->type_name("FILE");

    auto inst_o = std::make_shared<signer::InstallOptions>();
    auto* inst = ca->add_subcommand(
        "install-cert",
        "Complete an intermediate CA made with ca init --csr-out: install the certificate its "
        "parent CA issued (certs/ca.pem) and its chain");
    inst->add_option("--dir", inst_o->dir, "the CA directory made by ca init --csr-out")
        ->required()
        ->type_name("DIR");
    inst->add_option("CERT", inst_o->cert,
                     "the certificate the parent CA issued (PEM or DER; a PEM file may hold the "
                     "parent's chain after it)")
        ->required()
        ->type_name("CERT");
    inst->add_option("--chain", inst_o->chain,
                     "the parent CA's certificate and its issuers up to the root (PEM)")
        ->type_name("FILE");
    inst->footer(
        "Refused, with nothing written: a directory that already has its certificate; a\n"
        "certificate that is self-signed, lacks basicConstraints CA:TRUE or keyUsage\n"
        "keyCertSign, has expired, is not for the key of certs/ca.csr and of private_key (the\n"
        "token is logged in to check), or does not verify with the chain (the self-signed\n"
        "certificates given are the trust anchors). Writes certs/chain.pem (the certificate,\n"
        "its issuers, the root) and certs/ca.pem.\n\n" +
        inst->get_footer());
    inst->callback([inst_o, &g] { run_ca_install_cert(*inst_o, g); });
}

}  // namespace ts::cli
