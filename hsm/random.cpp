// SPDX-License-Identifier: Apache-2.0
#include "hsm/random.hpp"

#include "hsm/error.hpp"
#include "hsm/token.hpp"

namespace ts::hsm {

std::vector<unsigned char> generate_random(Session& s, std::size_t n) {
    std::vector<unsigned char> out(n);
    if (n == 0) return out;
    CK_RV rv = s.fn()->C_GenerateRandom(s.handle(), out.data(), static_cast<CK_ULONG>(n));
    check_rv(rv, "C_GenerateRandom", "drawing random bytes from " + s.token().what());
    return out;
}

}  // namespace ts::hsm
