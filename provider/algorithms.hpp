// SPDX-License-Identifier: Apache-2.0
// The dispatch tables of every tokensign.so algorithm, one file per operation.
#pragma once

#include <openssl/core.h>

namespace ts::prov {

extern const OSSL_DISPATCH store_functions[];

extern const OSSL_DISPATCH rsa_keymgmt_functions[];
extern const OSSL_DISPATCH rsa_pss_keymgmt_functions[];
extern const OSSL_DISPATCH ec_keymgmt_functions[];
extern const OSSL_DISPATCH ed25519_keymgmt_functions[];
extern const OSSL_DISPATCH ed448_keymgmt_functions[];

extern const OSSL_DISPATCH rsa_signature_functions[];
extern const OSSL_DISPATCH ecdsa_signature_functions[];
extern const OSSL_DISPATCH eddsa_signature_functions[];

extern const OSSL_DISPATCH rsa_asym_cipher_functions[];
extern const OSSL_DISPATCH ecdh_keyexch_functions[];

extern const OSSL_DISPATCH uri_pem_encoder_functions[];
extern const OSSL_DISPATCH text_encoder_functions[];
extern const OSSL_DISPATCH spki_der_encoder_functions[];
extern const OSSL_DISPATCH spki_pem_encoder_functions[];
extern const OSSL_DISPATCH uri_pem_to_der_decoder_functions[];
extern const OSSL_DISPATCH rsa_uri_decoder_functions[];
extern const OSSL_DISPATCH rsa_pss_uri_decoder_functions[];
extern const OSSL_DISPATCH ec_uri_decoder_functions[];
extern const OSSL_DISPATCH ed25519_uri_decoder_functions[];
extern const OSSL_DISPATCH ed448_uri_decoder_functions[];

}  // namespace ts::prov
