// SPDX-License-Identifier: Apache-2.0
#include "signer/csr.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <memory>

#include "signer/error.hpp"
#include "signer/spki.hpp"

namespace ts::signer {

namespace {

struct OpensslBytesFree {
    void operator()(unsigned char* p) const noexcept { OPENSSL_free(p); }
};
using OpensslBytes = std::unique_ptr<unsigned char, OpensslBytesFree>;

// A library context with only the null provider: nothing to decode a key with. A request parsed
// in it keeps its key as bytes, and OpenSSL 3.0 spends no OSSL_DECODER context on it.
OSSL_LIB_CTX* bytes_only_libctx() {
    struct Ctx {
        OsslPtr<OSSL_LIB_CTX> ctx{OSSL_LIB_CTX_new()};
        OsslPtr<OSSL_PROVIDER> null{ctx ? OSSL_PROVIDER_load(ctx.get(), "null") : nullptr};
    };
    static const Ctx c;
    if (!c.ctx || !c.null) throw OpenSslError("cannot create the library context for parsing");
    return c.ctx.get();
}

}  // namespace

Csr parse_csr(std::string_view data, const std::string& name, OSSL_LIB_CTX* libctx) {
    PublicKeyDecoder keys(libctx);
    return parse_csr(data, name, keys);
}

Csr parse_csr(std::string_view data, const std::string& name, PublicKeyDecoder& keys,
              bool reuse_keys) {
    Csr csr;
    csr.name = name;
    OpensslBytes pem_der;
    const unsigned char* der = reinterpret_cast<const unsigned char*>(data.data());
    long der_len = static_cast<long>(data.size());
    const bool pem = data.find("-----BEGIN") != std::string_view::npos;
    if (pem) {
        OsslPtr<BIO> bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
        if (!bio) throw OpenSslError("BIO_new_mem_buf");
        unsigned char* bytes = nullptr;
        char* pem_name = nullptr;
        // The same PEM labels PEM_read_bio_X509_REQ takes ("NEW CERTIFICATE REQUEST" too).
        int ok = PEM_bytes_read_bio(&bytes, &der_len, &pem_name, PEM_STRING_X509_REQ, bio.get(),
                                    nullptr, nullptr);
        OPENSSL_free(pem_name);
        pem_der.reset(bytes);
        if (ok != 1) {
            OpenSslError detail("PEM_bytes_read_bio");
            throw InputError(name + ": malformed or truncated certificate request (" +
                             detail.what() + ")");
        }
        der = pem_der.get();
    }
    const unsigned char* p = der;
    csr.req.reset(reinterpret_cast<X509_REQ*>(ASN1_item_d2i_ex(
        nullptr, &p, der_len, ASN1_ITEM_rptr(X509_REQ), bytes_only_libctx(), nullptr)));
    if (!csr.req) {
        OpenSslError detail("d2i_X509_REQ");
        throw InputError(name + ": malformed or truncated certificate request (" +
                         (pem ? "" : "neither PEM nor DER: ") + detail.what() + ")");
    }
    if (!pem && p != der + der_len)
        throw InputError(name + ": malformed certificate request (" +
                         std::to_string(der + der_len - p) +
                         " bytes of trailing data after the DER)");
    ERR_clear_error();  // the key the null provider could not decode

    const X509_PUBKEY* spki = X509_REQ_get_X509_PUBKEY(csr.req.get());
    if (reuse_keys) {
        auto decoded = keys.decode_reusing(spki);
        csr.key = std::move(decoded.key);
        csr.stand_in = std::move(decoded.stand_in);
    } else {
        csr.key = keys.decode(spki);
        if (EVP_PKEY* k = csr.key.get(); k != nullptr && EVP_PKEY_up_ref(k) == 1)
            csr.stand_in.reset(k);
    }
    if (!csr.key) {
        OpenSslError detail("decoding the public key");
        throw InputError(name + ": the request's public key cannot be decoded (" + detail.what() +
                         ")");
    }
    return csr;
}

void check_csr(const Csr& csr, int min_rsa_bits, OSSL_LIB_CTX* libctx) {
    EVP_PKEY* key = csr.key.get();
    if (key == nullptr) throw InputError(csr.name + ": the request's public key was not decoded");
    int rc = X509_REQ_verify_ex(csr.req.get(), key, libctx, nullptr);
    if (rc != 1) {
        OpenSslError detail("X509_REQ_verify_ex");
        throw InputError(csr.name +
                         ": the request's signature does not verify with its own public key; "
                         "it was altered or damaged, ask the requester for a new CSR (" +
                         detail.what() + ")");
    }
    int bits = EVP_PKEY_get_bits(key);
    if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS")) {
        if (bits < min_rsa_bits)
            throw InputError(csr.name + ": the request's RSA key has " + std::to_string(bits) +
                             " bits; this CA requires at least " + std::to_string(min_rsa_bits) +
                             " (tokensign_min_rsa_bits in the CA section)");
    } else if (EVP_PKEY_is_a(key, "EC")) {
        if (bits < 256)
            throw InputError(csr.name + ": the request's EC key has " + std::to_string(bits) +
                             " bits; this CA requires a curve of at least 256 bits (P-256)");
    } else if (!EVP_PKEY_is_a(key, "ED25519") && !EVP_PKEY_is_a(key, "ED448")) {
        throw InputError(
            csr.name + ": the request's key type " +
            std::string(EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "?") +
            " is not accepted (RSA, EC, Ed25519 or Ed448)");
    }
    ERR_clear_error();
}

}  // namespace ts::signer
