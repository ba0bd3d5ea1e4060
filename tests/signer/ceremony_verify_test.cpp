// SPDX-License-Identifier: Apache-2.0
// ceremony verify beyond the hash chain (docs/ceremony.md): every `signed` record's to-be-signed
// hash and signature against the `key` record's spki, the chain of the ceremony's certificates at
// their notBefore, CRL issuers, stopped ceremonies and continuations. The ceremonies are made
// here with host keys, in the transcript schema the runner writes; each tampering re-writes the
// transcript consistently, so its hash chain holds and only the check under test can catch it.
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "hsm/ossl.hpp"
#include "signer/ceremony/file.hpp"
#include "signer/ceremony/transcript.hpp"
#include "signer/ceremony/verify.hpp"
#include "tests/signer/ceremony_test_util.hpp"
#include "tests/signer/test_keys.hpp"
#include "tests/support/process.hpp"
#include "tests/support/softhsm.hpp"

namespace {

using namespace ts::signer::ceremony;
using nlohmann::json;
using ts::OsslPtr;

std::string problems(const VerifyResult& r) {
    std::string out;
    for (const auto& p : r.problems) out += p + "\n";
    return out;
}

bool has(const VerifyResult& r, const std::string& text) {
    return problems(r).find(text) != std::string::npos;
}

std::string spki_der(EVP_PKEY* k) {
    auto der = ts::to_der(k, i2d_PUBKEY);
    return std::string(der.begin(), der.end());
}

std::string base64(const std::string& der) {
    std::string out(4 * ((der.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(der.data()),
                            static_cast<int>(der.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

time_t utc(const char* text) {
    ASN1_TIME* t = ASN1_TIME_new();
    EXPECT_EQ(ASN1_TIME_set_string_X509(t, text), 1) << text;
    std::tm tm{};
    ASN1_TIME_to_tm(t, &tm);
    ASN1_TIME_free(t);
    return timegm(&tm);
}

OsslPtr<X509_NAME> name(const std::string& cn) {
    OsslPtr<X509_NAME> n(X509_NAME_new());
    X509_NAME_add_entry_by_txt(n.get(), "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("Example"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(n.get(), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    return n;
}

std::string oneline(const X509_NAME* n) {
    OsslPtr<char> s(X509_NAME_oneline(n, nullptr, 0));
    return s.get();
}

// A CA certificate for `subject_key`, signed by `issuer_key`.
std::string make_cert(EVP_PKEY* subject_key, const std::string& subject, EVP_PKEY* issuer_key,
                      const std::string& issuer, long serial, const char* not_before,
                      const char* not_after) {
    OsslPtr<X509> c(X509_new());
    X509_set_version(c.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c.get()), serial);
    X509_set_subject_name(c.get(), name(subject).get());
    X509_set_issuer_name(c.get(), name(issuer).get());
    ASN1_TIME_set(X509_getm_notBefore(c.get()), utc(not_before));
    ASN1_TIME_set(X509_getm_notAfter(c.get()), utc(not_after));
    X509_set_pubkey(c.get(), subject_key);
    for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                              std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"}}) {
        OsslPtr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, nullptr, nid, value));
        X509_add_ext(c.get(), ext.get(), -1);
    }
    EXPECT_GT(X509_sign(c.get(), issuer_key, EVP_sha256()), 0);
    OsslPtr<BIO> b(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(b.get(), c.get());
    return ts::bio_text(b.get());
}

std::string make_csr(EVP_PKEY* key, const std::string& subject) {
    OsslPtr<X509_REQ> r(X509_REQ_new());
    X509_REQ_set_subject_name(r.get(), name(subject).get());
    X509_REQ_set_pubkey(r.get(), key);
    EXPECT_GT(X509_REQ_sign(r.get(), key, EVP_sha256()), 0);
    OsslPtr<BIO> b(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509_REQ(b.get(), r.get());
    return ts::bio_text(b.get());
}

std::string make_crl(EVP_PKEY* key, const std::string& issuer) {
    OsslPtr<X509_CRL> c(X509_CRL_new());
    X509_CRL_set_version(c.get(), 1);
    X509_CRL_set_issuer_name(c.get(), name(issuer).get());
    OsslPtr<ASN1_STRING> t(ASN1_TIME_set(nullptr, utc("20270115000000Z")));
    X509_CRL_set1_lastUpdate(c.get(), t.get());
    OsslPtr<ASN1_STRING> n(ASN1_TIME_set(nullptr, utc("20280115000000Z")));
    X509_CRL_set1_nextUpdate(c.get(), n.get());
    EXPECT_GT(X509_CRL_sign(c.get(), key, EVP_sha256()), 0);
    OsslPtr<BIO> b(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509_CRL(b.get(), c.get());
    return ts::bio_text(b.get());
}

// The to-be-signed hash and names of a PEM file, as the runner records them.
json signed_fields(const std::string& type, const std::string& pem) {
    OsslPtr<BIO> b(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    std::vector<unsigned char> tbs;
    json f = json::object();
    if (type == "certificate") {
        OsslPtr<X509> c(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
        tbs = ts::to_der(c.get(), i2d_re_X509_tbs);
        f["subject"] = oneline(X509_get_subject_name(c.get()));
        f["issuer"] = oneline(X509_get_issuer_name(c.get()));
        OsslPtr<BIGNUM> s(ASN1_INTEGER_to_BN(X509_get0_serialNumber(c.get()), nullptr));
        OsslPtr<char> hex(BN_bn2hex(s.get()));
        f["serial"] = hex.get();
    } else if (type == "crl") {
        OsslPtr<X509_CRL> c(PEM_read_bio_X509_CRL(b.get(), nullptr, nullptr, nullptr));
        tbs = ts::to_der(c.get(), i2d_re_X509_CRL_tbs);
        f["issuer"] = oneline(X509_CRL_get_issuer(c.get()));
    } else {
        OsslPtr<X509_REQ> c(PEM_read_bio_X509_REQ(b.get(), nullptr, nullptr, nullptr));
        tbs = ts::to_der(c.get(), i2d_re_X509_REQ_tbs);
        f["subject"] = oneline(X509_REQ_get_subject_name(c.get()));
    }
    f["tbs_sha256"] = sha256_hex(std::string(tbs.begin(), tbs.end()));
    return f;
}

// A PEM object with one byte of its DER changed, `from_end` bytes before the end (1: the last
// byte of the signature) or, negative, that many bytes from the start (inside the tbs).
std::string flip_der_byte(const std::string& pem, long at) {
    OsslPtr<BIO> in(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    char* nm = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    EXPECT_EQ(PEM_read_bio(in.get(), &nm, &header, &data, &len), 1);
    long i = at > 0 ? len - at : -at;
    data[i] ^= 0x01;
    OsslPtr<BIO> out(BIO_new(BIO_s_mem()));
    PEM_write_bio(out.get(), nm, header, data, len);
    std::string text = ts::bio_text(out.get());
    OPENSSL_free(nm);
    OPENSSL_free(header);
    OPENSSL_free(data);
    return text;
}

struct Rec {
    std::string event;
    json fields;
};

// A ceremony as records and files; write() makes a fresh directory of it with TranscriptWriter,
// output records carrying the files' current SHA-256 (so a changed file is, to the hash chain
// and the output check, what was recorded).
struct Ceremony {
    std::vector<Rec> recs;
    std::map<std::string, std::string> files;  // path -> bytes; absent: not written
    json end = ts::test::end_complete(0);

    void add(const std::string& event, json fields) { recs.push_back({event, std::move(fields)}); }
    void key(const std::string& step, EVP_PKEY* k) {
        add("step-begin", {{"step", step},
                           {"number", 1},
                           {"kind", "key"},
                           {"sentence", "key"},
                           {"inputs", json::array()}});
        std::string der = spki_der(k);
        add("key", {{"step", step},
                    {"token", "root-hsm"},
                    {"label", step},
                    {"id", "01"},
                    {"algorithm", "rsa:2048"},
                    {"generated", true},
                    {"spki", base64(der)},
                    {"spki_sha256", sha256_hex(der)}});
        add("step-end", {{"step", step}, {"outputs", json::array()}});
    }
    void sign(const std::string& step, const std::string& type, const std::string& path,
              const std::string& key, const std::string& pem) {
        add("step-begin", {{"step", step},
                           {"number", 2},
                           {"kind", type},
                           {"sentence", "sign"},
                           {"inputs", json::array()}});
        files[path] = pem;
        add("output", {{"path", path}, {"step", step}, {"type", type}});
        json f = signed_fields(type, pem);
        f.update({{"step", step},
                  {"type", type},
                  {"path", path},
                  {"key", key},
                  {"checks", {"signature verifies with the token's public key"}}});
        add("signed", f);
        add("step-end", {{"step", step}, {"outputs", {path}}});
    }
    // The first record of `event` (and step, when given).
    json& find(const std::string& event, const std::string& step = "") {
        for (auto& r : recs)
            if (r.event == event && (step.empty() || r.fields.value("step", "") == step))
                return r.fields;
        ADD_FAILURE() << "no " << event << " record for " << step;
        return recs.front().fields;
    }
    Head write(const std::string& dir) const {
        TranscriptWriter w(dir);
        for (const auto& r : recs) {
            json f = r.fields;
            if (r.event == "output") {
                auto it = files.find(f["path"]);
                std::string bytes = it != files.end() ? it->second : std::string();
                if (it != files.end()) {
                    std::filesystem::path p = std::filesystem::path(dir) / it->first;
                    std::filesystem::create_directories(p.parent_path());
                    std::ofstream(p, std::ios::binary) << bytes;
                }
                if (!f.contains("sha256")) f["sha256"] = sha256_hex(bytes);
                f["bytes"] = bytes.size();
            }
            w.append(r.event, f);
        }
        return ts::test::finish_transcript(w, end);
    }
};

class CeremonyVerifyTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        s_root = ts::signer::generate_key("RSA", "rsa_keygen_bits", "2048").release();
        s_issuing = ts::signer::generate_key("EC", "ec_paramgen_curve", "P-256").release();
        s_other = ts::signer::generate_key("EC", "ec_paramgen_curve", "P-384").release();
        ASSERT_NE(s_root, nullptr);
        ASSERT_NE(s_issuing, nullptr);
        ASSERT_NE(s_other, nullptr);
    }
    static void TearDownTestSuite() {
        EVP_PKEY_free(s_root);
        EVP_PKEY_free(s_issuing);
        EVP_PKEY_free(s_other);
    }

    // begin, token, root key, root, issuing key, its CSR, the intermediate, the first CRL, end.
    Ceremony complete() const {
        Ceremony c;
        c.add("begin", {{"tool", "tokensign"},
                        {"version", "0.1"},
                        {"mode", "run"},
                        {"file", "root-ceremony.yaml"},
                        {"file_sha256", std::string(64, 'a')},
                        {"name", "Example root 2027"},
                        {"host", "ceremony-1"},
                        {"from", nullptr},
                        {"previous", nullptr}});
        c.add("token",
              {{"token", "root-hsm"}, {"uri", "pkcs11:token=root-hsm"}, {"rehearsal", false}});
        c.key("root-key", s_root);
        c.sign("root", "certificate", "root.pem", "root-key",
               make_cert(s_root, "Root", s_root, "Root", 1, "20270115000000Z", "20470115000000Z"));
        c.key("issuing-key", s_issuing);
        c.sign("issuing-csr", "csr", "issuing.csr", "issuing-key", make_csr(s_issuing, "Issuing"));
        c.sign("intermediate", "certificate", "issuing.pem", "root-key",
               make_cert(s_issuing, "Issuing", s_root, "Root", 2, "20270115000000Z",
                         "20320115000000Z"));
        c.sign("crl", "crl", "root.crl", "root-key", make_crl(s_root, "Root"));
        c.end = ts::test::end_complete(6);
        return c;
    }
    // The same ceremony stopped at the intermediate: its certificate removed, no CRL.
    Ceremony stopped() const {
        Ceremony c = complete();
        while (c.recs.back().event != "signed" || c.recs.back().fields["path"] != "issuing.pem")
            c.recs.pop_back();
        c.recs.pop_back();  // the intermediate's signed record: the step failed after writing
        c.files.erase("issuing.pem");
        c.files.erase("root.crl");
        c.add("error", {{"step", "intermediate"},
                        {"message", "the token failed: CKR_DEVICE_ERROR"},
                        {"token_state", "nothing"},
                        {"removed", {"issuing.pem"}}});
        c.end = {{"status", "stopped"}, {"stopped_at", "intermediate"}, {"steps_done", 4}};
        return c;
    }

    std::string dir_of(const Ceremony& c) {
        std::string dir = m_tmp.file("c" + std::to_string(m_n++));
        m_head = c.write(dir);
        return dir;
    }
    VerifyResult check(const Ceremony& c, const std::string& previous = "") {
        return verify(dir_of(c), "", previous);
    }

    static EVP_PKEY* s_root;
    static EVP_PKEY* s_issuing;
    static EVP_PKEY* s_other;
    ts::test::TempDir m_tmp{"ceremony-verify"};
    int m_n = 0;
    Head m_head;
};

EVP_PKEY* CeremonyVerifyTest::s_root = nullptr;
EVP_PKEY* CeremonyVerifyTest::s_issuing = nullptr;
EVP_PKEY* CeremonyVerifyTest::s_other = nullptr;

TEST_F(CeremonyVerifyTest, ACompleteCeremonyVerifiesSignaturesAndChain) {
    VerifyResult r = check(complete());
    EXPECT_TRUE(r.ok()) << problems(r);
    EXPECT_EQ(r.status, "complete");
    EXPECT_EQ(r.keys, 2u);
    EXPECT_EQ(r.signatures, 4u);
    EXPECT_EQ(r.chain_certificates, 2u);
    EXPECT_TRUE(r.chain_ok);
    EXPECT_TRUE(r.notes.empty());
}

// The chain verdicts agree with an independent verifier: the openssl binary, default provider,
// at the intermediate's notBefore.
TEST_F(CeremonyVerifyTest, TheChainVerdictIsTheOpensslBinarys) {
    const std::string at = std::to_string(utc("20270115000000Z"));
    std::string dir = dir_of(complete());
    auto v = ts::test::run(
        {"openssl", "verify", "-attime", at, "-CAfile", dir + "/root.pem", dir + "/issuing.pem"});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    EXPECT_TRUE(verify(dir, "").chain_ok);

    Ceremony c = complete();
    c.files["issuing.pem"] =
        make_cert(s_issuing, "Issuing", s_root, "Root", 2, "20260115000000Z", "20320115000000Z");
    c.find("signed", "intermediate").update(signed_fields("certificate", c.files["issuing.pem"]));
    dir = dir_of(c);
    v = ts::test::run({"openssl", "verify", "-attime", std::to_string(utc("20260115000000Z")),
                       "-CAfile", dir + "/root.pem", dir + "/issuing.pem"});
    EXPECT_NE(v.exit_code, 0) << v.out;
    EXPECT_NE((v.out + v.err).find("certificate is not yet valid"), std::string::npos)
        << v.out << v.err;
    EXPECT_FALSE(verify(dir, "").chain_ok);
}

TEST_F(CeremonyVerifyTest, AChangedSignatureByteInEachSignedFileIsNamed) {
    for (auto [path, step] :
         {std::pair{"root.pem", "root"}, std::pair{"issuing.pem", "intermediate"},
          std::pair{"root.crl", "crl"}, std::pair{"issuing.csr", "issuing-csr"}}) {
        Ceremony c = complete();
        c.files[path] = flip_der_byte(c.files[path], 1);
        VerifyResult r = check(c);
        EXPECT_TRUE(has(r, std::string(path) + "): the signature does not verify with the public "
                                               "key of key step"))
            << path << ":\n"
            << problems(r);
        EXPECT_FALSE(has(r, "hashes to")) << path << ": " << problems(r);
        EXPECT_FALSE(has(r, "output " + std::string(path) + " has SHA-256"))
            << "the output check caught it, not the signature's: " << problems(r);
    }
}

TEST_F(CeremonyVerifyTest, AChangedToBeSignedByteIsNamed) {
    Ceremony c = complete();
    c.files["issuing.pem"] = flip_der_byte(c.files["issuing.pem"], -40);
    VerifyResult r = check(c);
    EXPECT_TRUE(has(r, "(certificate issuing.pem): its tbsCertificate hashes to")) << problems(r);
    EXPECT_TRUE(has(r, "(certificate issuing.pem): the signature does not verify")) << problems(r);

    c = complete();
    c.find("signed", "crl")["tbs_sha256"] = std::string(64, 'b');
    r = check(c);
    EXPECT_TRUE(has(r, "(crl root.crl): its tbsCertList hashes to")) << problems(r);
    EXPECT_TRUE(has(r, "the record says " + std::string(64, 'b'))) << problems(r);
}

TEST_F(CeremonyVerifyTest, AWrongSpkiInAKeyRecordFailsItsSignatures) {
    Ceremony c = complete();
    std::string other = spki_der(s_other);
    c.find("key", "root-key")["spki"] = base64(other);
    c.find("key", "root-key")["spki_sha256"] = sha256_hex(other);
    VerifyResult r = check(c);
    for (const char* what :
         {"(certificate root.pem)", "(certificate issuing.pem)", "(crl root.crl)"})
        EXPECT_TRUE(has(r, std::string(what) + ": the signature does not verify with the public "
                                               "key of key step root-key"))
            << what << ": " << problems(r);

    c = complete();
    c.find("key", "issuing-key")["spki_sha256"] = std::string(64, 'c');
    r = check(c);
    EXPECT_TRUE(has(r, "(key step issuing-key): spki_sha256 " + std::string(64, 'c') +
                           " is not the SHA-256 of its spki"))
        << problems(r);

    c = complete();
    c.find("key", "issuing-key")["spki"] = "bm90IGEga2V5";  // "not a key"
    r = check(c);
    EXPECT_TRUE(has(r, "(key step issuing-key): its spki is not a base64 SubjectPublicKeyInfo"))
        << problems(r);
}

TEST_F(CeremonyVerifyTest, ASignedRecordNamingTheWrongKeyFails) {
    Ceremony c = complete();
    c.find("signed", "intermediate")["key"] = "issuing-key";
    VerifyResult r = check(c);
    EXPECT_TRUE(has(r,
                    "(certificate issuing.pem): the signature does not verify with the public "
                    "key of key step issuing-key"))
        << problems(r);

    // A CSR for another key than its key step's: its own signature verifies with its own key.
    c = complete();
    c.files["issuing.csr"] = make_csr(s_other, "Issuing");
    c.find("signed", "issuing-csr").update(signed_fields("csr", c.files["issuing.csr"]));
    r = check(c);
    EXPECT_TRUE(has(r,
                    "(csr issuing.csr): the request's public key is not the one the key record "
                    "of step issuing-key holds"))
        << problems(r);

    c = complete();
    c.find("signed", "crl")["key"] = "no-such-key";
    r = check(c);
    EXPECT_TRUE(has(r,
                    "names the key step 'no-such-key', which no key record of this transcript "
                    "holds"))
        << problems(r);
}

TEST_F(CeremonyVerifyTest, AnIntermediateWithoutItsIssuerOrOutsideItsValidityFailsTheChain) {
    // Signed by the root key, but naming an issuer no certificate of the ceremony has.
    Ceremony c = complete();
    c.files["issuing.pem"] = make_cert(s_issuing, "Issuing", s_root, "Other Root", 2,
                                       "20270115000000Z", "20320115000000Z");
    c.find("signed", "intermediate").update(signed_fields("certificate", c.files["issuing.pem"]));
    VerifyResult r = check(c);
    EXPECT_TRUE(has(r,
                    "(issuing.pem): its issuer /O=Example/CN=Other Root is not a certificate of "
                    "this ceremony"))
        << problems(r);
    EXPECT_FALSE(r.chain_ok);
    EXPECT_FALSE(has(r, "the signature does not verify")) << problems(r);

    // Valid from before its root: at its notBefore, the root is not valid yet.
    c = complete();
    c.files["issuing.pem"] =
        make_cert(s_issuing, "Issuing", s_root, "Root", 2, "20260115000000Z", "20320115000000Z");
    c.find("signed", "intermediate").update(signed_fields("certificate", c.files["issuing.pem"]));
    r = check(c);
    EXPECT_TRUE(has(r,
                    "(issuing.pem): its chain does not verify (OpenSSL, at its notBefore): "
                    "certificate is not yet valid at /O=Example/CN=Root"))
        << problems(r);

    // A CRL whose issuer is no certificate of the ceremony.
    c = complete();
    c.files["root.crl"] = make_crl(s_root, "Other Root");
    c.find("signed", "crl").update(signed_fields("crl", c.files["root.crl"]));
    r = check(c);
    EXPECT_TRUE(has(r,
                    "(crl root.crl): its issuer /O=Example/CN=Other Root is not the subject of "
                    "a certificate of this ceremony"))
        << problems(r);
}

TEST_F(CeremonyVerifyTest, AStoppedCeremonyIsAcceptedAndReported) {
    VerifyResult r = check(stopped());
    EXPECT_TRUE(r.ok()) << problems(r);
    EXPECT_EQ(r.status, "stopped");
    EXPECT_EQ(r.stopped_at, "intermediate");
    EXPECT_EQ(r.stop_message, "the token failed: CKR_DEVICE_ERROR");
    EXPECT_EQ(r.removed, std::vector<std::string>{"issuing.pem"});
    EXPECT_EQ(r.signatures, 2u);  // the root and the CSR; the intermediate was removed

    // The removed output still there: the error record is not true.
    Ceremony c = stopped();
    c.files["issuing.pem"] = complete().files["issuing.pem"];
    r = check(c);
    EXPECT_TRUE(has(r, "issuing.pem is in the directory, but an error record says it was removed"))
        << problems(r);

    // A stop that no error record explains, or another step's.
    c = stopped();
    c.end["stopped_at"] = "crl";
    r = check(c);
    EXPECT_TRUE(has(r,
                    "says the ceremony stopped at crl, but the last error record is for the "
                    "step intermediate"))
        << problems(r);
    c = stopped();
    c.recs.pop_back();
    c.files["issuing.pem"] = complete().files["issuing.pem"];
    r = check(c);
    EXPECT_TRUE(has(r, "says the ceremony stopped at intermediate, but no error record says why"))
        << problems(r);

    // Without an end record: cut short, whatever came before.
    std::string dir = m_tmp.file("cut");
    {
        TranscriptWriter w(dir);
        for (const auto& rec : complete().recs)
            if (rec.event != "output" && rec.event != "signed") w.append(rec.event, rec.fields);
    }
    r = verify(dir, "");
    EXPECT_TRUE(has(r, "the last record is not the 'end' record: the transcript was cut short"))
        << problems(r);
}

TEST_F(CeremonyVerifyTest, BeginAndEndMustBeWhatTheSchemaSays) {
    Ceremony c = complete();
    c.recs.front().fields.erase("file_sha256");
    VerifyResult r = check(c);
    EXPECT_TRUE(has(r, "record 1 (begin) holds no ceremony file SHA-256")) << problems(r);

    c = complete();
    c.end["status"] = "finished";
    r = check(c);
    EXPECT_TRUE(has(r, "has status 'finished', expected 'complete' or 'stopped'")) << problems(r);

    c = complete();
    c.add("key", c.find("key", "root-key"));
    r = check(c);
    EXPECT_TRUE(has(r, "is a second key record for the key step root-key")) << problems(r);

    c = complete();
    std::erase_if(c.recs, [](const Rec& rec) {
        return rec.event == "key" && rec.fields["step"] == "issuing-key";
    });
    r = check(c);
    EXPECT_TRUE(has(r, "the key step issuing-key ended, but no key record holds its public key"))
        << problems(r);
}

TEST_F(CeremonyVerifyTest, AContinuationIsLinkedToThePreviousHead) {
    std::string prev = dir_of(stopped());
    Head prev_head = m_head;
    ASSERT_TRUE(verify(prev, "").ok());

    Ceremony next;
    next.add("begin", {{"tool", "tokensign"},
                       {"version", "0.1"},
                       {"mode", "run"},
                       {"file", "root-ceremony.yaml"},
                       {"file_sha256", std::string(64, 'a')},
                       {"from", "intermediate"},
                       {"previous", {{"head", prev_head.hex}, {"records", prev_head.records}}}});
    next.key("root-key", s_root);
    next.find("key", "root-key")["generated"] = false;
    next.sign(
        "intermediate", "certificate", "issuing.pem", "root-key",
        make_cert(s_issuing, "Issuing", s_root, "Root", 2, "20270115000000Z", "20320115000000Z"));
    next.end = ts::test::end_complete(1);

    VerifyResult r = check(next, prev);
    EXPECT_TRUE(r.ok()) << problems(r);
    EXPECT_TRUE(r.previous_checked);
    EXPECT_EQ(r.chain_certificates, 1u);

    // Without --previous: accepted, with a note that the link (and the chain) was not checked.
    r = check(next);
    EXPECT_TRUE(r.ok()) << problems(r);
    EXPECT_FALSE(r.previous_checked);
    ASSERT_FALSE(r.notes.empty());
    EXPECT_NE(r.notes.front().find("the link was not checked"), std::string::npos);

    // Another stopped ceremony given as the previous one.
    Ceremony other = stopped();
    other.recs.front().fields["host"] = "ceremony-2";
    std::string wrong = dir_of(other);
    const std::string wrong_head = m_head.hex;
    r = check(next, wrong);
    EXPECT_TRUE(has(r, "the previous ceremony " + wrong + " has the head " + wrong_head +
                           ", but this transcript continues the one with head " + prev_head.hex))
        << problems(r);

    // A complete ceremony is not continued.
    std::string done = dir_of(complete());
    r = check(next, done);
    EXPECT_TRUE(has(r, "did not stop (its status is 'complete')")) << problems(r);
}

}  // namespace
