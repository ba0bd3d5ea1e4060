// SPDX-License-Identifier: Apache-2.0
// The auditor's check. Reads only files: runs on any machine with OpenSSL.
#include "signer/ceremony/verify.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "hsm/ossl.hpp"
#include "hsm/uri.hpp"
#include "signer/ceremony/file.hpp"
#include "signer/ceremony/pgp_words.hpp"
#include "signer/ceremony/transcript.hpp"
#include "signer/error.hpp"

namespace ts::signer::ceremony {

namespace {

bool read_whole(const std::string& path, std::string& out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::ostringstream s;
    s << f.rdbuf();
    out = s.str();
    return !f.bad();
}

// A string member of a record, "" when absent or of another type: a tampered record must be
// reported, not end the check with a type error.
std::string text_field(const nlohmann::json& rec, const char* key) {
    auto it = rec.find(key);
    return it != rec.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool safe_relative(const std::string& p) {
    if (p.empty() || p.front() == '/') return false;
    std::stringstream parts(p);
    for (std::string part; std::getline(parts, part, '/');)
        if (part.empty() || part == "..") return false;
    return true;
}

bool is_hex64(const std::string& s) {
    return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Strict base64 (RFC 4648, padded): empty when it is not.
std::vector<unsigned char> base64_decode(const std::string& text) {
    if (text.empty() || text.size() % 4 != 0) return {};
    std::vector<unsigned char> out(text.size() / 4 * 3);
    int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                            static_cast<int>(text.size()));
    if (n < 0) return {};
    size_t pad = text.back() == '=' ? (text[text.size() - 2] == '=' ? 2 : 1) : 0;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

std::string der_sha256(const std::vector<unsigned char>& der) {
    return sha256_hex(std::string(der.begin(), der.end()));
}

std::string name_text(const X509_NAME* name) {
    OsslPtr<char> s(X509_NAME_oneline(name, nullptr, 0));
    return s ? std::string(s.get()) : std::string();
}

std::string x509_error_text(int err) { return X509_verify_cert_error_string(err); }

// A recorded key: the `key` record of a key step.
struct RecordedKey {
    std::string where;
    std::vector<unsigned char> spki;
    OsslPtr<EVP_PKEY> pkey;
};

// A certificate of the ceremony (or of the one it continues), for the chain and CRL checks.
struct CeremonyCert {
    std::string where;  // "signed record N (PATH)"
    OsslPtr<X509> cert;
    bool self_signed = false;
};

bool self_signed(X509* c) {
    if (X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(c)) != 0) return false;
    EVP_PKEY* k = X509_get0_pubkey(c);
    bool ok = k != nullptr && X509_verify(c, k) == 1;
    ERR_clear_error();
    return ok;
}

// The serial as recorded (hex, ':' allowed) equals `n`.
bool same_serial(const std::string& hex, const ASN1_INTEGER* n) {
    std::string digits;
    for (char c : hex)
        if (c != ':') digits += c;
    BIGNUM* raw = nullptr;
    if (digits.empty() || BN_hex2bn(&raw, digits.c_str()) != static_cast<int>(digits.size()))
        return (BN_free(raw), false);
    OsslPtr<BIGNUM> want(raw);
    OsslPtr<BIGNUM> have(ASN1_INTEGER_to_BN(n, nullptr));
    return have && BN_cmp(want.get(), have.get()) == 0;
}

struct CeremonyCrl {
    std::string where;
    OsslPtr<X509_CRL> crl;
    EVP_PKEY* key;  // the recorded key that signed it, borrowed; null when none
};

struct Checked {
    VerifyResult result;
    std::vector<CeremonyCert> certs;
};

Checked verify_dir(const std::string& dir, const std::string& expected_head,
                   const std::string& previous_dir);

}  // namespace

VerifyResult verify(const std::string& dir, const std::string& expected_head,
                    const std::string& previous_dir) {
    VerifyResult r = verify_dir(dir, expected_head, previous_dir).result;
    ERR_clear_error();
    return r;
}

namespace {

Checked verify_dir(const std::string& dir, const std::string& expected_head,
                   const std::string& previous_dir) {
    Checked checked;
    VerifyResult& r = checked.result;
    std::string want = expected_head.empty() ? "" : head_hex_from_text(expected_head);
    auto problem = [&](std::string p) { r.problems.push_back(std::move(p)); };

    std::string text;
    const std::string tpath = dir + "/" + kTranscriptFile;
    if (!read_whole(tpath, text)) {
        problem("cannot read " + tpath + ": this is no ceremony output directory");
        return checked;
    }
    if (!text.empty() && text.back() != '\n')
        problem(tpath +
                ": the last record is not complete (no final newline): the file was cut "
                "or appended to");

    std::vector<std::string> lines;
    std::stringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    if (lines.empty()) problem(tpath + " holds no record");

    std::string prev = kNoPrevious;
    std::map<std::string, std::string> outputs;  // path -> sha256
    std::string last_event;
    std::vector<nlohmann::json> recs(lines.size());
    std::vector<CeremonyCrl> crls;  // null: not a JSON object
    for (size_t i = 0; i < lines.size(); ++i) {
        const std::string where = "record " + std::to_string(i + 1) + " (line " +
                                  std::to_string(i + 1) + " of " + kTranscriptFile + ")";
        nlohmann::json rec;
        try {
            rec = nlohmann::json::parse(lines[i]);
        } catch (const std::exception&) {
        }
        if (!rec.is_object()) {
            problem(where + " is not a JSON object: it was changed");
        } else {
            recs[i] = rec;
            if (!rec.contains("seq") || !rec["seq"].is_number_unsigned() ||
                rec["seq"].get<size_t>() != i)
                problem(where + " has seq " + (rec.contains("seq") ? rec["seq"].dump() : "(none)") +
                        ", expected " + std::to_string(i) +
                        ": records were removed, inserted or reordered");
            if (!rec.contains("prev") || !rec["prev"].is_string() || rec["prev"] != prev)
                problem(where + " does not hold the SHA-256 of the record before it: " +
                        (i == 0 ? std::string("the first record was replaced")
                                : "record " + std::to_string(i) +
                                      " was changed, or records were removed or reordered"));
            last_event = text_field(rec, "event");
            if (i == 0 && last_event != "begin")
                problem(where + " is not the 'begin' record: the transcript's start is missing");
            if (last_event == "output") {
                std::string path = text_field(rec, "path");
                std::string sha = text_field(rec, "sha256");
                if (!safe_relative(path) || path.rfind("transcript.", 0) == 0)
                    problem(where + " records the output '" + path +
                            "', which is not a relative path inside the directory");
                else if (!outputs.emplace(path, sha).second)
                    problem(where + " records the output " + path + " a second time");
            }
        }
        prev = record_hash(lines[i]);
    }
    r.records = lines.size();
    r.head_hex = prev;
    r.head_words = pgp_words(hsm::from_hex(prev));
    if (!lines.empty() && last_event != "end")
        problem(
            "the last record is not the 'end' record: the transcript was cut short, or the "
            "ceremony stopped before it finished");

    // What the records say, beyond the chain: where = "record N (EVENT)".
    auto rec_where = [&](size_t i) {
        return "record " + std::to_string(i + 1) + " (" + text_field(recs[i], "event") + ")";
    };
    std::map<std::string, size_t> output_at;      // path -> index of its output record
    std::map<std::string, std::string> out_type;  // path -> type
    std::set<std::string> removed;
    std::map<std::string, RecordedKey> keys;  // key step id -> its key record
    std::set<std::string> key_steps, ended_steps;
    nlohmann::json begin_previous;
    std::string error_step;  // the last error record's step
    bool saw_error = false;
    for (size_t i = 0; i < recs.size(); ++i) {
        const nlohmann::json& rec = recs[i];
        if (!rec.is_object()) continue;
        const std::string event = text_field(rec, "event");
        const std::string w = rec_where(i);
        if (event == "begin") {
            if (i != 0) {
                problem(w + " is a second 'begin': transcripts were joined");
                continue;
            }
            if (text_field(rec, "tool") != "tokensign")
                problem(w + " does not name the tool 'tokensign'");
            if (!is_hex64(text_field(rec, "file_sha256")))
                problem(w +
                        " holds no ceremony file SHA-256 (file_sha256, 64 hex digits): the "
                        "run cannot be tied to the reviewed file");
            const std::string mode = text_field(rec, "mode");
            if (mode != "run" && mode != "rehearsal")
                problem(w + " has mode '" + mode + "', expected 'run' or 'rehearsal'");
            auto p = rec.find("previous");
            if (p != rec.end() && !p->is_null()) {
                if (!p->is_object() || !is_hex64(text_field(*p, "head")) ||
                    !p->contains("records") || !(*p)["records"].is_number_unsigned())
                    problem(w + " has a 'previous' that is not {head, records}");
                else
                    begin_previous = *p;
            }
        } else if (event == "output") {
            const std::string path = text_field(rec, "path");
            if (!output_at.count(path)) {
                output_at[path] = i;
                out_type[path] = text_field(rec, "type");
            }
        } else if (event == "step-begin") {
            if (text_field(rec, "kind") == "key") key_steps.insert(text_field(rec, "step"));
        } else if (event == "step-end") {
            ended_steps.insert(text_field(rec, "step"));
        } else if (event == "error") {
            error_step = text_field(rec, "step");
            saw_error = true;
            r.stop_message = text_field(rec, "message");
            r.token_state = text_field(rec, "token_state");
            auto rm = rec.find("removed");
            if (rm != rec.end() && rm->is_array()) {
                for (const auto& v : *rm) {
                    std::string path = v.is_string() ? v.get<std::string>() : std::string();
                    auto at = output_at.find(path);
                    if (at == output_at.end())
                        problem(w + " lists '" + path +
                                "' as removed, but no earlier output record names it");
                    else
                        removed.insert(path);
                }
            }
        } else if (event == "key") {
            const std::string step = text_field(rec, "step");
            RecordedKey k;
            k.where = w + " (key step " + step + ")";
            k.spki = base64_decode(text_field(rec, "spki"));
            const unsigned char* p = k.spki.data();
            if (!k.spki.empty())
                k.pkey.reset(d2i_PUBKEY(nullptr, &p, static_cast<long>(k.spki.size())));
            if (!k.pkey || p != k.spki.data() + k.spki.size()) {
                problem(k.where +
                        ": its spki is not a base64 SubjectPublicKeyInfo that OpenSSL "
                        "parses: the recorded public key is damaged");
                k.pkey.reset();
            } else if (der_sha256(k.spki) != text_field(rec, "spki_sha256")) {
                problem(k.where + ": spki_sha256 " + text_field(rec, "spki_sha256") +
                        " is not the SHA-256 of its spki (" + der_sha256(k.spki) +
                        "): the recorded key or its fingerprint was changed");
            }
            ERR_clear_error();
            if (keys.count(step))
                problem(w + " is a second key record for the key step " + step +
                        " (first: " + keys[step].where + ")");
            else
                keys.emplace(step, std::move(k));
        } else if (event == "end") {
            if (i + 1 != recs.size()) {
                problem(w + " is an 'end' that records follow: records were appended after it");
                continue;
            }
            r.status = text_field(rec, "status");
            if (r.status == "stopped") {
                r.stopped_at = text_field(rec, "stopped_at");
                if (r.stopped_at.empty())
                    problem(w + " says the ceremony stopped but not at which step (stopped_at)");
                else if (!saw_error)
                    problem(w + " says the ceremony stopped at " + r.stopped_at +
                            ", but no error record says why");
                else if (error_step != r.stopped_at)
                    problem(w + " says the ceremony stopped at " + r.stopped_at +
                            ", but the last error record is for the step " + error_step);
            } else if (r.status != "complete") {
                problem(w + " has status '" + r.status + "', expected 'complete' or 'stopped'");
            }
        }
    }
    r.keys = keys.size();
    for (const auto& step : key_steps)
        if (ended_steps.count(step) && !keys.count(step))
            problem("the key step " + step +
                    " ended, but no key record holds its public key: its signatures cannot "
                    "be checked");
    r.removed.assign(removed.begin(), removed.end());

    for (const auto& [path, sha] : outputs) {
        r.outputs.push_back(path);
        if (removed.count(path)) continue;  // not expected: see below
        std::string bytes;
        if (!read_whole(dir + "/" + path, bytes)) {
            problem("output " + path + " is missing (the transcript records it)");
            continue;
        }
        std::string actual = sha256_hex(bytes);
        if (actual != sha)
            problem("output " + path + " has SHA-256 " + actual + ", the transcript recorded " +
                    sha + ": the file was changed");
    }
    // A file no record names was added later (or by hand): the auditor should know.
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        std::string rel = std::filesystem::relative(it->path(), dir).string();
        if (rel == kTranscriptFile || rel == kHeadFile || rel == kTextFile) continue;
        if (!outputs.count(rel))
            problem(rel + " is in the directory, but no transcript record names it");
        else if (removed.count(rel))
            problem(rel + " is in the directory, but an error record says it was removed");
    }

