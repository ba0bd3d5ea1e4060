// SPDX-License-Identifier: Apache-2.0
// The ceremony runner: everything that can be refused is refused before the output directory
// exists and before a token is used; then each step runs in order, every signature is checked
// three ways (the token's public key, the host-signed copy's to-be-signed bytes, the chain), and
// every event goes to the transcript as it happens.
#include "signer/ceremony/runner.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "hsm/attributes.hpp"
#include "hsm/cert.hpp"
#include "hsm/error.hpp"
#include "hsm/keygen.hpp"
#include "hsm/object.hpp"
#include "hsm/pubkey.hpp"
#include "hsm/random.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"
#include "signer/ca_db.hpp"
#include "signer/ceremony/pgp_words.hpp"
#include "signer/ceremony/verify.hpp"
#include "signer/ceremony/x509.hpp"
#include "signer/config.hpp"
#include "signer/crl.hpp"
#include "signer/error.hpp"
#include "signer/init.hpp"
#include "signer/issue.hpp"

namespace fs = std::filesystem;

namespace ts::signer::ceremony {

namespace {

using nlohmann::json;

constexpr const char* kCheckSignature = "signature verifies with the token's public key";
constexpr const char* kCheckTbs = "to-be-signed bytes equal the host-signed copy";
constexpr const char* kCheckChain = "chain verifies (OpenSSL)";

/// A check of a step failed before its token was used: a `refused` record precedes the error.
class StepRefused : public PolicyError {
  public:
    using PolicyError::PolicyError;
};

std::string base64(const std::vector<unsigned char>& der) {
    std::string out(4 * ((der.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), der.data(),
                            static_cast<int>(der.size()));
    out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return out;
}

std::vector<unsigned char> unbase64(const std::string& text) {
    std::vector<unsigned char> out(text.size());
    int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                            static_cast<int>(text.size()));
    if (n < 0) return {};
    size_t pad = 0;
    for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) ++pad;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

std::string hex_of(const std::vector<unsigned char>& bytes) { return hsm::to_hex(bytes); }

OsslPtr<BIGNUM> bn_from_hex(const std::string& hex) {
    BIGNUM* bn = nullptr;
    if (BN_hex2bn(&bn, hex.c_str()) <= 0) throw InputError("'" + hex + "' is not a hex number");
    return OsslPtr<BIGNUM>(bn);
}

std::string lower_hex(const BIGNUM* bn) {
    std::string h = serial_hex(bn);
    for (auto& c : h) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return h;
}

std::string pem_of(X509_REQ* req) {
    OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio || !PEM_write_bio_X509_REQ(bio.get(), req)) throw OpenSslError("encoding the request");
    return bio_text(bio.get());
}

OsslPtr<X509> parse_cert(const std::string& bytes, const std::string& what) {
    OsslPtr<BIO> bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
    OsslPtr<X509> c(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!c) {
        const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
        c.reset(d2i_X509(nullptr, &p, static_cast<long>(bytes.size())));
    }
    if (!c) throw InputError(what + " is not a certificate (PEM or DER)");
    ERR_clear_error();
    return c;
}

OsslPtr<X509_REQ> parse_req(const std::string& bytes, const std::string& what) {
    OsslPtr<BIO> bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
    OsslPtr<X509_REQ> r(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
    if (!r) {
        const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
        r.reset(d2i_X509_REQ(nullptr, &p, static_cast<long>(bytes.size())));
    }
    if (!r) throw InputError(what + " is not a certificate request (PEM or DER)");
    ERR_clear_error();
    return r;
}

std::string sha256_of(const std::vector<unsigned char>& der) {
    return sha256_hex(std::string(der.begin(), der.end()));
}

std::string host_name() {
    char buf[256] = {0};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
    return buf;
}

std::vector<json> read_records(const std::string& dir) {
    std::ifstream in(dir + "/" + kTranscriptFile);
    std::vector<json> out;
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line, nullptr, false));
    return out;
}

struct TokenState {
    const TokenDecl* decl = nullptr;
    std::string uri;           // what was opened (no PIN)
    std::string module_query;  // "?module-name=..." for key URIs, or ""
    hsm::Config cfg;
    bool rehearsal = false;
    std::shared_ptr<hsm::Token> token;
    hsm::PinSources pins;
};

struct KeyState {
    std::string step, token_id, label, algorithm;
    std::vector<unsigned char> id;
    hsm::PublicKey pub;
    OsslPtr<EVP_PKEY> pub_evp;
    OsslPtr<EVP_PKEY> priv;  // loaded through the provider at first use
    OsslPtr<EVP_PKEY> host;  // the throwaway host key of the same type
    std::string uri;
};

struct CertState {
    OsslPtr<X509> cert;
    std::string key_step;     // the key step of its subject key, "" when not on a token here
    std::string issuer_step;  // "" for a self-signed root
    std::string signer_step;  // the key step that signed it
    std::string digest;
};

class Runner {
  public:
    Runner(LibCtx& ctx, const File& f, const RunOptions& o) : m_ctx(ctx), m_f(f), m_o(o) {}

