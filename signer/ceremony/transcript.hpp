// SPDX-License-Identifier: Apache-2.0
// The ceremony transcript: DIR/transcript.jsonl, one JSON object per event, each holding the
// SHA-256 of the previous record's exact bytes; the head (the last record's SHA-256) in hex and
// PGP words in DIR/transcript.head, for the paper log; DIR/transcript.txt for printing.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ts::signer::ceremony {

/// The names of the transcript's own files in DIR.
inline constexpr const char* kTranscriptFile = "transcript.jsonl";
inline constexpr const char* kHeadFile = "transcript.head";
inline constexpr const char* kTextFile = "transcript.txt";

/// The `prev` of the first record: 64 zeros.
inline const std::string kNoPrevious(64, '0');

/// SHA-256 of `record` (one line of transcript.jsonl without its newline), lower-case hex.
std::string record_hash(const std::string& record);

/// The head as printed: "sha256: HEX" and the PGP words, one line each.
struct Head {
    std::string hex;
    std::string words;
    size_t records = 0;
};

/// Head of a hash given as hex (64 digits, ':' or spaces allowed) or as PGP words. Throws
/// InputError when it is neither.
std::string head_hex_from_text(const std::string& text);

/// Writes a transcript. Every record is written and fsync'd before the call returns, so a
/// ceremony that stops midway leaves a verifiable prefix. Not thread-safe.
class TranscriptWriter {
  public:
    /// Creates DIR (which must not exist; its parent must) and DIR/transcript.jsonl (O_EXCL).
    /// Throws CaDbError when DIR exists or cannot be made.
    explicit TranscriptWriter(std::string dir);
    TranscriptWriter(const TranscriptWriter&) = delete;
    TranscriptWriter& operator=(const TranscriptWriter&) = delete;
    ~TranscriptWriter();

    /// Appends {"seq":N,"prev":HASH,"time":NOW,"event":event, ...fields}; returns its hash.
    /// `fields` must be an object and must not hold seq, prev, time or event.
    std::string append(const std::string& event, nlohmann::json fields = nlohmann::json::object());

    /// Writes DIR/`name` (O_EXCL, mode 0644, fsync'd; `name` relative, subdirectories made) and
    /// appends {"event":"output","path":name,"sha256":...,"bytes":N,"step":step,"type":type}
    /// (`type`: "certificate", "crl", "csr" or "file").
    void write_output(const std::string& name, const std::string& bytes, const std::string& step,
                      const std::string& type = "file");

    /// Removes DIR/`name`, an output of a failed step (its output record stays). True when it
    /// was there and is gone.
    bool remove_output(const std::string& name);

    /// Appends {"event":"end", ...fields}, writes transcript.head and transcript.txt (O_EXCL)
    /// and returns the head. No record may be appended after it.
    Head finish(nlohmann::json fields = nlohmann::json::object());

    /// The head so far: the hash of the last record and how many there are.
    const std::string& last_hash() const { return m_prev; }

    const std::string& dir() const { return m_dir; }

    /// True once a record could not be written whole (a full disk): the file was cut back to
    /// the records before it, and every later append() throws. `broken_reason()` says why.
    bool broken() const { return !m_broken.empty(); }
    const std::string& broken_reason() const { return m_broken; }
    /// The records written whole so far, and the event of the last one ("" when none).
    size_t records() const { return m_seq; }
    std::string last_event() const;

  private:
    std::string m_dir;
    int m_fd = -1;
    size_t m_seq = 0;
    std::string m_prev = kNoPrevious;
    std::vector<std::string> m_lines;
    bool m_finished = false;
    off_t m_size = 0;      // bytes of the whole records written
    std::string m_broken;  // why a record could not be written, once one could not
};

/// The text of transcript.head for `head`.
std::string head_file_text(const Head& head);

/// transcript.txt: each record as a numbered plain line, then the head.
std::string transcript_text(const std::vector<std::string>& records, const Head& head);

}  // namespace ts::signer::ceremony
