// SPDX-License-Identifier: Apache-2.0
// From a URI and the caller's configuration to an open token and the PIN sources to log in with.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "hsm/module.hpp"
#include "hsm/pin.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"

namespace ts::hsm {

/// What the CLI (flags) or the provider (openssl.cnf parameters) configured.
struct Config {
    ModuleChoice modules;          // --module / pkcs11-module, TOKENSIGN_MODULE
    std::string pin_source;        // --pin-source / pin-source
    bool use_env_pin = true;       // TOKENSIGN_PIN
    bool allow_prompt = true;      // interactive prompt when nothing else gives a PIN
    bool allow_final_try = false;  // spend the last PIN try
    std::size_t max_idle_sessions = 8;
};

/// Loads the modules, selects exactly one token matching `uri` and opens it (shared per process).
std::shared_ptr<Token> open_token(const Config& cfg, const Uri& uri);

/// The PIN sources for a URI under a configuration (URI pin-value, URI pin-source, configured
/// pin-source, environment, prompt).
PinSources pin_sources(const Config& cfg, const Uri& uri);

}  // namespace ts::hsm
