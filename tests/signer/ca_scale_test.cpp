// SPDX-License-Identifier: Apache-2.0
// CaDb at scale: the shortcuts (append instead of rewrite, a streaming read with hash tables,
// a torn last line left to the journal) and the checks that keep them correct when another
// program (openssl ca, a person) changes the database between tokensign's read and its commit.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "signer/ca_db.hpp"
#include "signer/error.hpp"
#include "tests/support/softhsm.hpp"

namespace ts::signer {
namespace {

std::string slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A certificate as the CA key would have signed it (self-signed here: the journal does not
// check the issuer).
std::string cert_pem(long serial, const std::string& cn) {
    OsslPtr<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    OsslPtr<X509> x(X509_new());
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x.get()), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x.get(), X509_get_subject_name(x.get()));
    X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400);
    X509_set_pubkey(x.get(), key.get());
    if (X509_sign(x.get(), key.get(), EVP_sha256()) <= 0) return "";
    OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(bio.get(), x.get());
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

IndexEntry entry(const std::string& serial, const std::string& subject, char status = 'V') {
    IndexEntry e;
    e.status = status;
    e.expiry = "271207162046Z";
    if (status == 'R') e.revocation = "261127162049Z";
    e.serial = serial;
    e.subject = subject;
    return e;
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// The tables came from the sidecar (hashed, or by the stamp tokensign recorded).
bool from_sidecar(CaDb::LookupSource s) { return s != CaDb::LookupSource::full_read; }

class CaScaleTest : public ::testing::Test {
  protected:
    // A run that adds an entry: it leaves the lookup sidecar (a run that writes nothing leaves
    // nothing, not even that).
    void add_one(const std::string& serial, const std::string& subject) {
        auto db = CaDb::open(m_paths);
        db->add(entry(serial, subject));
        db->commit();
    }
    void SetUp() override {
        std::filesystem::create_directory(m_dir.file("newcerts"));
        std::ofstream(m_dir.file("index.txt"))
            << "V\t271207162046Z\t\t1000\tunknown\t/C=US/CN=a\n"
            << "R\t271207162046Z\t261127162049Z,superseded\t1001\tunknown\t/C=US/CN=b\n";
        std::ofstream(m_dir.file("serial")) << "1002\n";
        std::ofstream(m_dir.file("crlnumber")) << "01\n";
        m_paths = {m_dir.file("index.txt"), m_dir.file("serial"), m_dir.file("crlnumber"),
                   m_dir.file("newcerts")};
    }
    // What openssl ca does at its end: index.txt.new written, renamed over index.txt.
    void rewrite_as_openssl_ca(const std::string& contents) {
        std::ofstream(m_dir.file("index.txt.new")) << contents;
        std::filesystem::rename(m_dir.file("index.txt.new"), m_dir.file("index.txt"));
    }
    test::TempDir m_dir{"tokensign-cascale"};
    CaDbPaths m_paths;
};

// Lookups over a database too large to hold as entries: every serial and valid subject is
// found (first, middle, last line), absent ones are not, revoked subjects do not count, and a
// streaming pass sees every entry once.
TEST_F(CaScaleTest, LookupsInALargeIndexFindExactlyWhatIsThere) {
    {
        std::ofstream out(m_dir.file("index.txt"));
        for (int i = 0; i < 20000; ++i) {
            char serial[16];
            std::snprintf(serial, sizeof serial, "%06X", 0x100000 + i);
            out << (i % 7 == 3 ? "R\t271207162046Z\t261127162049Z\t" : "V\t271207162046Z\t\t")
                << serial << "\tunknown\t/CN=host" << i << ".example\n";
        }
    }
    auto db = CaDb::open_read_only(m_paths);
    EXPECT_EQ(db->size(), 20000u);
    for (int i : {0, 1, 9999, 19999}) {
        char serial[16];
        std::snprintf(serial, sizeof serial, "%06x", 0x100000 + i);  // any case
        const IndexEntry* e = db->find_serial(serial);
        ASSERT_NE(e, nullptr) << serial;
        EXPECT_EQ(e->subject, "/CN=host" + std::to_string(i) + ".example");
    }
    EXPECT_NE(db->find_serial("00100005"), nullptr) << "leading zeros are ignored";
    EXPECT_EQ(db->find_serial("200000"), nullptr);
    EXPECT_NE(db->find_valid_subject("/CN=host19999.example"), nullptr);
    EXPECT_EQ(db->find_valid_subject("/CN=host3.example"), nullptr) << "revoked";
    EXPECT_EQ(db->find_valid_subject("/CN=host20000.example"), nullptr);
    std::size_t n = 0, revoked = 0;
    db->for_each([&](const IndexEntry& e) {
        ++n;
        revoked += e.status == 'R';
    });
    EXPECT_EQ(n, 20000u);
    EXPECT_EQ(revoked, 2857u);  // i % 7 == 3 for i < 20000
}

// openssl ca (no lock) rewrote index.txt between tokensign's read and its commit: tokensign
// writes nothing (not newcerts/, not index.txt), keeps the journal, and the next open records
// the signed certificate against the new index, keeping openssl's line.
TEST_F(CaScaleTest, AnIndexRewrittenByOpensslCaBeforeTheCommitIsNotOverwritten) {
    const std::string pem = cert_pem(0x1002, "ours.example");
    const std::string theirs = "V\t271207162046Z\t\t1003\tunknown\t/CN=theirs.example\n";
    {
        auto db = CaDb::open(m_paths);
        db->reserve_serials(1);
        db->journal(pem);
        db->add(entry("1002", "/CN=ours.example"));
        db->add_certificate_file("1002", "CERT\n");
        rewrite_as_openssl_ca(slurp(m_dir.file("index.txt")) + theirs);
        try {
            db->commit();
            FAIL() << "commit overwrote another program's index";
        } catch (const CaDbError& e) {
            std::string what = e.what();
            EXPECT_NE(what.find("changed after tokensign read it"), std::string::npos) << what;
            EXPECT_NE(what.find("journal"), std::string::npos) << what;
        }
    }
    EXPECT_EQ(count_of(slurp(m_dir.file("index.txt")), "\t1002\t"), 0u);
    EXPECT_EQ(count_of(slurp(m_dir.file("index.txt")), theirs), 1u);
    EXPECT_FALSE(std::filesystem::exists(m_dir.file("newcerts/1002.pem")));
    ASSERT_TRUE(std::filesystem::exists(CaDb::journal_path(m_paths.database)));
    auto db = CaDb::open(m_paths);
    EXPECT_EQ(db->recovered(), std::vector<std::string>{"1002"});
    EXPECT_TRUE(db->conflicts().empty());
    const std::string index = slurp(m_dir.file("index.txt"));
    EXPECT_EQ(count_of(index, theirs), 1u) << index;
    EXPECT_EQ(count_of(index, "\t1002\tunknown\t/CN=ours.example\n"), 1u) << index;
    EXPECT_FALSE(std::filesystem::exists(CaDb::journal_path(m_paths.database)));
}

// Meanwhile openssl ca gave a journaled serial to a different certificate: the next open warns
// (conflicts()), keeps tokensign's certificate in the conflicts file, and leaves openssl's
// entry and newcerts/ file alone.
TEST_F(CaScaleTest, AJournaledSerialUsedByAnotherProgramIsReportedAndKept) {
    const std::string pem = cert_pem(0x1002, "ours.example");
    {
        auto db = CaDb::open(m_paths);
        db->reserve_serials(1);
        db->journal(pem);
    }  // killed before the commit
    rewrite_as_openssl_ca(slurp(m_dir.file("index.txt")) +
                          "V\t271207162046Z\t\t1002\tunknown\t/CN=theirs.example\n");
    std::ofstream(m_dir.file("newcerts/1002.pem")) << "THEIRS\n";
    auto db = CaDb::open(m_paths);
    EXPECT_TRUE(db->recovered().empty());
    ASSERT_EQ(db->conflicts().size(), 1u);
    EXPECT_NE(db->conflicts()[0].find("serial 1002"), std::string::npos) << db->conflicts()[0];
    EXPECT_NE(db->conflicts()[0].find("/CN=theirs.example"), std::string::npos);
    EXPECT_EQ(slurp(CaDb::conflicts_path(m_paths.database)), pem);
    EXPECT_EQ(slurp(m_dir.file("newcerts/1002.pem")), "THEIRS\n");
    EXPECT_EQ(count_of(slurp(m_dir.file("index.txt")), "\t1002\t"), 1u);
    EXPECT_FALSE(std::filesystem::exists(CaDb::journal_path(m_paths.database)));
}

// A person edited index.txt in place (same file, new contents) while tokensign held it: the
// commit refuses, whether it would have appended or rewritten.
TEST_F(CaScaleTest, AHandEditInPlaceBeforeTheCommitIsDetected) {
    for (bool revoke : {false, true}) {
        const std::string before = slurp(m_dir.file("index.txt"));
        auto db = CaDb::open(m_paths);
        if (revoke)
            db->entry_for_update("1000").status = 'E';
        else
            db->add(entry("10AA", "/CN=new.example"));
        {
            std::ofstream edit(m_dir.file("index.txt"), std::ios::app);
            edit << "V\t271207162046Z\t\t10BB\tunknown\t/CN=typed.example\n";
        }
        EXPECT_THROW(db->commit(), CaDbError) << (revoke ? "rewrite" : "append");
        EXPECT_EQ(slurp(m_dir.file("index.txt")),
                  before + "V\t271207162046Z\t\t10BB\tunknown\t/CN=typed.example\n");
    }
}

// The serial file changed (openssl ca issued) between the read and the reservation: nothing is
// reserved, so no serial is handed out twice.
TEST_F(CaScaleTest, ASerialFileChangedBeforeTheReservationIsRefused) {
    auto db = CaDb::open(m_paths);
    std::ofstream(m_dir.file("serial.new")) << "1005\n";
    std::filesystem::rename(m_dir.file("serial.new"), m_dir.file("serial"));
    EXPECT_THROW(db->reserve_serials(2), CaDbError);
    EXPECT_EQ(slurp(m_dir.file("serial")), "1005\n");
}

// An append cut short by a crash (a power loss mid-write) leaves a torn last line: openssl ca
// does not read it, and tokensign, while the journal holds the certificate, leaves it out,
// cuts it off and records the certificate whole from the journal.
TEST_F(CaScaleTest, ATornLastLineIsCutAndRecoveredFromTheJournal) {
    const std::string pem = cert_pem(0x1002, "torn.example");
    const std::string before = slurp(m_dir.file("index.txt"));
    {
        auto db = CaDb::open(m_paths);
        db->reserve_serials(1);
        db->journal(pem);
    }
    // What the crash left: half of the line (its subject cut: "/CN=to" would parse).
    std::ofstream(m_dir.file("index.txt"), std::ios::app)
        << "V\t271207162046Z\t\t1002\tunknown\t/CN=to";
    {
        auto reader = CaDb::open_read_only(m_paths);
        const IndexEntry* e = reader->find_serial("1002");
        ASSERT_NE(e, nullptr);
        EXPECT_EQ(e->subject, "/CN=torn.example") << "the torn line was read";
        EXPECT_EQ(reader->size(), 3u);
    }
    auto db = CaDb::open(m_paths);
    EXPECT_EQ(db->recovered(), std::vector<std::string>{"1002"});
    const std::string index = slurp(m_dir.file("index.txt"));
    EXPECT_EQ(index.substr(0, before.size()), before);
    EXPECT_EQ(index.substr(before.size()).substr(0, 2), "V\t");
    EXPECT_NE(index.find("\t1002\tunknown\t/CN=torn.example\n"), std::string::npos) << index;
    EXPECT_EQ(index.find("/CN=to\n"), std::string::npos) << index;
    EXPECT_EQ(count_of(index, "\t1002\t"), 1u) << index;
    EXPECT_EQ(index.back(), '\n');
}

// Without a journal, a last line without a newline was written by a person: it is an entry
// (checked like the others), and an append ends it with a newline first so it stays one.
TEST_F(CaScaleTest, AHandWrittenLastLineWithoutANewlineStaysAnEntry) {
    std::ofstream(m_dir.file("index.txt"), std::ios::app)
        << "V\t271207162046Z\t\t1005\tunknown\t/CN=typed.example";
    {
        auto db = CaDb::open(m_paths);
        ASSERT_NE(db->find_serial("1005"), nullptr);
        EXPECT_NE(db->find_valid_subject("/CN=typed.example"), nullptr);
        db->add(entry("1006", "/CN=next.example"));
        db->commit();
    }
    const std::string index = slurp(m_dir.file("index.txt"));
    EXPECT_NE(
        index.find("/CN=typed.example\nV\t271207162046Z\t\t1006\tunknown\t/CN=next.example\n"),
        std::string::npos)
        << index;
    EXPECT_EQ(CaDb::open(m_paths)->size(), 4u);
}

// A malformed line anywhere (here the last of many, past the first read chunk) is refused
// with its line number, as before.
TEST_F(CaScaleTest, AMalformedLineDeepInALargeIndexIsNamed) {
    {
        std::ofstream out(m_dir.file("index.txt"));
        for (int i = 0; i < 30000; ++i)
            out << "V\t271207162046Z\t\t" << 100000 + i << "\tunknown\t/CN=h" << i << "\n";
        out << "V\t271207162046Z\t\t1\tunknown\t/CN=bad\n";
    }
    try {
        CaDb::open_read_only(m_paths);
        FAIL() << "malformed line accepted";
    } catch (const CaDbError& e) {
        EXPECT_NE(std::string(e.what()).find("index.txt:30001"), std::string::npos) << e.what();
    }
}

// Several commits on one CaDb: an append, then a rewrite, then an append again; each sees what
// the previous wrote and nothing is written twice.
TEST_F(CaScaleTest, AppendsAndRewritesInOneSessionWriteEachEntryOnce) {
    {
        auto db = CaDb::open(m_paths);
        db->add(entry("1002", "/CN=c"));
        db->commit();
        db->entry_for_update("1002").status = 'E';
        db->entry_for_update("1000").status = 'E';
        db->commit();
        db->add(entry("1003", "/CN=d"));
        db->commit();
        EXPECT_EQ(db->entries().size(), 4u);
    }
    const std::string index = slurp(m_dir.file("index.txt"));
    EXPECT_EQ(index,
              "E\t271207162046Z\t\t1000\tunknown\t/C=US/CN=a\n"
              "R\t271207162046Z\t261127162049Z,superseded\t1001\tunknown\t/C=US/CN=b\n"
              "E\t271207162046Z\t\t1002\tunknown\t/CN=c\n"
              "V\t271207162046Z\t\t1003\tunknown\t/CN=d\n");
}

// A revocation copies the file around the changed lines: the lines around them stay byte for
// byte (a CRLF line too), and a changed last line without a newline, or one after it, comes
// out as whole lines.
TEST_F(CaScaleTest, ARewriteCopiesAroundTheChangedLinesAndEndsEveryLine) {
    const std::string head = "V\t271207162046Z\t\t1000\tunknown\t/C=US/CN=a\r\n";
    const std::string mid = "V\t271207162046Z\t\t1001\tunknown\t/CN=b\n";
    const std::string last = "V\t271207162046Z\t\t1002\tunknown\t/CN=c";
    for (const char* victim : {"1001", "1002"}) {
        std::ofstream(m_dir.file("index.txt"), std::ios::trunc) << head << mid << last;
        {
            auto db = CaDb::open(m_paths);
            IndexEntry& e = db->entry_for_update(victim);
            e.status = 'R';
            e.revocation = "261127162049Z";
            db->add(entry("1003", "/CN=d"));
            db->commit();
        }
        const std::string added = "V\t271207162046Z\t\t1003\tunknown\t/CN=d\n";
        if (std::string(victim) == "1001")
            EXPECT_EQ(slurp(m_dir.file("index.txt")),
                      head + "R\t271207162046Z\t261127162049Z\t1001\tunknown\t/CN=b\n" + last +
                          "\n" + added);
        else
            EXPECT_EQ(
                slurp(m_dir.file("index.txt")),
                head + mid + "R\t271207162046Z\t261127162049Z\t1002\tunknown\t/CN=c\n" + added);
        EXPECT_EQ(slurp(m_dir.file("index.txt.old")), head + mid + last);
        EXPECT_EQ(CaDb::open_read_only(m_paths)->find_serial(victim)->status, 'R');
    }
}

// The lookup sidecar (index.txt.lookup): written by a writer's open, used by the next runs while
// index.txt's first bytes are exactly those it was made from (lines appended since are read as
// usual), and never by a reader that cannot write.
TEST_F(CaScaleTest, TheLookupSidecarIsUsedWhileTheIndexOnlyGrew) {
    const std::string side = CaDb::lookup_path(m_paths.database);
    EXPECT_EQ(CaDb::open_read_only(m_paths)->lookup_source(), CaDb::LookupSource::full_read);
    EXPECT_FALSE(std::filesystem::exists(side)) << "a reader writes nothing";
    EXPECT_EQ(CaDb::open(m_paths)->lookup_source(), CaDb::LookupSource::full_read);
    EXPECT_FALSE(std::filesystem::exists(side)) << "a writer that commits nothing writes nothing";
    {
        auto db = CaDb::open(m_paths);
        EXPECT_EQ(db->lookup_source(), CaDb::LookupSource::full_read);
        db->add(entry("1002", "/C=US/CN=c"));
        db->commit();
    }
    ASSERT_TRUE(std::filesystem::exists(side));
    for (std::size_t run = 0; run < 2; ++run) {
        auto db = CaDb::open(m_paths);
        EXPECT_TRUE(db->lookup_source() == CaDb::LookupSource::sidecar_prefix ||
                    db->lookup_source() == CaDb::LookupSource::sidecar_prefix_by_stamp);
        EXPECT_EQ(db->size(), 3u + run);
        EXPECT_NE(db->find_valid_subject("/C=US/CN=a"), nullptr);
        EXPECT_EQ(db->find_valid_subject("/C=US/CN=b"), nullptr) << "revoked";
        EXPECT_EQ(db->find_serial("1001")->status, 'R');
        EXPECT_EQ(db->find_serial("1002")->subject, "/C=US/CN=c");
        EXPECT_NE(db->find_valid_subject("/C=US/CN=c"), nullptr) << "appended after the sidecar";
        EXPECT_EQ(db->find_serial("1004"), nullptr);
        db->add(entry("1003", "/C=US/CN=d"));
        db->commit();
    }
    auto ro = CaDb::open_read_only(m_paths);
    EXPECT_TRUE(ro->lookup_source() == CaDb::LookupSource::sidecar_prefix ||
                ro->lookup_source() == CaDb::LookupSource::sidecar_prefix_by_stamp);
    EXPECT_NE(ro->find_valid_subject("/C=US/CN=d"), nullptr);
    ro.reset();
    // A revocation replaces index.txt: the sidecar of the old file goes with it.
    {
        auto db = CaDb::open(m_paths);
        db->entry_for_update("1002").status = 'R';
        db->entry_for_update("1002").revocation = "261127162049Z";
        db->commit();
    }
    EXPECT_FALSE(std::filesystem::exists(side));
    auto after = CaDb::open(m_paths);
    EXPECT_EQ(after->lookup_source(), CaDb::LookupSource::full_read);
    EXPECT_EQ(after->find_valid_subject("/C=US/CN=c"), nullptr);
    EXPECT_EQ(after->find_serial("1002")->status, 'R');
}

// openssl ca rewrote index.txt between two tokensign runs (revoked one entry, issued another):
// the sidecar describes other bytes and is not used.
TEST_F(CaScaleTest, AnIndexRewrittenByOpensslCaBetweenRunsIsReadAgain) {
    add_one("1002", "/C=US/CN=c");
    ASSERT_TRUE(std::filesystem::exists(CaDb::lookup_path(m_paths.database)));
    rewrite_as_openssl_ca(
        "R\t271207162046Z\t261201120000Z\t1000\tunknown\t/C=US/CN=a\n"
        "R\t271207162046Z\t261127162049Z,superseded\t1001\tunknown\t/C=US/CN=b\n"
        "V\t271207162046Z\t\t1002\tunknown\t/C=US/CN=c\n"
        "V\t271207162046Z\t\t1003\tunknown\t/C=US/CN=d\n");
    auto db = CaDb::open(m_paths);
    EXPECT_EQ(db->lookup_source(), CaDb::LookupSource::full_read);
    EXPECT_EQ(db->find_valid_subject("/C=US/CN=a"), nullptr) << "openssl ca revoked it";
    EXPECT_NE(db->find_valid_subject("/C=US/CN=d"), nullptr) << "openssl ca issued it";
    EXPECT_EQ(db->find_serial("1003")->subject, "/C=US/CN=d");
}

// A person edited index.txt in place, same size, and put its modification time back
// (touch -d): the bytes are compared, not the size and times.
TEST_F(CaScaleTest, AHandEditInPlaceWithItsTimesRestoredIsReadAgain) {
    {
        auto db = CaDb::open(m_paths);
        db->add(entry("1002", "/C=US/CN=c"));
        db->commit();  // an append: its stamp is recorded in the sidecar
    }
    ASSERT_EQ(CaDb::open(m_paths)->lookup_source(), CaDb::LookupSource::sidecar_prefix_by_stamp)
        << "the stamp is what this test is about";
    struct stat before;
    ASSERT_EQ(::stat(m_paths.database.c_str(), &before), 0);
    {
        std::fstream f(m_paths.database, std::ios::in | std::ios::out | std::ios::binary);
        const std::string text = slurp(m_paths.database);
        const auto at = text.find("/C=US/CN=a");
        ASSERT_NE(at, std::string::npos);
        f.seekp(static_cast<std::streamoff>(at + 9));
        f << 'z';
    }
    const struct timespec times[2] = {before.st_atim, before.st_mtim};
    ASSERT_EQ(::utimensat(AT_FDCWD, m_paths.database.c_str(), times, 0), 0);
    struct stat after;
    ASSERT_EQ(::stat(m_paths.database.c_str(), &after), 0);
    ASSERT_EQ(after.st_size, before.st_size);
    ASSERT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    auto db = CaDb::open(m_paths);
    EXPECT_EQ(db->lookup_source(), CaDb::LookupSource::full_read);
    EXPECT_EQ(db->find_valid_subject("/C=US/CN=a"), nullptr);
    ASSERT_NE(db->find_valid_subject("/C=US/CN=z"), nullptr);
    EXPECT_EQ(db->find_valid_subject("/C=US/CN=z")->serial, "1000");
    EXPECT_NE(db->find_valid_subject("/C=US/CN=c"), nullptr);
}

// index.txt cut short (its last line gone, or torn): shorter than the sidecar's bytes, so the
// sidecar is not used, and the lost entry is not found.
TEST_F(CaScaleTest, ATruncatedIndexIsReadAgain) {
    const std::string text = slurp(m_paths.database);
    const auto first_end = text.find('\n') + 1;
    for (std::size_t cut : {first_end, first_end + 10}) {
        std::ofstream(m_paths.database, std::ios::trunc) << text;
        std::filesystem::remove(CaDb::lookup_path(m_paths.database));
        std::filesystem::remove(CaDb::journal_path(m_paths.database));
        add_one("1002", "/C=US/CN=c");  // the sidecar of the first two lines
        ASSERT_TRUE(from_sidecar(CaDb::open(m_paths)->lookup_source()));
        std::filesystem::resize_file(m_paths.database, cut);
        if (cut == first_end + 10) {
            // A torn line is only cut back while a journal holds its certificate.
            std::ofstream(CaDb::journal_path(m_paths.database)) << "";
        }
        auto db = CaDb::open(m_paths);
        EXPECT_EQ(db->lookup_source(), CaDb::LookupSource::full_read);
        EXPECT_EQ(db->size(), 1u);
        EXPECT_EQ(db->find_serial("1001"), nullptr);
        EXPECT_NE(db->find_serial("1000"), nullptr);
    }
}

// A last line a person wrote without its newline, then a run that appends (ending that line
// first): the next runs, by the sidecar, see every entry once.
TEST_F(CaScaleTest, ALineWithoutItsNewlineThenAnAppendIsReadWhole) {
    std::ofstream(m_paths.database, std::ios::app)
        << "V\t271207162046Z\t\t1002\tunknown\t/C=US/CN=c";
    add_one("1003", "/C=US/CN=d");
    for (int run = 0; run < 2; ++run) {
        auto db = CaDb::open(m_paths);
        EXPECT_NE(db->find_valid_subject("/C=US/CN=c"), nullptr);
        EXPECT_NE(db->find_valid_subject("/C=US/CN=d"), nullptr);
        EXPECT_EQ(db->size(), 4u);
        std::size_t n = 0;
        db->for_each([&](const IndexEntry&) { ++n; });
        EXPECT_EQ(n, 4u);
    }
}

// The sidecar deleted, corrupted, cut short by a crash while it was written, or a crashed
// writer's temp file beside it: rebuilt from index.txt, never believed.
TEST_F(CaScaleTest, ADeletedCorruptOrTornSidecarIsRebuilt) {
    const std::string side = CaDb::lookup_path(m_paths.database);
    add_one("1002", "/C=US/CN=c");
    const std::string good = slurp(side);
    int serial = 0x1003;
    ASSERT_GT(good.size(), 100u);
    std::string flipped = good;
    flipped[100] ^= 1;  // a table word
    std::string header_flipped = good;
    header_flipped[20] ^= 1;  // the covered length
    for (const std::string& bad :
         {std::string(), flipped, header_flipped, good.substr(0, good.size() / 2),
          good.substr(0, good.size() - 1), std::string("not a sidecar")}) {
        if (bad.empty())
            std::filesystem::remove(side);
        else
            std::ofstream(side, std::ios::trunc | std::ios::binary) << bad;
        std::ofstream(side + ".tmp.999999") << "a crashed writer's";
        char hex[8];
        std::snprintf(hex, sizeof hex, "%04X", serial++);
        {
            auto db = CaDb::open(m_paths);
            EXPECT_EQ(db->lookup_source(), CaDb::LookupSource::full_read) << bad.size();
            EXPECT_NE(db->find_valid_subject("/C=US/CN=a"), nullptr);
            EXPECT_EQ(db->find_serial("1001")->status, 'R');
            db->add(entry(hex, std::string("/CN=") + hex));
            db->commit();  // rebuilds it
        }
        EXPECT_FALSE(std::filesystem::exists(side + ".tmp.999999"));
        auto db = CaDb::open(m_paths);
        EXPECT_TRUE(from_sidecar(db->lookup_source()));
        EXPECT_NE(db->find_valid_subject(std::string("/CN=") + hex), nullptr);
        EXPECT_NE(db->find_valid_subject("/C=US/CN=c"), nullptr);
    }
}

}  // namespace
}  // namespace ts::signer
