// SPDX-License-Identifier: Apache-2.0
// The ceremony's X.509 objects, built exactly from the file: certificates (root, intermediate,
// cross-certificate), the CRL and the request, each as a to-be-signed object that is built twice
// (once for a throwaway host key, once for the token) and compared byte for byte.
#pragma once

#include <openssl/x509.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hsm/ossl.hpp"
#include "signer/libctx.hpp"

namespace ts::signer::ceremony {

/// A CA certificate to build. Pointers are borrowed.
struct CertSpec {
    const X509_NAME* subject = nullptr;
    X509* issuer = nullptr;  // the issuer's certificate; null: self-signed (issuer = subject)
    int64_t not_before = 0, not_after = 0;
    const BIGNUM* serial = nullptr;
    EVP_PKEY* subject_key = nullptr;
    std::optional<int> pathlen;
    std::string key_usage;  // e.g. "critical,keyCertSign,cRLSign"
    std::vector<std::string> eku, policies;
    const X509_EXTENSION* ski = nullptr;  // copied as it is (a cross-certificate); null: hash
};

/// The unsigned certificate: v3, serial, issuer and subject names, validity (UTCTime until
/// 2049, GeneralizedTime after, RFC 5280 4.1.2.5), the key, and basicConstraints critical
/// CA:TRUE[,pathlen], keyUsage, subjectKeyIdentifier, authorityKeyIdentifier keyid:always,
/// extendedKeyUsage and certificatePolicies when given. Throws InputError / OpenSslError.
OsslPtr<X509> build_certificate(LibCtx& ctx, const CertSpec& spec);

/// The unsigned v2 CRL of `issuer`: no entries, thisUpdate/nextUpdate, authorityKeyIdentifier
/// and cRLNumber.
OsslPtr<X509_CRL> build_crl(LibCtx& ctx, X509* issuer, int64_t this_update, int64_t next_update,
                            const BIGNUM* number);

/// The unsigned request (version 1, subject, key; no attributes).
OsslPtr<X509_REQ> build_request(LibCtx& ctx, const X509_NAME* subject, EVP_PKEY* key);

/// The DER of the to-be-signed part as it is after signing.
std::vector<unsigned char> tbs_der(X509* cert);
std::vector<unsigned char> tbs_der(X509_CRL* crl);
std::vector<unsigned char> tbs_der(X509_REQ* req);

/// Signs with `key` (a token key through the provider, or a host key) and `md` ("" for EdDSA).
/// Throws OpenSslError (a token failure keeps its CK_RV, see OpenSslError::token_rv).
void sign_object(LibCtx& ctx, X509* cert, EVP_PKEY* key, const std::string& md);
void sign_object(LibCtx& ctx, X509_CRL* crl, EVP_PKEY* key, const std::string& md);
void sign_object(LibCtx& ctx, X509_REQ* req, EVP_PKEY* key, const std::string& md);

/// A throwaway key generated on the host of the same type as `like` (RSA of the same size, EC
/// on the same curve, Ed25519/Ed448): it signs the comparison copy, so that the signature
/// algorithm identifier in the to-be-signed part is the one the token key produces.
OsslPtr<EVP_PKEY> host_key_like(LibCtx& ctx, const EVP_PKEY* like);

/// The chain verifies with OpenSSL: `cert` under `trusted` (the root) with `untrusted` between,
/// at the time `at` (a ceremony's certificates often start in the future). Empty when it
/// verifies, else OpenSSL's reason.
std::string verify_chain(X509* cert, X509* trusted, const std::vector<X509*>& untrusted,
                         int64_t at);

/// The DER of `name`, and of a certificate's SubjectPublicKeyInfo.
std::vector<unsigned char> name_der(const X509_NAME* name);
std::vector<unsigned char> spki_der_of(X509* cert);

}  // namespace ts::signer::ceremony
