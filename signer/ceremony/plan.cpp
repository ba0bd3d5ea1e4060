// SPDX-License-Identifier: Apache-2.0
// Lint and plan for ceremony files. Every check here needs only the file and its inputs: it runs
// on the reviewer's laptop, days before anyone opens the safe.
#include "signer/ceremony/plan.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "hsm/ossl.hpp"
#include "signer/csr.hpp"
#include "signer/init.hpp"

namespace ts::signer::ceremony {

namespace {

constexpr int64_t kDay = 86400;

bool is_ed(const std::string& algorithm) { return algorithm == "ed25519" || algorithm == "ed448"; }

std::string describe_algorithm(const std::string& a) {
    if (a.rfind("rsa:", 0) == 0) return "RSA " + a.substr(4) + "-bit";
    if (a.rfind("ec:", 0) == 0) {
        std::string curve = a.substr(3);
        for (char& ch : curve) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        return "EC " + curve;
    }
    return a == "ed25519" ? "Ed25519" : "Ed448";
}

std::string day_or_time(int64_t t) {
    std::string s = format_time(t);
    return t % kDay == 0 ? s.substr(0, 10) : s;
}

// The openssl "/C=US/O=Example/CN=..." form, as the file's subjects are written.
std::string name_text(const X509_NAME* n) {
    OsslPtr<char> text(X509_NAME_oneline(n, nullptr, 0));
    return text ? std::string(text.get()) : std::string("(unprintable name)");
}

struct InputData {
    const InputDecl* decl = nullptr;
    bool read = false;  // present and its digest matched
    std::string bytes;
};

class Linter {
  public:
    Linter(const File& f, const std::string& base, const Limits& l)
        : m_f(f), m_base(base.empty() ? "." : base), m_limits(l) {}

    LintResult run() {
        m_result.checks.push_back("Check that the ceremony file " + m_f.path + " has SHA-256 " +
                                  m_f.sha256 + " (the reviewed file, unchanged).");
        declare_ids();
        check_inputs();
        for (const Step& s : m_f.steps) {
            check_step(s);
            m_done[s.id] = &s;
        }
        for (const auto& in : m_f.inputs)
            if (!m_used_inputs.count(in.id))
                error(in.mark, in.id, "input '" + in.id + "' is declared but no step uses it");
        int n = 0;
        for (const Step& s : m_f.steps)
            m_result.plan.push_back({++n, s.id, step_kind_name(s.kind), sentence(s)});
        return std::move(m_result);
    }

  private:
    void error(const Mark& m, const std::string& id, const std::string& message) {
        m_result.errors.push_back({m, id, message});
    }

    void declare_ids() {
        std::map<std::string, std::string> seen;  // id -> what it names
        auto add = [&](const std::string& id, const Mark& m, const std::string& what) {
            auto [it, fresh] = seen.emplace(id, what);
            if (!fresh)
                error(m, id,
                      "id '" + id + "' is used twice (a " + it->second + " and a " + what +
                          "); every token, input and step needs its own id");
        };
        for (const auto& t : m_f.tokens) {
            add(t.id, t.mark, "token");
            m_tokens[t.id] = &t;
        }
        for (const auto& in : m_f.inputs) {
            add(in.id, in.mark, "input");
            m_inputs[in.id].decl = &in;
        }
        for (const auto& s : m_f.steps)
            add(s.id, s.mark, std::string(step_kind_name(s.kind)) + " step");
    }

    // Digests first, before anything would touch a token (the runner calls lint first too).
    void check_inputs() {
        for (auto& [id, in] : m_inputs) {
            std::string path = m_base + "/" + in.decl->path;
            std::ifstream f(path, std::ios::binary);
            if (!f) {
                error(in.decl->mark, id, "input '" + id + "': cannot read " + path);
                continue;
            }
            std::ostringstream text;
            text << f.rdbuf();
            std::string actual = sha256_hex(text.str());
            if (actual != in.decl->sha256) {
                error(in.decl->mark, id,
                      "input '" + id + "': " + path + " has SHA-256 " + actual +
                          ", not the reviewed " + in.decl->sha256 + "; refusing it");
                continue;
            }
            in.read = true;
            in.bytes = text.str();
            m_result.checks.push_back("Check that the input " + in.decl->path + " has SHA-256 " +
                                      in.decl->sha256 + ".");
        }
    }

