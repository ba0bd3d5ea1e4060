// SPDX-License-Identifier: Apache-2.0
#include "signer/init.hpp"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <vector>

#include "hsm/cert.hpp"
#include "hsm/keygen.hpp"
#include "hsm/object.hpp"
#include "hsm/pubkey.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"
#include "signer/ca_db.hpp"
#include "signer/config.hpp"
#include "signer/error.hpp"
#include "signer/issue.hpp"
#include "signer/profile.hpp"

namespace fs = std::filesystem;

namespace ts::signer {

namespace {

// Splits on unescaped `sep`, removing the escapes of separators.
std::vector<std::string> split_escaped(const std::string& text, char sep) {
    std::vector<std::string> parts;
    std::string cur;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '\\' && i + 1 < text.size()) {
            cur += text[++i];
        } else if (c == sep) {
            parts.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    parts.push_back(cur);
    return parts;
}

std::string trim(const std::string& s) {
    auto b = s.find_first_not_of(" \t");
    if (b == std::string::npos) return "";
    auto e = s.find_last_not_of(" \t");
    return s.substr(b, e - b + 1);
}

void write_file(const std::string& path, const std::string& contents, mode_t mode) {
    write_atomic(path, contents, false, mode);
}

// A URI written into openssl.cnf as an extension value: a scheme, and none of the characters
// that NCONF or the x509v3 syntax would read as something else (# comments, $ variables,
// "," and ";" separators, quotes, escapes, braces, white space and control characters).
void check_published_uri(const char* option, const std::string& uri) {
    if (uri.empty()) return;
    auto sep = uri.find("://");
    bool ok = sep != std::string::npos && sep > 0 && sep + 3 < uri.size();
    for (char ch : uri) {
        auto c = static_cast<unsigned char>(ch);
        if (c <= ' ' || c >= 0x7f || std::strchr("#$,;\"'\\{}", ch) != nullptr) ok = false;
    }
    if (!ok)
        throw InputError(std::string(option) + " " + uri +
                         " is not a URI tokensign can publish: give scheme://host/path, e.g. "
                         "http://pki.example.com/root.crl (percent-encode # $ , ; quotes and "
                         "spaces)");
}

}  // namespace

OsslPtr<X509_NAME> parse_subject(const std::string& text) {
    std::vector<std::string> parts;
    if (!text.empty() && text[0] == '/') {
        parts = split_escaped(text.substr(1), '/');
    } else {
        parts = split_escaped(text, ',');
    }
    OsslPtr<X509_NAME> name(X509_NAME_new());
    if (!name) throw OpenSslError("X509_NAME_new");
    for (const auto& raw : parts) {
        std::string part = trim(raw);
        if (part.empty()) continue;
        auto eq = part.find('=');
        if (eq == std::string::npos || eq == 0)
            throw InputError("subject part '" + part + "' is not type=value");
        std::string type = trim(part.substr(0, eq));
        std::string value = trim(part.substr(eq + 1));
        if (value.empty()) throw InputError("subject field " + type + " has no value");
        if (OBJ_txt2nid(type.c_str()) == NID_undef)
            throw InputError("subject field type '" + type +
                             "' is unknown (use C, ST, L, O, OU, "
                             "CN, emailAddress ...)");
        if (!X509_NAME_add_entry_by_txt(name.get(), type.c_str(), MBSTRING_UTF8,
                                        reinterpret_cast<const unsigned char*>(value.c_str()), -1,
                                        -1, 0)) {
            OpenSslError detail("X509_NAME_add_entry_by_txt");
            throw InputError("subject field " + type + "=" + value +
                             " is not valid: " + detail.what());
        }
    }
    if (X509_NAME_entry_count(name.get()) == 0)
        throw InputError(
            "the subject is empty; give e.g. --subject '/O=Example/CN=Example Root CA'");
    return name;
}

std::string openssl_modules_dir() {
    // Where OpenSSL's provider loader (provider_core.c) looks for a module named without a
    // path: $OPENSSL_MODULES, else the directory built into libcrypto (`openssl version -m`).
    if (const char* env = std::getenv("OPENSSL_MODULES"); env != nullptr && *env != '\0')
        return env;
    return OPENSSL_info(OPENSSL_INFO_MODULES_DIR);
}

std::string provider_module_setting(const std::string& provider_dir,
                                    const std::string& modules_dir) {
    const fs::path ours = fs::path(provider_dir) / "tokensign.so";
    std::error_code ec;
    if (!modules_dir.empty() && fs::equivalent(ours, fs::path(modules_dir) / "tokensign.so", ec))
        return "tokensign.so";
    fs::path abs = fs::absolute(ours, ec);
    return (ec ? ours : abs.lexically_normal()).string();
}

std::string ca_config_text(const std::string& dir, const std::string& key_uri,
                           const std::string& md, const std::string& provider_dir,
                           bool intermediate, const std::string& crl_uri,
                           const std::string& ca_issuers_uri) {
    // Where relying parties find this CA's CRL and certificate: in every certificate it issues.
    std::string published;
    if (!crl_uri.empty()) published += "crlDistributionPoints  = URI:" + crl_uri + "\n";
    if (!ca_issuers_uri.empty())
        published += "authorityInfoAccess    = caIssuers;URI:" + ca_issuers_uri + "\n";
    std::string t;
    t += "# openssl ca configuration of a CA directory, written by `tokensign ca init`.\n";
    t +=
        "# Used as is by `tokensign ca sign|revoke|gencrl --config` and by `openssl ca -config`.\n";
    t += "# The CA key stays on the token: private_key is its pkcs11: URI (no PIN in it; the PIN\n";
    t += "# comes from the URI's pin-source, --pin-source, TOKENSIGN_PIN or a prompt).\n";
    t += "HOME = .\n";
    // $ENV::X falls back to the default section's X when the environment has none (NCONF's
    // _CONF_get_string), so the directory the CA was made in is only the default.
    t += "# The CA directory: where it was made, unless the environment says otherwise.\n";
    t += "# tokensign ca sets TOKENSIGN_CA_DIR to the directory of --config, so a moved CA\n";
    t += "# directory keeps working; for openssl ca after a move, export TOKENSIGN_CA_DIR=<its\n";
    t += "# new path> (or change the line below).\n";
    t += "TOKENSIGN_CA_DIR = " + dir + "\n";
    if (!provider_dir.empty()) {
        // `openssl ca -config` also loads this file as its library configuration: activate the
        // tokensign provider there so it can open the pkcs11: key.
        const std::string module = provider_module_setting(provider_dir, openssl_modules_dir());
        t += "openssl_conf = tokensign_openssl_init\n\n";
        t += "[ tokensign_openssl_init ]\nproviders = tokensign_providers\n\n";
        t += "[ tokensign_providers ]\ndefault = tokensign_default_provider\n";
        t += "tokensign = tokensign_provider\n\n";
        t += "[ tokensign_default_provider ]\nactivate = 1\n\n";
        t += "[ tokensign_provider ]\n";
        if (module == "tokensign.so") {
            t += "# Installed: found in OpenSSL's modules directory ($OPENSSL_MODULES, else\n";
            t += "# `openssl version -m`), wherever this CA directory is.\n";
        } else {
            t += "# Not installed: tokensign.so from where tokensign ca init loaded it. If it "
                 "moves\n";
            t += "# (a deleted build tree), install tokensign (cmake --install puts tokensign.so "
                 "in\n";
            t += "# OpenSSL's modules directory) and write module = tokensign.so.\n";
        }
        t += "module = " + module + "\nactivate = 1\n\n";
    } else {
        t += "\n";
    }
    t += "[ ca ]\ndefault_ca = CA_default\n\n";
    t += "[ CA_default ]\n";
    t += "dir               = $ENV::TOKENSIGN_CA_DIR\n";
    t += "certs             = $dir/certs\n";
    t += "crl_dir           = $dir/crl\n";
    t += "new_certs_dir     = $dir/newcerts\n";
    t += "database          = $dir/index.txt\n";
    t += "serial            = $dir/serial\n";
    t += "crlnumber         = $dir/crlnumber\n";
    t += "certificate       = $dir/certs/ca.pem\n";
    t += "private_key       = " + key_uri + "\n";
    if (intermediate) {
        t += "# An intermediate CA: this file holds its certificate and its issuers up to the\n";
        t += "# root (written by `tokensign ca install-cert`); tokensign ca sign and verify\n";
        t += "# build chains with it. openssl ca ignores this line.\n";
        t += "tokensign_chain   = $dir/certs/chain.pem\n";
    }
    t += "# MD5 and SHA-1 are refused by tokensign ca: their signatures can be forged.\n";
    t += "default_md        = " + md + "\n";
    t += "default_days      = 375\n";
    t += "default_crl_days  = 30\n";
    t += "policy            = policy_default\n";
    t += "x509_extensions   = usr_cert\n";
    t += "crl_extensions    = crl_ext\n";
    t += "# A CSR's extensions are not copied: tokensign ca sign names each one it drops.\n";
    t += "# Give a server's names with `tokensign ca sign --san DNS:host,IP:addr`, or set\n";
    t += "# copy_extensions = copy to take from the CSR those the profile does not set\n";
    t += "# (its subjectAltName ...), as openssl ca does. Even then a CSR cannot obtain\n";
    t += "# CA:TRUE or keyCertSign unless the profile (--extensions) is a CA profile.\n";
    t += "copy_extensions   = none\n";
    t += "# tokensign only: with copy or copyall, copy just these (openssl ca, which ignores\n";
    t += "# this line, copies every extension the profile does not set).\n";
    t += "tokensign_copy_only = subjectAltName\n";
    t += "unique_subject    = yes\n";
    t += "email_in_dn       = no\n";
    t += "name_opt          = ca_default\n";
    t += "cert_opt          = ca_default\n";
    t += "# tokensign only: the smallest RSA key a CSR may carry.\n";
    t += "tokensign_min_rsa_bits = 2048\n\n";
    t += "[ policy_default ]\n";
    t += "countryName            = optional\nstateOrProvinceName    = optional\n";
    t += "localityName           = optional\norganizationName       = optional\n";
    t += "organizationalUnitName = optional\ncommonName             = supplied\n";
    t += "emailAddress           = optional\n\n";
    t += "[ policy_strict ]\n";
    t += "countryName            = match\nstateOrProvinceName    = optional\n";
    t += "organizationName       = match\norganizationalUnitName = optional\n";
    t += "commonName             = supplied\nemailAddress           = optional\n\n";
    t += "[ v3_ca ]\n";
    t += "basicConstraints       = critical, CA:true\n";
    t += "keyUsage               = critical, keyCertSign, cRLSign\n";
    t += "subjectKeyIdentifier   = hash\n";
    t += "authorityKeyIdentifier = keyid:always\n\n";
    t += "# An intermediate CA (tokensign ca sign --extensions sub_ca): it may issue end-entity\n";
    t += "# certificates only (pathlen:0). To restrict it further:\n";
    t += "#   nameConstraints     = critical, permitted;DNS:.example.com\n";
    t += "#   certificatePolicies = 2.23.140.1.2.1\n";
    t +=
        "# (ca init --crl-uri / --ca-issuers-uri add crlDistributionPoints / authorityInfoAccess\n";
    t += "# to this and the other issuing profiles.)\n";
    t += "[ sub_ca ]\n";
    t += "basicConstraints       = critical, CA:true, pathlen:0\n";
    t += "keyUsage               = critical, digitalSignature, keyCertSign, cRLSign\n";
    t += "subjectKeyIdentifier   = hash\n";
    t += "authorityKeyIdentifier = keyid:always\n" + published + "\n";
    t += "[ usr_cert ]\n";
    t += "basicConstraints       = CA:false\n";
    t += "keyUsage               = critical, digitalSignature, keyEncipherment\n";
    t += "extendedKeyUsage       = clientAuth, emailProtection\n";
    t += "subjectKeyIdentifier   = hash\n";
    t += "authorityKeyIdentifier = keyid\n" + published + "\n";
    t += "[ server ]\n";
    t += "basicConstraints       = CA:false\n";
    t += "keyUsage               = critical, digitalSignature, keyEncipherment\n";
    t += "extendedKeyUsage       = serverAuth\n";
    t += "subjectKeyIdentifier   = hash\n";
    t += "authorityKeyIdentifier = keyid\n" + published + "\n";
    t += "[ client ]\n";
    t += "basicConstraints       = CA:false\n";
    t += "keyUsage               = critical, digitalSignature\n";
    t += "extendedKeyUsage       = clientAuth\n";
    t += "subjectKeyIdentifier   = hash\n";
    t += "authorityKeyIdentifier = keyid\n" + published + "\n";
    t += "[ crl_ext ]\n";
    t += "authorityKeyIdentifier = keyid:always\n";
    return t;
}

namespace {

// What `ca init` created on the token, removed again when the CA directory is not created after
// all (a refused digest, a failed signature or certificate store, a directory that appeared
// meanwhile): nothing is left half-made, on the token either.
class TokenRollback {
  public:
    explicit TokenRollback(std::ostream& log) : m_log(log) {}
    TokenRollback(const TokenRollback&) = delete;
    TokenRollback& operator=(const TokenRollback&) = delete;
    void add(std::shared_ptr<hsm::Token> token, const hsm::ObjectInfo& object) {
        m_token = std::move(token);
        m_created.push_back(object);
    }
    void commit() noexcept { m_created.clear(); }
    ~TokenRollback() {
        if (m_created.empty()) return;
        try {
            hsm::Session s = m_token->acquire();
            for (auto it = m_created.rbegin(); it != m_created.rend(); ++it) {
                try {
                    hsm::destroy_object(s, it->handle);
                    m_log << "Removed the " << it->describe() << " from " << m_token->what()
                          << " again: the CA was not created\n";
                } catch (const std::exception& e) {
                    m_log << "Could not remove the " << it->describe() << " from "
                          << m_token->what() << " (" << e.what() << "); delete it by hand\n";
                }
            }
        } catch (const std::exception& e) {
            m_log << "Could not remove what this run created on " << m_token->what() << " ("
                  << e.what() << "); delete it by hand\n";
        }
    }

