// SPDX-License-Identifier: Apache-2.0
// unique_ptr for OpenSSL objects: one stateless deleter per type (as tink's SslUniquePtr).
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <vector>

namespace ts {

template <class T>
struct OsslDeleter;

/// OPENSSL_free is a macro; this is a function to point the char deleter at.
inline void OPENSSL_free_char(char* p) noexcept { OPENSSL_free(p); }

#define TS_OSSL_DELETER(T, fn)                          \
    template <>                                         \
    struct OsslDeleter<T> {                             \
        void operator()(T* p) const noexcept { fn(p); } \
    }

TS_OSSL_DELETER(EVP_PKEY, EVP_PKEY_free);
TS_OSSL_DELETER(EVP_PKEY_CTX, EVP_PKEY_CTX_free);
TS_OSSL_DELETER(EVP_MD_CTX, EVP_MD_CTX_free);
TS_OSSL_DELETER(EVP_MD, EVP_MD_free);
TS_OSSL_DELETER(X509_ALGOR, X509_ALGOR_free);
TS_OSSL_DELETER(BIO, BIO_free_all);
TS_OSSL_DELETER(BIGNUM, BN_clear_free);
TS_OSSL_DELETER(X509, X509_free);
TS_OSSL_DELETER(X509_REQ, X509_REQ_free);
TS_OSSL_DELETER(X509_CRL, X509_CRL_free);
TS_OSSL_DELETER(X509_NAME, X509_NAME_free);
TS_OSSL_DELETER(X509_EXTENSION, X509_EXTENSION_free);
TS_OSSL_DELETER(X509_STORE, X509_STORE_free);
TS_OSSL_DELETER(X509_STORE_CTX, X509_STORE_CTX_free);
// ASN1_INTEGER, ASN1_TIME and ASN1_OCTET_STRING are all ASN1_STRING: one deleter serves them.
TS_OSSL_DELETER(ASN1_STRING, ASN1_STRING_free);
TS_OSSL_DELETER(OSSL_LIB_CTX, OSSL_LIB_CTX_free);
TS_OSSL_DELETER(OSSL_PROVIDER, OSSL_PROVIDER_unload);
TS_OSSL_DELETER(OSSL_STORE_CTX, OSSL_STORE_close);
TS_OSSL_DELETER(OSSL_STORE_INFO, OSSL_STORE_INFO_free);
TS_OSSL_DELETER(OSSL_PARAM_BLD, OSSL_PARAM_BLD_free);
TS_OSSL_DELETER(OSSL_PARAM, OSSL_PARAM_free);
TS_OSSL_DELETER(CONF, NCONF_free);
TS_OSSL_DELETER(X509_REVOKED, X509_REVOKED_free);
TS_OSSL_DELETER(ASN1_OBJECT, ASN1_OBJECT_free);
TS_OSSL_DELETER(EVP_SIGNATURE, EVP_SIGNATURE_free);
TS_OSSL_DELETER(EVP_CIPHER_CTX, EVP_CIPHER_CTX_free);
TS_OSSL_DELETER(X509_SIG, X509_SIG_free);
TS_OSSL_DELETER(ECDSA_SIG, ECDSA_SIG_free);
TS_OSSL_DELETER(EVP_KDF, EVP_KDF_free);
TS_OSSL_DELETER(EVP_KDF_CTX, EVP_KDF_CTX_free);
TS_OSSL_DELETER(char, OPENSSL_free_char);

#undef TS_OSSL_DELETER

template <class T>
using OsslPtr = std::unique_ptr<T, OsslDeleter<T>>;

/// What was written into a memory BIO, as a string.
inline std::string bio_text(BIO* bio) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

/// The DER encoding of `obj` through an OpenSSL i2d function (size query, then encode). Empty
/// when OpenSSL cannot encode it: callers turn that into their own error.
template <class T, class I2d>
std::vector<unsigned char> to_der(T* obj, I2d i2d) {
    int len = i2d(obj, nullptr);
    if (len <= 0) return {};
    std::vector<unsigned char> out(static_cast<std::size_t>(len));
    unsigned char* p = out.data();
    if (i2d(obj, &p) != len) return {};
    return out;
}

}  // namespace ts
