// SPDX-License-Identifier: Apache-2.0
// Ceremony test helpers: editing a ceremony file fixture, and ending a test transcript with an
// `end` record of the schema's fields (docs/ceremony.md) and its transcript.head and
// transcript.txt as TranscriptWriter::finish writes them.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "hsm/uri.hpp"
#include "signer/ceremony/pgp_words.hpp"
#include "signer/ceremony/transcript.hpp"

namespace ts::test {

/// `text` with its first `from` replaced by `to`; a test failure when `from` is not in it (a
/// ceremony file fixture that no longer holds what the test edits).
inline std::string replaced(std::string text, const std::string& from, const std::string& to) {
    auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return text;
}

/// Appends {"event":"end", ...end} to `w` and writes DIR/transcript.head and transcript.txt.
inline signer::ceremony::Head finish_transcript(signer::ceremony::TranscriptWriter& w,
                                                nlohmann::json end) {
    namespace cer = signer::ceremony;
    cer::Head head;
    head.hex = w.append("end", std::move(end));
    head.words = cer::pgp_words(hsm::from_hex(head.hex));
    std::ifstream in(w.dir() + "/" + cer::kTranscriptFile, std::ios::binary);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    head.records = lines.size();
    std::ofstream(w.dir() + "/" + cer::kHeadFile, std::ios::binary) << cer::head_file_text(head);
    std::ofstream(w.dir() + "/" + cer::kTextFile, std::ios::binary)
        << cer::transcript_text(lines, head);
    return head;
}

/// The `end` record of a ceremony that completed `steps` steps.
inline nlohmann::json end_complete(int steps) {
    return {{"status", "complete"}, {"stopped_at", nullptr}, {"steps_done", steps}};
}

}  // namespace ts::test