    RunResult run() {
        prepare();
        m_w = std::make_unique<TranscriptWriter>(m_o.out_dir);
        try {
            begin_records();
        } catch (const CaDbError& e) {
            if (!m_w->broken()) throw;
            // Not even the records of the start could be written: nothing was done on a token
            // yet, and a directory holding part of a transcript of nothing is taken away again.
            std::error_code ec;
            fs::remove(fs::path(m_o.out_dir) / kTranscriptFile, ec);
            bool gone = fs::remove(m_o.out_dir, ec);
            throw CaDbError(std::string(e.what()) +
                            "; the ceremony did not begin: nothing was done on a token" +
                            (gone ? ", and " + m_o.out_dir + " was removed again"
                                  : "; " + m_o.out_dir + " holds an unfinished transcript"));
        }
        RunResult r;
        for (size_t i = m_start; i < m_f.steps.size(); ++i) {
            const Step& s = m_f.steps[i];
            m_outputs.clear();
            m_made.clear();
            try {
                if (m_o.stop != nullptr && m_o.stop->load() != 0)
                    throw StepInterrupted(m_o.stop->load(),
                                          "stopped by signal " + std::to_string(m_o.stop->load()) +
                                              " before step '" + s.id + "' began");
                run_step(s, plan_for(i));
                ++r.steps_done;
                r.outputs.insert(r.outputs.end(), m_outputs.begin(), m_outputs.end());
                m_all_made.insert(m_all_made.end(), m_made.begin(), m_made.end());
            } catch (const std::exception& e) {
                r.error = std::current_exception();
                stop(s, e, dynamic_cast<const StepRefused*>(&e) != nullptr, r);
                return r;
            }
        }
        r.complete = true;
        try {
            r.head = m_w->finish({{"status", "complete"},
                                  {"stopped_at", nullptr},
                                  {"steps_done", m_done_before + r.steps_done}});
        } catch (const CaDbError& e) {
            if (!m_w->broken()) throw;
            throw CaDbError(std::string(e.what()) + "; every step was done, but the transcript " +
                            m_o.out_dir + "/" + kTranscriptFile + " ends after record " +
                            std::to_string(m_w->records() - 1) + " ('" + m_w->last_event() +
                            "', head " + m_w->last_hash() +
                            ") without the end record; verify calls it cut short. On the token: " +
                            token_state_text(m_all_made) + ". Free space, and keep " + m_o.out_dir +
                            " as the record of what happened.");
        }
        return r;
    }

  private:
    // ---- before anything is written ----
    void prepare() {
        std::string base = fs::path(m_f.path).parent_path().string();
        m_lint = lint(m_f, base);
        if (!m_lint.ok()) {
            std::string msg = m_f.path + ": the file does not pass lint (" +
                              std::to_string(m_lint.errors.size()) + " problem(s)):";
            for (const auto& e : m_lint.errors)
                msg += "\n  " + m_f.path + ":" + std::to_string(e.mark.line) + ":" +
                       std::to_string(e.mark.column) + ": " + e.message;
            throw PolicyError(msg + "\nnothing was run or written; fix the file and lint it again");
        }
        if (m_lint.plan.size() != m_f.steps.size())
            throw std::logic_error("ceremony: the plan does not match the steps");
        std::error_code ec;
        if (fs::exists(m_o.out_dir, ec) || fs::is_symlink(m_o.out_dir, ec))
            throw CaDbError(m_o.out_dir +
                            " already exists; a ceremony writes into a new directory and never "
                            "overwrites one: give a new --out");
        fs::path parent = fs::absolute(m_o.out_dir, ec).parent_path();
        if (!fs::is_directory(parent, ec))
            throw CaDbError("the parent directory of --out " + m_o.out_dir +
                            " does not exist: create it first");
        // A CA directory's openssl.cnf holds its own path: it must be one NCONF reads back as it
        // is (no comment, variable, quote or escape characters).
        for (const auto& st : m_f.steps) {
            if (st.kind != StepKind::CaDir) continue;
            std::string abs = fs::absolute(fs::path(m_o.out_dir) / st.dir, ec).string();
            for (char ch : abs)
                if (static_cast<unsigned char>(ch) < ' ' || std::strchr("#$\"'\\", ch) != nullptr)
                    throw InputError("--out " + m_o.out_dir + ": the CA directory of step '" +
                                     st.id + "' would be " + abs +
                                     ", and its openssl.cnf cannot name a path with # $ quotes "
                                     "or backslashes; choose another --out; nothing was written");
        }
        // The inputs are read once, here; what is signed is what was hashed.
        for (const auto& in : m_f.inputs) {
            std::string path = (fs::path(base) / in.path).string();
            std::string bytes = read_file(path);
            std::string got = sha256_hex(bytes);
            if (got != in.sha256)
                throw InputError("input '" + in.id + "' (" + path + ") has SHA-256 " + got +
                                 ", but the ceremony file says " + in.sha256 +
                                 ": it is not the reviewed file; nothing was run or written");
            m_inputs[in.id] = std::move(bytes);
        }
        if (!m_o.from.empty()) prepare_continuation();
        open_tokens();
        if (!m_o.from.empty()) find_earlier_keys();
    }

