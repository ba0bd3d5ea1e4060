// SPDX-License-Identifier: Apache-2.0
// Certificate signing requests: parsing (PEM or DER) and the checks made before anything else.
#pragma once

#include <string>
#include <string_view>

#include "hsm/ossl.hpp"
#include "signer/spki.hpp"

namespace ts::signer {

/// A CSR and the name it is reported by (its file name).
struct Csr {
    std::string name;
    OsslPtr<X509_REQ> req;  // its X509_PUBKEY holds the key's bytes only: use `key`
    OsslPtr<EVP_PKEY> key;  // the request's public key, decoded in the parsing libctx
    /// What the certificate text prints the key with, kept after the request: a key of the
    /// same type, curve and size; `key` itself unless parsed with reuse_keys (then `key` is
    /// valid only until the next request is parsed with the same decoder).
    OsslPtr<EVP_PKEY> stand_in;
};

/// Parses one PEM ("CERTIFICATE REQUEST" / "NEW CERTIFICATE REQUEST") or DER CSR and decodes its
/// public key in `libctx` (`key`; X509_REQ_get0_pubkey of `req` is null). Throws InputError
/// "<name>: malformed or truncated certificate request (...)" for anything that is not exactly
/// one complete request, and "<name>: the request's public key cannot be decoded" for a key
/// OpenSSL cannot decode.
///
/// Why not PEM_read_bio_X509_REQ: OpenSSL 3.0 decodes the key inside d2i through a new
/// OSSL_DECODER context per call (~1 M instructions, more than the rest of the parse and the
/// signature check together). Here the request is parsed in a libctx that has no decoders, and
/// RSA, named-curve EC, Ed25519 and Ed448 keys are built from their bytes with
/// EVP_PKEY_fromdata / EVP_PKEY_new_raw_public_key_ex; any other key (RSA-PSS, explicit curve
/// parameters) or a key those refuse goes through the OpenSSL decoders as before, so what is
/// accepted does not change.
Csr parse_csr(std::string_view data, const std::string& name, OSSL_LIB_CTX* libctx);

/// The same, the key decoded by `keys` (its libctx): for a batch, which decodes many keys. With
/// `reuse_keys`, PublicKeyDecoder::decode_reusing: for a batch that is done with each request
/// before it parses the next.
Csr parse_csr(std::string_view data, const std::string& name, PublicKeyDecoder& keys,
              bool reuse_keys = false);

/// Verifies the CSR's signature with its own public key (X509_REQ_verify_ex) and the key floor:
/// RSA keys of fewer than `min_rsa_bits` bits and EC keys under 256 bits are refused; key types
/// other than RSA, RSA-PSS, EC, Ed25519 and Ed448 are refused. Throws InputError.
void check_csr(const Csr& csr, int min_rsa_bits, OSSL_LIB_CTX* libctx);

}  // namespace ts::signer
