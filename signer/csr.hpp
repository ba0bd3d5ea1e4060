// SPDX-License-Identifier: Apache-2.0
// Certificate signing requests: parsing (PEM or DER) and the checks made before anything else.
#pragma once

#include <string>
#include <string_view>

#include "hsm/ossl.hpp"

namespace ts::signer {

/// A CSR and the name it is reported by (its file name).
struct Csr {
    std::string name;
    OsslPtr<X509_REQ> req;
};

/// Parses one PEM ("CERTIFICATE REQUEST" / "NEW CERTIFICATE REQUEST") or DER CSR, in `libctx`.
/// Throws InputError "<name>: malformed or truncated certificate request (...)" for anything
/// that is not exactly one complete request.
Csr parse_csr(std::string_view data, const std::string& name, OSSL_LIB_CTX* libctx);

/// Verifies the CSR's signature with its own public key (X509_REQ_verify_ex) and the key floor:
/// RSA keys of fewer than `min_rsa_bits` bits and EC keys under 256 bits are refused; key types
/// other than RSA, RSA-PSS, EC, Ed25519 and Ed448 are refused. Throws InputError.
void check_csr(const Csr& csr, int min_rsa_bits, OSSL_LIB_CTX* libctx);

}  // namespace ts::signer
