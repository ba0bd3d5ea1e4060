// SPDX-License-Identifier: Apache-2.0
// The URI PEM: "-----BEGIN TOKENSIGN <TYPE> KEY-----", body = the key's pkcs11: URI (no PIN).
#pragma once

#include <openssl/core.h>

#include <memory>
#include <string>

#include "provider/key.hpp"

namespace ts::prov {

/// "TOKENSIGN EC KEY": the key type in the label lets each type's decoder skip others cheaply.
inline std::string uri_pem_label(const std::string& type) { return "TOKENSIGN " + type + " KEY"; }

/// The URI that names exactly this key's private object (token, id, label, type=private).
std::string key_uri(const Key& key);

/// Finds exactly one private key for `uri` (logging in; a PIN from the URI, the provider's
/// pin-source, TOKENSIGN_PIN or else the passphrase callback) and returns it by reference.
std::unique_ptr<Key> load_private_key(ProvCtx* prov, const hsm::Uri& uri,
                                      OSSL_PASSPHRASE_CALLBACK* pw_cb, void* pw_cbarg);

}  // namespace ts::prov