    // A step this one names: it must come earlier and be of one of `kinds`.
    const Step* earlier(const Step& s, const std::string& ref, const std::string& field,
                        std::initializer_list<StepKind> kinds) {
        auto it = m_done.find(ref);
        std::string want;
        for (StepKind k : kinds)
            want += (want.empty() ? "" : " or ") + std::string(step_kind_name(k));
        if (it == m_done.end()) {
            bool later = false;
            for (const auto& o : m_f.steps) later = later || o.id == ref;
            error(s.mark, s.id,
                  "step '" + s.id + "': '" + field + "' names '" + ref + "', " +
                      (later ? "a step that comes later; steps run in order, so it must come first"
                             : "which is no step of this file") +
                      " (expected a " + want + " step)");
            return nullptr;
        }
        for (StepKind k : kinds)
            if (it->second->kind == k) return it->second;
        error(s.mark, s.id,
              "step '" + s.id + "': '" + field + "' names '" + ref + "', a " +
                  step_kind_name(it->second->kind) + " step; expected a " + want + " step");
        return nullptr;
    }

    InputData* input(const Step& s, const std::string& ref, const std::string& field) {
        auto it = m_inputs.find(ref);
        if (it == m_inputs.end()) {
            error(s.mark, s.id,
                  "step '" + s.id + "': '" + field + "' names '" + ref + "', which is no input");
            return nullptr;
        }
        m_used_inputs.insert(ref);
        return it->second.read ? &it->second : nullptr;
    }

    // The key step whose key signs for the CA certificate step `ca` (root or intermediate with a
    // ceremony key); null when its key is not on this ceremony's tokens.
    const Step* signing_key(const Step& ca) {
        auto it = m_done.find(ca.key);
        return ca.key.empty() || it == m_done.end() ? nullptr : it->second;
    }

    const Step* issuer_of(const Step& s) {
        const Step* is = earlier(s, s.issuer, "issuer", {StepKind::Root, StepKind::Intermediate});
        if (is != nullptr && signing_key(*is) == nullptr) {
            error(s.mark, s.id,
                  "step '" + s.id + "': issuer '" + s.issuer +
                      "' is an intermediate from a CSR; its key is not on this ceremony's "
                      "tokens, so it cannot sign here");
            return nullptr;
        }
        return is;
    }

    void check_digest(const Step& s, const Step* key) {
        if (key == nullptr) return;
        static const std::set<std::string> ok = {"sha256",   "sha384",   "sha512",
                                                 "sha3-256", "sha3-384", "sha3-512"};
        if (is_ed(key->algorithm)) {
            if (!s.digest.empty())
                error(s.mark, s.id,
                      "step '" + s.id + "': the key '" + key->label + "' is " +
                          describe_algorithm(key->algorithm) +
                          ", which signs without a separate digest: remove 'digest'");
        } else if (s.digest.empty()) {
            error(s.mark, s.id, "step '" + s.id + "': give 'digest' (sha256, sha384 or sha512)");
        } else if (!ok.count(s.digest)) {
            error(s.mark, s.id,
                  "step '" + s.id + "': digest '" + s.digest +
                      "' is refused; use sha256 or stronger (sha384, sha512, sha3-*)");
        }
    }

    void check_subject(const Step& s) {
        try {
            (void)parse_subject(s.subject);
        } catch (const std::exception& e) {
            error(s.mark, s.id, "step '" + s.id + "': subject: " + e.what());
        }
    }

    void check_validity(const Step& s, const Step* issuer, int64_t max_days, const char* what) {
        if (s.not_after <= s.not_before) {
            error(s.mark, s.id, "step '" + s.id + "': not-after must be later than not-before");
            return;
        }
        if ((s.not_after - s.not_before) > max_days * kDay)
            error(s.mark, s.id,
                  "step '" + s.id + "': valid " +
                      std::to_string((s.not_after - s.not_before) / kDay) + " days; a " + what +
                      " may be valid at most " + std::to_string(max_days) + " days");
        if (issuer != nullptr &&
            (s.not_before < issuer->not_before || s.not_after > issuer->not_after))
            error(s.mark, s.id,
                  "step '" + s.id + "': valid " + day_or_time(s.not_before) + " to " +
                      day_or_time(s.not_after) + ", outside its issuer '" + issuer->id + "' (" +
                      day_or_time(issuer->not_before) + " to " + day_or_time(issuer->not_after) +
                      ")");
    }

    void check_pathlen(const Step& s, const Step* issuer) {
        if (issuer == nullptr || !issuer->pathlen) return;
        if (*issuer->pathlen == 0) {
            error(s.mark, s.id,
                  "step '" + s.id + "': issuer '" + issuer->id +
                      "' has pathlen 0 and may not certify another CA");
        } else if (!s.pathlen || *s.pathlen >= *issuer->pathlen) {
            error(s.mark, s.id,
                  "step '" + s.id + "': issuer '" + issuer->id + "' has pathlen " +
                      std::to_string(*issuer->pathlen) + ", so this CA needs pathlen " +
                      std::to_string(*issuer->pathlen - 1) + " or less");
        }
    }