    // Every signature, against the recorded key of the step that names it.
    for (size_t i = 0; i < recs.size(); ++i) {
        const nlohmann::json& rec = recs[i];
        if (!rec.is_object() || text_field(rec, "event") != "signed") continue;
        const std::string type = text_field(rec, "type");
        const std::string path = text_field(rec, "path");
        const std::string key_step = text_field(rec, "key");
        const std::string w = rec_where(i) + " (" + type + " " + path + ")";
        if (type != "certificate" && type != "crl" && type != "csr") {
            problem(w + " has type '" + type + "', expected certificate, crl or csr");
            continue;
        }
        if (!output_at.count(path)) {
            problem(w + " names an output no output record holds");
            continue;
        }
        if (out_type[path] != type)
            problem(w + ": the output record gives " + path + " the type '" + out_type[path] + "'");
        if (removed.count(path)) continue;  // the failed step's output: gone, as recorded
        std::string bytes;
        if (!read_whole(dir + "/" + path, bytes)) continue;  // named above as missing
        OsslPtr<BIO> bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
        auto kit = keys.find(key_step);
        const RecordedKey* key = kit == keys.end() ? nullptr : &kit->second;
        if (key == nullptr)
            problem(w + " names the key step '" + key_step +
                    "', which no key record of this transcript holds: its signature cannot be "
                    "checked");
        EVP_PKEY* pub = key != nullptr ? key->pkey.get() : nullptr;
        std::vector<unsigned char> tbs;
        int sig = -1;  // 1 verifies, 0 not, -1 not checked
        std::string tbs_what;
        if (type == "certificate") {
            OsslPtr<X509> c(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
            if (!c) {
                problem(w + ": " + path + " is not a PEM certificate");
                ERR_clear_error();
                continue;
            }
            tbs = to_der(c.get(), i2d_re_X509_tbs);
            tbs_what = "tbsCertificate";
            if (pub != nullptr) sig = X509_verify(c.get(), pub) == 1;
            const std::string serial = text_field(rec, "serial");
            if (!serial.empty() && !same_serial(serial, X509_get0_serialNumber(c.get())))
                problem(w + " records serial " + serial + ", the certificate has another");
            if (rec.contains("subject") &&
                text_field(rec, "subject") != name_text(X509_get_subject_name(c.get())))
                problem(w + " records subject " + text_field(rec, "subject") +
                        ", the certificate's is " + name_text(X509_get_subject_name(c.get())));
            if (rec.contains("issuer") &&
                text_field(rec, "issuer") != name_text(X509_get_issuer_name(c.get())))
                problem(w + " records issuer " + text_field(rec, "issuer") +
                        ", the certificate's is " + name_text(X509_get_issuer_name(c.get())));
            CeremonyCert cc;
            cc.where = rec_where(i) + " (" + path + ")";
            cc.self_signed = self_signed(c.get());
            cc.cert = std::move(c);
            checked.certs.push_back(std::move(cc));
        } else if (type == "crl") {
            OsslPtr<X509_CRL> c(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
            if (!c) {
                problem(w + ": " + path + " is not a PEM CRL");
                ERR_clear_error();
                continue;
            }
            tbs = to_der(c.get(), i2d_re_X509_CRL_tbs);
            tbs_what = "tbsCertList";
            if (pub != nullptr) sig = X509_CRL_verify(c.get(), pub) == 1;
            if (rec.contains("issuer") &&
                text_field(rec, "issuer") != name_text(X509_CRL_get_issuer(c.get())))
                problem(w + " records issuer " + text_field(rec, "issuer") + ", the CRL's is " +
                        name_text(X509_CRL_get_issuer(c.get())));
            crls.push_back({w, std::move(c), pub});
        } else {
            OsslPtr<X509_REQ> c(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
            if (!c) {
                problem(w + ": " + path + " is not a PEM certificate request");
                ERR_clear_error();
                continue;
            }
            tbs = to_der(c.get(), i2d_re_X509_REQ_tbs);
            tbs_what = "CertificationRequestInfo";
            if (pub != nullptr) sig = X509_REQ_verify(c.get(), pub) == 1;
            std::vector<unsigned char> req_spki =
                to_der(X509_REQ_get_X509_PUBKEY(c.get()), i2d_X509_PUBKEY);
            if (key != nullptr && req_spki != key->spki)
                problem(w + ": the request's public key is not the one the key record of step " +
                        key_step + " holds: it requests a certificate for another key");
            if (rec.contains("subject") &&
                text_field(rec, "subject") != name_text(X509_REQ_get_subject_name(c.get())))
                problem(w + " records subject " + text_field(rec, "subject") +
                        ", the request's is " + name_text(X509_REQ_get_subject_name(c.get())));
        }
        ERR_clear_error();
        if (tbs.empty() || der_sha256(tbs) != text_field(rec, "tbs_sha256"))
            problem(w + ": its " + tbs_what + " hashes to " +
                    (tbs.empty() ? std::string("(none)") : der_sha256(tbs)) + ", the record says " +
                    text_field(rec, "tbs_sha256") +
                    ": the signed content is not what the runner checked");
        if (sig == 0)
            problem(w + ": the signature does not verify with the public key of key step " +
                    key_step + " (" + key->where +
                    "): the file was changed, or another key signed it");
        if (sig >= 0) ++r.signatures;
    }

    // The continued ceremony: verified first, so its certificates can issue this one's.
    std::vector<CeremonyCert> previous_certs;
    const bool continues = begin_previous.is_object();
    if (continues) r.previous_head = text_field(begin_previous, "head");
    if (!previous_dir.empty()) {
        r.previous_dir = previous_dir;
        if (!continues) {
            problem("--previous " + previous_dir +
                    " was given, but this transcript's begin record continues no ceremony");
        } else {
            Checked before = verify_dir(previous_dir, "", "");
            r.previous_checked = true;
            for (const auto& p : before.result.problems)
                problem("the previous ceremony " + previous_dir + ": " + p);
            if (before.result.status != "stopped")
                problem("the previous ceremony " + previous_dir + " did not stop (its status is '" +
                        before.result.status + "'): only a stopped ceremony is continued");
            if (before.result.head_hex != r.previous_head)
                problem("the previous ceremony " + previous_dir + " has the head " +
                        before.result.head_hex +
                        ", but this transcript continues the one with "
                        "head " +
                        r.previous_head + ": it continues another transcript");
            if (before.result.records != begin_previous["records"].get<size_t>())
                problem("the previous ceremony " + previous_dir + " has " +
                        std::to_string(before.result.records) +
                        " records, this transcript's "
                        "begin record says " +
                        begin_previous["records"].dump());
            previous_certs = std::move(before.certs);
            for (auto& c : previous_certs) c.where = previous_dir + ": " + c.where;
        }
    } else if (continues) {
        r.notes.push_back("this ceremony continues the stopped one with head " + r.previous_head +
                          "; the link was not checked (give --previous PREVDIR)");
    }

    // The chain of every certificate of the ceremony: the self-signed ones are the anchors,
    // every certificate of this transcript (and of the previous one) may be an issuer.
    OsslPtr<X509_STORE> store(X509_STORE_new());
    struct StackFree {
        void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }
    };
    std::unique_ptr<STACK_OF(X509), StackFree> pool(sk_X509_new_null());
    std::vector<const CeremonyCert*> all;
    for (const auto& c : checked.certs) all.push_back(&c);
    for (const auto& c : previous_certs) all.push_back(&c);
    for (const CeremonyCert* c : all) {
        if (c->self_signed)
            X509_STORE_add_cert(store.get(), c->cert.get());
        else
            sk_X509_push(pool.get(), c->cert.get());
    }
    ERR_clear_error();
    for (const auto& c : checked.certs) {
        X509* issuer = nullptr;
        for (const CeremonyCert* o : all)
            if (X509_check_issued(o->cert.get(), c.cert.get()) == X509_V_OK) issuer = o->cert.get();
        if (issuer == nullptr && continues && previous_dir.empty()) {
            r.notes.push_back(c.where + ": its issuer " +
                              name_text(X509_get_issuer_name(c.cert.get())) +
                              " is not in this transcript; its chain was not checked (give "
                              "--previous PREVDIR)");
            continue;
        }
        ++r.chain_certificates;
        if (issuer == nullptr) {
            r.chain_ok = false;
            problem(c.where + ": its issuer " + name_text(X509_get_issuer_name(c.cert.get())) +
                    " is not a certificate of this ceremony: its chain cannot be checked");
            continue;
        }
        OsslPtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
        if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), c.cert.get(), pool.get()) != 1)
            throw OpenSslError("cannot set up the chain check");
        std::tm tm{};
        if (ASN1_TIME_to_tm(X509_get0_notBefore(c.cert.get()), &tm) == 1)
            X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()), timegm(&tm));
        if (X509_verify_cert(ctx.get()) != 1) {
            r.chain_ok = false;
            int err = X509_STORE_CTX_get_error(ctx.get());
            int depth = X509_STORE_CTX_get_error_depth(ctx.get());
            X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
            problem(c.where + ": its chain does not verify (OpenSSL, at its notBefore): " +
                    x509_error_text(err) +
                    (depth > 0 && at != nullptr ? " at " + name_text(X509_get_subject_name(at))
                                                : std::string()));
        }
        ERR_clear_error();
    }
    // A CRL's issuer is a certificate of the ceremony for the key that signed it.
    for (const auto& crl : crls) {
        bool found = false;
        for (const CeremonyCert* o : all) {
            if (X509_NAME_cmp(X509_get_subject_name(o->cert.get()),
                              X509_CRL_get_issuer(crl.crl.get())) != 0)
                continue;
            if (crl.key != nullptr && EVP_PKEY_eq(X509_get0_pubkey(o->cert.get()), crl.key) != 1)
                continue;
            found = true;
        }
        ERR_clear_error();
        if (found) continue;
        std::string issuer = name_text(X509_CRL_get_issuer(crl.crl.get()));
        if (continues && previous_dir.empty())
            r.notes.push_back(crl.where + ": its issuer " + issuer +
                              " is not in this transcript; not checked (give --previous "
                              "PREVDIR)");
        else
            problem(crl.where + ": its issuer " + issuer +
                    " is not the subject of a certificate of this ceremony for the key that "
                    "signed it");
    }

    std::string head_text;
    const std::string hpath = dir + "/" + kHeadFile;
    if (!read_whole(hpath, head_text)) {
        problem("cannot read " + hpath);
    } else {
        std::smatch m;
        static const std::regex sha_line("(^|\n)sha256: ([0-9a-f]{64})\n");
        static const std::regex records_line("(^|\n)records: ([0-9]+)\n");
        if (!std::regex_search(head_text, m, sha_line))
            problem(hpath + " has no 'sha256:' line");
        else if (m[2] != r.head_hex)
            problem(hpath + " says the head is " + m[2].str() + ", but the records hash to " +
                    r.head_hex +
                    ": records were changed, removed or added after the head was written");
        if (std::regex_search(head_text, m, records_line) && m[2] != std::to_string(r.records))
            problem(hpath + " counts " + m[2].str() + " records; " + kTranscriptFile + " has " +
                    std::to_string(r.records));
    }
    if (!want.empty()) {
        r.head_checked = true;
        if (want != r.head_hex)
            problem("the head from the paper log (" + want + ") is not the transcript's head (" +
                    r.head_hex + "): this is not the transcript the witnesses signed");
    }
    return checked;
}

}  // namespace

}  // namespace ts::signer::ceremony
