// SPDX-License-Identifier: Apache-2.0
// Ending a test transcript with an `end` record of the schema's fields (docs/ceremony.md), and
// its transcript.head and transcript.txt as TranscriptWriter::finish writes them.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "hsm/uri.hpp"
#include "signer/ceremony/pgp_words.hpp"
#include "signer/ceremony/transcript.hpp"

namespace ts::test {

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
