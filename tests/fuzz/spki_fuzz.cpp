// SPDX-License-Identifier: Apache-2.0
// signer::decode_public_key on any DER SubjectPublicKeyInfo: it builds a key exactly when
// OpenSSL's decoders do (d2i_PUBKEY), and the same key. So does a PublicKeyDecoder kept across
// inputs, as a batch keeps one: its EC keys are copies of the first valid key on their curve
// seen in this run, given the input's point; and one whose EC keys are its working key per
// curve (decode_reusing), with a stand-in of the key's size.
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "signer/spki.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using ts::OsslPtr;
    const unsigned char* p = data;
    // The structure only; decode_public_key reads the key's bytes from it.
    std::unique_ptr<X509_PUBKEY, decltype(&X509_PUBKEY_free)> spki(
        d2i_X509_PUBKEY(nullptr, &p, static_cast<long>(size)), &X509_PUBKEY_free);
    ERR_clear_error();
    if (!spki) return 0;
    const std::size_t used = static_cast<std::size_t>(p - data);
    OsslPtr<EVP_PKEY> ours = ts::signer::decode_public_key(spki.get(), nullptr);
    ERR_clear_error();
    p = data;
    OsslPtr<EVP_PKEY> theirs(d2i_PUBKEY(nullptr, &p, static_cast<long>(used)));
    ERR_clear_error();
    if (static_cast<bool>(ours) != static_cast<bool>(theirs)) std::abort();
    if (ours && EVP_PKEY_eq(ours.get(), theirs.get()) != 1) std::abort();
    static ts::signer::PublicKeyDecoder batch(nullptr);
    OsslPtr<EVP_PKEY> copied = batch.decode(spki.get());
    ERR_clear_error();
    if (static_cast<bool>(copied) != static_cast<bool>(theirs)) std::abort();
    if (copied && EVP_PKEY_eq(copied.get(), theirs.get()) != 1) std::abort();
    static ts::signer::PublicKeyDecoder reusing(nullptr);
    auto reused = reusing.decode_reusing(spki.get());
    ERR_clear_error();
    if (static_cast<bool>(reused.key) != static_cast<bool>(theirs)) std::abort();
    if (reused.key && EVP_PKEY_eq(reused.key.get(), theirs.get()) != 1) std::abort();
    if (reused.key && (!reused.stand_in ||
                       EVP_PKEY_get_bits(reused.stand_in.get()) != EVP_PKEY_get_bits(theirs.get())))
        std::abort();
    return 0;
}
