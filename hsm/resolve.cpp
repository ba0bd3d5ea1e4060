// SPDX-License-Identifier: Apache-2.0
#include "hsm/resolve.hpp"

namespace ts::hsm {

std::shared_ptr<Token> open_token(const Config& cfg, const Uri& uri) {
    auto modules = load_modules(cfg.modules, &uri);
    return Token::open(select_token(modules, uri), cfg.max_idle_sessions);
}

PinSources pin_sources(const Config& cfg, const Uri& uri) {
    PinSources p;
    p.pin_value = uri.pin_value();
    p.uri_pin_source = uri.pin_source().value_or("");
    p.option_pin_source = cfg.pin_source;
    p.use_env = cfg.use_env_pin;
    p.allow_prompt = cfg.allow_prompt;
    p.allow_final_try = cfg.allow_final_try;
    return p;
}

}  // namespace ts::hsm
