// SPDX-License-Identifier: Apache-2.0
// The PGP word list: bytes as words a witness can read aloud and write down.
#pragma once

#include <span>
#include <string>
#include <vector>

namespace ts::signer::ceremony {

/// The PGP words of `bytes`, separated by single spaces (even positions: two-syllable list).
std::string pgp_words(std::span<const unsigned char> bytes);

/// The bytes of words separated by spaces or commas, case-insensitive. Throws InputError naming
/// the first unknown word or a word of the other list (skipped or swapped words).
std::vector<unsigned char> pgp_words_decode(const std::string& text);

}  // namespace ts::signer::ceremony
