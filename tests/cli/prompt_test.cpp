// SPDX-License-Identifier: Apache-2.0
// The interactive PIN prompt: tokensign run on a pseudo-terminal, as a person would run it.
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli/cli_fixture.hpp"
#include "tests/support/tty.hpp"

namespace ts::test {
namespace {

using PromptTest = CliTest;

/// tokensign ARGS on a pseudo-terminal; the PIN prompt must appear.
TtyRun run_cli_on_tty(const std::vector<std::string>& args, const std::string& answer) {
    std::vector<std::string> argv{cli_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    TtyRun r = run_on_tty(argv, answer);
    EXPECT_TRUE(r.answered) << "no PIN prompt appeared:\n" << r.screen;
    return r;
}

TEST_F(PromptTest, PromptsOnTheTerminalWithEchoOff) {
    auto r = run_cli_on_tty({"key", "list", token_uri()}, kPin);
    EXPECT_EQ(r.exit_code, 0) << r.screen;
    EXPECT_TRUE(contains(r.screen, "PIN for token 'cli-test'")) << r.screen;
    EXPECT_TRUE(contains(r.screen, "key objects on token 'cli-test'")) << r.screen;
    // Echo was off: the typed PIN did not appear where it was typed.
    EXPECT_FALSE(contains(after_prompt(r.screen), kPin)) << r.screen;
}

TEST_F(PromptTest, WrongPinAtThePromptIsNotAskedAgain) {
    auto r = run_cli_on_tty({"key", "list", token_uri()}, "0000");
    EXPECT_EQ(r.exit_code, 4) << r.screen;
    EXPECT_EQ(r.screen.find("PIN for"), r.screen.rfind("PIN for")) << "asked twice:\n" << r.screen;
    EXPECT_TRUE(contains(r.screen, "PIN was rejected")) << r.screen;
    EXPECT_FALSE(contains(after_prompt(r.screen), "0000")) << r.screen;
}

// While tokensign waits for a PIN (and holds PINs afterwards) no core dump can be written and
// the PIN buffers are locked in memory: /proc/PID/limits and /proc/PID/status of the process
// at the prompt say so.
TEST_F(PromptTest, NoCoreDumpCanBeWrittenAndPinMemoryIsLockedWhileAtThePrompt) {
    std::string limits, status;
    auto r = run_on_tty({cli_path(), "key", "list", token_uri()}, kPin, "", [&](int pid) {
        limits = read_file("/proc/" + std::to_string(pid) + "/limits");
        status = read_file("/proc/" + std::to_string(pid) + "/status");
    });
    EXPECT_EQ(r.exit_code, 0) << r.screen;
    ASSERT_FALSE(limits.empty());
    auto core = limits.find("Max core file size");
    ASSERT_NE(core, std::string::npos) << limits;
    std::istringstream line(limits.substr(core + std::strlen("Max core file size"), 60));
    std::string soft, hard;
    line >> soft >> hard;
    EXPECT_EQ(soft, "0") << limits;
    EXPECT_EQ(hard, "0") << limits;
    auto lck = status.find("VmLck:");
    ASSERT_NE(lck, std::string::npos) << status;
    EXPECT_GT(std::stol(status.substr(lck + 6)), 0) << "no memory locked for PINs:\n" << status;
}

// A PIN file others may read is refused, with the command that fixes it; TOKENSIGN_PIN is not
// left in the environment a PKCS#11 module or a child process could see.
TEST_F(PromptTest, AGroupReadablePinSourceIsRefusedWithTheFix) {
    std::string pin = file("loose-pin");
    write_file(pin, std::string(kPin) + "\n");
    chmod(pin.c_str(), 0644);
    auto r = ts({"--pin-source", pin, "key", "list", token_uri()});
    EXPECT_EQ(r.exit_code, 4) << r.err;
    EXPECT_TRUE(contains(r.err, "chmod 600")) << r.err;
    EXPECT_FALSE(contains(r.err, kPin)) << r.err;
    chmod(pin.c_str(), 0600);
    EXPECT_EQ(ts({"--pin-source", pin, "key", "list", token_uri()}).exit_code, 0);
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
