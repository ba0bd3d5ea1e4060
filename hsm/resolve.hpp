// SPDX-License-Identifier: Apache-2.0
// From a URI and the caller's configuration to an open token and the PIN sources to log in with.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "hsm/module.hpp"
#include "hsm/object.hpp"
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

/// Loads the modules and opens the one token `uri` means (shared per process): the only
/// initialised token its module, slot and token attributes match; when several match (a URI
/// that names no token, such as pkcs11:object=k;type=private), the only one of them holding an
/// object that `q` matches. That search logs in to no token: it sees the public objects, and
/// for a private key also the public key or certificate beside it (same id and label); private
/// objects of tokens this process is logged in to already are seen too. So a PIN goes only to
/// the token the object is on. Throws SelectionError when no token holds a match (listing the
/// tokens searched) or several do (listing the URIs of the objects that matched).
std::shared_ptr<Token> open_token(const Config& cfg, const Uri& uri, const ObjectQuery& q);
/// open_token() with the URI's own id, object and type.
std::shared_ptr<Token> open_token(const Config& cfg, const Uri& uri);

/// The one initialised token `uri`'s token attributes match, without looking at objects (key
/// generation: the object does not exist yet). Throws SelectionError when none or several do.
std::shared_ptr<Token> open_one_token(const Config& cfg, const Uri& uri);

/// Every initialised token `uri`'s token attributes match (listing several tokens' objects).
std::vector<std::shared_ptr<Token>> open_tokens(const Config& cfg, const Uri& uri);

/// The PIN sources for a URI under a configuration (URI pin-value, URI pin-source, configured
/// pin-source, environment, prompt).
PinSources pin_sources(const Config& cfg, const Uri& uri);

}  // namespace ts::hsm