    void check_serial(const Step& s, const std::string& issuer_id) {
        if (s.serial.random) return;
        auto [it, fresh] = m_serials.emplace(issuer_id + "/" + s.serial.hex, s.id);
        if (!fresh)
            error(s.mark, s.id,
                  "step '" + s.id + "': serial " + s.serial.hex + " is also used by step '" +
                      it->second + "' of the same issuer");
    }

    void check_step(const Step& s) {
        switch (s.kind) {
            case StepKind::Key: {
                if (!m_tokens.count(s.token))
                    error(s.mark, s.id,
                          "step '" + s.id + "': token '" + s.token +
                              "' is not declared under tokens");
                if (s.algorithm.rfind("rsa:", 0) == 0 &&
                    std::stoi(s.algorithm.substr(4)) < m_limits.min_rsa_bits)
                    error(s.mark, s.id,
                          "step '" + s.id + "': " + describe_algorithm(s.algorithm) +
                              " is too small for a CA key; use at least rsa:" +
                              std::to_string(m_limits.min_rsa_bits) + " (or ec:p-384)");
                auto [it, fresh] = m_labels.emplace(s.token + "/" + s.label, s.id);
                if (!fresh)
                    error(s.mark, s.id,
                          "step '" + s.id + "': step '" + it->second +
                              "' already makes a key labelled '" + s.label + "' on token '" +
                              s.token + "'");
                break;
            }
            case StepKind::Root: {
                const Step* key = earlier(s, s.key, "key", {StepKind::Key});
                check_subject(s);
                check_digest(s, key);
                check_validity(s, nullptr, m_limits.max_root_days, "root");
                check_serial(s, s.id);
                if ((!s.eku.empty() || !s.policies.empty()) && !s.allow_eku_policies)
                    error(s.mark, s.id,
                          "step '" + s.id +
                              "': a root certificate carries no extended key usage "
                              "or certificate policies (they would constrain every certificate "
                              "below it); remove them, or say allow-eku-policies: true");
                break;
            }
            case StepKind::Intermediate: {
                const Step* issuer = issuer_of(s);
                if (!s.key.empty()) {
                    const Step* key = earlier(s, s.key, "key", {StepKind::Key});
                    if (key != nullptr && issuer != nullptr && signing_key(*issuer) == key)
                        error(s.mark, s.id,
                              "step '" + s.id + "': the CA's key must not be its issuer's key");
                } else if (InputData* in = input(s, s.csr, "csr")) {
                    check_csr_input(s, *in);
                }
                check_subject(s);
                check_digest(s, issuer ? signing_key(*issuer) : nullptr);
                check_validity(s, issuer, m_limits.max_sub_ca_days, "subordinate CA");
                check_pathlen(s, issuer);
                check_serial(s, s.issuer);
                break;
            }
            case StepKind::CrossCertificate: {
                const Step* issuer = issuer_of(s);
                if (InputData* in = input(s, s.certificate, "certificate"))
                    check_cert_input(s, *in);
                check_digest(s, issuer ? signing_key(*issuer) : nullptr);
                check_validity(s, issuer, m_limits.max_sub_ca_days, "cross-certificate");
                check_pathlen(s, issuer);
                check_serial(s, s.issuer);
                break;
            }
            case StepKind::Csr: {
                const Step* key = earlier(s, s.key, "key", {StepKind::Key});
                check_subject(s);
                check_digest(s, key);
                break;
            }
            case StepKind::Crl: {
                const Step* issuer = issuer_of(s);
                check_digest(s, issuer ? signing_key(*issuer) : nullptr);
                if (s.next_update <= s.this_update)
                    error(s.mark, s.id,
                          "step '" + s.id + "': next-update must be later than this-update");
                else if (s.next_update - s.this_update > m_limits.max_crl_days * kDay)
                    error(s.mark, s.id,
                          "step '" + s.id + "': the CRL may be current at most " +
                              std::to_string(m_limits.max_crl_days) + " days");
                if (issuer != nullptr &&
                    (s.this_update < issuer->not_before || s.next_update > issuer->not_after))
                    error(s.mark, s.id,
                          "step '" + s.id +
                              "': this-update to next-update lies outside its issuer '" +
                              issuer->id + "' validity");
                auto [it, fresh] = m_serials.emplace(s.issuer + "/crl/" + s.crl_number, s.id);
                if (!fresh)
                    error(s.mark, s.id,
                          "step '" + s.id + "': CRL number " + s.crl_number +
                              " is also used by step '" + it->second + "'");
                break;
            }
            case StepKind::StoreCert:
                earlier(s, s.certificate, "certificate",
                        {StepKind::Root, StepKind::Intermediate, StepKind::CrossCertificate});
                if (!m_tokens.count(s.token))
                    error(s.mark, s.id,
                          "step '" + s.id + "': token '" + s.token +
                              "' is not declared under tokens");
                break;
            case StepKind::CaDir: {
                const Step* cert = earlier(s, s.certificate, "certificate",
                                           {StepKind::Root, StepKind::Intermediate});
                const Step* key = earlier(s, s.key, "key", {StepKind::Key});
                if (cert != nullptr && key != nullptr && signing_key(*cert) != key)
                    error(s.mark, s.id,
                          "step '" + s.id + "': the key '" + s.key +
                              "' is not the key of certificate '" + s.certificate + "'");
                if (!m_dirs.insert(s.dir).second)
                    error(s.mark, s.id,
                          "step '" + s.id + "': another ca-dir step uses '" + s.dir + "'");
                break;
            }
        }
    }

