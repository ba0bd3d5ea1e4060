// SPDX-License-Identifier: Apache-2.0
// Key pair generation on the token with non-extractable, sensitive private keys.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hsm/object.hpp"
#include "hsm/pubkey.hpp"

namespace ts::hsm {

class Session;

/// What to generate: "rsa:2048|3072|4096", "ec:p-256|p-384|p-521", "ed25519", "ed448".
struct KeySpec {
    KeyKind kind = KeyKind::Rsa;
    CK_ULONG rsa_bits = 0;
    std::string group;  // OpenSSL group name for EC
    /// Parses the forms above (case-insensitive; also "ec:prime256v1", "ec:secp384r1").
    /// Throws UnsupportedError naming the accepted forms.
    static KeySpec parse(std::string_view text);
    std::string to_string() const;
};

struct GeneratedKey {
    ObjectInfo private_key;
    ObjectInfo public_key;
    PublicKey public_params;
};

/// C_GenerateKeyPair: CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE true and CKA_EXTRACTABLE false on the
/// private key; label and id on both halves; RSA e = 65537. Refuses (SelectionError) an id
/// already used by a key on the token, and a label already used unless `allow_existing_label`
/// (which then needs an explicit, new `id`: the pair is told apart from the others by it);
/// picks a random 8-byte id when `id` is empty. Reads the public key back and checks size,
/// exponent and curve; on a mismatch both halves are destroyed and Error is thrown. Throws
/// UnsupportedError when the token lacks the mechanism.
GeneratedKey generate_key_pair(Session& s, const KeySpec& spec, const std::string& label,
                               std::optional<std::vector<unsigned char>> id,
                               bool allow_existing_label = false);

}  // namespace ts::hsm
