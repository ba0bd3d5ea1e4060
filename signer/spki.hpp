// SPDX-License-Identifier: Apache-2.0
// Public keys and signatures of certificates and requests, decoded and printed without
// OpenSSL 3.0's per-call OSSL_DECODER / OSSL_ENCODER contexts, for the common key types; the
// OpenSSL functions for everything else. Batch issuing spends most of its host time there.
#pragma once

#include <string>

#include "hsm/ossl.hpp"

namespace ts::signer {

/// The key a SubjectPublicKeyInfo encodes, in `libctx`. rsaEncryption (NULL or absent
/// parameters), id-ecPublicKey on a named curve, Ed25519 and Ed448 are built from their bytes
/// (EVP_PKEY_fromdata, EVP_PKEY_new_raw_public_key_ex); any other key, and any of those that
/// this refuses, goes through OpenSSL's decoders (d2i_PUBKEY_ex), so what is accepted is what
/// OpenSSL accepts. Null if OpenSSL cannot decode it; its error queue then says why.
OsslPtr<EVP_PKEY> decode_public_key(const X509_PUBKEY* spki, OSSL_LIB_CTX* libctx);

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

}  // namespace ts::signer
