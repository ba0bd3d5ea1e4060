// SPDX-License-Identifier: Apache-2.0
// An offline root's CA directory lives on read-only media: `ca list`, `ca status` and `ca verify`
// must work there, create nothing (not even index.txt.lock) and change nothing; only writers
// take the exclusive lock. Read-only is made real even for root: a read-only bind mount in a
// private mount namespace (unshare), where every write fails with EROFS.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "signer/ca_db.hpp"
#include "signer/error.hpp"
#include "tests/signer/ca_util.hpp"
#include "tests/support/softhsm.hpp"

namespace ts::test {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string& text, const std::string& what) {
    return text.find(what) != std::string::npos;
}

// The line of `text` that starts with `start`, or "".
std::string line_of(const std::string& text, const std::string& start) {
    for (std::size_t pos = 0; pos < text.size();) {
        auto end = text.find('\n', pos);
        std::string line = text.substr(pos, end == std::string::npos ? end : end - pos);
        if (line.rfind(start, 0) == 0) return line;
        if (end == std::string::npos) break;
        pos = end + 1;
    }
    return "";
}

// Everything under `dir`, lock files and directories included: name -> type, mode, size,
// modification time and (regular files) contents. Any file created, removed or written shows.
std::map<std::string, std::string> tree_state(const std::string& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
        struct stat st {};
        if (::lstat(e.path().c_str(), &st) != 0) continue;
        std::string v = std::to_string(st.st_mode) + " " + std::to_string(st.st_size) + " " +
                        std::to_string(st.st_mtim.tv_sec) + "." +
                        std::to_string(st.st_mtim.tv_nsec);
        if (S_ISREG(st.st_mode)) v += "\n" + read_text(e.path().string());
        out[fs::relative(e.path(), dir).string()] = v;
    }
    return out;
}

class CaReadOnlyTest : public ::testing::Test {
  protected:
    void SetUp() override {
        auto key = make_rsa_key(2048);
        write_key(m_dir.file("ca.key"), key.get());
        auto r = tokensign({"ca", "init", "--dir", ca(""), "--key", m_dir.file("ca.key"),
                            "--subject", "/C=US/O=Offline/CN=Offline Root"});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        m_leaf = make_rsa_key(2048);
        for (const char* n : {"a", "b"}) {
            std::string csr = m_dir.file(std::string(n) + ".csr");
            write_text(csr, make_csr(m_leaf.get(), {{"CN", std::string(n) + ".example"}}));
            auto s = tokensign({"ca", "sign", "--config", conf(), "--batch", "--in", csr, "--out",
                                m_dir.file(std::string(n) + ".pem")});
            ASSERT_EQ(s.exit_code, 0) << s.err;
        }
        auto rv = tokensign({"ca", "revoke", "--config", conf(), "--serial", "1001"});
        ASSERT_EQ(rv.exit_code, 0) << rv.err;
    }

    std::string ca(const std::string& rel) const { return m_dir.file("ca/" + rel); }
    std::string conf() const { return ca("openssl.cnf"); }
    std::string lock() const { return ca("index.txt.lock"); }

    // `argv` in a private mount namespace where the CA directory is a read-only bind mount.
    // unshare --map-root-user makes this work for an unprivileged user too.
    RunResult on_read_only(std::vector<std::string> argv) const {
        std::vector<std::string> cmd = {
            "unshare",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" || exit 99; shift; "
            "exec \"$@\"",
            "sh",
            ca("")};
        cmd.insert(cmd.end(), argv.begin(), argv.end());
        auto r = run(cmd);
        EXPECT_NE(r.exit_code, 99) << "could not make a read-only bind mount: " << r.err;
        return r;
    }
    RunResult tokensign_on_read_only(std::vector<std::string> args) const {
        args.insert(args.begin(), cli_path());
        return on_read_only(args);
    }

    // The three readers, each checked for its real answer.
    template <class Runner>
    void expect_readers_work(Runner&& runner) {
        auto list = runner({"ca", "list", "--config", conf()});
        EXPECT_EQ(list.exit_code, 0) << list.err;
        EXPECT_TRUE(contains(line_of(list.out, "1000 "), " Valid ")) << list.out;
        EXPECT_TRUE(contains(line_of(list.out, "1001 "), " Revoked ")) << list.out;
        auto status = runner({"ca", "status", "--config", conf(), "1001"});
        EXPECT_EQ(status.exit_code, 0) << status.err;
        EXPECT_EQ(status.out, "1001=Revoked (R)\n");
        auto ok = runner({"ca", "verify", "--config", conf(), m_dir.file("a.pem")});
        EXPECT_EQ(ok.exit_code, 0) << ok.err;
        EXPECT_TRUE(contains(ok.out, "OK (serial 1000, Valid")) << ok.out;
        auto revoked = runner({"ca", "verify", "--config", conf(), m_dir.file("b.pem")});
        EXPECT_EQ(revoked.exit_code, 6) << revoked.err;
        EXPECT_TRUE(contains(revoked.err, "is revoked")) << revoked.err;
    }

    TempDir m_dir{"tokensign-ca-ro"};
    OsslPtr<EVP_PKEY> m_leaf;
};

// The mount really refuses writes, to root as well: otherwise the tests below prove nothing.
TEST_F(CaReadOnlyTest, TheReadOnlyMountRefusesWritesEvenToRoot) {
    auto r = on_read_only({"touch", ca("probe")});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(contains(r.err, "Read-only file system")) << r.err;
    EXPECT_FALSE(fs::exists(ca("probe")));
}

