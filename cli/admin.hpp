// SPDX-License-Identifier: Apache-2.0
// Token administration and request subcommands, attached to the noun groups of cmd_token.cpp,
// cmd_key.cpp and cmd_cert.cpp, and the confirmation prompt they share.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/common.hpp"

namespace ts::cli {

/// token init | change-pin | unlock (cmd_token_admin.cpp), under `token`.
void setup_token_admin(CLI::App& token, const GlobalOptions& g);
/// key delete (cmd_delete.cpp), under `key`.
void setup_key_delete(CLI::App& key, const GlobalOptions& g);
/// cert delete (cmd_delete.cpp), under `cert`.
void setup_cert_delete(CLI::App& cert, const GlobalOptions& g);

/// Asks `question` on the controlling terminal (/dev/tty, echo on; never stdin, which may carry
/// data) and reads one line. Returns normally when the line equals `expected`; throws
/// signer::Declined (exit 8) when it does not, and when there is no terminal to ask on, saying
/// to use `script_hint` (the flag a script gives instead) then.
void confirm_typed(const std::string& question, const std::string& expected,
                   const std::string& script_hint);

}  // namespace ts::cli
