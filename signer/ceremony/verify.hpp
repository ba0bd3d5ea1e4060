// SPDX-License-Identifier: Apache-2.0
// Verifying a ceremony output directory: the hash chain of transcript.jsonl, every output's
// recorded SHA-256, every recorded signature against the recorded public keys, the chain of the
// ceremony's certificates, transcript.head, the paper log's head, and the link to the stopped
// ceremony a continuation carries on. No token, no provider: OpenSSL's default library context.
#pragma once

#include <string>
#include <vector>

namespace ts::signer::ceremony {

struct VerifyResult {
    std::vector<std::string> problems;  // empty: everything checked out
    std::vector<std::string> notes;     // what was not checked, and why (not failures)
    size_t records = 0;                 // records read
    std::string head_hex;               // SHA-256 of the last record read
    std::string head_words;
    std::vector<std::string> outputs;  // paths the transcript records, checked
    std::vector<std::string> removed;  // outputs a later `error` record lists as removed
    bool head_checked = false;         // an expected head was given and compared
    std::string status;                // the `end` record's: "complete", "stopped"; "" without
    std::string stopped_at;            // the step a stopped ceremony stopped at
    std::string stop_message;          // the last `error` record's message
    std::string token_state;           // and what it says now exists on the token
    size_t keys = 0;                   // `key` records whose spki was checked
    size_t signatures = 0;             // `signed` records whose signature was checked
    size_t chain_certificates = 0;     // certificates whose chain was verified (X509_verify_cert)
    bool chain_ok = true;              // all of them verified
    std::string previous_dir;          // --previous: the stopped ceremony this one continues
    std::string previous_head;         // begin.previous.head, when set
    bool previous_checked = false;     // the link to it was checked (see notes when not)
    bool ok() const { return problems.empty(); }
};

/// Verifies DIR. `expected_head` is the paper log's head (64 hex digits or 32 PGP words; empty:
/// not compared); an unreadable one throws InputError. `previous_dir`, when not empty, is the
/// stopped ceremony DIR continues (`begin.previous`): it must verify as a stopped ceremony, its
/// head and record count must be the ones `begin.previous` records, and its certificates may
/// issue DIR's. Problems name the record (line number), the file, or the head that does not
/// match, and what that means; one problem does not stop the other checks. Signatures are checked
/// with X509_verify / X509_CRL_verify / X509_REQ_verify, chains with X509_verify_cert at each
/// certificate's notBefore, all in OpenSSL's default library context.
VerifyResult verify(const std::string& dir, const std::string& expected_head,
                    const std::string& previous_dir = "");

}  // namespace ts::signer::ceremony
