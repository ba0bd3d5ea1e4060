// SPDX-License-Identifier: Apache-2.0
// Writing the transcript. Append-only, one fsync per record: what is on the disk after a crash is
// a chain prefix that verify accepts as far as it goes and names as unfinished.
#include "signer/ceremony/transcript.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "hsm/uri.hpp"
#include "signer/ceremony/file.hpp"
#include "signer/ceremony/pgp_words.hpp"
#include "signer/error.hpp"

namespace ts::signer::ceremony {

namespace {

void write_all(int fd, const std::string& bytes, const std::string& path) {
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw CaDbError("cannot write " + path + ": " + std::strerror(errno));
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) throw CaDbError("cannot sync " + path + ": " + std::strerror(errno));
}

void write_new_file(const std::string& path, const std::string& bytes) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        throw CaDbError("cannot create " + path + ": " + std::strerror(errno) +
                        (errno == EEXIST ? " (outputs are never overwritten)" : ""));
    try {
        write_all(fd, bytes, path);
    } catch (...) {
        // A full disk leaves no partial output behind: what is not written whole is not there.
        ::close(fd);
        ::unlink(path.c_str());
        throw;
    }
    ::close(fd);
}

std::string now_utc() { return format_time(static_cast<int64_t>(std::time(nullptr))); }

}  // namespace

std::string record_hash(const std::string& record) { return sha256_hex(record); }

std::string head_hex_from_text(const std::string& text) {
    std::string hex;
    bool only_hex = true;
    for (char c : text) {
        if (std::isxdigit(static_cast<unsigned char>(c)))
            hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        else if (c != ':' && !std::isspace(static_cast<unsigned char>(c)))
            only_hex = false;
    }
    if (only_hex && hex.size() == 64) return hex;
    std::vector<unsigned char> bytes = pgp_words_decode(text);
    if (bytes.size() != 32)
        throw InputError("the head has " + std::to_string(bytes.size()) +
                         " words; expected 32 PGP words (or 64 hex digits)");
    return hsm::to_hex(bytes);
}

TranscriptWriter::TranscriptWriter(std::string dir) : m_dir(std::move(dir)) {
    if (::mkdir(m_dir.c_str(), 0755) != 0)
        throw CaDbError("cannot create the ceremony output directory " + m_dir + ": " +
                        std::strerror(errno) +
                        (errno == EEXIST ? " (give a new directory: a transcript is never "
                                           "continued or overwritten)"
                                         : ""));
    std::string path = m_dir + "/" + kTranscriptFile;
    m_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (m_fd < 0) {
        std::string why = std::strerror(errno);
        ::rmdir(m_dir.c_str());
        throw CaDbError("cannot create " + path + ": " + why);
    }
}

TranscriptWriter::~TranscriptWriter() {
    if (m_fd >= 0) ::close(m_fd);
}

std::string TranscriptWriter::append(const std::string& event, nlohmann::json fields) {
    if (m_finished) throw std::logic_error("transcript: append after finish");
    if (!fields.is_object()) throw std::logic_error("transcript: fields must be an object");
    for (const char* k : {"seq", "prev", "time", "event"})
        if (fields.contains(k))
            throw std::logic_error(std::string("transcript: reserved field ") + k);
    fields["seq"] = m_seq;
    fields["prev"] = m_prev;
    fields["time"] = now_utc();
    fields["event"] = event;
    // dump() of nlohmann's std::map-backed object: keys sorted, no spaces, UTF-8 kept as is.
    std::string line = fields.dump();
    const std::string path = m_dir + "/" + kTranscriptFile;
    if (broken())
        throw CaDbError("cannot write " + path + ": " + m_broken +
                        " (an earlier record could not be written)");
    try {
        write_all(m_fd, line + "\n", path);
    } catch (const CaDbError& e) {
        // A record written in part (a full disk takes what fits) is cut off again, so the file
        // stays a chain of whole records that verify reads as far as it goes.
        m_broken = e.what();
        if (::ftruncate(m_fd, m_size) != 0)
            m_broken += "; its torn last record could not be cut off (" +
                        std::string(std::strerror(errno)) + ")";
        else
            (void)::fsync(m_fd);
        throw CaDbError(m_broken);
    }
    m_size += static_cast<off_t>(line.size() + 1);
    m_prev = record_hash(line);
    m_lines.push_back(std::move(line));
    ++m_seq;
    return m_prev;
}