    void prepare_continuation() {
        if (m_o.previous_dir.empty())
            throw InputError("--from needs --previous DIR: the stopped ceremony it continues");
        size_t idx = m_f.steps.size();
        for (size_t i = 0; i < m_f.steps.size(); ++i)
            if (m_f.steps[i].id == m_o.from) idx = i;
        if (idx == m_f.steps.size())
            throw InputError("--from " + m_o.from + ": the ceremony file has no step with that id");
        VerifyResult v = verify(m_o.previous_dir, "");
        if (!v.ok()) {
            std::string msg = "--previous " + m_o.previous_dir + " does not verify:";
            for (const auto& p : v.problems) msg += "\n  " + p;
            throw PolicyError(msg + "\nnothing was run or written");
        }
        std::vector<json> recs = read_records(m_o.previous_dir);
        if (recs.empty() || !recs.front().is_object() || !recs.back().is_object())
            throw PolicyError("--previous " + m_o.previous_dir + " holds no transcript");
        const json& b = recs.front();
        const json& end = recs.back();
        if (end.value("event", "") != "end" || end.value("status", "") != "stopped")
            throw PolicyError("--previous " + m_o.previous_dir +
                              " is not a stopped ceremony (its transcript does not end with "
                              "status \"stopped\"); only a stopped ceremony is continued");
        if (b.value("file_sha256", "") != m_f.sha256)
            throw PolicyError("--previous " + m_o.previous_dir +
                              " was made from another ceremony file (SHA-256 " +
                              b.value("file_sha256", "") + ", this file " + m_f.sha256 +
                              "); a ceremony continues with the same reviewed file");
        if (b.value("mode", "") != m_o.mode)
            throw PolicyError("--previous " + m_o.previous_dir + " is a " + b.value("mode", "?") +
                              ", not a " + m_o.mode + ": a ceremony is continued the way it began");
        std::set<std::string> ended;
        for (const auto& r : recs) {
            if (!r.is_object()) continue;
            std::string ev = r.value("event", "");
            if (ev == "step-end") ended.insert(r.value("step", ""));
            if (ev == "key") m_prev_keys[r.value("step", "")] = r;
            if (ev == "output" && r.value("type", "") == "certificate")
                m_prev_certs[r.value("step", "")] = r.value("path", "");
            if (ev == "output" && r.value("type", "") == "crl")
                m_prev_crls[r.value("step", "")] = r.value("path", "");
        }
        if (b.contains("from") && b["from"].is_string())
            throw PolicyError("--previous " + m_o.previous_dir +
                              " itself continues a ceremony "
                              "(from step '" +
                              b["from"].get<std::string>() +
                              "'): the steps "
                              "before that were done in an earlier directory, whose outputs "
                              "it does not hold; continuing a continued ceremony is not "
                              "supported: continue the first stopped directory again instead; "
                              "nothing was run or written");
        for (size_t i = 0; i < idx; ++i)
            if (!ended.count(m_f.steps[i].id))
                throw PolicyError("--from " + m_o.from + ": step '" + m_f.steps[i].id +
                                  "' before it did not complete in " + m_o.previous_dir +
                                  "; continue from the step that stopped it (" +
                                  end.value("stopped_at", "?") + ") or earlier");
        m_start = idx;
        m_done_before = static_cast<int>(idx);
        m_previous = {{"head", v.head_hex}, {"records", v.records}};
        // The certificates and CRLs of the steps done: read from the verified directory.
        for (size_t i = 0; i < idx; ++i) {
            const Step& s = m_f.steps[i];
            bool makes_cert = s.kind == StepKind::Root || s.kind == StepKind::Intermediate ||
                              s.kind == StepKind::CrossCertificate;
            if (makes_cert && !m_prev_certs.count(s.id))
                throw PolicyError("--previous " + m_o.previous_dir +
                                  " does not hold the certificate of step '" + s.id +
                                  "' (it was made in an earlier directory of this ceremony); "
                                  "continue the directory that holds it; nothing was run or "
                                  "written");
            if (auto it = m_prev_certs.find(s.id); it != m_prev_certs.end()) {
                std::string bytes = read_file(m_o.previous_dir + "/" + it->second);
                remember_cert(s, parse_cert(bytes, it->second));
            }
            if (s.kind == StepKind::Crl && m_prev_crls.count(s.id))
                m_crl_numbers[s.issuer].push_back(bn_from_hex(s.crl_number));
        }
    }

    void open_tokens() {
        std::set<std::string> used;
        for (const auto& s : m_f.steps)
            if (s.kind == StepKind::Key || s.kind == StepKind::StoreCert) used.insert(s.token);
        for (const auto& d : m_f.tokens) {
            if (!used.count(d.id)) continue;
            TokenState& t = m_tokens[d.id];
            t.decl = &d;
            auto ov = m_o.overrides.find(d.id);
            if (ov != m_o.overrides.end()) {
                t.uri = ov->second.uri;
                t.cfg = ov->second.cfg;
                t.rehearsal = true;
            } else {
                if (!m_o.overrides.empty())
                    throw std::logic_error("rehearsal without a token for " + d.id);
                t.cfg = m_o.cfg;
                t.uri = d.uri;
                // The file's module, unless the operator names one (--module, TOKENSIGN_MODULE).
                const char* env = std::getenv("TOKENSIGN_MODULE");
                bool env_module = t.cfg.modules.use_env && env != nullptr && *env != '\0';
                if (!d.module.empty() && t.cfg.modules.explicit_path.empty() && !env_module)
                    t.module_query = "?module-name=" + hsm::percent_encode_text(d.module);
                t.uri += t.module_query;
            }
            hsm::Uri uri = hsm::parse_uri(t.uri);
            t.token = hsm::open_one_token(t.cfg, uri);
            t.pins = hsm::pin_sources(t.cfg, uri);
            if (ov != m_o.overrides.end()) t.pins.pin_value = ov->second.pin;
            const CK_TOKEN_INFO& ti = t.token->info().token_info;
            if (!t.pins.pin_value && (ti.flags & CKF_LOGIN_REQUIRED) &&
                !(ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH))
                t.pins.pin_value =
                    std::make_shared<const hsm::Pin>(hsm::obtain_pin(t.pins, t.token->what()));
            t.token->login(t.pins);
        }
    }

    void find_earlier_keys() {
        for (size_t i = 0; i < m_start; ++i) {
            const Step& s = m_f.steps[i];
            if (s.kind != StepKind::Key) continue;
            auto it = m_prev_keys.find(s.id);
            if (it == m_prev_keys.end())
                throw PolicyError("--previous " + m_o.previous_dir + " has no key record for '" +
                                  s.id + "'");
            const json& r = it->second;
            TokenState& t = m_tokens.at(s.token);
            hsm::Session sess = t.token->acquire();
            hsm::ObjectQuery q;
            q.cls = CKO_PRIVATE_KEY;
            q.label = r.value("label", "");
            q.id = hsm::from_hex(r.value("id", ""));
            hsm::ObjectInfo info = hsm::find_one(sess, q);
            KeyState k;
            k.pub = hsm::read_public_key(sess, info.handle);
            std::vector<unsigned char> spki = hsm::spki_der(k.pub);
            if (spki != unbase64(r.value("spki", "")))
                throw PolicyError("the key '" + info.label + "' (id " + hex_of(info.id) + ") on " +
                                  t.token->what() +
                                  " is not the key the stopped ceremony recorded for step '" +
                                  s.id + "' (its public key differs); nothing was run or written");
            k.step = s.id;
            k.token_id = s.token;
            k.label = info.label;
            k.id = info.id;
            k.algorithm = r.value("algorithm", s.algorithm);
            k.pub_evp = hsm::to_evp_pkey(k.pub, m_ctx.get(), m_ctx.propq());
            k.uri = key_uri(t, k.id, k.label);
            m_keys[s.id] = std::move(k);
        }
    }

