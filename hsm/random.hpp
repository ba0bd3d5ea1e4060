// SPDX-License-Identifier: Apache-2.0
// Random bytes from the token's own generator (C_GenerateRandom).
#pragma once

#include <cstddef>
#include <vector>

namespace ts::hsm {

class Session;

/// `n` bytes from C_GenerateRandom on the session's token. Throws Pkcs11Error (e.g.
/// CKR_RANDOM_NO_RNG from a token without a generator).
std::vector<unsigned char> generate_random(Session& s, std::size_t n);

}  // namespace ts::hsm
