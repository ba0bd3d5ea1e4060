// SPDX-License-Identifier: Apache-2.0
// Verifying a ceremony output directory: the hash chain of transcript.jsonl, every output's
// recorded SHA-256, transcript.head, and the head written in the paper log. No token, no provider.
#pragma once

#include <string>
#include <vector>

namespace ts::signer::ceremony {

struct VerifyResult {
    std::vector<std::string> problems;  // empty: everything checked out
    size_t records = 0;                 // records read
    std::string head_hex;               // SHA-256 of the last record read
    std::string head_words;
    std::vector<std::string> outputs;  // paths the transcript records, checked
    bool head_checked = false;         // an expected head was given and compared
    bool ok() const { return problems.empty(); }
};

/// Verifies DIR. `expected_head` is the paper log's head (64 hex digits or 32 PGP words; empty:
/// not compared); an unreadable one throws InputError. Problems name the record (line number),
/// the file, or the head that does not match, and what that means; one problem does not stop
/// the other checks.
VerifyResult verify(const std::string& dir, const std::string& expected_head);

}  // namespace ts::signer::ceremony