    std::string key_uri(const TokenState& t, const std::vector<unsigned char>& id,
                        const std::string& label) const {
        return hsm::object_uri(t.token->info().token_info, id, label, CKO_PRIVATE_KEY) +
               t.module_query;
    }

    // ---- records ----
    void begin_records() {
        json b{{"tool", "tokensign"},
               {"version", m_o.version},
               {"mode", m_o.mode},
               {"file", m_f.path},
               {"file_sha256", m_f.sha256},
               {"name", m_f.name},
               {"host", host_name()},
               {"from", m_o.from.empty() ? json(nullptr) : json(m_o.from)},
               {"previous", m_previous.is_null() ? json(nullptr) : m_previous}};
        m_w->append("begin", b);
        for (const auto& [id, t] : m_tokens) {
            const hsm::TokenInfo& info = t.token->info();
            const CK_TOKEN_INFO& ti = info.token_info;
            m_w->append("token", {{"token", id},
                                  {"uri", hsm::parse_uri(t.uri).to_string()},
                                  {"module", info.module->name()},
                                  {"manufacturer", info.manufacturer()},
                                  {"model", info.model()},
                                  {"serial", info.serial()},
                                  {"label", info.label()},
                                  {"firmware", std::to_string(ti.firmwareVersion.major) + "." +
                                                   std::to_string(ti.firmwareVersion.minor)},
                                  {"rehearsal", t.rehearsal}});
        }
        for (const auto& [id, k] : m_keys) key_record(k, false);
    }

    void key_record(const KeyState& k, bool generated) {
        std::vector<unsigned char> spki = hsm::spki_der(k.pub);
        m_w->append("key", {{"step", k.step},
                            {"token", k.token_id},
                            {"label", k.label},
                            {"id", hex_of(k.id)},
                            {"algorithm", k.algorithm},
                            {"generated", generated},
                            {"spki", base64(spki)},
                            {"spki_sha256", sha256_of(spki)}});
    }

    const PlanStep& plan_for(size_t i) const { return m_lint.plan.at(i); }

    void log(const std::string& line) {
        if (m_o.log != nullptr) *m_o.log << line << "\n" << std::flush;
    }

    // A record of the stop, unless the transcript can no longer be written (a full disk): then
    // stop() says so in the error instead.
    void stop_record(const std::string& event, json fields) {
        try {
            m_w->append(event, std::move(fields));
        } catch (const CaDbError&) {
            if (!m_w->broken()) throw;
        }
    }

