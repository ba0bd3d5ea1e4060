// SPDX-License-Identifier: Apache-2.0
// CaDb: openssl ca's index.txt/serial formats, the lock, and the atomic commit path.
#include "signer/ca_db.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
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

// New entries are appended to index.txt in place (the same file, no copy): index.txt.old is
// the file before the last rewrite, not touched by an append (docs/tokensign-ca.md).
TEST_F(CaDbTest, CommitWritesEverythingAndKeepsOldCopies) {
    std::string old_index = slurp(m_dir.file("index.txt"));
    struct stat before {};
    ASSERT_EQ(::stat(m_dir.file("index.txt").c_str(), &before), 0);
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
    EXPECT_FALSE(std::filesystem::exists(m_dir.file("index.txt.old")));
    EXPECT_EQ(slurp(m_dir.file("index.txt")),
              old_index + "V\t271207162046Z\t\t1002\tunknown\t/C=US/CN=c\n");
    struct stat after {};
    ASSERT_EQ(::stat(m_dir.file("index.txt").c_str(), &after), 0);
    EXPECT_EQ(after.st_ino, before.st_ino) << "appended, not rewritten";
    EXPECT_EQ(slurp(m_dir.file("index.txt.attr")), "unique_subject = yes\n");
    EXPECT_EQ(slurp(m_dir.file("newcerts/1002.pem")), "CERT TEXT\n");
    // No temp files are left behind.
    for (const auto& f : std::filesystem::directory_iterator(m_dir.path()))
        EXPECT_EQ(f.path().string().find(".tmp."), std::string::npos) << f.path();
}

