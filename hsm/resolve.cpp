// SPDX-License-Identifier: Apache-2.0
#include "hsm/resolve.hpp"

#include "hsm/error.hpp"

namespace ts::hsm {

namespace {

// What `q` finds on a token without logging in. A private key is hidden before C_Login on
// most tokens (CKA_PRIVATE): its public key or certificate (same id and label) stands for it.
std::vector<ObjectInfo> visible_matches(Session& s, ObjectQuery q) {
    q.token_objects_only = true;
    std::vector<ObjectInfo> found = find_objects(s, q);
    if (!found.empty() || q.cls != CKO_PRIVATE_KEY) return found;
    for (CK_OBJECT_CLASS companion : {CKO_PUBLIC_KEY, CKO_CERTIFICATE}) {
        q.cls = companion;
        for (ObjectInfo& o : find_objects(s, q)) found.push_back(std::move(o));
    }
    return found;
}

}  // namespace

std::shared_ptr<Token> open_token(const Config& cfg, const Uri& uri, const ObjectQuery& q) {
    auto modules = load_modules(cfg.modules, &uri);
    std::vector<TokenInfo> tokens = matching_tokens(modules, uri);
    if (tokens.size() == 1) return Token::open(tokens.front(), cfg.max_idle_sessions);
    if (!q.names_objects()) return Token::open(select_token(modules, uri), cfg.max_idle_sessions);

    std::shared_ptr<Token> holder;
    std::size_t holders = 0;
    std::string matched;
    for (const TokenInfo& info : tokens) {
        std::shared_ptr<Token> token = Token::open(info, cfg.max_idle_sessions);
        std::vector<ObjectInfo> found;
        {
            Session s = token->acquire();
            found = visible_matches(s, q);
        }
        if (found.empty()) continue;
        ++holders;
        holder = token;
        for (const ObjectInfo& o : found) {
            matched += "\n  " + o.describe() + " on " + token->what() + "  " +
                       object_uri(info.token_info, o.id, o.label, o.cls);
        }
    }
    if (holders == 1) return holder;
    if (holders == 0) {
        std::string hint =
            q.cls == CKO_PRIVATE_KEY
                ? " (before logging in only public objects are visible; a private key is found "
                  "by the public key or certificate beside it, else name its token with token= "
                  "so that it alone is logged in to)"
                : "";
        throw SelectionError("no " + q.describe() + " matches " + uri.to_string() + " on any of " +
                             std::to_string(tokens.size()) + " tokens" + hint + ":" +
                             list_token_candidates(tokens));
    }
    throw SelectionError("objects matching " + uri.to_string() + " are on " +
                         std::to_string(holders) +
                         " tokens; name the token (token=, serial=):" + matched);
}

std::shared_ptr<Token> open_token(const Config& cfg, const Uri& uri) {
    return open_token(cfg, uri, ObjectQuery::from_uri(uri));
}

std::shared_ptr<Token> open_one_token(const Config& cfg, const Uri& uri) {
    auto modules = load_modules(cfg.modules, &uri);
    return Token::open(select_token(modules, uri), cfg.max_idle_sessions);
}

std::vector<std::shared_ptr<Token>> open_tokens(const Config& cfg, const Uri& uri) {
    auto modules = load_modules(cfg.modules, &uri);
    std::vector<std::shared_ptr<Token>> out;
    for (const TokenInfo& info : matching_tokens(modules, uri)) {
        out.push_back(Token::open(info, cfg.max_idle_sessions));
    }
    return out;
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
