// SPDX-License-Identifier: Apache-2.0
// tokensign cert import | list: X.509 certificates stored on the token next to their keys.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "cli/admin.hpp"
#include "cli/common.hpp"
#include "hsm/cert.hpp"
#include "hsm/error.hpp"
#include "hsm/object.hpp"
#include "hsm/ossl.hpp"
#include "hsm/pubkey.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"
#include "signer/error.hpp"

namespace ts::cli {

namespace {

struct CertImportOptions {
    std::string file;
    std::string key;    // KEY-URI: label, id and token from the key
    std::string token;  // TOKEN-URI with --label/--id
    std::string label;
    std::string id;
    bool json = false;
};

struct CertListOptions {
    std::string uri;
    bool pem = false;
    bool no_login = false;
    bool json = false;
};

/// A certificate file, DER or PEM (the first certificate in it).
OsslPtr<X509> read_certificate_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw signer::InputError("cannot read certificate file '" + path + "'");
    std::vector<unsigned char> data((std::istreambuf_iterator<char>(f)),
                                    std::istreambuf_iterator<char>());
    OsslPtr<X509> cert;
    const std::string_view head(reinterpret_cast<const char*>(data.data()), data.size());
    if (head.find("-----BEGIN") != std::string_view::npos) {
        OsslPtr<BIO> bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
        if (bio) cert.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    } else {
        const unsigned char* p = data.data();
        cert.reset(d2i_X509(nullptr, &p, static_cast<long>(data.size())));
        if (cert && p != data.data() + data.size()) cert.reset();  // trailing garbage
    }
    if (!cert) {
        throw signer::OpenSslError("'" + path + "' is not a DER or PEM X.509 certificate");
    }
    return cert;
}

std::vector<unsigned char> cert_der(X509* cert) {
    int len = i2d_X509(cert, nullptr);
    if (len <= 0) throw signer::OpenSslError("cannot DER-encode the certificate");
    std::vector<unsigned char> der(static_cast<std::size_t>(len));
    unsigned char* p = der.data();
    i2d_X509(cert, &p);
    return der;
}

std::vector<unsigned char> cert_spki_der(X509* cert) {
    const X509_PUBKEY* pk = X509_get_X509_PUBKEY(cert);
    int len = i2d_X509_PUBKEY(pk, nullptr);
    if (len <= 0) throw signer::OpenSslError("cannot encode the certificate's public key");
    std::vector<unsigned char> der(static_cast<std::size_t>(len));
    unsigned char* p = der.data();
    i2d_X509_PUBKEY(pk, &p);
    return der;
}

std::string name_text(const X509_NAME* name) {
    OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "?";
    return bio_text(bio.get());
}

std::string time_text(const ASN1_TIME* t) {
    OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio || !ASN1_TIME_print(bio.get(), t)) return "?";
    return bio_text(bio.get());
}

std::string serial_text(X509* cert) {
    OsslPtr<BIGNUM> bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
    if (!bn) return "?";
    OsslPtr<char> hex(BN_bn2hex(bn.get()));
    return hex ? std::string(hex.get()) : "?";
}

std::string sha256_colon_hex(std::span<const unsigned char> data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr)) {
        throw signer::OpenSslError("SHA-256 failed");
    }
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
        if (i) out += ':';
        out += kHex[md[i] >> 4];
        out += kHex[md[i] & 0xf];
    }
    return out;
}

std::string pem_text(X509* cert) {
    OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio || !PEM_write_bio_X509(bio.get(), cert)) {
        throw signer::OpenSslError("cannot PEM-encode the certificate");
    }
    return bio_text(bio.get());
}

void run_cert_import(const CertImportOptions& o, const GlobalOptions& g) {
    OsslPtr<X509> cert = read_certificate_file(o.file);
    std::vector<unsigned char> der = cert_der(cert.get());

    const bool by_key = !o.key.empty();
    hsm::Uri uri = parse_cli_uri(by_key ? o.key : o.token, by_key ? "--key" : "--token");
    auto t = open_token(g, uri, true);
    hsm::Session s = t.token->acquire();

    std::string label = o.label;
    std::vector<unsigned char> id;
    if (!o.id.empty()) id = hsm::from_hex(o.id);
    if (by_key) {
        hsm::ObjectInfo key = select_key(s, uri, false);
        // A certificate stored under a key's label and id claims to be that key's: make sure.
        hsm::PublicKey pub = hsm::read_public_key(s, key.handle);
        if (hsm::spki_der(pub) != cert_spki_der(cert.get())) {
            throw signer::InputError("the certificate in '" + o.file + "' is not for " +
                                     key.describe() + ": its public key differs (SPKI SHA-256 " +
                                     sha256_colon_hex(cert_spki_der(cert.get())) + " vs " +
                                     hsm::spki_fingerprint(pub) + ")");
        }
        label = key.label;
        id = key.id;
    }
    hsm::ObjectInfo stored = hsm::import_certificate(s, der, label, id);
    std::string obj_uri =
        hsm::object_uri(t.token->info().token_info, stored.id, stored.label, CKO_CERTIFICATE);
    if (o.json) {
        std::cout << json_text({{"uri", obj_uri},
                                {"label", stored.label},
                                {"id", hsm::to_hex(stored.id)},
                                {"subject", name_text(X509_get_subject_name(cert.get()))},
                                {"sha256", sha256_colon_hex(der)}})
                  << "\n";
    } else {
        std::cout << "Imported certificate '" << stored.label << "' id " << hsm::to_hex(stored.id)
                  << " onto " << t.token->what() << "\n"
                  << "  subject: " << name_text(X509_get_subject_name(cert.get())) << "\n"
                  << "  uri:     " << obj_uri << "\n";
    }
}

