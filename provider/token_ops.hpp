// SPDX-License-Identifier: Apache-2.0
// The private-key operations the provider sends to the token, in PKCS#11 terms.
#pragma once

#include <openssl/evp.h>

#include <span>
#include <string>
#include <vector>

#include "hsm/pin.hpp"
#include "provider/key.hpp"

namespace ts::prov {

/// The digest a host mirror context is set to ("" when none).
std::string mirror_digest(EVP_PKEY_CTX* mirror);

/// RSA signature of a digest (or of raw data when no digest is set) with the padding the
/// mirror context is set to: PKCS#1 v1.5 (CKM_RSA_PKCS over a DigestInfo), PSS
/// (CKM_RSA_PKCS_PSS) or none (CKM_RSA_X_509).
/// Without a mirror context: PKCS#1 v1.5 with `mdname` ("" signs the data as given).
std::vector<unsigned char> rsa_sign_digest(const Key& key, EVP_PKEY_CTX* mirror,
                                           const std::string& mdname,
                                           std::span<const unsigned char> tbs);

/// Replaces a symbolic PSS salt length (digest, max, auto) on the mirror by the number the
/// token is given, so the AlgorithmIdentifier states it.
void pin_pss_salt_length(const Key& key, EVP_PKEY_CTX* mirror);

/// CKM_ECDSA over a host digest; the token's r||s becomes a DER ECDSA-Sig-Value.
std::vector<unsigned char> ecdsa_sign_digest(const Key& key, std::span<const unsigned char> dgst);

/// CKM_EDDSA over the message.
std::vector<unsigned char> eddsa_sign(const Key& key, std::span<const unsigned char> msg);

/// RSA decryption: CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP (label, digest, MGF1 digest) or CKM_RSA_X_509.
hsm::SecureBytes rsa_decrypt(const Key& key, int padding, const std::string& oaep_md,
                             const std::string& mgf1_md, std::span<const unsigned char> label,
                             std::span<const unsigned char> in);

/// ECDH (CKM_ECDH1_DERIVE, or CKM_ECDH1_COFACTOR_DERIVE when `cofactor`; CKD_NULL) with a
/// peer's uncompressed point.
hsm::SecureBytes ecdh_derive(const Key& key, std::span<const unsigned char> peer_point,
                             std::size_t secret_len, bool cofactor = false);

}  // namespace ts::prov