    void check_csr_input(const Step& s, InputData& in) {
        try {
            Csr csr = parse_csr(in.bytes, in.decl->path, nullptr);
            check_csr(csr, m_limits.min_rsa_bits, nullptr);
            OsslPtr<X509_NAME> want = parse_subject(s.subject);
            if (X509_NAME_cmp(X509_REQ_get_subject_name(csr.req.get()), want.get()) != 0)
                error(s.mark, s.id,
                      "step '" + s.id + "': the request " + in.decl->path + " is for " +
                          name_text(X509_REQ_get_subject_name(csr.req.get())) +
                          ", not the step's subject " + s.subject);
        } catch (const std::exception& e) {
            error(s.mark, s.id, "step '" + s.id + "': " + e.what());
        }
    }

    void check_cert_input(const Step& s, InputData& in) {
        OsslPtr<X509> cert = parse_cert(in.bytes);
        if (!cert) {
            error(s.mark, s.id,
                  "step '" + s.id + "': " + in.decl->path + " is not one PEM or DER certificate");
            return;
        }
        m_cert_subjects[s.id] = name_text(X509_get_subject_name(cert.get()));
        if (X509_check_ca(cert.get()) == 0)
            error(s.mark, s.id,
                  "step '" + s.id + "': " + in.decl->path +
                      " is not a CA certificate; a cross-certificate certifies a CA");
    }

