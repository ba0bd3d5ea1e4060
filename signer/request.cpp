// SPDX-License-Identifier: Apache-2.0
#include "signer/request.hpp"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "hsm/object.hpp"
#include "hsm/pubkey.hpp"
#include "hsm/token.hpp"
#include "hsm/uri.hpp"
#include "signer/init.hpp"
#include "signer/config.hpp"
#include "signer/error.hpp"

namespace ts::signer {

namespace {
/// Frees the stack only: its extensions stay with their owners.
struct ExtensionStackDeleter {
    void operator()(STACK_OF(X509_EXTENSION) * s) const noexcept { sk_X509_EXTENSION_free(s); }
};
}  // namespace

OsslPtr<X509_EXTENSION> san_extension(const std::vector<std::string>& sans) {
    std::string joined;
    for (const auto& s : sans) {
        if (s.empty()) throw InputError("--san must not be empty (e.g. --san DNS:host.example)");
        joined += (joined.empty() ? "" : ",") + s;
    }
    if (joined.empty()) return nullptr;
    OsslPtr<X509_EXTENSION> ext(
        X509V3_EXT_nconf_nid(nullptr, nullptr, NID_subject_alt_name, joined.c_str()));
    if (!ext) {
        OpenSslError detail("subjectAltName");
        throw InputError("'" + joined +
                         "' is not a list of TYPE:value names (DNS:host, IP:192.0.2.1, "
                         "email:a@example.org, URI:https://...): " +
                         detail.what());
    }
    return ext;
}

std::string make_request(LibCtx& ctx, const RequestOptions& opts, const hsm::Config& cfg) {
    if (!hsm::is_pkcs11_uri(opts.key))
        throw InputError(
            "--key must be a pkcs11: URI of a key on the token (for a key file, "
            "use openssl req)");
    // A refused digest is refused before the PIN is asked for (EdDSA keys, which take none,
    // are told apart once the key is read).
    (void)check_digest(opts.md, "--md", nullptr);
    OsslPtr<X509_NAME> subject = parse_subject(opts.subject);
    if (X509_NAME_entry_count(subject.get()) == 0)
        throw InputError("--subject has no attribute (e.g. --subject /O=Example/CN=host)");
    OsslPtr<X509_EXTENSION> san = san_extension(opts.sans);

    // One login, one PIN for both halves: the public key read here, the signature made by the
    // provider with the same PIN (no second prompt).
    hsm::Uri uri = hsm::parse_uri(opts.key);
    auto token = hsm::open_token(cfg, uri);
    hsm::PinSources sources = hsm::pin_sources(cfg, uri);
    const CK_TOKEN_INFO& probe = token->info().token_info;
    if (!sources.pin_value && (probe.flags & CKF_LOGIN_REQUIRED) &&
        !(probe.flags & CKF_PROTECTED_AUTHENTICATION_PATH))
        sources.pin_value =
            std::make_shared<const hsm::Pin>(hsm::obtain_pin(sources, token->what()));
    token->login(sources);
    OsslPtr<EVP_PKEY> public_key;
    std::string key_uri;
    {
        hsm::Session s = token->acquire();
        hsm::ObjectQuery q = hsm::ObjectQuery::from_uri(uri);
        if (q.cls && *q.cls != CKO_PRIVATE_KEY)
            throw InputError("--key must name a private key (type=private or no type)");
        q.cls = CKO_PRIVATE_KEY;
        hsm::ObjectInfo info = hsm::find_one(s, q);
        public_key = hsm::to_evp_pkey(hsm::read_public_key(s, info.handle), ctx.get(), ctx.propq());
        // The exact key, whatever else the URI matched by label alone.
        key_uri = hsm::object_uri(token->info().token_info, info.id, info.label, CKO_PRIVATE_KEY);
        if (auto mp = uri.module_path())
            key_uri += "?module-path=" + hsm::percent_encode_text(*mp);
        else if (auto mn = uri.module_name())
            key_uri += "?module-name=" + hsm::percent_encode_text(*mn);
    }
    std::string md = check_digest(opts.md, "--md", public_key.get());
    OsslPtr<EVP_PKEY> key = load_private_key(ctx, key_uri, cfg, sources.pin_value);

    OsslPtr<X509_REQ> req(X509_REQ_new_ex(ctx.get(), ctx.propq()));
    if (!req || !X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) ||
        !X509_REQ_set_subject_name(req.get(), subject.get()) ||
        !X509_REQ_set_pubkey(req.get(), public_key.get()))
        throw OpenSslError("building the request");
    if (san) {
        std::unique_ptr<STACK_OF(X509_EXTENSION), ExtensionStackDeleter> exts(
            sk_X509_EXTENSION_new_null());
        if (!exts || !sk_X509_EXTENSION_push(exts.get(), san.get()) ||
            !X509_REQ_add_extensions(req.get(), exts.get()))
            throw OpenSslError("adding subjectAltName to the request");
    }
    OsslPtr<EVP_MD_CTX> mctx(EVP_MD_CTX_new());
    if (!mctx ||
        EVP_DigestSignInit_ex(mctx.get(), nullptr, md.empty() ? nullptr : md.c_str(), ctx.get(),
                              ctx.propq(), key.get(), nullptr) != 1 ||
        X509_REQ_sign_ctx(req.get(), mctx.get()) <= 0)
        throw OpenSslError("signing the request with the token key failed");
    if (X509_REQ_verify_ex(req.get(), public_key.get(), ctx.get(), ctx.propq()) != 1)
        throw OpenSslError(
            "the request's signature does not verify with the key's public half; nothing was "
            "written");
    OsslPtr<BIO> bio(BIO_new(BIO_s_mem()));
    if (!bio || !PEM_write_bio_X509_REQ(bio.get(), req.get()))
        throw OpenSslError("encoding the request");
    return bio_text(bio.get());
}

}  // namespace ts::signer
