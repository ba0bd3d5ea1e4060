// SPDX-License-Identifier: Apache-2.0
// X.509 certificates stored on the token.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "hsm/object.hpp"

namespace ts::hsm {

class Session;

struct CertificateObject {
    ObjectInfo object;
    std::vector<unsigned char> der;  // CKA_VALUE
};

/// C_CreateObject of a CKC_X_509 certificate with CKA_TOKEN true, CKA_SUBJECT, CKA_ISSUER,
/// CKA_SERIAL_NUMBER taken from the DER, and the given label and id (those of its key). Refuses
/// (SelectionError) when a certificate with that label or id is already on the token.
ObjectInfo import_certificate(Session& s, std::span<const unsigned char> der,
                              const std::string& label, std::span<const unsigned char> id);

/// Certificates matching `q` (class forced to certificate), with their DER.
std::vector<CertificateObject> read_certificates(Session& s, ObjectQuery q);

}  // namespace ts::hsm