  private:
    std::ostream& m_log;
    std::shared_ptr<hsm::Token> m_token;
    std::vector<hsm::ObjectInfo> m_created;
};

}  // namespace

void init_ca(LibCtx& ctx, const InitOptions& opts, const hsm::Config& cfg, std::ostream& log) {
    if (opts.dir.empty()) throw InputError("--dir is required");
    if (opts.key.empty()) throw InputError("--key is required");
    std::error_code ec;
    fs::path dir = fs::absolute(opts.dir, ec);
    if (ec) throw InputError("bad directory " + opts.dir + ": " + ec.message());
    dir = dir.lexically_normal();
    if (dir.has_filename() == false) dir = dir.parent_path();
    if (fs::exists(dir) && !fs::is_empty(dir))
        throw CaDbError(dir.string() +
                        " already exists and is not empty; tokensign ca init "
                        "never overwrites a CA directory: choose a new --dir");

    // Validate everything cheap before touching the token.
    OsslPtr<X509_NAME> subject = parse_subject(opts.subject);
    BIGNUM* first_serial = nullptr;
    int parsed = opts.serial.empty() ? 0 : BN_hex2bn(&first_serial, opts.serial.c_str());
    OsslPtr<BIGNUM> serial_bn(first_serial);
    if (parsed <= 0 || static_cast<std::size_t>(parsed) != opts.serial.size()) {
        ERR_clear_error();
        throw InputError("--serial " + opts.serial + " is not a hex number");
    }
    if (opts.days <= 0) throw InputError("--days must be positive");
    const bool on_token = hsm::is_pkcs11_uri(opts.key);
    if (!opts.generate.empty() && !on_token)
        throw InputError(
            "--generate needs --key to be a pkcs11: URI naming the new key "
            "(pkcs11:token=...;object=LABEL)");
    std::optional<hsm::KeySpec> spec;
    if (!opts.generate.empty()) spec = hsm::KeySpec::parse(opts.generate);
    // A digest that will be refused is refused before a key is generated for nothing (EdDSA
    // takes none; an existing key's type is checked once it is read).
    if (spec && spec->kind != hsm::KeyKind::Ed25519 && spec->kind != hsm::KeyKind::Ed448)
        (void)check_digest(opts.md, "--md", nullptr);
    check_published_uri("--crl-uri", opts.crl_uri);
    check_published_uri("--ca-issuers-uri", opts.ca_issuers_uri);
    const bool intermediate = !opts.csr_out.empty();
    if (intermediate && opts.store_cert)
        throw InputError(
            "--store-cert stores a self-signed root; with --csr-out there is none yet "
            "(store the certificate the parent CA issues with tokensign cert import)");
    if (intermediate && fs::exists(opts.csr_out))
        throw InputError("--csr-out " + opts.csr_out + " already exists; not overwriting it");

    std::string key_for_config = opts.key;
    OsslPtr<EVP_PKEY> public_key;
    std::shared_ptr<const hsm::Pin> pin;
    std::string key_label;
    std::vector<unsigned char> key_id;
    std::shared_ptr<hsm::Token> token;
    TokenRollback rollback(log);
    if (on_token) {
        hsm::Uri uri = hsm::parse_uri(opts.key);
        key_for_config = uri.to_string();  // never a pin-value in openssl.cnf
        // A key to generate does not exist yet: its token is chosen by the token attributes.
        token = spec ? hsm::open_one_token(cfg, uri) : hsm::open_token(cfg, uri);
        hsm::PinSources sources = hsm::pin_sources(cfg, uri);
        if (!sources.pin_value)
            sources.pin_value =
                std::make_shared<const hsm::Pin>(hsm::obtain_pin(sources, token->what()));
        pin = sources.pin_value;
        token->login(sources);
        hsm::Session s = token->acquire();
        hsm::PublicKey pub;
        if (spec) {
            auto label = uri.object();
            if (!label || label->empty())
                throw InputError("--generate needs the URI to name the key: add ;object=LABEL");
            log << "Generating a " << spec->to_string() << " key '" << *label << "' on "
                << token->what() << "...\n";
            hsm::GeneratedKey g = hsm::generate_key_pair(s, *spec, *label, uri.id());
            rollback.add(token, g.public_key);
            rollback.add(token, g.private_key);
            pub = g.public_params;
            key_label = g.private_key.label;
            key_id = g.private_key.id;
            // Name the new key exactly (label and id) in openssl.cnf.
            key_for_config =
                hsm::object_uri(token->info().token_info, key_id, key_label, CKO_PRIVATE_KEY);
            if (auto mp = uri.module_path())
                key_for_config += "?module-path=" + hsm::percent_encode_text(*mp);
            else if (auto mn = uri.module_name())
                key_for_config += "?module-name=" + hsm::percent_encode_text(*mn);
        } else {
            hsm::ObjectQuery q = hsm::ObjectQuery::from_uri(uri);
            q.cls = CKO_PRIVATE_KEY;
            hsm::ObjectInfo info = hsm::find_one(s, q);
            pub = hsm::read_public_key(s, info.handle);
            key_label = info.label;
            key_id = info.id;
        }
        public_key = hsm::to_evp_pkey(pub, ctx.get(), ctx.propq());
    }

    OsslPtr<EVP_PKEY> key = load_private_key(ctx, on_token ? key_for_config : opts.key, cfg, pin);
    if (!public_key) {
        // A file key: its public half is right there.
        public_key.reset(EVP_PKEY_dup(key.get()));
        if (!public_key) throw OpenSslError("EVP_PKEY_dup");
    }

    std::string md = check_digest(opts.md, "--md", public_key.get());
    std::string prov = provider_dir();
    std::string config_text =
        ca_config_text(dir.string(), key_for_config, opts.md, on_token ? prov : "", intermediate,
                       opts.crl_uri, opts.ca_issuers_uri);

    // The root, with the v3_ca section of the very configuration written beside it.
    fs::path staging =
        dir.parent_path() / ("." + dir.filename().string() + ".init-" + std::to_string(::getpid()));
    fs::remove_all(staging, ec);
    fs::create_directories(staging, ec);
    if (ec) throw CaDbError("cannot create " + staging.string() + ": " + ec.message());
    // Modes set exactly, whatever the umask: the openssl.cnf here names the module OpenSSL
    // loads, so no directory of the CA may be group- or world-writable.
    ::chmod(staging.c_str(), 0755);
    bool wrote_csr_out = false;
    try {
        write_file((staging / "openssl.cnf").string(), config_text, 0644);
        Conf conf = Conf::load((staging / "openssl.cnf").string(), ctx.get());
        for (const char* profile : {"sub_ca", "usr_cert", "server", "client"})
            check_extension_section(conf, profile, "written by ca init");
        for (const char* sub : {"certs", "crl", "newcerts", "private"}) {
            fs::create_directory(staging / sub);
            ::chmod((staging / sub).c_str(), std::string_view(sub) == "private" ? 0700 : 0755);
        }

        if (intermediate) {
            // The request a parent CA signs: the subject and the key, nothing else (the
            // parent's profile, e.g. sub_ca, decides the extensions).
            OsslPtr<X509_REQ> req(X509_REQ_new_ex(ctx.get(), ctx.propq()));
            if (!req || !X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) ||
                !X509_REQ_set_subject_name(req.get(), subject.get()) ||
                !X509_REQ_set_pubkey(req.get(), public_key.get()))
                throw OpenSslError("building the certificate request");
            OsslPtr<EVP_MD_CTX> mctx(EVP_MD_CTX_new());
            if (!mctx ||
                EVP_DigestSignInit_ex(mctx.get(), nullptr, md.empty() ? nullptr : md.c_str(),
                                      ctx.get(), ctx.propq(), key.get(), nullptr) != 1 ||
                X509_REQ_sign_ctx(req.get(), mctx.get()) <= 0)
                throw OpenSslError("signing the certificate request with the CA key failed");
            if (X509_REQ_verify_ex(req.get(), public_key.get(), ctx.get(), ctx.propq()) != 1)
                throw OpenSslError(
                    "the certificate request's signature does not verify with the CA key's "
                    "public half; nothing was written");
            OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
            if (!bio || !PEM_write_bio_X509_REQ(bio.get(), req.get()))
                throw OpenSslError("PEM_write_bio_X509_REQ");
            std::string pem = bio_text(bio.get());
            write_file((staging / "certs" / "ca.csr").string(), pem, 0644);
            write_atomic(opts.csr_out, pem, false, 0644);
            wrote_csr_out = true;
            log << "Certificate request for " << name_text(subject.get()) << " written to "
                << opts.csr_out << " (a copy stays in certs/ca.csr)\n";
        } else {
            OsslPtr<X509> root(X509_new_ex(ctx.get(), ctx.propq()));
            if (!root || !X509_set_version(root.get(), X509_VERSION_3))
                throw OpenSslError("X509_new_ex");
            OsslPtr<BIGNUM> rs(BN_new());
            if (!rs || !BN_rand(rs.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
                !BN_to_ASN1_INTEGER(rs.get(), X509_get_serialNumber(root.get())))
                throw OpenSslError("root serial");
            if (!X509_set_subject_name(root.get(), subject.get()) ||
                !X509_set_issuer_name(root.get(), subject.get()) ||
                !X509_gmtime_adj(X509_getm_notBefore(root.get()), 0) ||
                !X509_time_adj_ex(X509_getm_notAfter(root.get()), static_cast<int>(opts.days), 0,
                                  nullptr) ||
                !X509_set_pubkey(root.get(), public_key.get()))
                throw OpenSslError("building the root certificate");
            add_profile_extensions(conf, "v3_ca", root.get(), root.get());

            OsslPtr<EVP_MD_CTX> mctx(EVP_MD_CTX_new());
            if (!mctx ||
                EVP_DigestSignInit_ex(mctx.get(), nullptr, md.empty() ? nullptr : md.c_str(),
                                      ctx.get(), ctx.propq(), key.get(), nullptr) != 1 ||
                X509_sign_ctx(root.get(), mctx.get()) <= 0)
                throw OpenSslError("signing the root certificate with the CA key failed");
            if (X509_verify(root.get(), public_key.get()) != 1)
                throw OpenSslError(
                    "the root certificate's signature does not verify with the CA "
                    "key's public half; nothing was written");
            log << "Self-signed root: " << name_text(X509_get_subject_name(root.get()))
                << ", valid until " << time_text(X509_get0_notAfter(root.get())) << "\n";
            write_file((staging / "certs" / "ca.pem").string(), certificate_pem(root.get()), 0644);
            if (opts.store_cert) {
                if (!token)
                    throw InputError("--store-cert needs the CA key on a token (a pkcs11: URI)");
                auto der = to_der(root.get(), i2d_X509);
                if (der.empty()) throw OpenSslError("encoding the root certificate");
                hsm::Session s = token->acquire();
                rollback.add(token, hsm::import_certificate(s, der, key_label, key_id));
                log << "Stored the root certificate on " << token->what() << " as '" << key_label
                    << "'\n";
            }
        }
        write_file((staging / "index.txt").string(), "", 0644);
        write_file((staging / "index.txt.attr").string(), "unique_subject = yes\n", 0644);
        write_file((staging / "serial").string(), serial_hex(serial_bn.get()) + "\n", 0644);
        write_file((staging / "crlnumber").string(), "1000\n", 0644);
        write_file((staging / "private" / "README").string(),
                   "The CA key is not here: it lives on the token, named in openssl.cnf by\n"
                   "private_key = " +
                       key_for_config + "\n",
                   0600);

        // Into place: rename(2) will not replace a non-empty directory, so a CA directory
        // made meanwhile by someone else is not overwritten either.
        fs::remove(dir, ec);  // only succeeds when empty
        fs::rename(staging, dir, ec);
        if (ec)
            throw CaDbError("cannot move the new CA into " + dir.string() + ": " + ec.message());
        rollback.commit();
    } catch (...) {
        fs::remove_all(staging, ec);
        if (wrote_csr_out) ::unlink(opts.csr_out.c_str());
        throw;
    }
    if (intermediate) {
        log << "CA directory " << dir.string() << " made; it has no certificate yet. Have the "
            << "parent CA sign " << opts.csr_out
            << " (tokensign ca sign --extensions sub_ca), then: tokensign ca install-cert --dir "
            << dir.string() << " CERT --chain PARENT-CHAIN\n";
        return;
    }
    log << "CA directory " << dir.string() << " ready: openssl.cnf, certs/ca.pem, index.txt, "
        << "serial, crlnumber, newcerts/\n";
}

}  // namespace ts::signer
