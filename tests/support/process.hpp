// SPDX-License-Identifier: Apache-2.0
// Running real programs (tokensign, openssl, pkcs11-tool) from tests.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace ts::test {

struct RunResult {
    int exit_code = -1;   // -1: killed by a signal
    int term_signal = 0;  // the signal that ended it, or 0
    std::string out;
    std::string err;
};

/// Runs argv[0] with argv (no shell), extra environment entries, optional stdin text; waits.
RunResult run(const std::vector<std::string>& argv,
              const std::map<std::string, std::string>& env = {}, const std::string& input = "");

/// Runs argv like run(), with no input, and sends it `signal` once `after` has passed (if it is
/// still running); waits for it to end.
RunResult run_signalled(const std::vector<std::string>& argv,
                        const std::map<std::string, std::string>& env, int signal,
                        std::chrono::milliseconds after);

/// The built tokensign CLI.
std::string cli_path();
/// The directory holding the built tokensign.so.
std::string provider_dir();
/// The fault-injecting PKCS#11 module of this build (tests/fault): it wraps the module named by
/// TS_FAULT_TARGET and fails as TS_FAULT_* ask.
std::string fault_module();

}  // namespace ts::test
