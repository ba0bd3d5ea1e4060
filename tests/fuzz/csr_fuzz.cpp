// SPDX-License-Identifier: Apache-2.0
// signer::parse_csr (PEM or DER, the key decoded by signer/spki.cpp): any input parses or throws
// InputError. For DER input the verdict is OpenSSL's own route's (d2i_X509_REQ, every byte
// consumed, signature verified with the key its decoders built): both accept with equal keys,
// or both refuse. check_csr runs on what parses.
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "signer/csr.hpp"
#include "signer/error.hpp"

namespace {

using ts::OsslPtr;

OsslPtr<EVP_PKEY> openssl_verdict(const std::uint8_t* data, std::size_t size) {
    const unsigned char* p = data;
    OsslPtr<X509_REQ> req(d2i_X509_REQ(nullptr, &p, static_cast<long>(size)));
    if (!req || p != data + size) return nullptr;
    EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
    if (key == nullptr || X509_REQ_verify(req.get(), key) != 1) return nullptr;
    EVP_PKEY_up_ref(key);
    return OsslPtr<EVP_PKEY>(key);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    OsslPtr<EVP_PKEY> ours;
    try {
        ts::signer::Csr csr = ts::signer::parse_csr(text, "fuzz.csr", nullptr);
        if (!csr.req || !csr.key) std::abort();
        if (X509_REQ_verify_ex(csr.req.get(), csr.key.get(), nullptr, nullptr) == 1)
            ours = std::move(csr.key);
        try {
            ts::signer::Csr again = ts::signer::parse_csr(text, "fuzz.csr", nullptr);
            ts::signer::check_csr(again, 2048, nullptr);
        } catch (const ts::signer::InputError&) {
        }
    } catch (const ts::signer::InputError&) {
    }
    ERR_clear_error();
    if (size > 0 && data[0] == 0x30) {  // DER: OpenSSL's route decides the same
        auto theirs = openssl_verdict(data, size);
        ERR_clear_error();
        if (static_cast<bool>(theirs) != static_cast<bool>(ours)) std::abort();
        if (theirs && EVP_PKEY_eq(theirs.get(), ours.get()) != 1) std::abort();
    }
    return 0;
}