TEST_F(CaReadOnlyTest, ReadersWorkOnAReadOnlyDirectoryWithTheLockFile) {
    ASSERT_TRUE(fs::exists(lock())) << "the signers above should have left index.txt.lock";
    auto before = tree_state(ca(""));
    expect_readers_work(
        [&](std::vector<std::string> args) { return tokensign_on_read_only(std::move(args)); });
    EXPECT_EQ(tree_state(ca("")), before);
}

// A directory written by `ca init` and copied to media before any signer ran has no lock file:
// the readers neither need one nor create one.
TEST_F(CaReadOnlyTest, ReadersWorkOnAReadOnlyDirectoryWithoutALockFile) {
    ASSERT_TRUE(fs::remove(lock()));
    auto before = tree_state(ca(""));
    expect_readers_work(
        [&](std::vector<std::string> args) { return tokensign_on_read_only(std::move(args)); });
    EXPECT_FALSE(fs::exists(lock()));
    EXPECT_EQ(tree_state(ca("")), before);
}

// On a writable directory too, a reader creates and changes nothing (no lock file appears).
TEST_F(CaReadOnlyTest, ReadersCreateNoLockFileAndChangeNothing) {
    ASSERT_TRUE(fs::remove(lock()));
    auto before = tree_state(ca(""));
    expect_readers_work([](std::vector<std::string> args) { return tokensign(std::move(args)); });
    EXPECT_FALSE(fs::exists(lock()));
    EXPECT_EQ(tree_state(ca("")), before);
}

// Mode 0555 directories and 0444 files, read by an unprivileged user (as root: nobody, whom
// file modes do bind).
TEST_F(CaReadOnlyTest, ReadersWorkWhenTheFilesModesForbidWriting) {
    ASSERT_TRUE(fs::remove(lock()));
    ::chmod(m_dir.path().c_str(), 0755);
    for (const auto& e : fs::recursive_directory_iterator(ca("")))
        ::chmod(e.path().c_str(), e.is_directory() ? 0555 : 0444);
    ::chmod(ca("").c_str(), 0555);
    ::chmod(m_dir.file("a.pem").c_str(), 0444);
    ::chmod(m_dir.file("b.pem").c_str(), 0444);
    struct Restore {
        std::string dir;
        ~Restore() {
            ::chmod(dir.c_str(), 0755);
            for (const auto& e : fs::recursive_directory_iterator(dir))
                ::chmod(e.path().c_str(), e.is_directory() ? 0755 : 0644);
        }
    } restore{ca("")};
    auto before = tree_state(ca(""));
    std::vector<std::string> as_user;
    if (::geteuid() == 0)
        as_user = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"};
    expect_readers_work([&](std::vector<std::string> args) {
        std::vector<std::string> argv = as_user;
        argv.push_back(cli_path());
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv);
    });
    EXPECT_FALSE(fs::exists(lock()));
    EXPECT_EQ(tree_state(ca("")), before);
    // The writers, by contrast, are refused there (exit 7: the lock file cannot be made).
    std::vector<std::string> revoke = as_user;
    for (const auto& a :
         {cli_path(), std::string("ca"), std::string("revoke"), std::string("--config"), conf(),
          std::string("--serial"), std::string("1000")})
        revoke.push_back(a);
    auto w = run(revoke);
    EXPECT_EQ(w.exit_code, 7) << w.err;
    EXPECT_EQ(tree_state(ca("")), before);
}

TEST_F(CaReadOnlyTest, WritersOnAReadOnlyMountFailWithExit7AndChangeNothing) {
    auto before = tree_state(ca(""));
    auto w = tokensign_on_read_only({"ca", "revoke", "--config", conf(), "--serial", "1000"});
    EXPECT_EQ(w.exit_code, 7) << w.err;
    EXPECT_TRUE(contains(w.err, "Read-only file system")) << w.err;
    EXPECT_EQ(tree_state(ca("")), before);
}

// The reader in-process: a shared lock beside other readers, a wait (then CaDbError) while a
// writer holds the exclusive lock, and no clean-up of a crashed signer's temp files, which is a
// writer's job.
TEST_F(CaReadOnlyTest, TheReaderSharesTheLockWithReadersAndWaitsForAWriter) {
    signer::CaDbPaths paths{ca("index.txt"), ca("serial"), ca("crlnumber"), ca("newcerts")};
    std::string stale = ca("index.txt.tmp.999999");
    write_text(stale, "left by a crashed signer\n");

    int held = ::open(lock().c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(held, 0);
    ASSERT_EQ(::flock(held, LOCK_SH), 0);
    {
        auto db = signer::CaDb::open_read_only(paths, 200);
        ASSERT_EQ(db->entries().size(), 2u);
        EXPECT_EQ(db->entries()[1].status, 'R');
        ASSERT_NE(db->find_serial("1000"), nullptr);
        auto second = signer::CaDb::open_read_only(paths, 200);
        EXPECT_EQ(second->entries().size(), 2u);
        // A writer cannot get in while readers hold the lock.
        int writer = ::open(lock().c_str(), O_RDONLY | O_CLOEXEC);
        EXPECT_NE(::flock(writer, LOCK_EX | LOCK_NB), 0);
        ::close(writer);
    }
    ASSERT_EQ(::flock(held, LOCK_EX), 0);  // now a writer
    try {
        (void)signer::CaDb::open_read_only(paths, 200);
        ADD_FAILURE() << "the reader did not wait for the writer's lock";
    } catch (const signer::CaDbError& e) {
        EXPECT_TRUE(contains(e.what(), "locked by another signer")) << e.what();
    }
    ::close(held);
    EXPECT_EQ(signer::CaDb::open_read_only(paths, 200)->entries().size(), 2u);
    EXPECT_TRUE(fs::exists(stale));
}

}  // namespace
}  // namespace ts::test