// A changed entry rewrites index.txt (streamed into a new file renamed over it) and keeps the
// previous file as index.txt.old by a hard link, as openssl ca keeps it.
TEST_F(CaDbTest, ARevocationRewritesTheIndexAndKeepsThePreviousAsOld) {
    std::string old_index = slurp(m_dir.file("index.txt"));
    {
        auto db = CaDb::open(m_paths);
        IndexEntry& e = db->entry_for_update("1000");
        e.status = 'R';
        e.revocation = "261127162049Z";
        db->commit();
        EXPECT_EQ(db->find_serial("1000")->status, 'R');
        EXPECT_EQ(db->find_valid_subject("/C=US/CN=a"), nullptr);
    }
    EXPECT_EQ(slurp(m_dir.file("index.txt.old")), old_index);
    EXPECT_EQ(slurp(m_dir.file("index.txt")),
              "R\t271207162046Z\t261127162049Z\t1000\tunknown\t/C=US/CN=a\n"
              "R\t271207162046Z\t261127162049Z,superseded\t1001\tunknown\t/C=US/CN=b\n");
    auto db = CaDb::open(m_paths);
    EXPECT_EQ(db->find_serial("1000")->status, 'R');
    EXPECT_EQ(db->find_valid_subject("/C=US/CN=a"), nullptr);
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

// A serial or crlnumber file missing when the database was read and back a moment later (as
// while another program replaces it) is a clear error, never a crash (the state read under the
// lock is what counts).
TEST_F(CaDbTest, ANumberFileMissingAtOpenIsAnErrorEvenIfItComesBack) {
    std::filesystem::remove(m_dir.file("serial"));
    std::filesystem::remove(m_dir.file("crlnumber"));
    auto db = CaDb::open(m_paths);
    std::ofstream(m_dir.file("serial")) << "1002\n";
    std::ofstream(m_dir.file("crlnumber")) << "01\n";
    EXPECT_THROW(db->next_serial(), CaDbError);
    EXPECT_THROW(db->reserve_serials(3), CaDbError);
    EXPECT_THROW(db->next_crlnumber(), CaDbError);
    EXPECT_THROW(db->reserve_crlnumber(), CaDbError);
    try {
        db->next_serial();
    } catch (const CaDbError& e) {
        EXPECT_NE(std::string(e.what()).find("was missing when"), std::string::npos) << e.what();
    }
}

// A reservation is durable and advances past every serial reserved; the next open sees it.
TEST_F(CaDbTest, ReservedSerialsAreNeverHandedOutAgain) {
    {
        auto db = CaDb::open(m_paths);
        EXPECT_EQ(serial_hex(db->reserve_serials(5).get()), "1002");
        EXPECT_EQ(slurp(m_dir.file("serial")), "1007\n");
        EXPECT_EQ(serial_hex(db->reserve_crlnumber().get()), "01");
        EXPECT_EQ(slurp(m_dir.file("crlnumber")), "02\n");
    }  // closed without commit: the reservation stays
    auto db = CaDb::open(m_paths);
    EXPECT_EQ(serial_hex(db->next_serial().get()), "1007");
}

// The journal: what was signed and not committed is recorded by the next open, once.
TEST_F(CaDbTest, TheNextOpenRecordsTheCertificatesAnInterruptedRunJournaled) {
    // A certificate with serial 1002, as the CA key would have signed it.
    OsslPtr<EVP_PKEY> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
    OsslPtr<X509> x(X509_new());
    ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 0x1002);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x.get()), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("journaled.example"), -1, -1,
                               0);
    X509_set_issuer_name(x.get(), X509_get_subject_name(x.get()));
    X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), 86400);
    X509_set_pubkey(x.get(), key.get());
    ASSERT_GT(X509_sign(x.get(), key.get(), EVP_sha256()), 0);
    OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
    PEM_write_bio_X509(bio.get(), x.get());
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    std::string cert_pem(data, static_cast<std::size_t>(len));
    {
        auto db = CaDb::open(m_paths);
        db->reserve_serials(2);
        db->journal(cert_pem);
        // A torn second record (a crash in the middle of a write) is ignored.
        db->journal(cert_pem.substr(0, cert_pem.size() / 2));
    }  // the process "dies": no commit
    ASSERT_TRUE(std::filesystem::exists(CaDb::journal_path(m_paths.database)));
    {
        // A reader (read-only media) shows the journaled certificate and writes nothing.
        const std::string index_before = slurp(m_dir.file("index.txt"));
        auto reader = CaDb::open_read_only(m_paths);
        EXPECT_EQ(reader->recovered(), std::vector<std::string>{"1002"});
        EXPECT_NE(reader->find_serial("1002"), nullptr);
        EXPECT_EQ(slurp(m_dir.file("index.txt")), index_before);
        EXPECT_TRUE(std::filesystem::exists(CaDb::journal_path(m_paths.database)));
    }
    auto db = CaDb::open(m_paths);
    ASSERT_EQ(db->recovered(), std::vector<std::string>{"1002"});
    EXPECT_NE(db->find_serial("1002"), nullptr);
    EXPECT_NE(slurp(m_dir.file("index.txt")).find("\t1002\tunknown\t/CN=journaled.example\n"),
              std::string::npos)
        << slurp(m_dir.file("index.txt"));
    EXPECT_NE(slurp(m_dir.file("newcerts/1002.pem")).find("-----BEGIN CERTIFICATE-----"),
              std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(CaDb::journal_path(m_paths.database)));
    db.reset();
    EXPECT_TRUE(CaDb::open(m_paths)->recovered().empty()) << "recorded twice";
}

// Commits keep the mode an officer gave a file, and never make one group- or world-writable.
TEST_F(CaDbTest, CommitsKeepTheFilesModeAndIgnoreALaxUmask) {
    chmod(m_dir.file("index.txt").c_str(), 0600);
    chmod(m_dir.file("serial").c_str(), 0600);
    mode_t old_umask = ::umask(0);
    {
        auto db = CaDb::open(m_paths);
        db->reserve_serials(1);
        IndexEntry e;
        e.expiry = "271207162046Z";
        e.serial = "1002";
        e.subject = "/CN=c";
        db->add(e);
        db->add_certificate_file("1002", "text\n");
        db->commit();
    }
    ::umask(old_umask);
    auto mode = [&](const std::string& f) {
        struct stat st {};
        ::stat(m_dir.file(f).c_str(), &st);
        return st.st_mode & 07777;
    };
    EXPECT_EQ(mode("index.txt"), 0600u);
    EXPECT_EQ(mode("serial"), 0600u);
    EXPECT_EQ(mode("newcerts/1002.pem"), 0644u);
    EXPECT_EQ(mode("index.txt.attr"), 0644u);
}

}  // namespace
}  // namespace ts::signer
