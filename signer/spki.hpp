// SPDX-License-Identifier: Apache-2.0
// Public keys and signatures of certificates and requests, decoded and printed without
// OpenSSL 3.0's per-call OSSL_DECODER / OSSL_ENCODER contexts, for the common key types; the
// OpenSSL functions for everything else. Batch issuing spends most of its host time there.
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "hsm/ossl.hpp"

namespace ts::signer {

/// The key a SubjectPublicKeyInfo encodes, in `libctx`. rsaEncryption (NULL or absent
/// parameters), id-ecPublicKey on a named curve, Ed25519 and Ed448 are built from their bytes
/// (EVP_PKEY_fromdata, EVP_PKEY_new_raw_public_key_ex); any other key, and any of those that
/// this refuses, goes through OpenSSL's decoders (d2i_PUBKEY_ex), so what is accepted is what
/// OpenSSL accepts. Null if OpenSSL cannot decode it; its error queue then says why.
OsslPtr<EVP_PKEY> decode_public_key(const X509_PUBKEY* spki, OSSL_LIB_CTX* libctx);

/// decode_public_key for many keys in one libctx (a batch of requests), faster for EC keys.
/// OpenSSL 3.0 builds the curve's EC_GROUP anew for every EVP_PKEY_fromdata: about 8 of the
/// 15 µs a P-256 key costs. Here the first key on each curve is decoded as decode_public_key
/// does and kept; every later key on that curve is a copy of it given its own point
/// (EVP_PKEY_dup, then EVP_PKEY_set1_encoded_public_key: about 4 µs), which OpenSSL decodes and
/// checks as d2i_PUBKEY does (EC_KEY_oct2key). A point that copy refuses goes the
/// decode_public_key way, so what is accepted, and the key built, are decode_public_key's.
/// Every other key type is decode_public_key's. Not thread-safe: one decoder per thread.
///
/// decode_reusing() goes further for a batch that uses each key once, in turn: a later key on a
/// curve is the decoder's own working key for that curve given the new point, with no copy at
/// all (EVP_PKEY_dup copies the curve, about 3 µs).
class PublicKeyDecoder {
  public:
    explicit PublicKeyDecoder(OSSL_LIB_CTX* libctx) noexcept : m_libctx(libctx) {}
    /// A key of its own.
    OsslPtr<EVP_PKEY> decode(const X509_PUBKEY* spki);

    struct Reused {
        /// The key. For an EC key on a curve seen before: the decoder's working key, which the
        /// next decode_reusing on that curve changes; use it before then and keep no reference.
        OsslPtr<EVP_PKEY> key;
        /// A key of the same type, curve and size that no decode changes (the curve's first
        /// key; for any other key, `key` itself): for what needs only those, such as the
        /// certificate text, after the next decode.
        OsslPtr<EVP_PKEY> stand_in;
    };
    Reused decode_reusing(const X509_PUBKEY* spki);

  private:
    struct Curve {
        int nid;
        OsslPtr<EVP_PKEY> first;    // never changed: copied, and the stand-in
        OsslPtr<EVP_PKEY> working;  // decode_reusing's, made from `first` on first need
    };
    Curve* curve_of(const X509_PUBKEY* spki, const unsigned char** bytes, int* len, int* nid);
    OSSL_LIB_CTX* m_libctx;
    std::vector<Curve> m_curves;
};

/// Appends what EVP_PKEY_print_public(bio, key, indent, nullptr) prints for `key`, the key `spki`
/// encodes, byte for byte: written here for rsaEncryption, named-curve EC, Ed25519 and Ed448
/// keys, by EVP_PKEY_print_public for any other. False if OpenSSL fails.
bool append_public_key_text(std::string& out, const X509_PUBKEY* spki, const EVP_PKEY* key,
                            int indent);

/// What i2a_ASN1_OBJECT prints for `obj`: its long name, or its dotted OID. Empty if none.
std::string object_text(const ASN1_OBJECT* obj);

/// Appends what X509_signature_print(bio, alg, sig) prints: written here for PKCS#1 v1.5 RSA,
/// ECDSA, Ed25519 and Ed448 signatures, by X509_signature_print for any other (RSA-PSS prints
/// its parameters). False if OpenSSL fails.
bool append_signature_text(std::string& out, const X509_ALGOR* alg, const ASN1_BIT_STRING* sig);

/// Checks the signatures of many certificates made with one key (a CA's batch): the DER a
/// certificate will be written as is split into its TBSCertificate, signature algorithm and
/// signature, the TBSCertificate's bytes are hashed, and the signature is verified with the key,
/// through one key context per digest made once. X509_verify instead costs OpenSSL 3.0 a new
/// digest context, two algorithm fetches and a new key context per certificate, and encodes
/// the TBSCertificate anew. This fast way takes PKCS#1 v1.5 RSA and ECDSA signatures with a
/// SHA-2 digest; any other signature (RSA-PSS, EdDSA) is checked with X509_verify. Either way
/// the outer and inner signature algorithms must be the same, as X509_verify requires. Not
/// thread-safe: one per thread.
class CertificateVerifier {
  public:
    /// `key`, borrowed, must outlive this: the CA certificate's public key.
    CertificateVerifier(EVP_PKEY* key, OSSL_LIB_CTX* libctx, const char* propq) noexcept
        : m_key(key), m_libctx(libctx), m_propq(propq) {}
    /// True when `der`, the DER encoding of `cert`, carries a signature by the key over its
    /// TBSCertificate; false otherwise, OpenSSL's error queue then saying why where it can.
    bool verify(X509* cert, std::span<const unsigned char> der);

  private:
    struct Digest {
        int nid;
        OsslPtr<EVP_MD> md;
        OsslPtr<EVP_PKEY_CTX> ctx;  // verify-initialised for md, with its padding
    };
    EVP_PKEY* m_key;
    OSSL_LIB_CTX* m_libctx;
    const char* m_propq;
    std::vector<Digest> m_digests;
};

/// PEM_write_bio(bio, "CERTIFICATE", der) byte for byte, without a BIO: the base64 of `der` in
/// lines of 64 characters between the BEGIN and END lines.
std::string certificate_pem_from_der(std::span<const unsigned char> der);

}  // namespace ts::signer
