// SPDX-License-Identifier: Apache-2.0
// CaDb: openssl ca's index.txt/serial formats, the lock, and the atomic commit path.
#include "signer/ca_db.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "signer/error.hpp"
#include "tests/support/softhsm.hpp"

namespace ts::signer {
namespace {

std::string slurp(const std::string& p) {
    std::ifstream in(p);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

class CaDbTest : public ::testing::Test {
  protected:
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
    test::TempDir m_dir{"tokensign-cadb"};
    CaDbPaths m_paths;
};

TEST(IndexEntryTest, LineRoundTripsOpensslFormat) {
    std::string line = "R\t271207162046Z\t261127162049Z,keyCompromise\t0A1B\tunknown\t/C=US/CN=x y";
    IndexEntry e = IndexEntry::parse(line, "t");
    EXPECT_EQ(e.status, 'R');
    EXPECT_EQ(e.serial, "0A1B");
    EXPECT_EQ(e.revocation, "261127162049Z,keyCompromise");
    EXPECT_EQ(e.subject, "/C=US/CN=x y");
    EXPECT_EQ(e.line(), line);
}

TEST(IndexEntryTest, MalformedLinesAreRefusedWithTheirPlace) {
    EXPECT_THROW(IndexEntry::parse("V\t271207162046Z\t\t1000\tunknown", "f:1"), CaDbError);
    EXPECT_THROW(IndexEntry::parse("X\t271207162046Z\t\t1000\tunknown\t/CN=a", "f:1"), CaDbError);
    EXPECT_THROW(IndexEntry::parse("V\tnotadate\t\t1000\tunknown\t/CN=a", "f:1"), CaDbError);
    EXPECT_THROW(IndexEntry::parse("V\t271207162046Z\t\t100\tunknown\t/CN=a", "f:1"), CaDbError);
    try {
        IndexEntry::parse("V\t271207162046Z\t\tXYZW\tunknown\t/CN=a", "index.txt:7");
        FAIL() << "bad serial accepted";
    } catch (const CaDbError& e) {
        EXPECT_NE(std::string(e.what()).find("index.txt:7"), std::string::npos) << e.what();
    }
}

TEST(SerialTest, HexIsUpperCaseWholeBytesAndZeroIsTwoDigits) {
    BIGNUM* bn = nullptr;
    BN_hex2bn(&bn, "abc");
    OsslPtr<BIGNUM> owned(bn);
    EXPECT_EQ(serial_hex(bn), "0ABC");
    BN_zero(bn);
    EXPECT_EQ(serial_hex(bn), "00");
    EXPECT_EQ(serial_key("000abc"), "ABC");
    EXPECT_EQ(serial_key("0ABC"), serial_key("abc"));
}

TEST_F(CaDbTest, ReadsEntriesSerialAndCrlNumber) {
    auto db = CaDb::open(m_paths);
    ASSERT_EQ(db->entries().size(), 2u);
    EXPECT_EQ(serial_hex(db->next_serial().get()), "1002");
    EXPECT_EQ(serial_hex(db->next_crlnumber().get()), "01");
    EXPECT_TRUE(db->unique_subject());  // no index.txt.attr: openssl's default
    ASSERT_NE(db->find_serial("1000"), nullptr);
    EXPECT_NE(db->find_valid_subject("/C=US/CN=a"), nullptr);
    EXPECT_EQ(db->find_valid_subject("/C=US/CN=b"), nullptr);  // revoked does not count
}

TEST_F(CaDbTest, CommitWritesEverythingAndKeepsOldCopies) {
    std::string old_index = slurp(m_dir.file("index.txt"));
    {
        auto db = CaDb::open(m_paths);
        IndexEntry e;
        e.expiry = "271207162046Z";
        e.serial = "1002";
        e.subject = "/C=US/CN=c";
        db->add(e);
        db->add_certificate_file("1002", "CERT TEXT\n");
        BIGNUM* next = nullptr;
        BN_hex2bn(&next, "1003");
        OsslPtr<BIGNUM> owned(next);
        db->set_next_serial(next);
        db->commit();
    }
    EXPECT_EQ(slurp(m_dir.file("serial")), "1003\n");
    EXPECT_EQ(slurp(m_dir.file("serial.old")), "1002\n");
    EXPECT_EQ(slurp(m_dir.file("index.txt.old")), old_index);
    EXPECT_EQ(slurp(m_dir.file("index.txt")),
              old_index + "V\t271207162046Z\t\t1002\tunknown\t/C=US/CN=c\n");
    EXPECT_EQ(slurp(m_dir.file("index.txt.attr")), "unique_subject = yes\n");
    EXPECT_EQ(slurp(m_dir.file("newcerts/1002.pem")), "CERT TEXT\n");
    // No temp files are left behind.
    for (const auto& f : std::filesystem::directory_iterator(m_dir.path()))
        EXPECT_EQ(f.path().string().find(".tmp."), std::string::npos) << f.path();
}

TEST_F(CaDbTest, NothingIsWrittenWithoutCommit) {
    std::string before = slurp(m_dir.file("index.txt"));
    {
        auto db = CaDb::open(m_paths);
        db->entry_for_update("1000").status = 'R';
    }
    EXPECT_EQ(slurp(m_dir.file("index.txt")), before);
    EXPECT_FALSE(std::filesystem::exists(m_dir.file("index.txt.old")));
}

TEST_F(CaDbTest, SecondOpenerWaitsForTheLockThenFailsWithCaDbError) {
    auto first = CaDb::open(m_paths);
    // flock is per open file description, so a second open in this process contends too.
    try {
        CaDb::open(m_paths, 200);
        FAIL() << "second signer got the lock";
    } catch (const CaDbError& e) {
        EXPECT_NE(std::string(e.what()).find("locked by another signer"), std::string::npos)
            << e.what();
    }
    first.reset();
    EXPECT_NO_THROW(CaDb::open(m_paths, 200));
}

TEST_F(CaDbTest, MissingSerialFileIsExplained) {
    std::filesystem::remove(m_dir.file("serial"));
    auto db = CaDb::open(m_paths);
    try {
        db->next_serial();
        FAIL();
    } catch (const CaDbError& e) {
        EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
    }
}

TEST_F(CaDbTest, TempFilesOfACrashedSignerAreRemovedUnderTheLock) {
    for (const char* f : {"index.txt.tmp.4242", "serial.tmp.17", "index.txt.attr.old.tmp.9",
                          "newcerts/.1002.pem.tmp.4242"})
        std::ofstream(m_dir.file(f)) << "half\n";
    // Not ours: left alone.
    for (const char* f : {"notes.tmp.1", "newcerts/1001.pem", "index.txt.tmp.mine"})
        std::ofstream(m_dir.file(f)) << "keep\n";
    auto db = CaDb::open(m_paths);
    for (const char* f : {"index.txt.tmp.4242", "serial.tmp.17", "index.txt.attr.old.tmp.9",
                          "newcerts/.1002.pem.tmp.4242"})
        EXPECT_FALSE(std::filesystem::exists(m_dir.file(f))) << f;
    for (const char* f : {"notes.tmp.1", "newcerts/1001.pem", "index.txt.tmp.mine"})
        EXPECT_TRUE(std::filesystem::exists(m_dir.file(f))) << f;
    EXPECT_EQ(db->entries().size(), 2u);
}

TEST_F(CaDbTest, WriteAtomicNeverReplacesSomethingThatIsNotARegularFile) {
    std::filesystem::create_directory(m_dir.file("d"));
    EXPECT_THROW(write_atomic(m_dir.file("d"), "x", false), CaDbError);
    EXPECT_TRUE(std::filesystem::is_directory(m_dir.file("d")));
    std::filesystem::create_symlink(m_dir.file("index.txt"), m_dir.file("link"));
    EXPECT_THROW(write_atomic(m_dir.file("link"), "x", false), CaDbError);
    EXPECT_TRUE(std::filesystem::is_symlink(m_dir.file("link")));
}

TEST_F(CaDbTest, WriteAtomicReplacesWholeFileAndKeepsOld) {
    std::string p = m_dir.file("f");
    write_atomic(p, "one\n", true);
    EXPECT_FALSE(std::filesystem::exists(p + ".old"));
    write_atomic(p, "two\n", true);
    EXPECT_EQ(slurp(p), "two\n");
    EXPECT_EQ(slurp(p + ".old"), "one\n");
}

}  // namespace
}  // namespace ts::signer
