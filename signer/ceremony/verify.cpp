// SPDX-License-Identifier: Apache-2.0
// The auditor's check. Reads only files: runs on any machine with OpenSSL.
#include "signer/ceremony/verify.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "hsm/uri.hpp"
#include "signer/ceremony/file.hpp"
#include "signer/ceremony/pgp_words.hpp"
#include "signer/ceremony/transcript.hpp"

namespace ts::signer::ceremony {

namespace {

bool read_whole(const std::string& path, std::string& out) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return false;
    std::ostringstream s;
    s << f.rdbuf();
    out = s.str();
    return !f.bad();
}

// A string member of a record, "" when absent or of another type: a tampered record must be
// reported, not end the check with a type error.
std::string text_field(const nlohmann::json& rec, const char* key) {
    auto it = rec.find(key);
    return it != rec.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool safe_relative(const std::string& p) {
    if (p.empty() || p.front() == '/') return false;
    std::stringstream parts(p);
    for (std::string part; std::getline(parts, part, '/');)
        if (part.empty() || part == "..") return false;
    return true;
}

}  // namespace

VerifyResult verify(const std::string& dir, const std::string& expected_head) {
    VerifyResult r;
    std::string want = expected_head.empty() ? "" : head_hex_from_text(expected_head);
    auto problem = [&](std::string p) { r.problems.push_back(std::move(p)); };

    std::string text;
    const std::string tpath = dir + "/" + kTranscriptFile;
    if (!read_whole(tpath, text)) {
        problem("cannot read " + tpath + ": this is no ceremony output directory");
        return r;
    }
    if (!text.empty() && text.back() != '\n')
        problem(tpath +
                ": the last record is not complete (no final newline): the file was cut "
                "or appended to");

    std::vector<std::string> lines;
    std::stringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    if (lines.empty()) problem(tpath + " holds no record");

    std::string prev = kNoPrevious;
    std::map<std::string, std::string> outputs;  // path -> sha256
    std::string last_event;
    for (size_t i = 0; i < lines.size(); ++i) {
        const std::string where = "record " + std::to_string(i + 1) + " (line " +
                                  std::to_string(i + 1) + " of " + kTranscriptFile + ")";
        nlohmann::json rec;
        try {
            rec = nlohmann::json::parse(lines[i]);
        } catch (const std::exception&) {
        }
        if (!rec.is_object()) {
            problem(where + " is not a JSON object: it was changed");
        } else {
            if (!rec.contains("seq") || !rec["seq"].is_number_unsigned() ||
                rec["seq"].get<size_t>() != i)
                problem(where + " has seq " + (rec.contains("seq") ? rec["seq"].dump() : "(none)") +
                        ", expected " + std::to_string(i) +
                        ": records were removed, inserted or reordered");
            if (!rec.contains("prev") || !rec["prev"].is_string() || rec["prev"] != prev)
                problem(where + " does not hold the SHA-256 of the record before it: " +
                        (i == 0 ? std::string("the first record was replaced")
                                : "record " + std::to_string(i) +
                                      " was changed, or records were removed or reordered"));
            last_event = text_field(rec, "event");
            if (i == 0 && last_event != "begin")
                problem(where + " is not the 'begin' record: the transcript's start is missing");
            if (last_event == "output") {
                std::string path = text_field(rec, "path");
                std::string sha = text_field(rec, "sha256");
                if (!safe_relative(path) || path.rfind("transcript.", 0) == 0)
                    problem(where + " records the output '" + path +
                            "', which is not a relative path inside the directory");
                else if (!outputs.emplace(path, sha).second)
                    problem(where + " records the output " + path + " a second time");
            }
        }
        prev = record_hash(lines[i]);
    }
    r.records = lines.size();
    r.head_hex = prev;
    r.head_words = pgp_words(hsm::from_hex(prev));
    if (!lines.empty() && last_event != "end")
        problem(
            "the last record is not the 'end' record: the transcript was cut short, or the "
            "ceremony stopped before it finished");

    for (const auto& [path, sha] : outputs) {
        r.outputs.push_back(path);
        std::string bytes;
        if (!read_whole(dir + "/" + path, bytes)) {
            problem("output " + path + " is missing (the transcript records it)");
            continue;
        }
        std::string actual = sha256_hex(bytes);
        if (actual != sha)
            problem("output " + path + " has SHA-256 " + actual + ", the transcript recorded " +
                    sha + ": the file was changed");
    }
    // A file no record names was added later (or by hand): the auditor should know.
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        std::string rel = std::filesystem::relative(it->path(), dir).string();
        if (rel == kTranscriptFile || rel == kHeadFile || rel == kTextFile) continue;
        if (!outputs.count(rel))
            problem(rel + " is in the directory, but no transcript record names it");
    }

    std::string head_text;
    const std::string hpath = dir + "/" + kHeadFile;
    if (!read_whole(hpath, head_text)) {
        problem("cannot read " + hpath);
    } else {
        std::smatch m;
        static const std::regex sha_line("(^|\n)sha256: ([0-9a-f]{64})\n");
        static const std::regex records_line("(^|\n)records: ([0-9]+)\n");
        if (!std::regex_search(head_text, m, sha_line))
            problem(hpath + " has no 'sha256:' line");
        else if (m[2] != r.head_hex)
            problem(hpath + " says the head is " + m[2].str() + ", but the records hash to " +
                    r.head_hex +
                    ": records were changed, removed or added after the head was written");
        if (std::regex_search(head_text, m, records_line) && m[2] != std::to_string(r.records))
            problem(hpath + " counts " + m[2].str() + " records; " + kTranscriptFile + " has " +
                    std::to_string(r.records));
    }
    if (!want.empty()) {
        r.head_checked = true;
        if (want != r.head_hex)
            problem("the head from the paper log (" + want + ") is not the transcript's head (" +
                    r.head_hex + "): this is not the transcript the witnesses signed");
    }
    return r;
}

}  // namespace ts::signer::ceremony
