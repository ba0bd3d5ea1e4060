// SPDX-License-Identifier: Apache-2.0
// Running a program on a pseudo-terminal, as a person at a terminal would, answering its PIN
// prompt once.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace ts::test {

struct TtyRun {
    int exit_code = -1;
    std::string screen;  // everything the terminal showed
    bool answered = false;
};

/// argv[0] ARGS with a pseudo-terminal as controlling terminal and stdio, in this process's
/// environment. `answer` is typed once a PIN prompt and then ':' appears (tokensign's
/// "Enter PIN for token 'x': ", openssl's "Enter pass phrase for token 'x' (user PIN):"),
/// as soon as the terminal's echo is off (or after 10 s, when it stays on).
/// With `confirm`, that is typed once a "[y/N]" question appears (tokensign's confirmations).
/// `at_prompt(pid)` runs while the program waits at the PIN prompt, before the answer is typed.
/// Fails the test (ADD_FAILURE) when nothing appears for 60 s.
TtyRun run_on_tty(const std::vector<std::string>& argv, const std::string& answer,
                  const std::string& confirm = "",
                  const std::function<void(int pid)>& at_prompt = {});

/// What the terminal showed right after the PIN prompt (where an echoed PIN would be).
std::string after_prompt(const std::string& screen);

}  // namespace ts::test
