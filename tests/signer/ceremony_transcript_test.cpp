// SPDX-License-Identifier: Apache-2.0
// The transcript and its verifier: a chain the auditor can re-check without a token, and every
// change to it (a byte of a record or an output, a record removed or moved) found and named.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "hsm/uri.hpp"
#include "signer/ceremony/file.hpp"
#include "signer/ceremony/pgp_words.hpp"
#include "signer/ceremony/transcript.hpp"
#include "signer/ceremony/verify.hpp"
#include "signer/error.hpp"
#include "tests/signer/ceremony_test_util.hpp"
#include "tests/support/softhsm.hpp"

namespace {

using namespace ts::signer::ceremony;

std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

void spit(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string problems(const VerifyResult& r) {
    std::string out;
    for (const auto& p : r.problems) out += p + "\n";
    return out;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

TEST(PgpWordsTest, KnownVectorFromThePublishedList) {
    // The example of the PGP word list's description (Juola and Zimmermann).
    auto bytes = ts::hsm::from_hex("E58294F2E9A227486E8B061B31CC528FD7FA3F19");
    const std::string words =
        "topmost Istanbul Pluto vagabond treadmill Pacific brackish dictator goldfish Medusa "
        "afflict bravado chatter revolver Dupont midsummer stopwatch whimsical cowbell bottomless";
    EXPECT_EQ(pgp_words(bytes), words);
    EXPECT_EQ(pgp_words_decode(words), bytes);
    EXPECT_EQ(pgp_words_decode("TOPMOST, istanbul\n pluto"), ts::hsm::from_hex("E58294"));
    // First and last of each list.
    EXPECT_EQ(pgp_words(ts::hsm::from_hex("0000FFFF")), "aardvark adroitness Zulu Yucatan");
}

TEST(PgpWordsTest, UnknownAndMisplacedWordsAreNamed) {
    try {
        (void)pgp_words_decode("topmost Pluto");
        FAIL() << "a skipped word was accepted";
    } catch (const ts::signer::InputError& e) {
        EXPECT_NE(std::string(e.what()).find("word 2 'Pluto' belongs at an even position"),
                  std::string::npos)
            << e.what();
    }
    try {
        (void)pgp_words_decode("topmost Istanbul platypus");
        FAIL() << "an unknown word was accepted";
    } catch (const ts::signer::InputError& e) {
        EXPECT_NE(std::string(e.what()).find("word 3 'platypus' is not in the PGP word list"),
                  std::string::npos)
            << e.what();
    }
}

class TranscriptTest : public ::testing::Test {
  protected:
    void SetUp() override {
        TranscriptWriter w(dir());
        w.append("begin", {{"tool", "tokensign"},
                           {"mode", "run"},
                           {"file", "root-ceremony.yaml"},
                           {"file_sha256", std::string(64, 'a')}});
        w.append("step", {{"id", "root-key"}, {"result", "generated"}});
        w.write_output("root-cert.pem",
                       "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
                       "root-cert");
        w.write_output("root-ca/index.txt", "", "root-ca-dir");
        w.append("step", {{"id", "root-cert"}, {"result", "signed"}});
        m_head = ts::test::finish_transcript(w, ts::test::end_complete(2));
    }
    std::string dir() const { return m_tmp.file("out"); }
    std::string path(const std::string& name) const { return dir() + "/" + name; }
    VerifyResult check(const std::string& head = "") const { return verify(dir(), head); }

    ts::test::TempDir m_tmp{"ceremony-transcript"};
    Head m_head;
};

TEST_F(TranscriptTest, AnUntouchedTranscriptVerifiesWithTheHeadAsHexOrWords) {
    VerifyResult r = check();
    EXPECT_TRUE(r.ok()) << problems(r);
    EXPECT_EQ(r.records, 6u);
    EXPECT_EQ(r.head_hex, m_head.hex);
    EXPECT_EQ(r.outputs, (std::vector<std::string>{"root-ca/index.txt", "root-cert.pem"}));
    EXPECT_FALSE(r.head_checked);
    // The head is the SHA-256 of the last record's exact bytes, computed independently here.
    auto lines = lines_of(slurp(path(kTranscriptFile)));
    ASSERT_EQ(lines.size(), 6u);
    EXPECT_EQ(m_head.hex, sha256_hex(lines.back()));
    EXPECT_NE(lines[1].find("\"prev\":\"" + sha256_hex(lines[0]) + "\""), std::string::npos);
    EXPECT_NE(lines[0].find("\"prev\":\"" + std::string(64, '0') + "\""), std::string::npos);
    EXPECT_EQ(m_head.words.size() > 0, true);
    EXPECT_EQ(pgp_words_decode(m_head.words), ts::hsm::from_hex(m_head.hex));
    std::string head_file = slurp(path(kHeadFile));
    EXPECT_NE(head_file.find("sha256: " + m_head.hex + "\n"), std::string::npos) << head_file;
    EXPECT_NE(head_file.find("words: " + m_head.words + "\n"), std::string::npos) << head_file;
    std::string txt = slurp(path(kTextFile));
    EXPECT_NE(txt.find("sha256: " + m_head.hex), std::string::npos) << txt;
    EXPECT_NE(txt.find("path: root-cert.pem"), std::string::npos) << txt;

    EXPECT_TRUE(check(m_head.hex).ok());
    EXPECT_TRUE(check(m_head.words).head_checked);
    EXPECT_TRUE(check(m_head.words).ok());
    // Upper-case hex with colons, as some people write it.
    std::string colons;
    for (size_t i = 0; i < m_head.hex.size(); i += 2)
        colons += (i ? ":" : "") + m_head.hex.substr(i, 2);
    for (char& c : colons) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_TRUE(check(colons).ok());
}

TEST_F(TranscriptTest, AWrongPaperHeadFails) {
    std::string other = m_head.hex;
    other[0] = other[0] == '0' ? '1' : '0';
    VerifyResult r = check(other);
    EXPECT_NE(problems(r).find("the head from the paper log (" + other +
                               ") is not the transcript's head"),
              std::string::npos)
        << problems(r);
    EXPECT_THROW((void)check("not a head"), ts::signer::InputError);
}

TEST_F(TranscriptTest, ChangingAnyByteOfAnyRecordFails) {
    const std::string original = slurp(path(kTranscriptFile));
    for (size_t i = 0; i < original.size(); ++i) {
        std::string changed = original;
        changed[i] = static_cast<char>(changed[i] ^ 0x01);
        spit(path(kTranscriptFile), changed);
        EXPECT_FALSE(check().ok()) << "byte " << i << " changed, still verifies";
    }
    spit(path(kTranscriptFile), original);
    EXPECT_TRUE(check().ok());
}

TEST_F(TranscriptTest, AChangedRecordIsNamedByTheRecordAfterIt) {
    auto lines = lines_of(slurp(path(kTranscriptFile)));
    auto at = lines[1].find("generated");
    ASSERT_NE(at, std::string::npos);
    lines[1].replace(at, 9, "destroyed");
    spit(path(kTranscriptFile), joined(lines));
    VerifyResult r = check();
    EXPECT_NE(problems(r).find("record 3 (line 3 of transcript.jsonl) does not hold the SHA-256 of "
                               "the record before it: record 2 was changed"),
              std::string::npos)
        << problems(r);
}

TEST_F(TranscriptTest, AChangedLastRecordDisagreesWithTheHeadFile) {
    auto lines = lines_of(slurp(path(kTranscriptFile)));
    lines.back().insert(lines.back().size() - 1, " ");
    spit(path(kTranscriptFile), joined(lines));
    VerifyResult r = check();
    EXPECT_NE(problems(r).find("transcript.head says the head is " + m_head.hex +
                               ", but the records hash to"),
              std::string::npos)
        << problems(r);
}

TEST_F(TranscriptTest, ARemovedRecordFails) {
    const size_t n = lines_of(slurp(path(kTranscriptFile))).size();
    ASSERT_EQ(n, 6u);
    for (size_t drop = 0; drop < n; ++drop) {
        auto lines = lines_of(slurp(path(kTranscriptFile)));
        auto kept = lines;
        kept.erase(kept.begin() + static_cast<long>(drop));
        spit(path(kTranscriptFile), joined(kept));
        VerifyResult r = check();
        EXPECT_FALSE(r.ok()) << "record " << drop + 1 << " removed, still verifies";
        spit(path(kTranscriptFile), joined(lines));
    }
    auto lines = lines_of(slurp(path(kTranscriptFile)));
    auto kept = lines;
    kept.erase(kept.begin() + 2);
    spit(path(kTranscriptFile), joined(kept));
    VerifyResult r = check();
    EXPECT_NE(problems(r).find("record 3 (line 3 of transcript.jsonl) has seq 3, expected 2: "
                               "records were removed, inserted or reordered"),
              std::string::npos)
        << problems(r);
    // The last record removed: the chain is intact but it ends without 'end', and the head
    // file disagrees.
    kept = lines;
    kept.pop_back();
    spit(path(kTranscriptFile), joined(kept));
    r = check();
    EXPECT_NE(problems(r).find("the last record is not the 'end' record"), std::string::npos)
        << problems(r);
}

TEST_F(TranscriptTest, ARecordWithFieldsOfTheWrongTypeIsReportedNotThrown) {
    auto lines = lines_of(slurp(path(kTranscriptFile)));
    auto at = lines[2].find("\"path\":\"root-cert.pem\"");
    ASSERT_NE(at, std::string::npos) << lines[2];
    lines[2].replace(at, 22, "\"path\":5");
    at = lines[1].find("\"event\":\"step\"");
    ASSERT_NE(at, std::string::npos) << lines[1];
    lines[1].replace(at, 14, "\"event\":[1]");
    spit(path(kTranscriptFile), joined(lines));
    VerifyResult r;
    ASSERT_NO_THROW(r = check());
    EXPECT_NE(problems(r).find("record 3 (line 3 of transcript.jsonl) records the output '', which "
                               "is not a relative path inside the directory"),
              std::string::npos)
        << problems(r);
    EXPECT_NE(
        problems(r).find("root-cert.pem is in the directory, but no transcript record names it"),
        std::string::npos)
        << problems(r);
}

TEST_F(TranscriptTest, ReorderedRecordsFail) {
    auto lines = lines_of(slurp(path(kTranscriptFile)));
    std::swap(lines[2], lines[3]);
    spit(path(kTranscriptFile), joined(lines));
    VerifyResult r = check();
    EXPECT_NE(problems(r).find("record 3 (line 3 of transcript.jsonl) has seq 3, expected 2"),
              std::string::npos)
        << problems(r);
    EXPECT_NE(problems(r).find("record 4 (line 4 of transcript.jsonl) has seq 2, expected 3"),
              std::string::npos)
        << problems(r);
}

TEST_F(TranscriptTest, ChangingAnyByteOfAnOutputFailsAndNamesIt) {
    const std::string original = slurp(path("root-cert.pem"));
    for (size_t i = 0; i < original.size(); ++i) {
        std::string changed = original;
        changed[i] = static_cast<char>(changed[i] ^ 0x20);
        spit(path("root-cert.pem"), changed);
        VerifyResult r = check();
        EXPECT_NE(problems(r).find("output root-cert.pem has SHA-256 " + sha256_hex(changed) +
                                   ", the transcript recorded " + sha256_hex(original) +
                                   ": the file was changed"),
                  std::string::npos)
            << "byte " << i << ": " << problems(r);
    }
    spit(path("root-cert.pem"), original);
    spit(path("root-ca/index.txt"), "V\n");
    EXPECT_NE(problems(check()).find("output root-ca/index.txt has SHA-256"), std::string::npos);
}

TEST_F(TranscriptTest, AMissingOrAnUnrecordedOutputFails) {
    std::filesystem::remove(path("root-cert.pem"));
    VerifyResult r = check();
    EXPECT_NE(problems(r).find("output root-cert.pem is missing"), std::string::npos)
        << problems(r);
    spit(path("root-cert.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    EXPECT_TRUE(check().ok()) << problems(check());
    spit(path("root-ca/extra.pem"), "x");
    r = check();
    EXPECT_NE(problems(r).find("root-ca/extra.pem is in the directory, but no transcript record "
                               "names it"),
              std::string::npos)
        << problems(r);
}

TEST_F(TranscriptTest, ACutLastRecordAndAChangedHeadFileFail) {
    std::string t = slurp(path(kTranscriptFile));
    spit(path(kTranscriptFile), t.substr(0, t.size() - 1));
    EXPECT_NE(problems(check()).find("the last record is not complete"), std::string::npos);
    spit(path(kTranscriptFile), t);
    std::string head = slurp(path(kHeadFile));
    auto at = head.find("records: 6");
    ASSERT_NE(at, std::string::npos) << head;
    head.replace(at, 10, "records: 7");
    spit(path(kHeadFile), head);
    EXPECT_NE(problems(check()).find("transcript.head counts 7 records; transcript.jsonl has 6"),
              std::string::npos)
        << problems(check());
}

TEST_F(TranscriptTest, TheWriterNeverContinuesOrOverwrites) {
    EXPECT_THROW(TranscriptWriter w(dir()), ts::signer::CaDbError);
    TranscriptWriter w(m_tmp.file("second"));
    w.write_output("a.pem", "a", "s");
    EXPECT_THROW(w.write_output("a.pem", "b", "s"), ts::signer::CaDbError);
    EXPECT_THROW(w.write_output("../escape.pem", "b", "s"), std::logic_error);
    EXPECT_THROW(w.write_output("transcript.head", "b", "s"), std::logic_error);
    EXPECT_FALSE(std::filesystem::exists(m_tmp.file("escape.pem")));
    EXPECT_EQ(slurp(m_tmp.file("second/a.pem")), "a");
}

}  // namespace
