// SPDX-License-Identifier: Apache-2.0
// tokensign key delete | cert delete: destroying token objects, after a confirmation that lists
// exactly what goes, and a warning when a CA configuration still names the key.
#include <openssl/conf.h>
#include <openssl/x509.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/admin.hpp"
#include "cli/common.hpp"
#include "hsm/cert.hpp"
#include "hsm/error.hpp"
#include "hsm/object.hpp"
#include "hsm/ossl.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"
#include "signer/config.hpp"
#include "signer/error.hpp"

namespace ts::cli {

namespace {

struct KeyDeleteOptions {
    std::string uri;
    bool yes = false;
    bool keep_certificates = false;
    std::vector<std::string> ca_configs;
};

struct CertDeleteOptions {
    std::string uri;
    bool yes = false;
};

/// One object to destroy, and how the confirmation names it.
struct Doomed {
    hsm::ObjectInfo object;
    std::string text;
};

std::string certificate_text(const hsm::CertificateObject& c) {
    std::string out = c.object.describe();
    const unsigned char* p = c.der.data();
    OsslPtr<X509> x(d2i_X509(nullptr, &p, static_cast<long>(c.der.size())));
    if (x) {
        OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
        if (bio &&
            X509_NAME_print_ex(bio.get(), X509_get_subject_name(x.get()), 0, XN_FLAG_RFC2253) >= 0)
            out += ", subject " + bio_text(bio.get());
    }
    return out;
}

/// "CA configuration F, section [S], private_key = URI" for every section of every config
/// whose private_key is a pkcs11: URI that would select `key` on the token `ti`: its token
/// attributes match the token, and its id / object / type (those it has) are the key's.
std::vector<std::string> ca_configs_naming(const std::vector<std::string>& configs,
                                           const CK_TOKEN_INFO& ti, const hsm::ObjectInfo& key) {
    std::vector<std::string> hits;
    for (const auto& path : configs) {
        signer::Conf conf = signer::Conf::load(path, nullptr);
        STACK_OF(OPENSSL_CSTRING)* names = NCONF_get_section_names(conf.get());
        if (names == nullptr) continue;
        for (int i = 0; i < sk_OPENSSL_CSTRING_num(names); ++i) {
            std::string section = sk_OPENSSL_CSTRING_value(names, i);
            for (const auto& [name, value] : conf.section(section)) {
                if (name != "private_key" || !hsm::is_pkcs11_uri(value)) continue;
                hsm::Uri u;
                try {
                    u = hsm::parse_uri(value);
                } catch (const hsm::UriError&) {
                    continue;  // not ours to judge here; `ca sign` reports it
                }
                if (!u.matches_token(ti)) continue;
                if (auto id = u.id(); id && *id != key.id) continue;
                if (auto label = u.object(); label && *label != key.label) continue;
                if (auto type = u.type(); type && *type != key.cls) continue;
                hits.push_back(path + ", section [" + section +
                               "], private_key = " + u.to_string());
            }
        }
        sk_OPENSSL_CSTRING_free(names);
    }
    return hits;
}

/// Prints the list, then asks (unless --yes). Throws signer::Declined.
void confirm_destruction(const std::string& token_what, const std::vector<Doomed>& doomed,
                         bool yes) {
    std::ostringstream list;
    list << "This permanently destroys " << doomed.size()
         << (doomed.size() == 1 ? " object" : " objects") << " on " << token_what << ":\n";
    for (const auto& d : doomed) list << "  " << d.text << "\n";
    std::cerr << list.str();
    if (yes) return;
    confirm_typed("Type 'yes' to destroy " + std::string(doomed.size() == 1 ? "it" : "them") + ": ",
                  "yes", "--yes");
}

void destroy_all(hsm::Session& s, const std::vector<Doomed>& doomed) {
    // Private key first: once it is gone the key cannot sign, whatever happens next.
    for (const auto& d : doomed) {
        hsm::destroy_object(s, d.object.handle);
        std::cout << "Destroyed " << d.object.describe() << "\n";
    }
}

void run_key_delete(const KeyDeleteOptions& o, const GlobalOptions& g) {
    hsm::Uri uri = parse_cli_uri(o.uri, "KEY-URI");
    auto t = open_token(g, uri, true);
    hsm::Session s = t.token->acquire();
    const CK_TOKEN_INFO& ti = t.token->info().token_info;
    hsm::ObjectInfo key = select_key(s, uri, false);

    // The key pair: objects of both key classes that share the key's CKA_ID (that is how a
    // pair is tied together: PKCS#11 v2.40 §4.4 CKA_ID), and its certificates. Without an id
    // nothing ties them: only the object named.
    std::vector<Doomed> doomed;
    std::vector<CK_OBJECT_CLASS> classes{CKO_PRIVATE_KEY, CKO_PUBLIC_KEY};
    if (!o.keep_certificates) classes.push_back(CKO_CERTIFICATE);
    std::vector<hsm::ObjectInfo> keys;  // every key object going, for the CA check
    if (key.id.empty()) {
        doomed.push_back({key, key.describe() + " (it has no CKA_ID: nothing else is deleted)"});
        keys.push_back(key);
    } else {
        for (CK_OBJECT_CLASS cls : classes) {
            hsm::ObjectQuery q;
            q.cls = cls;
            q.id = key.id;
            if (cls == CKO_CERTIFICATE) {
                for (const auto& c : hsm::read_certificates(s, q))
                    doomed.push_back({c.object, certificate_text(c)});
            } else {
                for (const auto& k : hsm::find_objects(s, q)) {
                    doomed.push_back({k, k.describe()});
                    keys.push_back(k);
                }
            }
        }
    }

    // Which CA configurations to check: the ones given, else ./openssl.cnf (run from a CA
    // directory `ca init` made). No tool can know every CA directory on the machine; the help
    // says which are checked.
    std::vector<std::string> configs = o.ca_configs;
    const bool implicit = configs.empty() && std::filesystem::is_regular_file("openssl.cnf");
    if (implicit) configs.emplace_back("openssl.cnf");
    std::vector<std::string> users;
    try {
        for (const auto& k : keys) {
            for (auto& hit : ca_configs_naming(configs, ti, k))
                if (std::find(users.begin(), users.end(), hit) == users.end())
                    users.push_back(std::move(hit));
        }
    } catch (const signer::InputError& e) {
        if (!implicit) throw;  // a --ca-config that cannot be read is the user's to fix
        std::cerr << "tokensign: note: not checking ./openssl.cnf for CAs using this key: "
                  << e.what() << "\n";
    }
    for (const auto& u : users)
        std::cerr << "tokensign: WARNING: a CA still uses this key: " << u
                  << "\n  after deletion that CA can no longer sign certificates or CRLs.\n";
    confirm_destruction(t.token->what(), doomed, o.yes);
    destroy_all(s, doomed);
}

void run_cert_delete(const CertDeleteOptions& o, const GlobalOptions& g) {
    hsm::Uri uri = parse_cli_uri(o.uri, "CERT-URI");
    if (auto type = uri.type(); type && *type != CKO_CERTIFICATE)
        throw hsm::UriError("CERT-URI: type=" + hsm::class_name(*type) +
                            " names no certificate; use type=cert or no type");
    // Certificates are public objects: finding them needs no login, but destroying one on a
    // token that requires login is allowed only in a user session on most tokens.
    auto t = open_token(g, uri, true);
    hsm::Session s = t.token->acquire();
    hsm::ObjectQuery q = hsm::ObjectQuery::from_uri(uri);
    q.cls = CKO_CERTIFICATE;
    hsm::ObjectInfo cert = hsm::find_one(s, q);
    std::vector<Doomed> doomed;
    hsm::ObjectQuery exact;
    exact.cls = CKO_CERTIFICATE;
    exact.id = cert.id;
    exact.label = cert.label;
    for (const auto& c : hsm::read_certificates(s, exact))
        if (c.object.handle == cert.handle) doomed.push_back({cert, certificate_text(c)});
    if (doomed.empty()) doomed.push_back({cert, cert.describe()});
    confirm_destruction(t.token->what(), doomed, o.yes);
    destroy_all(s, doomed);
}

}  // namespace

void setup_key_delete(CLI::App& key, const GlobalOptions& g) {
    auto opts = std::make_shared<KeyDeleteOptions>();
    auto* del = key.add_subcommand(
        "delete",
        "Destroy a key pair on the token (C_DestroyObject): the key KEY-URI names, every "
        "private and public key with the same CKA_ID, and the certificates with that CKA_ID "
        "(unless --keep-certificates). The objects are listed, then the deletion must be "
        "confirmed by typing 'yes' on the terminal (--yes for scripts; no terminal and no "
        "--yes: exit 8). Warns when a CA configuration names the key: those given with "
        "--ca-config, else ./openssl.cnf (a CA directory made by `ca init`).");
    del->add_option("KEY-URI", opts->uri, "pkcs11: URI naming exactly one key")->required();
    del->add_flag("--yes", opts->yes, "do not ask for confirmation (the list is still printed)");
    del->add_flag("--keep-certificates", opts->keep_certificates,
                  "keep the certificates that share the key's CKA_ID");
    del->add_option("--ca-config", opts->ca_configs,
                    "a CA's openssl.cnf to check for private_key naming this key (repeatable); "
                    "default: ./openssl.cnf if present")
        ->type_name("FILE")
        ->check(CLI::ExistingFile);
    del->callback(command([opts, &g] { run_key_delete(*opts, g); }));
}

void setup_cert_delete(CLI::App& cert, const GlobalOptions& g) {
    auto opts = std::make_shared<CertDeleteOptions>();
    auto* del = cert.add_subcommand(
        "delete",
        "Destroy one certificate on the token (C_DestroyObject). Its key stays. The "
        "certificate is shown, then the deletion must be confirmed by typing 'yes' on the "
        "terminal (--yes for scripts; no terminal and no --yes: exit 8). Several certificates "
        "matching CERT-URI: exit 3, listing them.");
    del->add_option("CERT-URI", opts->uri, "pkcs11: URI naming exactly one certificate")
        ->required();
    del->add_flag("--yes", opts->yes,
                  "do not ask for confirmation (the certificate is still shown)");
    del->callback(command([opts, &g] { run_cert_delete(*opts, g); }));
}

}  // namespace ts::cli
