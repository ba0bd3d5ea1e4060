// SPDX-License-Identifier: Apache-2.0
// What a CA section's profile decides: the policy (which subject fields a request must have and
// which reach the certificate) and the extensions (the profile's, and those copied from a CSR).
#pragma once

#include <string>

#include "hsm/ossl.hpp"
#include "signer/config.hpp"

namespace ts::signer {

/// The subject the certificate gets, decided as openssl ca's do_body does: every field of the
/// request is checked (emailAddress must be an IA5String, strings must be legal for their ASN.1
/// type); then, per entry of the policy section in order, `match` fields must equal a value of
/// the same field in the CA subject, `supplied` fields must be present, `optional` ones may be;
/// only those fields, in policy order, reach the subject, unless `preserve` keeps the request's
/// subject whole. With email_in_dn = no, emailAddress fields are dropped from the result.
/// Throws PolicyError naming the field and what was expected (`what` names the CSR), InputError
/// for a misconfigured policy section.
OsslPtr<X509_NAME> apply_policy(const Conf& conf, const std::string& policy_section,
                                const X509_NAME* request, const X509_NAME* ca_subject,
                                bool preserve, bool email_in_dn, const std::string& what);

/// Checks that `section` exists and that its extensions parse (X509V3_set_ctx_test, as openssl
/// ca does before signing). Throws InputError "unknown extension section".
void check_extension_section(const Conf& conf, const std::string& section,
                             const std::string& setting);

/// Adds the section's extensions (X509V3_EXT_add_nconf) to `cert`, with `issuer` as the issuer
/// for authorityKeyIdentifier (`issuer` == `cert` for a self-signed root). Throws InputError.
void add_profile_extensions(const Conf& conf, const std::string& section, X509* issuer, X509* cert);

/// Copies the request's extensions as copy_extensions says (copy: only those the certificate
/// does not have; copyall: replacing the profile's). A request can never make the certificate a
/// CA: basicConstraints CA:TRUE or keyUsage keyCertSign from the request is refused (PolicyError)
/// unless the profile itself issues CA certificates (its basicConstraints says CA:TRUE).
void copy_request_extensions(X509* cert, X509_REQ* req, CopyExtensions mode,
                             const std::string& profile, const std::string& what);

/// True when `cert` carries basicConstraints with CA:TRUE.
bool is_ca_certificate(const X509* cert);

}  // namespace ts::signer
