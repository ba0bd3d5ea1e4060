// SPDX-License-Identifier: Apache-2.0
// DECODERs for tokensign's URI PEM (provider-decoder(7)), so programs that only take key files
// can use token keys. Step 1 ("DER" from PEM) accepts only our label and passes the URI text
// on with the key type; step 2 (per key type, structure "pkcs11-uri") finds the key on the
// token and hands it to our keymgmt by reference.
#include <openssl/bio.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/pem.h>

#include <cstring>
#include <string>
#include <string_view>

#include "hsm/error.hpp"
#include "hsm/uri.hpp"
#include "provider/algorithms.hpp"
#include "provider/dispatch.hpp"
#include "provider/key.hpp"
#include "provider/uri_pem.hpp"

namespace ts::prov {
namespace {

void* dec_newctx(void* provctx) noexcept { return provctx; }
void dec_freectx(void*) noexcept {}

constexpr std::string_view kBegin = "-----BEGIN TOKENSIGN ";
constexpr std::string_view kStructure = "pkcs11-uri";

int pem_decode(void* vctx, OSSL_CORE_BIO* cin, int, OSSL_CALLBACK* data_cb, void* data_cbarg,
               OSSL_PASSPHRASE_CALLBACK*, void*) noexcept {
    auto* prov = static_cast<ProvCtx*>(vctx);
    return TS_GUARD(prov, 0, [&] {
        OsslPtr<BIO> in(BIO_new_from_core_bio(prov->host_ctx(), cin));
        host_check(in != nullptr, "opening the input");
        std::string text(kBegin.size(), '\0');
        int n = BIO_read(in.get(), text.data(), static_cast<int>(text.size()));
        if (n != static_cast<int>(kBegin.size()) || text != kBegin) return 1;  // not ours
        char buf[1024];
        while (text.size() < 16384 && (n = BIO_read(in.get(), buf, sizeof buf)) > 0) {
            text.append(buf, static_cast<std::size_t>(n));
        }
        OsslPtr<BIO> mem(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
        char* name = nullptr;
        char* header = nullptr;
        unsigned char* data = nullptr;
        long len = 0;
        if (!mem || PEM_read_bio(mem.get(), &name, &header, &data, &len) != 1) return 1;
        std::string label = name;
        std::string body(reinterpret_cast<char*>(data), static_cast<std::size_t>(len));
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        // "TOKENSIGN <TYPE> KEY"
        constexpr std::string_view kPrefix = "TOKENSIGN ", kSuffix = " KEY";
        if (label.size() <= kPrefix.size() + kSuffix.size() ||
            label.compare(label.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
            return 1;
        }
        std::string type =
            label.substr(kPrefix.size(), label.size() - kPrefix.size() - kSuffix.size());
        int object_type = OSSL_OBJECT_PKEY;
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type),
            OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE, type.data(), 0),
            OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE,
                                             const_cast<char*>(kStructure.data()), 0),
            OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, body.data(), body.size()),
            OSSL_PARAM_END};
        return data_cb(params, data_cbarg) ? 1 : 0;
    });
}

// A URI PEM is a private key file: the decoders take no part when only a public key is wanted.
// OpenSSL 3.0 builds a decoder chain for every SubjectPublicKeyInfo it parses (each of the ~140
// certificates `openssl x509 -req` loads from the system trust store), and a decoder that says
// no here is dropped before its names are compared: 27M fewer instructions per x509 run.
int dec_does_selection(void*, int selection) noexcept {
    return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 ? 1 : 0;
}

template <const char* Type>
int uri_decode(void* vctx, OSSL_CORE_BIO* cin, int, OSSL_CALLBACK* data_cb, void* data_cbarg,
               OSSL_PASSPHRASE_CALLBACK* pw_cb, void* pw_cbarg) noexcept {
    auto* prov = static_cast<ProvCtx*>(vctx);
    return TS_GUARD(prov, 0, [&] {
        OsslPtr<BIO> in(BIO_new_from_core_bio(prov->host_ctx(), cin));
        host_check(in != nullptr, "opening the input");
        constexpr std::string_view kScheme = "pkcs11:";
        std::string uri_text(kScheme.size(), '\0');
        int n = BIO_read(in.get(), uri_text.data(), static_cast<int>(uri_text.size()));
        if (n != static_cast<int>(kScheme.size()) || uri_text != kScheme) return 1;  // not ours
        char buf[1024];
        while (uri_text.size() < 8192 && (n = BIO_read(in.get(), buf, sizeof buf)) > 0) {
            uri_text.append(buf, static_cast<std::size_t>(n));
        }
        std::unique_ptr<Key> key =
            load_private_key(prov, hsm::parse_uri(uri_text), pw_cb, pw_cbarg);
        if (std::strcmp(Type, "RSA-PSS") == 0 && key->type == "RSA") {
            key->type = Type;
            key->set_public(*key->pub);
        }
        if (key->type != Type) {
            throw hsm::SelectionError("the key file names a " + std::string(Type) + " key but " +
                                      key->ref->describe() + " is " + key->type);
        }
        int object_type = OSSL_OBJECT_PKEY;
        const Key* ref = key.get();
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &object_type),
            OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE, const_cast<char*>(Type),
                                             0),
            OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &ref, kKeyReferenceSize),
            OSSL_PARAM_END};
        return data_cb(params, data_cbarg) ? 1 : 0;
    });
}

// The key stays on the token: there is nothing to export to another provider's keymgmt.
int uri_export_object(void*, const void*, size_t, OSSL_CALLBACK*, void*) noexcept { return 0; }

constexpr char kRsa[] = "RSA";
constexpr char kRsaPss[] = "RSA-PSS";
constexpr char kEc[] = "EC";
constexpr char kEd25519[] = "ED25519";
constexpr char kEd448[] = "ED448";

}  // namespace

const OSSL_DISPATCH uri_pem_to_der_decoder_functions[] = {
    TS_DISPATCH(DECODER_NEWCTX, decoder_newctx, dec_newctx),
    TS_DISPATCH(DECODER_FREECTX, decoder_freectx, dec_freectx),
    TS_DISPATCH(DECODER_DOES_SELECTION, decoder_does_selection, dec_does_selection),
    TS_DISPATCH(DECODER_DECODE, decoder_decode, pem_decode),
    {0, nullptr}};

#define TS_DECODER_TABLE(name, type)                                                     \
    const OSSL_DISPATCH name[] = {                                                       \
        TS_DISPATCH(DECODER_NEWCTX, decoder_newctx, dec_newctx),                         \
        TS_DISPATCH(DECODER_FREECTX, decoder_freectx, dec_freectx),                      \
        TS_DISPATCH(DECODER_DOES_SELECTION, decoder_does_selection, dec_does_selection), \
        TS_DISPATCH(DECODER_DECODE, decoder_decode, uri_decode<type>),                   \
        TS_DISPATCH(DECODER_EXPORT_OBJECT, decoder_export_object, uri_export_object),    \
        {0, nullptr}}

TS_DECODER_TABLE(rsa_uri_decoder_functions, kRsa);
TS_DECODER_TABLE(rsa_pss_uri_decoder_functions, kRsaPss);
TS_DECODER_TABLE(ec_uri_decoder_functions, kEc);
TS_DECODER_TABLE(ed25519_uri_decoder_functions, kEd25519);
TS_DECODER_TABLE(ed448_uri_decoder_functions, kEd448);

}  // namespace ts::prov
