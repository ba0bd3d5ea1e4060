// SPDX-License-Identifier: Apache-2.0
// The session pool on a token that allows few sessions: SoftHSM2 behind the fault-injecting
// module (tests/fault), which refuses C_OpenSession with CKR_SESSION_COUNT past
// TS_FAULT_MAX_SESSIONS. Threads wait for a session of their own process to come back instead of
// failing; with nothing to wait for, the error says so at once.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "hsm/crypto.hpp"
#include "hsm/error.hpp"
#include "hsm/keygen.hpp"
#include "hsm/module.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"
#include "tests/support/process.hpp"
#include "tests/support/softhsm.hpp"

namespace ts::test {
namespace {

class SessionLimitTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        s_softhsm = new SoftHsm();
        s_softhsm->add_token("limited");
        ::setenv("TS_FAULT_TARGET", softhsm_module().c_str(), 1);
        ::setenv("TS_FAULT_MAX_SESSIONS", "3", 1);  // the login anchor and two more
        s_module = hsm::Module::load_path(fault_module());
        s_token = hsm::Token::open(
            hsm::select_token({s_module}, hsm::parse_uri("pkcs11:token=limited")), 1);
        hsm::PinSources p;
        p.pin_value = std::make_shared<const hsm::Pin>(hsm::Pin::from("1234"));
        p.use_env = false;
        p.allow_prompt = false;
        s_pins = new hsm::PinSources(p);
        s_token->login(*s_pins);
        auto s = s_token->acquire();
        auto k =
            hsm::generate_key_pair(s, hsm::KeySpec::parse("ec:p-256"), "limit-key", std::nullopt);
        s_key = k.private_key.handle;
    }
    static void TearDownTestSuite() {
        s_token.reset();
        s_module.reset();
        delete s_pins;
        delete s_softhsm;
        ::unsetenv("TS_FAULT_MAX_SESSIONS");
    }
    void SetUp() override { ::setenv("TS_FAULT_MAX_SESSIONS", "3", 1); }

    static std::size_t sign_once(hsm::Session& s) {
        std::vector<unsigned char> digest(32, 0x5a);
        CK_MECHANISM m{CKM_ECDSA, nullptr, 0};
        return hsm::sign(s, {s_key, false}, m, digest, *s_pins, 64).size();
    }

    static SoftHsm* s_softhsm;
    static std::shared_ptr<hsm::Module> s_module;
    static std::shared_ptr<hsm::Token> s_token;
    static hsm::PinSources* s_pins;
    static CK_OBJECT_HANDLE s_key;
};

SoftHsm* SessionLimitTest::s_softhsm = nullptr;
std::shared_ptr<hsm::Module> SessionLimitTest::s_module;
std::shared_ptr<hsm::Token> SessionLimitTest::s_token;
hsm::PinSources* SessionLimitTest::s_pins = nullptr;
CK_OBJECT_HANDLE SessionLimitTest::s_key = CK_INVALID_HANDLE;

TEST_F(SessionLimitTest, TheTokenReportsItsLimitThroughTheFaultModule) {
    EXPECT_EQ(s_token->refresh_info().ulMaxSessionCount, 3u);
}

TEST_F(SessionLimitTest, SixThreadsShareTwoSessionsWithoutAnyFailure) {
    constexpr int kThreads = 6, kRounds = 15;
    std::atomic<int> leased{0}, most{0}, signatures{0}, failures{0};
    std::vector<std::string> errors(static_cast<std::size_t>(kThreads));
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kRounds; ++i) {
                try {
                    auto s = s_token->acquire();
                    int now = ++leased;
                    for (int m = most; now > m && !most.compare_exchange_weak(m, now);) {
                    }
                    if (sign_once(s) == 64) ++signatures;
                    --leased;
                } catch (const std::exception& e) {
                    ++failures;
                    errors[static_cast<std::size_t>(t)] = e.what();
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    for (const auto& e : errors) EXPECT_EQ(e, "");
    EXPECT_EQ(failures, 0);
    EXPECT_EQ(signatures, kThreads * kRounds);
    EXPECT_LE(most, 2);  // the token's limit held: the others waited
    EXPECT_GE(most, 1);
}

TEST_F(SessionLimitTest, AWaitingThreadGetsTheSessionAnotherThreadReturns) {
    ::setenv("TS_FAULT_MAX_SESSIONS", "2", 1);  // the anchor and one more
    auto held = s_token->acquire();
    std::atomic<bool> got{false};
    std::string error;
    std::thread waiter([&] {
        try {
            auto s = s_token->acquire();
            got = sign_once(s) == 64;
        } catch (const std::exception& e) {
            error = e.what();
        }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_FALSE(got);  // still waiting: the one session is ours
    held.invalidate();  // closed, not pooled: the waiter opens a new one
    waiter.join();
    EXPECT_EQ(error, "");
    EXPECT_TRUE(got);
}

TEST_F(SessionLimitTest, WithNoSessionOfOursToWaitForTheErrorComesAtOnce) {
    {
        auto idle = s_token->acquire();  // whatever the pool kept, closed
        idle.invalidate();
    }
    ::setenv("TS_FAULT_MAX_SESSIONS", "1", 1);  // only the login anchor
    try {
        auto s = s_token->acquire();
        FAIL() << "acquire succeeded on a token with no session left";
    } catch (const hsm::Pkcs11Error& e) {
        EXPECT_EQ(e.rv(), static_cast<CK_RV>(CKR_SESSION_COUNT));
        EXPECT_NE(std::string(e.what()).find("allows no further session"), std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace ts::test
