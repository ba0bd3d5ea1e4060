// SPDX-License-Identifier: Apache-2.0
// ENCODERs for token keys (provider-encoder(7)): the public key as SubjectPublicKeyInfo (DER,
// PEM; EC keys always with the named-curve OID), text, and the private key as a small PEM that
// holds only the key's pkcs11: URI (never key material, never a PIN).
#include <openssl/bio.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>

#include <string>

#include "hsm/pubkey.hpp"
#include "hsm/uri.hpp"
#include "provider/algorithms.hpp"
#include "provider/dispatch.hpp"
#include "provider/key.hpp"
#include "provider/uri_pem.hpp"

namespace ts::prov {
namespace {

// The encoders keep no state: the context is the provider context.
void* enc_newctx(void* provctx) noexcept { return provctx; }
void enc_freectx(void*) noexcept {}

OsslPtr<BIO> core_bio(ProvCtx* prov, OSSL_CORE_BIO* cout) {
    OsslPtr<BIO> out(BIO_new_from_core_bio(prov->host_ctx(), cout));
    host_check(out != nullptr, "opening the output");
    return out;
}

void write_all(BIO* out, const void* data, std::size_t len) {
    host_check(BIO_write(out, data, static_cast<int>(len)) == static_cast<int>(len),
               "writing the encoded key");
}

const Key& key_of(const void* obj_raw) {
    auto* k = static_cast<const Key*>(obj_raw);
    if (k == nullptr || !k->host) throw std::invalid_argument("no tokensign key to encode");
    return *k;
}

int spki_does_selection(void*, int selection) noexcept {
    return (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 ? 1 : 0;
}

int spki_der_encode(void* vctx, OSSL_CORE_BIO* cout, const void* obj_raw, const OSSL_PARAM[], int,
                    OSSL_PASSPHRASE_CALLBACK*, void*) noexcept {
    auto* prov = static_cast<ProvCtx*>(vctx);
    return TS_GUARD(prov, 0, [&] {
        std::vector<unsigned char> der = spki_der(key_of(obj_raw).host.get());
        write_all(core_bio(prov, cout).get(), der.data(), der.size());
        return 1;
    });
}

int spki_pem_encode(void* vctx, OSSL_CORE_BIO* cout, const void* obj_raw, const OSSL_PARAM[], int,
                    OSSL_PASSPHRASE_CALLBACK*, void*) noexcept {
    auto* prov = static_cast<ProvCtx*>(vctx);
    return TS_GUARD(prov, 0, [&] {
        host_check(
            PEM_write_bio_PUBKEY(core_bio(prov, cout).get(), key_of(obj_raw).host.get()) == 1,
            "writing the public key PEM");
        return 1;
    });
}

int text_does_selection(void*, int selection) noexcept {
    return (selection & (OSSL_KEYMGMT_SELECT_KEYPAIR | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)) != 0
               ? 1
               : 0;
}

int text_encode(void* vctx, OSSL_CORE_BIO* cout, const void* obj_raw, const OSSL_PARAM[], int,
                OSSL_PASSPHRASE_CALLBACK*, void*) noexcept {
    auto* prov = static_cast<ProvCtx*>(vctx);
    return TS_GUARD(prov, 0, [&] {
        const Key& k = key_of(obj_raw);
        OsslPtr<BIO> out = core_bio(prov, cout);
        if (k.soft_private) {
            host_check(EVP_PKEY_print_private(out.get(), k.host.get(), 0, nullptr) == 1,
                       "printing the key");
            return 1;
        }
        if (k.on_token()) {
            BIO_printf(out.get(), "%s private key on a PKCS#11 token (not extractable)\n",
                       k.type.c_str());
            BIO_printf(out.get(), "Object: %s\n", k.ref->describe().c_str());
            BIO_printf(out.get(), "URI: %s\n", key_uri(k).c_str());
        }
        // The public part as the default provider prints it (modulus, curve, point).
        host_check(EVP_PKEY_print_public(out.get(), k.host.get(), 0, nullptr) == 1,
                   "printing the public key");
        return 1;
    });
}

int uri_does_selection(void*, int selection) noexcept {
    return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 ? 1 : 0;
}

int uri_pem_encode(void* vctx, OSSL_CORE_BIO* cout, const void* obj_raw, const OSSL_PARAM[], int,
                   OSSL_PASSPHRASE_CALLBACK*, void*) noexcept {
    auto* prov = static_cast<ProvCtx*>(vctx);
    return TS_GUARD(prov, 0, [&] {
        auto* kp = static_cast<const Key*>(obj_raw);
        if (kp == nullptr) throw std::invalid_argument("no tokensign key to encode");
        const Key& k = *kp;
        if (k.soft_private) {  // an in-memory key (see Key): PKCS#8 as the default provider
            host_check(PEM_write_bio_PrivateKey(core_bio(prov, cout).get(), k.host.get(), nullptr,
                                                nullptr, 0, nullptr, nullptr) == 1,
                       "writing the private key");
            return 1;
        }
        if (!k.on_token()) {
            throw std::invalid_argument("a public key has no private-key form to write");
        }
        std::string uri = key_uri(k);
        OsslPtr<BIO> out = core_bio(prov, cout);
        host_check(PEM_write_bio(out.get(), uri_pem_label(k.type).c_str(), "",
                                 reinterpret_cast<const unsigned char*>(uri.data()),
                                 static_cast<long>(uri.size())) > 0,
                   "writing the key URI PEM");
        return 1;
    });
}

}  // namespace

#define TS_ENCODER_TABLE(name, does, encode)                               \
    const OSSL_DISPATCH name[] = {                                         \
        TS_DISPATCH(ENCODER_NEWCTX, encoder_newctx, enc_newctx),           \
        TS_DISPATCH(ENCODER_FREECTX, encoder_freectx, enc_freectx),        \
        TS_DISPATCH(ENCODER_DOES_SELECTION, encoder_does_selection, does), \
        TS_DISPATCH(ENCODER_ENCODE, encoder_encode, encode),               \
        {0, nullptr}}

TS_ENCODER_TABLE(spki_der_encoder_functions, spki_does_selection, spki_der_encode);
TS_ENCODER_TABLE(spki_pem_encoder_functions, spki_does_selection, spki_pem_encode);
TS_ENCODER_TABLE(text_encoder_functions, text_does_selection, text_encode);
TS_ENCODER_TABLE(uri_pem_encoder_functions, uri_does_selection, uri_pem_encode);

}  // namespace ts::prov
