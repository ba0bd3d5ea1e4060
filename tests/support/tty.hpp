// SPDX-License-Identifier: Apache-2.0
// Running a program on a pseudo-terminal, as a person at a terminal would, answering its PIN
// prompt once.
#pragma once

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
/// Fails the test (ADD_FAILURE) when nothing appears for 60 s.
TtyRun run_on_tty(const std::vector<std::string>& argv, const std::string& answer);

/// What the terminal showed right after the PIN prompt (where an echoed PIN would be).
std::string after_prompt(const std::string& screen);

}  // namespace ts::test
