// SPDX-License-Identifier: Apache-2.0
#include "signer/csr.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "signer/error.hpp"

namespace ts::signer {

Csr parse_csr(std::string_view data, const std::string& name, OSSL_LIB_CTX* libctx) {
    Csr csr;
    csr.name = name;
    csr.req.reset(X509_REQ_new_ex(libctx, nullptr));
    if (!csr.req) throw OpenSslError("X509_REQ_new_ex");
    X509_REQ* p = csr.req.get();
    if (data.find("-----BEGIN") != std::string_view::npos) {
        OsslPtr<BIO> bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
        if (!bio) throw OpenSslError("BIO_new_mem_buf");
        if (PEM_read_bio_X509_REQ(bio.get(), &p, nullptr, nullptr) == nullptr) {
            csr.req.release();  // a failed d2i freed it and set p to null; a PEM framing
            csr.req.reset(p);   // error did not reach d2i and left it to us
            OpenSslError detail("PEM_read_bio_X509_REQ");
            throw InputError(name + ": malformed or truncated certificate request (" +
                             detail.what() + ")");
        }
    } else {
        auto* der = reinterpret_cast<const unsigned char*>(data.data());
        const unsigned char* end = der + data.size();
        if (d2i_X509_REQ(&p, &der, static_cast<long>(data.size())) == nullptr) {
            csr.req.release();  // freed by the failed d2i unless p is still set
            csr.req.reset(p);
            OpenSslError detail("d2i_X509_REQ");
            throw InputError(name +
                             ": malformed or truncated certificate request (neither PEM nor "
                             "DER: " +
                             detail.what() + ")");
        }
        if (der != end)
            throw InputError(name + ": malformed certificate request (" +
                             std::to_string(end - der) + " bytes of trailing data after the DER)");
    }
    return csr;
}

void check_csr(const Csr& csr, int min_rsa_bits, OSSL_LIB_CTX* libctx) {
    EVP_PKEY* key = X509_REQ_get0_pubkey(csr.req.get());
    if (key == nullptr) {
        OpenSslError detail("X509_REQ_get0_pubkey");
        throw InputError(csr.name + ": the request's public key cannot be decoded (" +
                         detail.what() + ")");
    }
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