void TranscriptWriter::write_output(const std::string& name, const std::string& bytes,
                                    const std::string& step, const std::string& type) {
    // verify accepts relative paths below DIR only, and not the transcript's own names.
    bool safe = !name.empty() && name.front() != '/' && name.rfind("transcript.", 0) != 0;
    for (const auto& part : std::filesystem::path(name))
        if (part == ".." || part == ".") safe = false;
    if (!safe) throw std::logic_error("transcript: output name '" + name + "' is not allowed");
    std::filesystem::path p = std::filesystem::path(m_dir) / name;
    std::error_code ec;
    std::filesystem::create_directories(p.parent_path(), ec);
    write_new_file(p.string(), bytes);
    try {
        append("output", {{"path", name},
                          {"sha256", sha256_hex(bytes)},
                          {"bytes", bytes.size()},
                          {"step", step},
                          {"type", type}});
    } catch (...) {
        // An output the transcript does not record is not left in DIR.
        ::unlink(p.c_str());
        throw;
    }
}

bool TranscriptWriter::remove_output(const std::string& name) {
    std::string path = (std::filesystem::path(m_dir) / name).string();
    if (::unlink(path.c_str()) != 0) return false;
    // The removal is durable before the error record says so.
    int dfd = ::open(std::filesystem::path(path).parent_path().c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
    return true;
}

Head TranscriptWriter::finish(nlohmann::json fields) {
    append("end", std::move(fields));
    m_finished = true;
    Head head;
    head.hex = m_prev;
    head.words = pgp_words(hsm::from_hex(head.hex));
    head.records = m_seq;
    try {
        write_new_file(m_dir + "/" + kHeadFile, head_file_text(head));
        write_new_file(m_dir + "/" + kTextFile, transcript_text(m_lines, head));
    } catch (const CaDbError& e) {
        // The records are all there; the head must still reach the paper log.
        throw CaDbError(std::string(e.what()) + "; the transcript " + m_dir + "/" +
                        kTranscriptFile + " is complete (" + std::to_string(head.records) +
                        " records), its head is sha256 " + head.hex + ", words: " + head.words +
                        "; write it in the paper log from here; verify reports the missing "
                        "file until it is written");
    }
    return head;
}

std::string TranscriptWriter::last_event() const {
    if (m_lines.empty()) return "";
    return nlohmann::json::parse(m_lines.back()).value("event", "");
}

std::string head_file_text(const Head& head) {
    return "tokensign ceremony transcript head\nrecords: " + std::to_string(head.records) +
           "\nsha256: " + head.hex + "\nwords: " + head.words + "\n";
}

std::string transcript_text(const std::vector<std::string>& records, const Head& head) {
    std::string out = "tokensign ceremony transcript\n\n";
    for (const auto& line : records) {
        nlohmann::json r = nlohmann::json::parse(line);
        out += "#" + std::to_string(r.value("seq", 0)) + " " + r.value("time", "") + " " +
               r.value("event", "");
        for (const auto& [k, v] : r.items()) {
            if (k == "seq" || k == "time" || k == "event" || k == "prev") continue;
            out += "\n     " + k + ": " + (v.is_string() ? v.get<std::string>() : v.dump());
        }
        out += "\n";
    }
    out += "\nHead (write it in the paper log, read it aloud):\n  records: " +
           std::to_string(head.records) + "\n  sha256: " + head.hex + "\n  words:";
    // Eight words a line, numbered by line, so the witness can keep their place.
    std::string word;
    int n = 0;
    for (size_t i = 0; i <= head.words.size(); ++i) {
        if (i == head.words.size() || head.words[i] == ' ') {
            if (n % 8 == 0) out += "\n    ";
            out += (n % 8 == 0 ? "" : " ") + word;
            word.clear();
            ++n;
        } else {
            word += head.words[i];
        }
    }
    return out + "\n";
}

}  // namespace ts::signer::ceremony