    void stop(const Step& s, const std::exception& e, bool refused, RunResult& r) {
        std::string message = e.what();
        if (refused) stop_record("refused", {{"step", s.id}, {"message", message}});
        json removed = json::array();
        for (const auto& p : m_outputs)
            if (m_w->remove_output(p)) removed.push_back(p);
        if (s.kind == StepKind::CaDir) {
            // The directories the step made, now empty, go too (remove() keeps a non-empty one).
            std::error_code ec;
            fs::path top = fs::path(m_o.out_dir) / s.dir;
            std::vector<fs::path> dirs;
            for (auto it = fs::recursive_directory_iterator(top, ec);
                 !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
                if (it->is_directory(ec)) dirs.push_back(it->path());
            for (auto d = dirs.rbegin(); d != dirs.rend(); ++d) fs::remove(*d, ec);
            fs::remove(top, ec);
        }
        std::string state = token_state_text(m_made);
        stop_record(
            "error",
            {{"step", s.id},
             {"message", message},
             {"token_state", state},
             {"removed", removed},
             // Not in the schema (verify ignores it): what the earlier steps of this run made.
             {"earlier_steps_made", m_all_made}});
        r.complete = false;
        r.stopped_at = s.id;
        if (!m_w->broken()) {
            try {
                r.head = m_w->finish({{"status", "stopped"},
                                      {"stopped_at", s.id},
                                      {"steps_done", m_done_before + r.steps_done}});
            } catch (const CaDbError&) {
                if (!m_w->broken()) throw;
            }
        }
        if (m_w->broken()) {
            r.transcript_cut = true;
            r.head.hex = m_w->last_hash();
            r.head.words = pgp_words(hsm::from_hex(r.head.hex));
            r.head.records = m_w->records();
            std::string cut = "the transcript " + m_o.out_dir + "/" + kTranscriptFile +
                              " could not be written (" + m_w->broken_reason() +
                              "): it ends after record " + std::to_string(m_w->records() - 1) +
                              " ('" + m_w->last_event() + "', head " + r.head.hex +
                              ") and holds no error or end record for this stop; verify calls it "
                              "cut short. Step '" +
                              s.id + "' stopped the ceremony; on the token: " + state;
            if (!m_all_made.empty())
                cut += "; made by the earlier steps of this run, and still there: " +
                       token_state_text(m_all_made);
            cut += removed.empty() ? std::string("; the step left no output")
                                   : "; the step's outputs were removed: " + removed.dump();
            r.error = std::make_exception_ptr(CaDbError(
                (message == m_w->broken_reason() ? std::string() : message + "; ") + cut +
                ". Free space, and keep " + m_o.out_dir + " as the record of what happened."));
        }
        log("Step '" + s.id + "' failed; on the token: " + state + ".");
        if (!m_all_made.empty())
            log("Made by the earlier steps of this run, and still there: " +
                token_state_text(m_all_made) + ".");
        for (const auto& p : removed) log("Removed its output " + p.get<std::string>());
    }

    // ---- steps ----
    void run_step(const Step& s, const PlanStep& p) {
        json inputs = json::array();
        for (const std::string* in : {&s.csr, &s.certificate}) {
            if (in->empty() || !m_inputs.count(*in)) continue;
            for (const auto& d : m_f.inputs)
                if (d.id == *in)
                    inputs.push_back({{"id", d.id}, {"path", d.path}, {"sha256", d.sha256}});
        }
        m_w->append("step-begin", {{"step", s.id},
                                   {"number", p.number},
                                   {"kind", step_kind_name(s.kind)},
                                   {"sentence", p.text},
                                   {"inputs", inputs}});
        std::string by = m_o.confirm ? m_o.confirm(p) : "--yes";
        m_w->append("confirm", {{"step", s.id}, {"by", by}});
        switch (s.kind) {
            case StepKind::Key:
                do_key(s);
                break;
            case StepKind::Root:
                do_root(s);
                break;
            case StepKind::Intermediate:
                do_intermediate(s);
                break;
            case StepKind::CrossCertificate:
                do_cross(s);
                break;
            case StepKind::Csr:
                do_csr(s);
                break;
            case StepKind::Crl:
                do_crl(s);
                break;
            case StepKind::StoreCert:
                do_store(s);
                break;
            case StepKind::CaDir:
                do_ca_dir(s);
                break;
        }
        m_w->append("step-end", {{"step", s.id}, {"outputs", m_outputs}});
        log("Step " + std::to_string(p.number) + " (" + s.id + ") done" +
            (m_outputs.empty() ? std::string(".")
                               : ": " + std::to_string(m_outputs.size()) + " output(s)."));
    }

    void output(const Step& s, const std::string& name, const std::string& bytes,
                const std::string& type) {
        m_w->write_output(name, bytes, s.id, type);
        m_outputs.push_back(name);
    }

    void do_key(const Step& s) {
        TokenState& t = m_tokens.at(s.token);
        hsm::KeySpec spec = hsm::KeySpec::parse(s.algorithm);
        hsm::Session sess = t.token->acquire();
        {
            // A ceremony key is never made beside another object with its label: the token is
            // checked before it generates anything.
            hsm::ObjectQuery q;
            q.label = s.label;
            if (size_t n = hsm::find_objects(sess, q).size(); n > 0)
                throw StepRefused("token '" + s.token + "' already holds " + std::to_string(n) +
                                  " object(s) labelled '" + s.label +
                                  "'; a ceremony key is made on a token without one (list them "
                                  "with tokensign key list); nothing was generated");
        }
        hsm::GeneratedKey g;
        try {
            g = hsm::generate_key_pair(sess, spec, s.label, std::nullopt);
        } catch (const hsm::Pkcs11Error&) {
            // generate_key_pair removes what a failed generation left; say what is still there.
            try {
                hsm::ObjectQuery q;
                q.label = s.label;
                size_t left = hsm::find_objects(sess, q).size();
                if (left > 0)
                    m_made.push_back(std::to_string(left) + " object(s) labelled '" + s.label +
                                     "' that the failed generation left stay on token '" + s.token +
                                     "' (list them with tokensign key list)");
            } catch (const std::exception&) {
                m_made.push_back("whether the failed generation left objects labelled '" + s.label +
                                 "' on token '" + s.token +
                                 "' is unknown (list them with tokensign key list)");
            }
            throw;
        }
        m_made.push_back("the key pair '" + s.label + "' (id " + hex_of(g.private_key.id) +
                         ") was generated and stays on token '" + s.token + "'");
        auto sensitive = hsm::get_bool(sess, g.private_key.handle, CKA_SENSITIVE);
        auto extractable = hsm::get_bool(sess, g.private_key.handle, CKA_EXTRACTABLE);
        if (sensitive != true || extractable != false)
            throw Error("the token reports the new private key '" + s.label +
                        "' as not sensitive or extractable; it must not be used as a CA key");
        KeyState k;
        k.step = s.id;
        k.token_id = s.token;
        k.label = g.private_key.label;
        k.id = g.private_key.id;
        k.algorithm = spec.to_string();
        // What the token holds now, read back (generate_key_pair checked size/exponent/curve).
        k.pub = hsm::read_public_key(sess, g.private_key.handle);
        k.pub_evp = hsm::to_evp_pkey(k.pub, m_ctx.get(), m_ctx.propq());
        k.uri = key_uri(t, k.id, k.label);
        key_record(k, true);
        log("Generated " + k.algorithm + " key '" + k.label + "' (id " + hex_of(k.id) + ") on " +
            t.token->what());
        m_keys[s.id] = std::move(k);
    }

    KeyState& signer_of_issuer(const std::string& issuer_step) {
        const CertState& c = m_certs.at(issuer_step);
        return m_keys.at(c.key_step);
    }

    EVP_PKEY* private_key(KeyState& k) {
        if (!k.priv) {
            TokenState& t = m_tokens.at(k.token_id);
            k.priv = load_private_key(m_ctx, k.uri, t.cfg, t.pins.pin_value);
        }
        return k.priv.get();
    }

    EVP_PKEY* host_key(KeyState& k) {
        if (!k.host) k.host = host_key_like(m_ctx, k.pub_evp.get());
        return k.host.get();
    }

    OsslPtr<BIGNUM> serial_for(const Step& s, KeyState& signer) {
        if (!s.serial.random) return bn_from_hex(s.serial.hex);
        // 16 bytes from the token's generator, made positive with the top bit clear and the next
        // one set: always 16 bytes in DER, 126 random bits.
        hsm::Session sess = m_tokens.at(signer.token_id).token->acquire();
        std::vector<unsigned char> b = hsm::generate_random(sess, 16);
        b[0] = static_cast<unsigned char>((b[0] & 0x3f) | 0x40);
        OsslPtr<BIGNUM> bn(BN_bin2bn(b.data(), static_cast<int>(b.size()), nullptr));
        if (!bn) throw OpenSslError("BN_bin2bn");
        return bn;
    }

    // The chain above a certificate: the trust anchor and what lies between.
    void chain_of(const std::string& issuer_step, X509*& anchor, std::vector<X509*>& between) {
        std::string cur = issuer_step;
        anchor = nullptr;
        for (int depth = 0; !cur.empty() && depth < 16; ++depth) {
            const CertState& c = m_certs.at(cur);
            if (c.issuer_step.empty()) {
                anchor = c.cert.get();
                return;
            }
            between.push_back(c.cert.get());
            cur = c.issuer_step;
        }
    }

    void remember_cert(const Step& s, OsslPtr<X509> cert) {
        CertState c;
        c.cert = std::move(cert);
        c.digest = s.digest;
        switch (s.kind) {
            case StepKind::Root:
                c.key_step = s.key;
                c.signer_step = s.key;
                break;
            case StepKind::Intermediate:
                c.key_step = s.csr.empty() ? s.key : "";
                c.issuer_step = s.issuer;
                c.signer_step = m_certs.at(s.issuer).key_step;
                break;
            case StepKind::CrossCertificate:
                c.issuer_step = s.issuer;
                c.signer_step = m_certs.at(s.issuer).key_step;
                break;
            default:
                break;
        }
        m_certs[s.id] = std::move(c);
        m_cert_order.push_back(s.id);
    }

    // Host copy first (the pre-issuance check), then the token's signature, then the checks.
    void certify(const Step& s, const CertSpec& spec, KeyState& signer,
                 const std::function<void(X509*)>& precheck) {
        OsslPtr<X509> host_copy = build_certificate(m_ctx, spec);
        if (precheck) precheck(host_copy.get());
        sign_object(m_ctx, host_copy.get(), host_key(signer), s.digest);
        std::vector<unsigned char> expected = tbs_der(host_copy.get());

        OsslPtr<X509> cert = build_certificate(m_ctx, spec);
        sign_object(m_ctx, cert.get(), private_key(signer), s.digest);
        std::vector<unsigned char> tbs = tbs_der(cert.get());
        json checks = json::array();
        if (X509_verify(cert.get(), signer.pub_evp.get()) != 1)
            throw OpenSslError(
                "the certificate's signature does not verify with the public key "
                "read from the token; it was not written");
        checks.push_back(kCheckSignature);
        if (tbs != expected)
            throw PolicyError(
                "the token-signed certificate's to-be-signed bytes differ from the "
                "host-signed copy's; it was not written");
        checks.push_back(kCheckTbs);
        X509* anchor = cert.get();
        std::vector<X509*> between;
        if (spec.issuer != nullptr) chain_of(s.issuer, anchor, between);
        if (anchor == nullptr) throw std::logic_error("ceremony: no trust anchor");
        std::string problem = verify_chain(cert.get(), anchor, between, spec.not_before);
        if (!problem.empty())
            throw PolicyError("the certificate's chain does not verify with OpenSSL (" + problem +
                              "); it was not written");
        checks.push_back(kCheckChain);

        std::string name = s.id + ".crt";
        output(s, name, certificate_pem(cert.get()), "certificate");
        m_w->append("signed", {{"step", s.id},
                               {"type", "certificate"},
                               {"path", name},
                               {"key", signer.step},
                               {"serial", lower_hex(spec.serial)},
                               {"subject", name_text(X509_get_subject_name(cert.get()))},
                               {"issuer", name_text(X509_get_issuer_name(cert.get()))},
                               {"tbs_sha256", sha256_of(tbs)},
                               {"checks", checks}});
        log("Signed " + name + ": " + name_text(X509_get_subject_name(cert.get())) + ", serial " +
            lower_hex(spec.serial));
        remember_cert(s, std::move(cert));
    }

    void do_root(const Step& s) {
        KeyState& k = m_keys.at(s.key);
        OsslPtr<X509_NAME> subject = parse_subject(s.subject);
        OsslPtr<BIGNUM> serial = serial_for(s, k);
        CertSpec spec;
        spec.subject = subject.get();
        spec.not_before = s.not_before;
        spec.not_after = s.not_after;
        spec.serial = serial.get();
        spec.subject_key = k.pub_evp.get();
        spec.pathlen = s.pathlen;
        spec.key_usage = "critical,keyCertSign,cRLSign";
        spec.eku = s.eku;
        spec.policies = s.policies;
        certify(s, spec, k, {});
    }

    void do_intermediate(const Step& s) {
        KeyState& signer = signer_of_issuer(s.issuer);
        OsslPtr<X509_NAME> subject = parse_subject(s.subject);
        OsslPtr<X509_REQ> req;
        EVP_PKEY* key = nullptr;
        if (!s.csr.empty()) {
            req = parse_req(m_inputs.at(s.csr), "input '" + s.csr + "'");
            key = X509_REQ_get0_pubkey(req.get());
            if (key == nullptr ||
                X509_REQ_verify_ex(req.get(), key, m_ctx.get(), m_ctx.propq()) != 1)
                throw StepRefused("the request " + s.csr + " does not verify with its own key");
        } else {
            key = m_keys.at(s.key).pub_evp.get();
        }
        OsslPtr<BIGNUM> serial = serial_for(s, signer);
        CertSpec spec;
        spec.subject = subject.get();
        spec.issuer = m_certs.at(s.issuer).cert.get();
        spec.not_before = s.not_before;
        spec.not_after = s.not_after;
        spec.serial = serial.get();
        spec.subject_key = key;
        spec.pathlen = s.pathlen;
        spec.key_usage = "critical,digitalSignature,keyCertSign,cRLSign";
        spec.eku = s.eku;
        spec.policies = s.policies;
        certify(s, spec, signer, {});
    }

    void do_cross(const Step& s) {
        KeyState& signer = signer_of_issuer(s.issuer);
        OsslPtr<X509> orig =
            parse_cert(m_inputs.at(s.certificate), "input '" + s.certificate + "'");
        OsslPtr<BIGNUM> serial = serial_for(s, signer);
        int ski_at = X509_get_ext_by_NID(orig.get(), NID_subject_key_identifier, -1);
        CertSpec spec;
        spec.subject = X509_get_subject_name(orig.get());
        spec.issuer = m_certs.at(s.issuer).cert.get();
        spec.not_before = s.not_before;
        spec.not_after = s.not_after;
        spec.serial = serial.get();
        spec.subject_key = X509_get0_pubkey(orig.get());
        spec.pathlen = s.pathlen;
        spec.key_usage = "critical,keyCertSign,cRLSign";
        spec.ski = ski_at >= 0 ? X509_get_ext(orig.get(), ski_at) : nullptr;
        X509* o = orig.get();
        certify(s, spec, signer, [o, &s](X509* built) {
            if (name_der(X509_get_subject_name(built)) != name_der(X509_get_subject_name(o)))
                throw StepRefused(
                    "the cross-certificate's subject would not be byte-equal to "
                    "that of " +
                    s.certificate + "; nothing was signed");
            if (spki_der_of(built) != spki_der_of(o))
                throw StepRefused(
                    "the cross-certificate's key would not be byte-equal to that "
                    "of " +
                    s.certificate + "; nothing was signed");
        });
    }

    void do_csr(const Step& s) {
        KeyState& k = m_keys.at(s.key);
        OsslPtr<X509_NAME> subject = parse_subject(s.subject);
        OsslPtr<X509_REQ> host_copy = build_request(m_ctx, subject.get(), k.pub_evp.get());
        sign_object(m_ctx, host_copy.get(), host_key(k), s.digest);
        std::vector<unsigned char> expected = tbs_der(host_copy.get());
        OsslPtr<X509_REQ> req = build_request(m_ctx, subject.get(), k.pub_evp.get());
        sign_object(m_ctx, req.get(), private_key(k), s.digest);
        std::vector<unsigned char> tbs = tbs_der(req.get());
        if (X509_REQ_verify_ex(req.get(), k.pub_evp.get(), m_ctx.get(), m_ctx.propq()) != 1)
            throw OpenSslError(
                "the request's signature does not verify with the public key read "
                "from the token; it was not written");
        if (tbs != expected)
            throw PolicyError(
                "the token-signed request's to-be-signed bytes differ from the "
                "host-signed copy's; it was not written");
        std::string name = s.id + ".csr";
        output(s, name, pem_of(req.get()), "csr");
        m_w->append("signed", {{"step", s.id},
                               {"type", "csr"},
                               {"path", name},
                               {"key", k.step},
                               {"subject", name_text(X509_REQ_get_subject_name(req.get()))},
                               {"tbs_sha256", sha256_of(tbs)},
                               {"checks", {kCheckSignature, kCheckTbs}}});
    }

    void do_crl(const Step& s) {
        KeyState& signer = signer_of_issuer(s.issuer);
        X509* issuer = m_certs.at(s.issuer).cert.get();
        OsslPtr<BIGNUM> number = bn_from_hex(s.crl_number);
        OsslPtr<X509_CRL> host_copy =
            build_crl(m_ctx, issuer, s.this_update, s.next_update, number.get());
        sign_object(m_ctx, host_copy.get(), host_key(signer), s.digest);
        std::vector<unsigned char> expected = tbs_der(host_copy.get());
        OsslPtr<X509_CRL> crl =
            build_crl(m_ctx, issuer, s.this_update, s.next_update, number.get());
        sign_object(m_ctx, crl.get(), private_key(signer), s.digest);
        std::vector<unsigned char> tbs = tbs_der(crl.get());
        if (X509_CRL_verify(crl.get(), signer.pub_evp.get()) != 1)
            throw OpenSslError(
                "the CRL's signature does not verify with the public key read "
                "from the token; it was not written");
        if (tbs != expected)
            throw PolicyError(
                "the token-signed CRL's to-be-signed bytes differ from the "
                "host-signed copy's; it was not written");
        if (X509_CRL_verify(crl.get(), X509_get0_pubkey(issuer)) != 1)
            throw PolicyError("the CRL does not verify with its issuer's certificate");
        std::string name = s.id + ".crl";
        output(s, name, crl_pem(crl.get()), "crl");
        m_w->append("signed", {{"step", s.id},
                               {"type", "crl"},
                               {"path", name},
                               {"key", signer.step},
                               {"serial", lower_hex(number.get())},
                               {"issuer", name_text(X509_CRL_get_issuer(crl.get()))},
                               {"tbs_sha256", sha256_of(tbs)},
                               {"checks",
                                {kCheckSignature, kCheckTbs,
                                 "signature verifies with the issuer certificate's key"}}});
        m_crl_numbers[s.issuer].push_back(std::move(number));
    }

    void do_store(const Step& s) {
        const CertState& c = m_certs.at(s.certificate);
        TokenState& t = m_tokens.at(s.token);
        std::vector<unsigned char> id;
        if (!c.key_step.empty() && m_keys.at(c.key_step).token_id == s.token) {
            id = m_keys.at(c.key_step).id;  // beside its key
        } else if (const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(c.cert.get())) {
            id.assign(ASN1_STRING_get0_data(ski),
                      ASN1_STRING_get0_data(ski) + ASN1_STRING_length(ski));
        }
        auto der = to_der(c.cert.get(), i2d_X509);
        hsm::Session sess = t.token->acquire();
        hsm::ObjectInfo obj = hsm::import_certificate(sess, der, s.label, id);
        m_made.push_back("the certificate '" + s.label + "' (id " + hex_of(obj.id) +
                         ") was stored and stays on token '" + s.token + "'");
        log("Stored the certificate of step '" + s.certificate + "' on " + t.token->what() +
            " as '" + s.label + "'");
    }

    void do_ca_dir(const Step& s) {
        const CertState& c = m_certs.at(s.certificate);
        KeyState& k = m_keys.at(s.key);
        std::error_code ec;
        fs::path dir = fs::absolute(fs::path(m_o.out_dir) / s.dir, ec).lexically_normal();
        // The digest this CA's key signs with in the file (an intermediate's own digest is its
        // issuer's); EdDSA keys and a key that signs nothing here: openssl ca's sha256.
        std::string md;
        for (const auto& st : m_f.steps) {
            std::string signer;
            if (st.kind == StepKind::Root || st.kind == StepKind::Csr) signer = st.key;
            if (st.kind == StepKind::Intermediate || st.kind == StepKind::CrossCertificate ||
                st.kind == StepKind::Crl)
                for (const auto& other : m_f.steps)
                    if (other.id == st.issuer) signer = other.csr.empty() ? other.key : "";
            if (signer == s.key && !st.digest.empty()) {
                md = st.digest;
                break;
            }
        }
        if (md.empty()) md = "sha256";
        const bool intermediate = !c.issuer_step.empty();
        std::string prefix = s.dir + "/";
        output(s, prefix + "openssl.cnf",
               ca_config_text(dir.string(), k.uri, md, provider_dir(), intermediate), "file");
        output(s, prefix + "certs/ca.pem", certificate_pem(c.cert.get()), "file");
        if (intermediate) {
            std::string chain = certificate_pem(c.cert.get());
            X509* anchor = nullptr;
            std::vector<X509*> between;
            chain_of(c.issuer_step, anchor, between);
            for (X509* x : between) chain += certificate_pem(x);
            if (anchor != nullptr) chain += certificate_pem(anchor);
            output(s, prefix + "certs/chain.pem", chain, "file");
        }
        // What this CA signed at the ceremony is on its record, as openssl ca would have it.
        std::string index;
        OsslPtr<BIGNUM> max_serial(BN_new());
        for (const auto& id : m_cert_order) {
            const CertState& issued = m_certs.at(id);
            if (issued.issuer_step != s.certificate) continue;
            index += index_entry_for(issued.cert.get()).line() + "\n";
            const ASN1_INTEGER* sn = X509_get0_serialNumber(issued.cert.get());
            output(s, prefix + "newcerts/" + serial_hex(sn) + ".pem",
                   certificate_file_text(issued.cert.get()), "file");
            OsslPtr<BIGNUM> bn(ASN1_INTEGER_to_BN(sn, nullptr));
            if (bn && BN_cmp(bn.get(), max_serial.get()) > 0) BN_copy(max_serial.get(), bn.get());
        }
        output(s, prefix + "index.txt", index, "file");
        output(s, prefix + "index.txt.attr", "unique_subject = yes\n", "file");
        OsslPtr<BIGNUM> next(BN_new());
        if (BN_is_zero(max_serial.get())) {
            BN_set_word(next.get(), 0x1000);
        } else {
            BN_copy(next.get(), max_serial.get());
            BN_add_word(next.get(), 1);
        }
        output(s, prefix + "serial", serial_hex(next.get()) + "\n", "file");
        OsslPtr<BIGNUM> crlnum(BN_new());
        BN_set_word(crlnum.get(), 0x1000);
        if (auto it = m_crl_numbers.find(s.certificate); it != m_crl_numbers.end()) {
            BN_zero(crlnum.get());
            for (const auto& n : it->second)
                if (BN_cmp(n.get(), crlnum.get()) > 0) BN_copy(crlnum.get(), n.get());
            BN_add_word(crlnum.get(), 1);
        }
        output(s, prefix + "crlnumber", serial_hex(crlnum.get()) + "\n", "file");
        output(s, prefix + "private/README",
               "The CA key is not here: it lives on the token, named in openssl.cnf by\n"
               "private_key = " +
                   k.uri + "\n",
               "file");
        for (const char* sub : {"crl", "newcerts", "certs"}) fs::create_directories(dir / sub, ec);
        // Read back as tokensign ca and openssl ca read it: its own directory, the key, the
        // certificate, the database files.
        Conf conf = Conf::load((dir / "openssl.cnf").string(), m_ctx.get());
        CaConfig cc = CaConfig::load(conf);
        if (conf.get("default", "TOKENSIGN_CA_DIR").value_or("") != dir.string() ||
            cc.private_key != k.uri)
            throw CaDbError("the CA directory " + s.dir +
                            "/ does not read back as written (its openssl.cnf names " +
                            conf.get("default", "TOKENSIGN_CA_DIR").value_or("no directory") +
                            " and the key " + cc.private_key + "); it was removed");
        ::chmod((dir / "private").c_str(), 0700);
        log("CA directory " + s.dir +
            "/ written (openssl.cnf, certs/ca.pem, index.txt, serial, "
            "crlnumber)");
    }

    LibCtx& m_ctx;
    const File& m_f;
    const RunOptions& m_o;
    LintResult m_lint;
    std::unique_ptr<TranscriptWriter> m_w;
    std::map<std::string, std::string> m_inputs;
    std::map<std::string, TokenState> m_tokens;
    std::map<std::string, KeyState> m_keys;
    std::map<std::string, CertState> m_certs;
    std::vector<std::string> m_cert_order;
    std::map<std::string, std::vector<OsslPtr<BIGNUM>>> m_crl_numbers;
    std::map<std::string, json> m_prev_keys;
    std::map<std::string, std::string> m_prev_certs, m_prev_crls;
    json m_previous;  // null, or {head, records}
    size_t m_start = 0;
    int m_done_before = 0;
    std::vector<std::string> m_outputs;   // of the step under way
    std::vector<std::string> m_made;      // what the step under way made on a token
    std::vector<std::string> m_all_made;  // what the completed steps made on tokens
};

}  // namespace

std::string token_state_text(const std::vector<std::string>& made) {
    if (made.empty()) return "nothing";
    std::string out;
    for (size_t i = 0; i < made.size(); ++i)
        out += (i == 0 ? "" : i + 1 == made.size() ? " and " : ", ") + made[i];
    return out;
}

RunResult run_ceremony(LibCtx& ctx, const File& f, const RunOptions& o) {
    return Runner(ctx, f, o).run();
}

}  // namespace ts::signer::ceremony