void run_cert_list(const CertListOptions& o, const GlobalOptions& g) {
    hsm::Uri uri = parse_cli_uri(o.uri, "TOKEN-URI");
    auto t = open_token(g, uri, !o.no_login);
    hsm::Session s = t.token->acquire();
    const CK_TOKEN_INFO& ti = t.token->info().token_info;
    auto certs = hsm::read_certificates(s, hsm::ObjectQuery::from_uri(uri));

    std::ostringstream out;
    nlohmann::ordered_json json_certs = nlohmann::ordered_json::array();
    if (!o.json)
        out << certs.size() << (certs.size() == 1 ? " certificate" : " certificates") << " on "
            << t.token->what() << ":\n";
    for (const auto& c : certs) {
        std::string obj_uri = hsm::object_uri(ti, c.object.id, c.object.label, CKO_CERTIFICATE);
        const unsigned char* p = c.der.data();
        OsslPtr<X509> x(d2i_X509(nullptr, &p, static_cast<long>(c.der.size())));
        std::string subject = x ? name_text(X509_get_subject_name(x.get())) : "?";
        std::string issuer = x ? name_text(X509_get_issuer_name(x.get())) : "?";
        std::string serial = x ? serial_text(x.get()) : "?";
        std::string not_before = x ? time_text(X509_get0_notBefore(x.get())) : "?";
        std::string not_after = x ? time_text(X509_get0_notAfter(x.get())) : "?";
        std::string fp = sha256_colon_hex(c.der);
        if (o.json) {
            json_certs.push_back({{"uri", obj_uri},
                                  {"label", c.object.label},
                                  {"id", hsm::to_hex(c.object.id)},
                                  {"subject", subject},
                                  {"issuer", issuer},
                                  {"serial", serial},
                                  {"not_before", not_before},
                                  {"not_after", not_after},
                                  {"sha256", fp},
                                  {"pem", x ? pem_text(x.get()) : ""}});
        } else {
            out << "  certificate '" << c.object.label << "'  id " << hsm::to_hex(c.object.id)
                << "\n"
                << "    subject:  " << subject << "\n"
                << "    issuer:   " << issuer << "\n"
                << "    serial:   " << serial << "\n"
                << "    validity: " << not_before << " to " << not_after << "\n"
                << "    SHA-256:  " << fp << "\n"
                << "    uri:      " << obj_uri << "\n";
            if (o.pem && x) out << pem_text(x.get());
        }
    }
    if (o.json)
        out << json_text(
                   {{"token", t.token->info().label()}, {"certificates", std::move(json_certs)}})
            << "\n";
    std::cout << out.str();
}

}  // namespace

void setup_cert(CLI::App& app, const GlobalOptions& g) {
    auto* cert =
        app.add_subcommand("cert", "Import, list and delete X.509 certificates on a token");
    cert->require_subcommand(1);

    auto imp = std::make_shared<CertImportOptions>();
    auto* import = cert->add_subcommand(
        "import",
        "Store a certificate (DER or PEM file) on the token as a CKO_CERTIFICATE object "
        "(C_CreateObject) under the label and id of its key. With --key the certificate's "
        "public key must be that key's (else exit 6). Refuses a label or id already used by a "
        "certificate on the token (exit 3).");
    import->add_option("FILE", imp->file, "the certificate, DER or PEM")
        ->required()
        ->check(CLI::ExistingFile);
    auto* key = import
                    ->add_option("--key", imp->key,
                                 "pkcs11: URI of the certificate's key: the certificate gets its "
                                 "label and id")
                    ->type_name("KEY-URI");
    auto* token =
        import
            ->add_option("--token", imp->token, "pkcs11: URI of the token (with --label and --id)")
            ->type_name("TOKEN-URI");
    auto* label = import->add_option("--label", imp->label, "CKA_LABEL of the certificate")
                      ->type_name("LABEL");
    auto* id = import->add_option("--id", imp->id, "CKA_ID of the certificate, in hex")
                   ->type_name("HEX")
                   ->check(CLI::Validator(check_hex_id, "HEX"));
    key->excludes(token)->excludes(label)->excludes(id);
    token->needs(label)->needs(id);
    import->add_flag("--json", imp->json, "machine-readable output (one JSON object)");
    import->callback(command([imp, &g] {
        if (imp->key.empty() && imp->token.empty()) {
            throw CLI::RequiredError("--key or --token (with --label and --id)");
}
run_cert_import(*imp, g);
}  // namespace ts::cli
));

auto lst = std::make_shared<CertListOptions>();
auto* list = cert->add_subcommand(
    "list",
    "List the certificates on a token (those matching the URI's object and id if "
    "given): label, id, subject, issuer, serial, validity, SHA-256 and URI");
list->add_option("TOKEN-URI", lst->uri, "pkcs11: URI naming exactly one token")->required();
list->add_flag("--pem", lst->pem, "also print each certificate as PEM");
list->add_flag("--no-login", lst->no_login,
               "do not log in: list only certificates readable without a PIN");
list->add_flag("--json", lst->json, "machine-readable output (one JSON object, with PEM)");
list->callback(command([lst, &g] { run_cert_list(*lst, g); }));

setup_cert_delete(*cert, g);
}

}  // namespace ts::cli
