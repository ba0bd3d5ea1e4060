// SPDX-License-Identifier: Apache-2.0
// Public halves of token keys: read from the token, turned into SubjectPublicKeyInfo / EVP_PKEY.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <openssl/evp.h>

#include "hsm/ossl.hpp"
#include "hsm/pkcs11.hpp"

namespace ts::hsm {

class Session;

enum class KeyKind { Rsa, Ec, Ed25519, Ed448 };

/// "RSA", "EC", "ED25519", "ED448" (OpenSSL key type names).
const char* key_kind_name(KeyKind k);

/// The public parameters of a key.
struct PublicKey {
    KeyKind kind = KeyKind::Rsa;
    std::vector<unsigned char> modulus;   // RSA, big-endian
    std::vector<unsigned char> exponent;  // RSA, big-endian
    std::string group;                    // EC: OpenSSL group name ("prime256v1", "secp384r1", ...)
    std::vector<unsigned char> point;     // EC: uncompressed point (04||X||Y); EdDSA: raw key
    /// Key size in bits (modulus bits, curve order bits, 255/448).
    std::size_t bits() const;
};

/// The public key of `obj` (a public key, a private key or a certificate object). For an EC
/// private key, whose CKA_EC_POINT tokens do not keep, the public key or certificate with the
/// same CKA_ID is read instead. Throws UnsupportedError for other key types.
PublicKey read_public_key(Session& s, CK_OBJECT_HANDLE obj);

/// DER SubjectPublicKeyInfo (EC keys always with the named-curve OID).
std::vector<unsigned char> spki_der(const PublicKey& key);

/// The key as an EVP_PKEY of `libctx` (nullptr: the default one), via its SubjectPublicKeyInfo.
OsslPtr<EVP_PKEY> to_evp_pkey(const PublicKey& key, OSSL_LIB_CTX* libctx = nullptr,
                              const char* propq = nullptr);
/// The inverse: the public parameters of an EVP_PKEY (RSA, EC named curve, Ed25519, Ed448).
PublicKey from_evp_pkey(const EVP_PKEY* pkey);

/// SHA-256 of the DER SubjectPublicKeyInfo, as colon-separated upper-case hex.
std::string spki_fingerprint(const PublicKey& key);
/// PEM "PUBLIC KEY".
std::string spki_pem(const PublicKey& key);

/// DER OID of a named curve (as CKA_EC_PARAMS holds it) and back. Throws UnsupportedError.
std::vector<unsigned char> curve_params_der(const std::string& group);
std::string curve_from_params(std::span<const unsigned char> ec_params);

}  // namespace ts::hsm
