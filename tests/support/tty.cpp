// SPDX-License-Identifier: Apache-2.0
#include "tests/support/tty.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

namespace ts::test {

namespace {
// Where a PIN prompt starts: tokensign's "Enter PIN for token 'x': " or what openssl makes of
// tokensign's prompt info, "Enter pass phrase for token 'x' (user PIN):".
std::size_t prompt_start(const std::string& screen) {
    auto a = screen.find("PIN for");
    auto b = screen.find("(user PIN)");
    return std::min(a, b);
}
}  // namespace

std::string after_prompt(const std::string& screen) {
    auto p = prompt_start(screen);
    if (p == std::string::npos) return {};
    p = screen.find(':', p);
    return p == std::string::npos ? std::string{} : screen.substr(p + 1, 9);
}

TtyRun run_on_tty(const std::vector<std::string>& args, const std::string& answer,
                  const std::string& confirm, const std::function<void(int pid)>& at_prompt) {
    TtyRun r;
    bool confirmed = confirm.empty();
    int master = -1;
    pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
    if (pid < 0) {
        ADD_FAILURE() << "forkpty failed: " << std::strerror(errno);
        return r;
    }
    if (pid == 0) {
        std::vector<std::string> argv_s = args;
        std::vector<char*> argv;
        for (auto& a : argv_s) argv.push_back(a.data());
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        _exit(127);
    }
    for (;;) {
        // A generous guard so a broken prompt fails the test instead of hanging it.
        pollfd p{master, POLLIN, 0};
        int n = poll(&p, 1, 60000);
        if (n == 0) {
            ADD_FAILURE() << args[0] << " produced nothing for 60 s; screen so far:\n" << r.screen;
            kill(pid, SIGKILL);
            break;
        }
        char buf[4096];
        ssize_t got = read(master, buf, sizeof buf);
        if (got <= 0) break;  // EIO: the child closed the terminal
        r.screen.append(buf, static_cast<std::size_t>(got));
        if (!confirmed && r.screen.find("[y/N]") != std::string::npos) {
            std::string line = confirm + "\n";
            EXPECT_EQ(write(master, line.data(), line.size()), static_cast<ssize_t>(line.size()));
            confirmed = true;
        }
        if (!r.answered && prompt_start(r.screen) != std::string::npos &&
            r.screen.find(':', prompt_start(r.screen)) != std::string::npos) {
            // A person types after the prompt, by which time the program has turned echo off
            // (openssl prints its prompt first, then clears ECHO): wait for that, as long as
            // 10 s. If echo stays on, the answer is typed anyway and shows on the screen.
            for (int waited = 0; waited < 2000; ++waited) {
                termios t{};
                if (tcgetattr(master, &t) != 0 || (t.c_lflag & ECHO) == 0) break;
                usleep(5000);
            }
            if (at_prompt) at_prompt(static_cast<int>(pid));
            std::string line = answer + "\n";
            EXPECT_EQ(write(master, line.data(), line.size()), static_cast<ssize_t>(line.size()));
            r.answered = true;
        }
    }
    close(master);
    int status = 0;
    waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

}  // namespace ts::test
