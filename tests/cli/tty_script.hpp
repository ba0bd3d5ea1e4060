// SPDX-License-Identifier: Apache-2.0
// Running tokensign on a pseudo-terminal and answering a sequence of prompts, as a person at
// the terminal would: new PINs typed twice, a typed confirmation.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ts::test {

struct TtyScriptRun {
    int exit_code = -1;
    std::string screen;          // everything the terminal showed
    std::size_t answered = 0;    // how many of the answers were typed
    std::vector<bool> echo_off;  // per answer: was echo off when it was typed
};

/// argv[0] ARGS with a pseudo-terminal as controlling terminal and stdio, with `env` added to
/// this process's environment. For each (prompt, answer) in order: once `prompt` appears on the
/// screen after the previous answer, `answer` is typed (after up to 0.5 s for the program to
/// turn echo off, which is recorded). Stdin is the terminal too: data for stdin cannot be
/// given (that is the point: a confirmation must come from the terminal). Fails the test when
/// nothing appears for 60 s.
inline TtyScriptRun run_on_tty_script(
    const std::vector<std::string>& args,
    const std::vector<std::pair<std::string, std::string>>& script,
    const std::map<std::string, std::string>& env = {}) {
    TtyScriptRun r;
    int master = -1;
    pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
    if (pid < 0) {
        ADD_FAILURE() << "forkpty failed: " << std::strerror(errno);
        return r;
    }
    if (pid == 0) {
        for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
        std::vector<std::string> argv_s = args;
        std::vector<char*> argv;
        for (auto& a : argv_s) argv.push_back(a.data());
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        _exit(127);
    }
    std::size_t seen = 0;  // screen offset after the last answer
    for (;;) {
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
        while (r.answered < script.size()) {
            auto at = r.screen.find(script[r.answered].first, seen);
            if (at == std::string::npos) break;
            bool off = false;
            for (int waited = 0; waited < 100; ++waited) {
                termios t{};
                if (tcgetattr(master, &t) == 0 && (t.c_lflag & ECHO) == 0) {
                    off = true;
                    break;
                }
                usleep(5000);
            }
            r.echo_off.push_back(off);
            std::string line = script[r.answered].second + "\n";
            EXPECT_EQ(write(master, line.data(), line.size()), static_cast<ssize_t>(line.size()));
            seen = at + script[r.answered].first.size();
            ++r.answered;
        }
    }
    close(master);
    int status = 0;
    waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

}  // namespace ts::test
