// SPDX-License-Identifier: Apache-2.0
// The interactive PIN prompt: tokensign run on a pseudo-terminal, as a person would run it.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include "tests/cli/cli_fixture.hpp"

namespace ts::test {
namespace {

using PromptTest = CliTest;

/// tokensign ARGS with a pseudo-terminal as its controlling terminal and stdio. `answer` is
/// typed once the PIN prompt appears. Returns everything the terminal showed, and the exit code.
struct TtyRun {
    int exit_code = -1;
    std::string screen;
};

/// What the terminal showed right after the PIN prompt (where an echoed PIN would be).
std::string after_prompt(const std::string& screen) {
    auto p = screen.find("PIN for");
    if (p == std::string::npos) return {};
    p = screen.find(": ", p);
    return p == std::string::npos ? std::string{} : screen.substr(p + 2, 8);
}

TtyRun run_on_tty(const std::vector<std::string>& args, const std::string& answer) {
    TtyRun r;
    int master = -1;
    pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
    if (pid < 0) {
        ADD_FAILURE() << "forkpty failed: " << std::strerror(errno);
        return r;
    }
    if (pid == 0) {
        std::vector<std::string> argv_s{cli_path()};
        argv_s.insert(argv_s.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : argv_s) argv.push_back(a.data());
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    bool answered = false;
    for (;;) {
        // A generous guard so a broken prompt fails the test instead of hanging it.
        pollfd p{master, POLLIN, 0};
        int n = poll(&p, 1, 60000);
        if (n == 0) {
            ADD_FAILURE() << "tokensign produced nothing for 60 s; screen so far:\n" << r.screen;
            kill(pid, SIGKILL);
            break;
        }
        char buf[4096];
        ssize_t got = read(master, buf, sizeof buf);
        if (got <= 0) break;  // EIO: the child closed the terminal
        r.screen.append(buf, static_cast<std::size_t>(got));
        if (!answered && r.screen.find("PIN for") != std::string::npos &&
            r.screen.find(": ", r.screen.find("PIN for")) != std::string::npos) {
            std::string line = answer + "\n";
            EXPECT_EQ(write(master, line.data(), line.size()), static_cast<ssize_t>(line.size()));
            answered = true;
        }
    }
    close(master);
    int status = 0;
    waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    EXPECT_TRUE(answered) << "no PIN prompt appeared:\n" << r.screen;
    return r;
}

TEST_F(PromptTest, PromptsOnTheTerminalWithEchoOff) {
    auto r = run_on_tty({"key", "list", token_uri()}, kPin);
    EXPECT_EQ(r.exit_code, 0) << r.screen;
    EXPECT_TRUE(contains(r.screen, "PIN for token 'cli-test'")) << r.screen;
    EXPECT_TRUE(contains(r.screen, "key objects on token 'cli-test'")) << r.screen;
    // Echo was off: the typed PIN did not appear where it was typed.
    EXPECT_FALSE(contains(after_prompt(r.screen), kPin)) << r.screen;
}

TEST_F(PromptTest, WrongPinAtThePromptIsNotAskedAgain) {
    auto r = run_on_tty({"key", "list", token_uri()}, "0000");
    EXPECT_EQ(r.exit_code, 4) << r.screen;
    EXPECT_EQ(r.screen.find("PIN for"), r.screen.rfind("PIN for")) << "asked twice:\n" << r.screen;
    EXPECT_TRUE(contains(r.screen, "PIN was rejected")) << r.screen;
    EXPECT_FALSE(contains(after_prompt(r.screen), "0000")) << r.screen;
}

TEST_F(PromptTest, NoPromptFlagNeverAsks) {
    // Even with a terminal, --no-prompt fails instead of asking.
    int master = -1;
    pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        std::string cli = cli_path(), uri = token_uri();
        execl(cli.c_str(), cli.c_str(), "--no-prompt", "key", "list", uri.c_str(),
              static_cast<char*>(nullptr));
        _exit(127);
    }
    std::string screen;
    char buf[4096];
    for (ssize_t got; (got = read(master, buf, sizeof buf)) > 0;)
        screen.append(buf, static_cast<std::size_t>(got));
    close(master);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << screen;
    EXPECT_EQ(WEXITSTATUS(status), 4) << screen;
    EXPECT_FALSE(contains(screen, "Enter PIN")) << screen;
}

}  // namespace
}  // namespace ts::test
