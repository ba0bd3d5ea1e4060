// SPDX-License-Identifier: Apache-2.0
// tokensign key generate | list | show: key pairs on a token, named by pkcs11: URIs.
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "cli/admin.hpp"
#include "cli/common.hpp"
#include "hsm/attributes.hpp"
#include "hsm/error.hpp"
#include "hsm/keygen.hpp"
#include "hsm/object.hpp"
#include "hsm/pubkey.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"

namespace ts::cli {

namespace {

struct KeyGenerateOptions {
    std::string token;
    std::string type;
    std::string label;
    std::string id;  // hex; empty: a random 8-byte id
    bool allow_existing_label = false;
    bool json = false;
};

struct KeyListOptions {
    std::string uri;
    bool no_login = false;
    bool json = false;
};

struct KeyShowOptions {
    std::string uri;
    bool no_login = false;
    bool json = false;
};

/// What list and show print about one key object.
struct KeyView {
    hsm::ObjectInfo object;
    std::string uri;
    std::optional<hsm::PublicKey> pub;  // unset when the token does not let us read it
    std::string pub_error;
};

KeyView view_key(hsm::Session& s, const CK_TOKEN_INFO& ti, const hsm::ObjectInfo& obj) {
    KeyView v{obj, hsm::object_uri(ti, obj.id, obj.label, obj.cls), std::nullopt, {}};
    try {
        v.pub = hsm::read_public_key(s, obj.handle);
    } catch (const hsm::Error& e) {
        // A key type tokensign does not handle, or an EC private key without its public half:
        // still listed, without size and fingerprint.
        v.pub_error = e.what();
    }
    return v;
}

std::string type_text(const KeyView& v) {
    if (!v.pub) return hsm::key_type_name(v.object.key_type);
    std::string t = hsm::key_kind_name(v.pub->kind);
    if (v.pub->kind == hsm::KeyKind::Ec) t += " " + v.pub->group;
    return t + " " + std::to_string(v.pub->bits()) + " bits";
}

/// One key as a JSON object.
nlohmann::ordered_json key_json(const KeyView& v) {
    nlohmann::ordered_json j = {{"uri", v.uri},
                                {"class", hsm::class_name(v.object.cls)},
                                {"key_type", hsm::key_type_name(v.object.key_type)},
                                {"label", v.object.label},
                                {"id", hsm::to_hex(v.object.id)}};
    if (v.pub) {
        j["algorithm"] = hsm::key_kind_name(v.pub->kind);
        j["bits"] = v.pub->bits();
        if (v.pub->kind == hsm::KeyKind::Ec) j["group"] = v.pub->group;
        j["spki_sha256"] = hsm::spki_fingerprint(*v.pub);
    }
    return j;
}

/// The private-key protection attributes, as `key show` reports them.
std::vector<std::pair<const char*, CK_ATTRIBUTE_TYPE>> protection_attributes() {
    return {{"token", CKA_TOKEN},
            {"private", CKA_PRIVATE},
            {"sensitive", CKA_SENSITIVE},
            {"extractable", CKA_EXTRACTABLE},
            {"always_sensitive", CKA_ALWAYS_SENSITIVE},
            {"never_extractable", CKA_NEVER_EXTRACTABLE},
            {"always_authenticate", CKA_ALWAYS_AUTHENTICATE}};
}

void run_key_generate(const KeyGenerateOptions& o, const GlobalOptions& g) {
    hsm::Uri uri = parse_cli_uri(o.token, "--token");
    hsm::KeySpec spec = hsm::KeySpec::parse(o.type);
    std::optional<std::vector<unsigned char>> id;
    if (!o.id.empty()) id = hsm::from_hex(o.id);

    auto t = open_token(g, uri, true);
    hsm::Session s = t.token->acquire();
    hsm::GeneratedKey k = hsm::generate_key_pair(s, spec, o.label, id, o.allow_existing_label);
    const CK_TOKEN_INFO& ti = t.token->info().token_info;
    std::string priv_uri =
        hsm::object_uri(ti, k.private_key.id, k.private_key.label, CKO_PRIVATE_KEY);
    std::string pub_uri = hsm::object_uri(ti, k.public_key.id, k.public_key.label, CKO_PUBLIC_KEY);
    std::string fp = hsm::spki_fingerprint(k.public_params);
    if (o.json) {
        std::cout << json_text({{"private_key_uri", priv_uri},
                                {"public_key_uri", pub_uri},
                                {"type", spec.to_string()},
                                {"bits", k.public_params.bits()},
                                {"label", k.private_key.label},
                                {"id", hsm::to_hex(k.private_key.id)},
                                {"spki_sha256", fp},
                                {"public_key_pem", hsm::spki_pem(k.public_params)}})
                  << "\n";
    } else {
        std::cout << "Generated " << spec.to_string() << " key pair '" << k.private_key.label
                  << "' id " << hsm::to_hex(k.private_key.id) << " on " << t.token->what() << "\n"
                  << "  private key: " << priv_uri << "\n"
                  << "  public key:  " << pub_uri << "\n"
                  << "  SPKI SHA-256: " << fp << "\n";
    }
}

void run_key_list(const KeyListOptions& o, const GlobalOptions& g) {
    hsm::Uri uri = parse_cli_uri(o.uri, "TOKEN-URI");
    auto t = open_token(g, uri, !o.no_login);
    hsm::Session s = t.token->acquire();
    const CK_TOKEN_INFO& ti = t.token->info().token_info;

    hsm::ObjectQuery q = hsm::ObjectQuery::from_uri(uri);
    std::vector<hsm::ObjectInfo> objects;
    if (q.cls) {
        objects = hsm::find_objects(s, q);
    } else {
        for (CK_OBJECT_CLASS cls : {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY}) {
            q.cls = cls;
            auto found = hsm::find_objects(s, q);
            objects.insert(objects.end(), found.begin(), found.end());
        }
    }
    std::vector<KeyView> keys;
    for (const auto& obj : objects) {
        if (obj.cls == CKO_PRIVATE_KEY || obj.cls == CKO_PUBLIC_KEY) {
            keys.push_back(view_key(s, ti, obj));
        }
    }

    std::ostringstream out;
    if (o.json) {
        nlohmann::ordered_json list = nlohmann::ordered_json::array();
        for (const auto& k : keys) list.push_back(key_json(k));
        out << json_text({{"token", t.token->info().label()}, {"keys", std::move(list)}}) << "\n";
    } else {
        out << keys.size() << (keys.size() == 1 ? " key object" : " key objects") << " on "
            << t.token->what() << (o.no_login ? " (public objects only)" : "") << ":\n";
        for (const auto& k : keys) {
            out << "  " << hsm::class_name(k.object.cls) << "  " << type_text(k) << "  label '"
                << k.object.label << "'  id " << hsm::to_hex(k.object.id) << "\n"
                << "    " << k.uri << "\n";
        }
    }
    std::cout << out.str();
}

void run_key_show(const KeyShowOptions& o, const GlobalOptions& g) {
    hsm::Uri uri = parse_cli_uri(o.uri, "KEY-URI");
    // Public keys and certificates are public objects: showing one never needs a PIN.
    const auto wanted = uri.type();
    const bool public_only = wanted == CKO_PUBLIC_KEY || wanted == CKO_CERTIFICATE;
    auto t = open_token(g, uri, !o.no_login && !public_only);
    hsm::Session s = t.token->acquire();
    const CK_TOKEN_INFO& ti = t.token->info().token_info;

    hsm::ObjectInfo obj = select_key(s, uri, true);
    KeyView v = view_key(s, ti, obj);
    if (!v.pub) throw hsm::UnsupportedError(obj.describe() + ": " + v.pub_error);
    std::string pem = hsm::spki_pem(*v.pub);

    std::vector<std::pair<std::string, bool>> attrs;
    if (obj.cls == CKO_PRIVATE_KEY) {
        for (const auto& [name, type] : protection_attributes()) {
            if (auto b = hsm::get_bool(s, obj.handle, type)) attrs.emplace_back(name, *b);
        }
    }

    std::ostringstream out;
    if (o.json) {
        nlohmann::ordered_json j = key_json(v);
        j["public_key_pem"] = pem;
        j["attributes"] = nlohmann::ordered_json::object();
        for (const auto& [name, value] : attrs) j["attributes"][name] = value;
        out << json_text(j) << "\n";
    } else {
        out << "URI:          " << v.uri << "\n"
            << "Object:       " << hsm::class_name(obj.cls) << "\n"
            << "Type:         " << type_text(v) << "\n"
            << "Label:        " << obj.label << "\n"
            << "ID:           " << hsm::to_hex(obj.id) << "\n"
            << "SPKI SHA-256: " << hsm::spki_fingerprint(*v.pub) << "\n";
        if (!attrs.empty()) {
            out << "Attributes:  ";
            for (const auto& [name, value] : attrs)
                out << " " << name << "=" << (value ? "yes" : "no");
            out << "\n";
        }
        out << pem;
    }
    std::cout << out.str();
}

/// CLI11 validators: bad input is a usage error (exit 2) before any token is touched.
std::string check_key_spec(const std::string& text) {
    try {
        (void)hsm::KeySpec::parse(text);
        return {};
    } catch (const std::exception& e) {
        return e.what();
    }
}

}  // namespace

void setup_key(CLI::App& app, const GlobalOptions& g) {
    auto* key = app.add_subcommand("key", "Generate, list, show and delete key pairs on a token");
    key->require_subcommand(1);

    auto gen_opts = std::make_shared<KeyGenerateOptions>();
    auto* gen = key->add_subcommand(
        "generate",
        "Generate a key pair on the token (C_GenerateKeyPair). The private key is a token object "
        "with CKA_PRIVATE and CKA_SENSITIVE true and CKA_EXTRACTABLE false; both halves get the "
        "label and id. Refuses an id already used by a key on the token, and a label unless "
        "--allow-existing-label is given with a new --id (exit 3).");
    gen->add_option("--token", gen_opts->token, "pkcs11: URI naming exactly one token")
        ->required()
        ->type_name("TOKEN-URI");
    gen->add_option("--type", gen_opts->type,
                    "key type: rsa:2048, rsa:3072, rsa:4096, ec:p-256, ec:p-384, ec:p-521, "
                    "ed25519, ed448 (if the token offers the mechanism)")
        ->required()
        ->type_name("TYPE")
        ->check(CLI::Validator(check_key_spec, "TYPE"));
    gen->add_option("--label", gen_opts->label, "CKA_LABEL of both halves")
        ->required()
        ->type_name("LABEL");
    gen->add_option("--id", gen_opts->id,
                    "CKA_ID of both halves, in hex (01ab or 01:ab); default: 8 random bytes")
        ->type_name("HEX")
        ->check(CLI::Validator(check_hex_id, "HEX"));
    gen->add_flag("--allow-existing-label", gen_opts->allow_existing_label,
                  "allow a label other keys on the token already have (needs --id with a new "
                  "id; a label and id already used together are always refused)");
    gen->add_flag("--json", gen_opts->json, "machine-readable output (one JSON object)");
    gen->callback(command([gen_opts, &g] { run_key_generate(*gen_opts, g); }));

    auto list_opts = std::make_shared<KeyListOptions>();
    auto* list = key->add_subcommand(
        "list",
        "List the private and public keys on a token (those matching the URI's object, "
        "id and type if given), with type, size, label, id and URI");
    list->add_option("TOKEN-URI", list_opts->uri, "pkcs11: URI naming exactly one token")
        ->required();
    list->add_flag("--no-login", list_opts->no_login,
                   "do not log in: list only the keys readable without a PIN");
    list->add_flag("--json", list_opts->json, "machine-readable output (one JSON object)");
    list->callback(command([list_opts, &g] { run_key_list(*list_opts, g); }));

    auto show_opts = std::make_shared<KeyShowOptions>();
    auto* show = key->add_subcommand(
        "show",
        "Show one key: its URI, type, label, id, protection attributes, the public key "
        "(PEM SubjectPublicKeyInfo) and the SHA-256 fingerprint of that DER "
        "SubjectPublicKeyInfo. Without type= in the URI a private key is preferred, "
        "then a public key, then a certificate.");
    show->add_option("KEY-URI", show_opts->uri, "pkcs11: URI naming exactly one key")->required();
    show->add_flag("--no-login", show_opts->no_login,
                   "do not log in (only public objects are visible)");
    show->add_flag("--json", show_opts->json, "machine-readable output (one JSON object)");
    show->callback(command([show_opts, &g] { run_key_show(*show_opts, g); }));

    setup_key_delete(*key, g);
}

}  // namespace ts::cli