    static OsslPtr<X509> parse_cert(const std::string& bytes) {
        OsslPtr<BIO> b(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
        OsslPtr<X509> c(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
        if (!c) {
            const unsigned char* p = reinterpret_cast<const unsigned char*>(bytes.data());
            c.reset(d2i_X509(nullptr, &p, static_cast<long>(bytes.size())));
            if (c && p != reinterpret_cast<const unsigned char*>(bytes.data()) + bytes.size())
                c.reset();
        }
        ERR_clear_error();
        return c;
    }

    std::string key_phrase(const std::string& key_id) {
        for (const auto& o : m_f.steps)
            if (o.id == key_id) return "the key '" + o.label + "' on token '" + o.token + "'";
        return "the key of step '" + key_id + "'";
    }

    std::string issuer_key_phrase(const std::string& issuer_id) {
        for (const auto& o : m_f.steps)
            if (o.id == issuer_id && !o.key.empty()) return key_phrase(o.key);
        return "the key of '" + issuer_id + "'";
    }

    static std::string serial_phrase(const Serial& s) {
        return s.random ? "a random serial drawn from the token" : "serial " + s.hex;
    }

    static std::string validity_phrase(const Step& s) {
        std::string p = "valid " + day_or_time(s.not_before) + " to " + day_or_time(s.not_after);
        return p;
    }

    static std::string digest_phrase(const Step& s) {
        return s.digest.empty() ? "" : ", " + s.digest;
    }

    static std::string pathlen_phrase(const Step& s) {
        return s.pathlen ? ", pathlen " + std::to_string(*s.pathlen) : ", no path length limit";
    }

    std::string subject_of(const std::string& step_id) {
        for (const auto& o : m_f.steps)
            if (o.id == step_id) {
                if (!o.subject.empty()) return o.subject;
                auto it = m_cert_subjects.find(o.id);
                return it != m_cert_subjects.end() ? it->second : "the CA of step '" + o.id + "'";
            }
        return "step '" + step_id + "'";
    }

    std::string input_phrase(const std::string& input_id) {
        auto it = m_inputs.find(input_id);
        if (it == m_inputs.end()) return "input '" + input_id + "'";
        return it->second.decl->path + " (SHA-256 " + it->second.decl->sha256.substr(0, 16) +
               "...)";
    }

    std::string sentence(const Step& s) {
        switch (s.kind) {
            case StepKind::Key: {
                std::string uri;
                auto it = m_tokens.find(s.token);
                if (it != m_tokens.end()) uri = " (" + it->second->uri + ")";
                return "Generate an " + describe_algorithm(s.algorithm) + " key pair labelled '" +
                       s.label + "' on token '" + s.token + "'" + uri +
                       "; the private key never leaves the token.";
            }
            case StepKind::Root: {
                std::string ext;
                if (!s.eku.empty()) ext += ", extended key usage " + join(s.eku);
                if (!s.policies.empty()) ext += ", policies " + join(s.policies);
                return "Sign the self-signed root CA certificate for " + s.subject + " with " +
                       key_phrase(s.key) + ", " + validity_phrase(s) + ", " +
                       serial_phrase(s.serial) + digest_phrase(s) + pathlen_phrase(s) + ext + ".";
            }
            case StepKind::Intermediate: {
                std::string whose = s.csr.empty() ? " for " + key_phrase(s.key)
                                                  : " from the request " + input_phrase(s.csr);
                std::string ext;
                if (!s.eku.empty()) ext += ", extended key usage " + join(s.eku);
                if (!s.policies.empty()) ext += ", policies " + join(s.policies);
                return "Sign an intermediate CA certificate for " + s.subject + whose + " with " +
                       issuer_key_phrase(s.issuer) + " (issuer " + subject_of(s.issuer) + "), " +
                       validity_phrase(s) + ", " + serial_phrase(s.serial) + digest_phrase(s) +
                       pathlen_phrase(s) + ext + ".";
            }
            case StepKind::CrossCertificate: {
                auto it = m_cert_subjects.find(s.id);
                std::string who = it != m_cert_subjects.end() ? it->second : "the CA";
                return "Sign a cross-certificate for " + who + " (subject and key taken from " +
                       input_phrase(s.certificate) + ") with " + issuer_key_phrase(s.issuer) +
                       " (issuer " + subject_of(s.issuer) + "), " + validity_phrase(s) + ", " +
                       serial_phrase(s.serial) + digest_phrase(s) + pathlen_phrase(s) + ".";
            }
            case StepKind::Csr:
                return "Make a certificate request for " + s.subject + " signed with " +
                       key_phrase(s.key) + digest_phrase(s) + ".";
            case StepKind::Crl:
                return "Sign CRL number " + s.crl_number + " of " + subject_of(s.issuer) +
                       " with " + issuer_key_phrase(s.issuer) + ", this update " +
                       day_or_time(s.this_update) + ", next update " + day_or_time(s.next_update) +
                       digest_phrase(s) + ", listing no revoked certificates.";
            case StepKind::StoreCert:
                return "Store the certificate of step '" + s.certificate + "' (" +
                       subject_of(s.certificate) + ") on token '" + s.token + "', labelled '" +
                       s.label + "'.";
            case StepKind::CaDir:
                return "Create the CA directory " + s.dir + "/ for " + subject_of(s.certificate) +
                       ", keyed by " + key_phrase(s.key) + ", readable by openssl ca.";
        }
        return {};
    }

    static std::string join(const std::vector<std::string>& v) {
        std::string out;
        for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
        return out;
    }

    const File& m_f;
    std::string m_base;
    Limits m_limits;
    LintResult m_result;
    std::map<std::string, const TokenDecl*> m_tokens;
    std::map<std::string, InputData> m_inputs;
    std::map<std::string, const Step*> m_done;
    std::set<std::string> m_used_inputs;
    std::map<std::string, std::string> m_labels, m_serials, m_cert_subjects;
    std::set<std::string> m_dirs;
};

}  // namespace

LintResult lint(const File& f, const std::string& base_dir, const Limits& limits) {
    return Linter(f, base_dir, limits).run();
}

std::string plan_text(const File& f, const LintResult& r) {
    std::string out = "Ceremony: " + f.name + "\n";
    for (const auto& c : r.checks) out += "  - " + c + "\n";
    for (const auto& p : r.plan) out += std::to_string(p.number) + ". " + p.text + "\n";
    return out;
}

}  // namespace ts::signer::ceremony
