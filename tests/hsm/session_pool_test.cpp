// SPDX-License-Identifier: Apache-2.0
// The session pool under concurrency and fork(): sessions are never shared between threads,
// and a child process re-initialises instead of using its parent's sessions.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "hsm/crypto.hpp"
#include "hsm/keygen.hpp"
#include "hsm/object.hpp"
#include "tests/hsm/hsm_fixture.hpp"

namespace ts::test {
namespace {

class SessionPoolTest : public HsmTest {
protected:
    static hsm::KeyHandle signing_key() {
        auto s = session();
        hsm::ObjectQuery q;
        q.cls = CKO_PRIVATE_KEY;
        q.label = "pool-key";
        auto found = hsm::find_objects(s, q);
        if (found.empty()) {
            auto k = hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "pool-key",
                                            std::nullopt);
            return {k.private_key.handle, false};
        }
        return {found.front().handle, false};
    }
    static std::vector<unsigned char> ecdsa(hsm::Session& s, const hsm::KeyHandle& k) {
        std::vector<unsigned char> digest(32, 0x42);
        CK_MECHANISM m{CKM_ECDSA, nullptr, 0};
        return hsm::sign(s, k, m, digest, pins(), 64);
    }
};

TEST_F(SessionPoolTest, ConcurrentLeasesNeverShareASession) {
    auto key = signing_key();
    constexpr int kThreads = 6, kRounds = 40;
    std::atomic<int> failures{0}, signatures{0};
    std::mutex seen_mutex;
    std::set<CK_SESSION_HANDLE> in_use;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < kRounds; ++i) {
                try {
                    auto s = token().acquire();
                    {
                        std::lock_guard lock(seen_mutex);
                        if (!in_use.insert(s.handle()).second) ++failures;  // leased twice
                    }
                    if (ecdsa(s, key).size() == 64) ++signatures;
                    std::lock_guard lock(seen_mutex);
                    in_use.erase(s.handle());
                } catch (const std::exception&) {
                    ++failures;
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(signatures.load(), kThreads * kRounds);
}

TEST_F(SessionPoolTest, IdleSessionsAreReusedNotReopened) {
    CK_SESSION_HANDLE first;
    {
        auto s = token().acquire();
        first = s.handle();
    }
    auto again = token().acquire();
    EXPECT_EQ(again.handle(), first);
}

TEST_F(SessionPoolTest, InvalidatedSessionDoesNotReturnToThePool) {
    CK_SESSION_HANDLE dropped;
    {
        auto s = token().acquire();
        dropped = s.handle();
        s.invalidate();
    }
    auto next = token().acquire();
    EXPECT_NE(next.handle(), dropped);
    CK_SESSION_INFO info{};
    EXPECT_EQ(next.fn()->C_GetSessionInfo(dropped, &info), CKR_SESSION_HANDLE_INVALID);
}

TEST_F(SessionPoolTest, ChildAfterForkSignsOnItsOwnSessions) {
    auto key = signing_key();
    CK_SESSION_HANDLE parent_session;
    {
        auto s = token().acquire();  // leave an idle parent session in the pool
        parent_session = s.handle();
        ASSERT_EQ(ecdsa(s, key).size(), 64u);
    }
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        // Exit codes: 0 signed on a fresh session, 2 reused the parent's handle, 3 failed.
        int rc = 3;
        try {
            token().login(pins());
            auto s = token().acquire();
            if (s.handle() == parent_session) _exit(2);
            rc = ecdsa(s, key).size() == 64 ? 0 : 3;
        } catch (...) {
            rc = 3;
        }
        _exit(rc);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    // The parent's pool is untouched by the child.
    auto s = token().acquire();
    EXPECT_EQ(ecdsa(s, key).size(), 64u);
}

}  // namespace
}  // namespace ts::test
