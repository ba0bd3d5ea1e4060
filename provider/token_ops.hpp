// SPDX-License-Identifier: Apache-2.0
// The private-key operations the provider sends to the token, in PKCS#11 terms.
#pragma once

#include <openssl/evp.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hsm/crypto.hpp"
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

/// A signature mechanism that hashes on the token (CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS,
/// CKM_ECDSA_SHA256 ...), with its PSS parameters, chosen for one operation context.
struct HashedMechanism {
    CK_MECHANISM_TYPE type = CKM_VENDOR_DEFINED;
    bool ecdsa = false;
    bool has_pss = false;
    CK_RSA_PKCS_PSS_PARAMS pss{};
    CK_MECHANISM mechanism() const;
};

/// How a digest-sign context of a token key signs, decided once per context (at init, again
/// when parameters change): std::nullopt for the raw mechanism over a host digest
/// (CKM_RSA_PKCS with a DigestInfo, CKM_RSA_PKCS_PSS, CKM_ECDSA), whenever the key's
/// CKA_ALLOWED_MECHANISMS and the token permit it: it is the fast path and its contexts copy.
/// Otherwise the mechanism that hashes on the token. Throws UnsupportedError, naming the key's
/// allowed mechanisms, when it permits neither (callers defer that error: a later parameter
/// may still choose a padding or digest the key allows).
std::optional<HashedMechanism> choose_sign_mechanism(const Key& key, bool ecdsa,
                                                     EVP_PKEY_CTX* mirror, const std::string& md);

/// Refuses (UnsupportedError) a signature over a caller's digest (EVP_PKEY_sign) when the key
/// only allows mechanisms that hash on the token: it must be given the message.
void check_raw_signing(const Key& key, bool ecdsa);

/// C_Sign of the whole message with a hashed mechanism (ECDSA: as DER ECDSA-Sig-Value).
std::vector<unsigned char> sign_hashed(const Key& key, const HashedMechanism& m,
                                       std::span<const unsigned char> msg);
/// C_SignInit of a multi-part signature on a session the operation keeps.
hsm::SignOperation start_hashed(const Key& key, const HashedMechanism& m);
/// C_SignFinal (ECDSA: as DER).
std::vector<unsigned char> finish_hashed(const Key& key, const HashedMechanism& m,
                                         hsm::SignOperation& op);

/// CKM_ECDSA over a host digest; the token's r||s becomes a DER ECDSA-Sig-Value.
std::vector<unsigned char> ecdsa_sign_digest(const Key& key, std::span<const unsigned char> dgst);

/// CKM_EDDSA over the message.
std::vector<unsigned char> eddsa_sign(const Key& key, std::span<const unsigned char> msg);

/// RSA decryption: CKM_RSA_PKCS, CKM_RSA_PKCS_OAEP (label, digest, MGF1 digest) or CKM_RSA_X_509.
hsm::SecureBytes rsa_decrypt(const Key& key, int padding, const std::string& oaep_md,
                             const std::string& mgf1_md, std::span<const unsigned char> label,
                             std::span<const unsigned char> in);

/// RSA_PKCS1_WITH_TLS_PADDING (the default provider's mode for a TLS 1.2 RSA key exchange,
/// RFC 5246 §7.4.7.1): always 48 bytes, the pre-master secret when the PKCS#1 v1.5 padding and
/// the version bytes (`client_version`, or `alt_version` when not 0) are right, random bytes
/// otherwise: no error and no difference a peer can use as an oracle. Decrypts with
/// CKM_RSA_X_509 and checks on the host in constant time when the key permits it, else with
/// CKM_RSA_PKCS (the token's padding verdict is then only as constant-time as the token).
hsm::SecureBytes rsa_decrypt_tls(const Key& key, unsigned client_version, unsigned alt_version,
                                 std::span<const unsigned char> in);

/// ECDH (CKM_ECDH1_DERIVE, or CKM_ECDH1_COFACTOR_DERIVE when `cofactor`; CKD_NULL) with a
/// peer's uncompressed point.
hsm::SecureBytes ecdh_derive(const Key& key, std::span<const unsigned char> peer_point,
                             std::size_t secret_len, bool cofactor = false);

}  // namespace ts::prov
