// SPDX-License-Identifier: Apache-2.0
// tokensign ca init | sign | revoke | gencrl | list | status | updatedb | verify: the openssl ca
// workflow with the CA key on a token, through signer/.
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli/common.hpp"
#include "cli/outputs.hpp"
#include "cli/signals.hpp"
#include "signer/ca_db.hpp"
#include "signer/init.hpp"
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
    bool force = false;
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
    bool force = false;
    long days = 0;
    long hours = 0;
    int lock_timeout = 30;
};

struct CaListOptions {
    CaTarget ca;
    bool json = false;
    std::string status;  // "" (all), V, R or E
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

// The configuration at `path`, read with TOKENSIGN_CA_DIR set to its directory: the openssl.cnf
// of tokensign ca init says `dir = $ENV::TOKENSIGN_CA_DIR`, so a CA directory that was moved
// (or is mounted elsewhere) is used where its configuration is. Configurations that do not
// name the variable are not affected.
Conf load_ca_conf(const std::string& path, OSSL_LIB_CTX* ctx) {
    std::string here = fs::absolute(path).lexically_normal().parent_path().string();
    if (here.size() > 1 && here.back() == '/') here.pop_back();
    if (::setenv("TOKENSIGN_CA_DIR", here.c_str(), 1) != 0)
        throw signer::InputError("cannot set TOKENSIGN_CA_DIR: " +
                                 std::string(std::strerror(errno)));
    return Conf::load(path, ctx);
}

// A CA directory made elsewhere: tokensign follows it, openssl ca needs to be told.
void note_moved_directory(const Conf& conf, const CaConfig& cfg) {
    const char* here = std::getenv("TOKENSIGN_CA_DIR");
    auto made = conf.get("default", "TOKENSIGN_CA_DIR");
    auto dir = conf.get(cfg.section, "dir");
    if (here == nullptr || !made || !dir || *dir != here || *made == here) return;
    std::error_code ec;
    if (fs::equivalent(*made, here, ec)) return;
    std::cerr << "note: this CA directory was made as " << *made << " and is now " << here
              << "; tokensign uses " << here
              << ". For openssl ca here, export TOKENSIGN_CA_DIR=" << here
              << " (or change TOKENSIGN_CA_DIR in " << conf.path() << ")\n";
}

// The loaded configuration of one CA section.
struct OpenCa {
    LibCtx ctx;
    Conf conf;
    CaConfig cfg;
    explicit OpenCa(const CaTarget& t)
        : conf(load_ca_conf(t.config, ctx.get())), cfg(CaConfig::load(conf, t.name)) {
        note_moved_directory(conf, cfg);
    }
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

// An index.txt time (YYMMDDHHMMSSZ, or YYYYMMDDHHMMSSZ from 2050) as "2027-01-15 00:00:00 UTC"
// (`iso` false) or ISO 8601 "2027-01-15T00:00:00Z"; text that is no such time comes back as is.
std::string index_time(const std::string& text, bool iso) {
    OsslPtr<ASN1_TIME> t(ASN1_TIME_new());
    struct tm tm {};
    if (!t || !ASN1_TIME_set_string_X509(t.get(), text.c_str()) || !ASN1_TIME_to_tm(t.get(), &tm)) {
        ERR_clear_error();
        return text;
    }
    char buf[32];
    std::strftime(buf, sizeof buf, iso ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

// index.txt's revocation field, "YYMMDDHHMMSSZ[,reason[,extra]]": the time and the reason.
std::pair<std::string, std::string> split_revocation(const std::string& field) {
    auto comma = field.find(',');
    if (comma == std::string::npos) return {field, ""};
    return {field.substr(0, comma), field.substr(comma + 1)};
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

// What an interrupted or failed run says after committing what it did sign: the operator must
// know which inputs to run again.
std::string unprocessed_text(const std::vector<std::string>& names) {
    std::string t;
    const std::size_t shown = std::min<std::size_t>(names.size(), 20);
    for (std::size_t i = 0; i < shown; ++i) t += (i ? ", " : "") + names[i];
    if (names.size() > shown) t += " and " + std::to_string(names.size() - shown) + " more";
    return t;
}

// An interrupted run's certificates, recorded by CaDb::open from its journal: said once, by the
// command that found them, so the operator can check (and revoke) them.
void report_recovered(const CaDb& db, bool read_only = false) {
    // Loud: two certificates with one serial exist (openssl ca beside tokensign).
    for (const auto& c : db.conflicts()) std::cerr << "tokensign: WARNING: " << c << "\n";
    const auto& r = db.recovered();
    if (r.empty()) return;
    if (read_only) {
        std::cerr << "tokensign: note: " << r.size() << " certificate"
                  << (r.size() == 1 ? " signed by an interrupted run is" : "s signed by an "
                                                                           "interrupted run are")
                  << " in the journal beside " << db.paths().database
                  << " and not yet in it (shown here; serials " << unprocessed_text(r)
                  << "): any writing command (e.g. tokensign ca updatedb) records them\n";
        return;
    }
    std::cerr << "tokensign: recovered " << r.size() << " certificate" << (r.size() == 1 ? "" : "s")
              << " signed by an interrupted run into " << db.paths().database << ": serial"
              << (r.size() == 1 ? " " : "s ") << unprocessed_text(r) << "\n";
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
    StopOnSignal stop_on_signal;
    if (!o.out.empty() && !o.out_dir.empty())
        throw UsageError("--out and --out-dir cannot be combined: give one of them");
    OpenCa ca(o.ca);
    signer::IssueOptions io;
    io.extensions = o.extensions;
    io.days = o.days;
    io.extfile = o.extfile;
    io.san = o.san;
    // 1. Settings and the CA certificate (digest policy, extension section, CA validity).
    signer::Issuer issuer(ca.ctx, ca.conf, ca.cfg,
                          signer::load_certificate(ca.ctx, ca.cfg.certificate), io);
    issuer.set_stop_flag(&StopOnSignal::flag());

    // Every output is checked before anything is signed: a certificate the token signed must
    // never be lost to a mistyped path.
    std::vector<std::string> outputs;
    std::optional<OutputFile> out_file;
    if (!o.out_dir.empty()) {
        for (const auto& in : o.in)
            outputs.push_back(
                (fs::path(o.out_dir) / (fs::path(in).stem().string() + ".pem")).string());
        check_output_dir(o.out_dir, outputs, o.force);
    } else if (!o.out.empty()) {
        out_file.emplace(o.out, o.force, "--out");
    }

    const bool tty = ::isatty(2) && o.in.size() > 1;
    auto progress = [tty](std::size_t done, std::size_t total) {
        if (tty && (done % 10 == 0 || done == total))
            std::cerr << "\rsigned " << done << "/" << total << std::flush;
    };
    signer::IssueOutcome outcome;
    std::unique_ptr<CaDb> db;
    std::vector<std::string> output_tmps;  // batch: --out-dir copies already written as temps
    struct TempFiles {                     // removes whatever was not renamed into place
        std::vector<std::string>& paths;
        ~TempFiles() {
            for (const auto& t : paths)
                if (!t.empty()) ::unlink(t.c_str());
        }
    } temp_guard{output_tmps};
    auto open_db = [&] {
        db = CaDb::open(db_paths(ca.cfg), o.lock_timeout * 1000);
        report_recovered(*db);
    };
    if (o.batch) {
        // Non-interactive: one login, then the pipeline (check + build | sign on the token |
        // verify + format) so the token is kept busy.
        std::vector<signer::CsrInput> inputs;
        inputs.reserve(o.in.size());
        // Read by the pipeline itself, overlapping the token's work.
        for (const auto& in : o.in) inputs.push_back({in, std::string()});
        timer.mark("read");
        // The lock first: it also keeps concurrent signers from logging in to the token at the
        // same moment (SoftHSM2 rewrites its token file at login; another process reading it
        // then can find no token at all).
        open_db();
        issuer.use_key(signer::load_private_key(ca.ctx, ca.cfg.private_key, g.hsm_config()));
        StopOnSignal::check("nothing was signed");
        timer.mark("key");
        issuer.set_signing_threads(static_cast<unsigned>(o.signing_threads));
        // --out-dir copies are written as hidden temp files by the pipeline too, and renamed
        // into place only after the database commit.
        output_tmps.assign(o.in.size(), std::string());
        std::function<void(std::size_t, const signer::PendingCertificate&)> written;
        if (!outputs.empty())
            written = [&](std::size_t i, const signer::PendingCertificate& p) {
                output_tmps[i] = hidden_temp_path(outputs[i]);
                signer::write_atomic(output_tmps[i], p.pem, false, 0644, false);
            };
        outcome = issuer.issue_batch(inputs, *db, progress, written);
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
        // 3. Under the lock: policy, certificates, clashes; shown and confirmed. The PIN is
        // asked for only after the answer, so an answer typed ahead is never taken as the PIN.
        open_db();
        auto pending = issuer.prepare(csrs, *db);
        for (const auto& p : pending) {
            std::cerr << "Certificate to be issued for " << p.csr_name << ":\n"
                      << certificate_summary(p.cert.get());
            for (const auto& note : p.notes) std::cerr << "  note: " << note << "\n";
        }
        std::string q = "Sign " + std::to_string(pending.size()) + " certificate" +
                        (pending.size() == 1 ? "" : "s") + " with the CA key of [" +
                        ca.cfg.section + "]?";
        if (!confirm_on_tty(q)) throw signer::Declined("not signed: declined at the prompt");
        StopOnSignal::check("nothing was signed");
        // 4. The CA key (one login for the whole run) must be the CA certificate's; then
        // signed, verified and committed.
        issuer.use_key(signer::load_private_key(ca.ctx, ca.cfg.private_key, g.hsm_config()));
        timer.mark("key");
        outcome = issuer.sign(std::move(pending), *db, progress);
    }
    if (tty) std::cerr << "\n";
    timer.mark("sign");
    // What was signed is committed whatever stopped the run.
    db->commit();
    timer.mark("commit");
    const auto& issued = outcome.issued;

    std::string all_pem;
    // One line per certificate for small runs; a summary for batches (the details are in
    // index.txt and `tokensign ca list`).
    const bool each = issued.size() <= 20;
    std::size_t next_output = 0;
    std::string no_tmp;
    std::vector<std::string> output_errors;
    for (const auto& p : issued) {
        if (each)
            std::cerr << "Issued serial " << p.entry.serial << " for " << p.entry.subject << " ("
                      << ca.cfg.new_certs_dir << "/" << p.entry.serial << ".pem)\n";
        for (const auto& note : p.notes)
            std::cerr << (each ? "  note: " : "serial " + p.entry.serial + ": ") << note << "\n";
        if (outputs.empty()) {
            all_pem += p.pem;
            continue;
        }
        // The output of this certificate's input (issued keeps input order).
        while (next_output < o.in.size() && o.in[next_output] != p.csr_name) ++next_output;
        if (next_output == o.in.size()) continue;
        const std::size_t i = next_output++;
        std::string& tmp = output_tmps.empty() ? no_tmp : output_tmps[i];
        try {
            if (!tmp.empty()) {
                int rc = o.force ? ::rename(tmp.c_str(), outputs[i].c_str())
                                 : ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, outputs[i].c_str(),
                                               RENAME_NOREPLACE);
                if (rc != 0)
                    throw std::runtime_error("cannot write " + outputs[i] + ": " +
                                             std::strerror(errno));
                tmp.clear();
            } else {
                OutputFile(outputs[i], o.force, "--out-dir").write(p.pem, false);
            }
        } catch (const std::exception& e) {
            output_errors.push_back(e.what());
        }
    }
    if (!each && !issued.empty())
        std::cerr << "Issued " << issued.size() << " certificates, serials "
                  << issued.front().entry.serial << " to " << issued.back().entry.serial << " ("
                  << ca.cfg.new_certs_dir << ")\n";
    try {
        // Nothing issued, nothing written: no empty --out file beside a failed run.
        if (out_file && !issued.empty())
            out_file->write(all_pem);
        else if (!out_file && o.out_dir.empty())
            std::cout << all_pem << std::flush;
    } catch (const std::exception& e) {
        output_errors.push_back(e.what());
    }
    timer.mark("output");
    if (!output_errors.empty())
        throw signer::Error(output_errors.front() +
                            "; the certificates were issued and are recorded in " +
                            ca.cfg.database + " and " + ca.cfg.new_certs_dir + "/");
    if (outcome.error || outcome.signal != 0) {
        std::string done = issued.empty()
                               ? "no certificate was issued"
                               : "issued " + std::to_string(issued.size()) + " of " +
                                     std::to_string(o.in.size()) + " certificates (recorded in " +
                                     ca.cfg.database + ")";
        std::cerr << "tokensign: " << done
                  << "; not processed: " << unprocessed_text(outcome.not_processed) << "\n";
        if (outcome.signal != 0)
            throw Interrupted(outcome.signal, std::string("interrupted by ") +
                                                  ::strsignal(outcome.signal) + ": " + done);
        std::rethrow_exception(outcome.error);
    }
    // A signal after the last signature (during the commit or the outputs): all was done.
    StopOnSignal::check("all " + std::to_string(issued.size()) + " certificates were issued first");
}

void run_ca_revoke(const CaRevokeOptions& o, const GlobalOptions&) {
    StopOnSignal stop_on_signal;  // the commit is not cut short
    if (o.cert.empty() == o.serial.empty())
        throw CLI::ValidationError(
            "give exactly one of --cert FILE or --serial HEX " +
            std::string(o.cert.empty() ? "(neither was given)" : "(not both)"));
    std::string reason = o.reason.empty() ? "" : signer::canonical_reason(o.reason);
    OpenCa ca(o.ca);
    auto db = CaDb::open(db_paths(ca.cfg), o.lock_timeout * 1000);
    report_recovered(*db);
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
    StopOnSignal::check("serial " + e->serial + " was revoked first");
}

void run_ca_gencrl(const CaGencrlOptions& o, const GlobalOptions& g) {
    StopOnSignal stop_on_signal;              // the CRL under way is finished and written
    OutputFile out(o.out, o.force, "--out");  // checked before anything is signed
    OpenCa ca(o.ca);
    auto ca_cert = signer::load_certificate(ca.ctx, ca.cfg.certificate);
    std::string md = signer::check_digest(
        ca.cfg.default_md, "default_md in [" + ca.cfg.section + "] in " + ca.conf.path(),
        X509_get0_pubkey(ca_cert.get()));
    auto db = CaDb::open(db_paths(ca.cfg), o.lock_timeout * 1000);  // before the login
    report_recovered(*db);
    auto key = signer::load_private_key(ca.ctx, ca.cfg.private_key, g.hsm_config());
    if (!signer::key_matches_certificate(ca.ctx, key.get(), ca_cert.get()))
        throw signer::InputError("the CA key " + ca.cfg.private_key +
                                 " does not match the CA certificate " + ca.cfg.certificate);
    StopOnSignal::check("no CRL was signed");
    // The CRL number is reserved (the crlnumber file advanced, durably) before the CRL is
    // signed: a failure after that skips a number, it never issues two CRLs with the same one.
    auto crl = signer::generate_crl(ca.ctx, ca.conf, ca.cfg, ca_cert.get(), key.get(), md, *db,
                                    o.days, o.hours);
    db->commit();
    out.write(signer::crl_pem(crl.get()));
    // X509_CRL_get_REVOKED is null for a CRL without entries (sk_num of null is -1).
    const STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
    int n = revoked == nullptr ? 0 : sk_X509_REVOKED_num(revoked);
    std::cerr << "CRL with " << n << " revoked certificate" << (n == 1 ? "" : "s") << " written to "
              << o.out << "\n";
    StopOnSignal::check("the CRL was written to " + o.out + " first");
}

// An index line as --json shows it: index.txt's own fields, and ISO 8601 dates beside them
// (revoked_at and reason null unless revoked).
nlohmann::ordered_json entry_json(const signer::IndexEntry& e) {
    nlohmann::ordered_json j = {{"serial", e.serial},
                                {"status", status_word(e.status)},
                                {"expiry", e.expiry},
                                {"revocation", e.revocation},
                                {"expires_at", index_time(e.expiry, true)},
                                {"revoked_at", nullptr},
                                {"reason", nullptr}};
    if (!e.revocation.empty()) {
        auto [when, reason] = split_revocation(e.revocation);
        j["revoked_at"] = index_time(when, true);
        if (!reason.empty()) j["reason"] = reason;
    }
    j["subject"] = e.subject;
    return j;
}

// Readers open the database read-only (a shared lock when the lock file exists, nothing
// created or changed), so list, status and verify work on an offline root's read-only media.
void run_ca_list(const CaListOptions& o, const GlobalOptions&) {
    OpenCa ca(o.ca);
    auto db = CaDb::open_read_only(db_paths(ca.cfg));
    report_recovered(*db, true);
    char want = 0;
    if (!o.status.empty()) {
        std::string st = o.status;
        for (auto& c : st) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (st == "V" || st == "VALID") want = 'V';
        if (st == "R" || st == "REVOKED") want = 'R';
        if (st == "E" || st == "EXPIRED") want = 'E';
        if (want == 0)
            throw CLI::ValidationError(
                "--status must be V, R or E (valid, revoked, expired), not '" + o.status + "'");
    }
    // Streamed from index.txt, one entry at a time: a database of millions lists in constant
    // memory (the text table reads it twice, once for the column widths).
    std::string out;
    auto flush = [&](bool all) {
        if (out.size() >= (1 << 16) || all) {
            std::cout << out;
            out.clear();
        }
    };
    if (o.json) {
        out += "[";
        bool first = true;
        db->for_each([&](const signer::IndexEntry& e) {
            if (want != 0 && e.status != want) return;
            out += (first ? "" : ",") + json_text(entry_json(e));
            first = false;
            flush(false);
        });
        out += "]\n";
    } else {
        // Aligned columns under a header; the subject, of any length, last.
        auto row = [](const signer::IndexEntry& e) {
            std::string revoked = "-";
            if (!e.revocation.empty()) {
                auto [when, reason] = split_revocation(e.revocation);
                revoked = index_time(when, false) + (reason.empty() ? "" : " " + reason);
            }
            return std::vector<std::string>{e.serial, status_word(e.status),
                                            index_time(e.expiry, false), revoked, e.subject};
        };
        const std::vector<std::string> header{"SERIAL", "STATUS", "EXPIRES", "REVOKED", "SUBJECT"};
        std::vector<std::size_t> width(4, 0);
        auto widen = [&](const std::vector<std::string>& r) {
            for (std::size_t i = 0; i < width.size(); ++i)
                width[i] = std::max(width[i], r[i].size());
        };
        auto print = [&](const std::vector<std::string>& r) {
            for (std::size_t i = 0; i < width.size(); ++i)
                out += r[i] + std::string(width[i] - r[i].size() + 2, ' ');
            out += r[4] + "\n";
            flush(false);
        };
        widen(header);
        db->for_each([&](const signer::IndexEntry& e) {
            if (want == 0 || e.status == want) widen(row(e));
        });
        print(header);
        db->for_each([&](const signer::IndexEntry& e) {
            if (want == 0 || e.status == want) print(row(e));
        });
    }
    flush(true);
    std::cout << std::flush;
}

void run_ca_status(const CaStatusOptions& o, const GlobalOptions&) {
    OpenCa ca(o.ca);
    auto db = CaDb::open_read_only(db_paths(ca.cfg));
    report_recovered(*db, true);
    const auto* e = db->find_serial(o.serial);
    if (e == nullptr)
        throw signer::InputError("serial " + o.serial + " is not in " + ca.cfg.database);
    if (o.json) {
        std::cout << json_text(entry_json(*e)) << "\n";
    } else {
        // The line `openssl ca -status` prints.
        std::cout << e->serial << "=" << status_word(e->status) << " (" << e->status << ")\n";
    }
}

void run_ca_updatedb(const CaUpdatedbOptions& o, const GlobalOptions&) {
    OpenCa ca(o.ca);
    auto db = CaDb::open(db_paths(ca.cfg), o.lock_timeout * 1000);
    report_recovered(*db);
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
    auto db = CaDb::open_read_only(db_paths(ca.cfg));
    report_recovered(*db, true);
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
    sign->add_flag("--force", sign_o->force,
                   "replace existing --out / --out-dir files (refused by default)");
    sign->add_option("--signing-threads", sign_o->signing_threads,
                     "with --batch: signatures made in parallel, each thread on its own token "
                     "session, 1 to 16 (a token that allows fewer sessions makes the threads take "
                     "turns)")
        ->default_val(2)
        ->check(CLI::Range(1, 16));
    sign->add_option("--lock-timeout", sign_o->lock_timeout,
                     "seconds to wait for another signer's lock on the database")
        ->default_val(30);
    sign->footer(
        "Checks before the token signs: the outputs (--out, --out-dir: the directory exists\n"
        "and is writable, no file is replaced without --force); each CSR's signature and key\n"
        "size (tokensign_min_rsa_bits, default 2048); the CA key matches the CA certificate;\n"
        "the policy; the certificate (clipped to the CA's end if it would outlive the CA, or\n"
        "refused with tokensign_clip_to_ca = no; an expired CA is refused).\n"
        "The serials are reserved first (the serial file is advanced and synced), so no serial\n"
        "is ever issued twice. Each signature is verified with the CA certificate's key and\n"
        "recorded in a journal beside index.txt; newcerts/ and index.txt are then written\n"
        "atomically under an exclusive lock. A batch stops at the first failure, or on\n"
        "Ctrl-C / SIGTERM (a second one aborts at once): what was signed is still recorded,\n"
        "and the inputs not processed are listed. After a kill or a crash, the next command\n"
        "that opens the CA directory records what the journal holds and says so.\n"
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
    crl->add_option("--out", crl_o->out, "CRL output file (PEM; - for standard output)")
        ->required()
        ->type_name("FILE");
    crl->add_flag("--force", crl_o->force, "replace an existing --out file (refused by default)");
    crl->add_option("--days", crl_o->days, "days until nextUpdate (default: default_crl_days)");
    crl->add_option("--hours", crl_o->hours, "hours until nextUpdate, added to --days");
    crl->add_option("--lock-timeout", crl_o->lock_timeout, "seconds to wait for the lock")
        ->default_val(30);
    crl->callback([crl_o, &g] { run_ca_gencrl(*crl_o, g); });

    auto list_o = std::make_shared<CaListOptions>();
    auto* list = ca->add_subcommand(
        "list", "List the certificates in index.txt (reads only: works on read-only media)");
    add_ca_target(list, list_o->ca);
    list->add_flag("--json", list_o->json,
                   "JSON output: index.txt's fields, plus expires_at, revoked_at (ISO 8601) and "
                   "reason");
    list->add_option("--status", list_o->status,
                     "only the entries with this status: V (valid), R (revoked) or E (expired)")
        ->type_name("V|R|E");
    list->callback([list_o, &g] { run_ca_list(*list_o, g); });

    auto status_o = std::make_shared<CaStatusOptions>();
    auto* status = ca->add_subcommand("status",
                                      "Show the status of one serial (Valid, Revoked, "
                                      "Expired; reads only)");
    add_ca_target(status, status_o->ca);
    status->add_option("SERIAL", status_o->serial, "serial number (hex)")->required();
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
        "verify",
        "Verify a certificate against the CA certificate and its index.txt status (reads only)");
    add_ca_target(ver, ver_o->ca);
    ver->add_option("CERT", ver_o->cert, "certificate file (PEM or DER)")->required();
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
