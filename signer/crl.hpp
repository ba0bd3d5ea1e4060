// SPDX-License-Identifier: Apache-2.0
// Revocation and CRLs, in openssl ca's index.txt and CRL formats.
#pragma once

#include <string>
#include <string_view>

#include "hsm/ossl.hpp"
#include "signer/ca_db.hpp"
#include "signer/config.hpp"
#include "signer/libctx.hpp"

namespace ts::signer {

/// The CRL reason names openssl ca accepts (-crl_reason), canonical spelling for a name given
/// in any case: unspecified, keyCompromise, CACompromise, affiliationChanged, superseded,
/// cessationOfOperation, certificateHold, removeFromCRL. Throws InputError listing them.
std::string canonical_reason(std::string_view name);

/// Marks the entry with `serial` revoked now (status R, revocation "YYMMDDHHMMSSZ[,reason]").
/// Throws InputError when it is not in the database or already revoked. Staged in `db`.
void revoke_serial(CaDb& db, const std::string& serial, const std::string& reason);

/// Revokes a certificate given as a file, as `openssl ca -revoke` does: it must be signed by
/// `ca` (else InputError); an entry whose subject differs is refused; a certificate missing
/// from the database is added as valid first, then revoked. Returns its serial.
std::string revoke_certificate(CaDb& db, X509* cert, X509* ca, const std::string& reason);

/// Marks valid entries whose expiry has passed as expired (E), as `openssl ca -updatedb`.
/// Returns how many changed (staged in `db`).
int update_expired(CaDb& db);

/// Builds the CRL as `openssl ca -gencrl`: issuer = the CA subject, lastUpdate now, nextUpdate
/// after `days`/`hours` (0/0: default_crl_days/default_crl_hours, InputError if also 0), one
/// entry per revoked line with its date and reason code, sorted by serial, crl_extensions, the
/// CRL number (reserved from the crlnumber file with CaDb::reserve_crlnumber, durable before the
/// CRL is signed) and version 2 when either is present; signed with `key` and `md` ("" for EdDSA)
/// and verified with the CA certificate's key before it is returned.
OsslPtr<X509_CRL> generate_crl(LibCtx& ctx, const Conf& conf, const CaConfig& cfg, X509* ca,
                               EVP_PKEY* key, const std::string& md, CaDb& db, long days,
                               long hours);

/// PEM of a CRL.
std::string crl_pem(X509_CRL* crl);

}  // namespace ts::signer
