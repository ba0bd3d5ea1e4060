// SPDX-License-Identifier: Apache-2.0
// Hex encoding of ids (hsm::to_hex / from_hex).
#include <gtest/gtest.h>

#include <vector>

#include "hsm/error.hpp"
#include "hsm/uri.hpp"

namespace ts::hsm {
namespace {

using Bytes = std::vector<unsigned char>;

TEST(HexTest, EncodesLowerCase) {
    EXPECT_EQ(to_hex(Bytes{0x00, 0x1a, 0xff}), "001aff");
    EXPECT_EQ(to_hex(Bytes{}), "");
}

TEST(HexTest, DecodesPlainPrefixedAndColonSeparated) {
    EXPECT_EQ(from_hex("01ab"), (Bytes{0x01, 0xab}));
    EXPECT_EQ(from_hex("01AB"), (Bytes{0x01, 0xab}));
    EXPECT_EQ(from_hex("0x01ab"), (Bytes{0x01, 0xab}));
    EXPECT_EQ(from_hex("01:ab:FF"), (Bytes{0x01, 0xab, 0xff}));
}

TEST(HexTest, RoundTrips) {
    Bytes all;
    for (int i = 0; i < 256; ++i) all.push_back(static_cast<unsigned char>(i));
    EXPECT_EQ(from_hex(to_hex(all)), all);
}

TEST(HexTest, RejectsMalformed) {
    EXPECT_THROW(from_hex("abc"), Error);    // odd number of digits
    EXPECT_THROW(from_hex("0g"), Error);     // not hex
    EXPECT_THROW(from_hex(""), Error);       // nothing
    EXPECT_THROW(from_hex("01 02"), Error);  // spaces are not separators
    EXPECT_THROW(from_hex("-1"), Error);
}

}  // namespace
}  // namespace ts::hsm
