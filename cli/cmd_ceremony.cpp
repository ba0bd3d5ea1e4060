// SPDX-License-Identifier: Apache-2.0
// tokensign ceremony: the offline root key ceremony driven by one reviewed file (issue 11).
// Built so far: lint (every check that needs no token, and the witnesses' plan) and verify (the
// auditor's check of an output directory). rehearse and run are not built yet.
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/common.hpp"
#include "cli/signals.hpp"
#include "signer/ceremony/file.hpp"
#include "signer/ceremony/plan.hpp"
#include "signer/ceremony/verify.hpp"
#include "signer/error.hpp"

namespace ts::cli {

namespace {

using nlohmann::json;
namespace cer = signer::ceremony;

struct LintOptions {
    std::string file;
    bool json = false;
};

struct VerifyOptions {
    std::string dir;
    std::string head;
    std::string previous;
    bool json = false;
};

void run_lint(const LintOptions& o) {
    cer::File f;
    try {
        f = cer::load(o.file);
    } catch (const cer::FileError& e) {
        if (o.json)
            std::cout << json{{"file", o.file},
                              {"ok", false},
                              {"errors", {{{"message", e.what()}}}}}
                             .dump(2)
                      << "\n";
        throw;
    }
    std::string base = std::filesystem::path(o.file).parent_path().string();
    cer::LintResult r = cer::lint(f, base);
    if (o.json) {
        json j{{"file", o.file}, {"sha256", f.sha256}, {"name", f.name}, {"ok", r.ok()}};
        j["errors"] = json::array();
        for (const auto& e : r.errors)
            j["errors"].push_back(
                {{"line", e.mark.line},
                 {"column", e.mark.column},
                 {"id", e.id},
                 {"message", o.file + ":" + std::to_string(e.mark.line) + ":" +
                                 std::to_string(e.mark.column) + ": " + e.message}});
        j["checks"] = r.checks;
        j["plan"] = json::array();
        for (const auto& p : r.plan)
            j["plan"].push_back(
                {{"number", p.number}, {"id", p.id}, {"step", p.kind}, {"text", p.text}});
        std::cout << j.dump(2) << "\n";
    } else {
        for (const auto& e : r.errors)
            std::cerr << o.file << ":" << e.mark.line << ":" << e.mark.column << ": " << e.message
                      << "\n";
        if (r.ok()) std::cout << cer::plan_text(f, r) << std::flush;
    }
    if (!r.ok())
        throw signer::PolicyError(o.file + ": " + std::to_string(r.errors.size()) +
                                  " problem(s) (listed above); fix the file and lint it again");
}

void run_verify(const VerifyOptions& o) {
    cer::VerifyResult r;
    try {
        r = cer::verify(o.dir, o.head, o.previous);
    } catch (const signer::InputError& e) {
        throw UsageError(std::string("--head: ") + e.what());
    }
    if (o.json) {
        json j{{"dir", o.dir},
               {"ok", r.ok()},
               {"records", r.records},
               {"head", r.head_hex},
               {"words", r.head_words},
               {"head_checked", r.head_checked},
               {"status", r.status.empty() ? json(nullptr) : json(r.status)},
               {"stopped_at", r.stopped_at.empty() ? json(nullptr) : json(r.stopped_at)},
               {"error", r.stop_message.empty() ? json(nullptr) : json(r.stop_message)},
               {"token_state", r.token_state.empty() ? json(nullptr) : json(r.token_state)},
               {"outputs", r.outputs},
               {"removed", r.removed},
               {"keys", r.keys},
               {"signatures", r.signatures},
               {"chain", {{"certificates", r.chain_certificates}, {"ok", r.chain_ok}}},
               {"previous",
                r.previous_head.empty()
                    ? json(nullptr)
                    : json{{"head", r.previous_head},
                           {"dir", r.previous_dir.empty() ? json(nullptr) : json(r.previous_dir)},
                           {"checked", r.previous_checked}}},
               {"notes", r.notes},
               {"problems", r.problems}};
        std::cout << j.dump(2) << "\n";
    } else {
        for (const auto& p : r.problems) std::cerr << "tokensign: verify: " << p << "\n";
        std::cout << "Transcript: " << o.dir << ", " << r.records << " records\n";
        for (const auto& out : r.outputs) {
            std::cout << "Output: " << out;
            for (const auto& gone : r.removed)
                if (gone == out) std::cout << " (removed when its step failed)";
            std::cout << "\n";
        }
        if (r.status == "stopped")
            std::cout << "Stopped at step " << r.stopped_at
                      << (r.stop_message.empty() ? "" : ": " + r.stop_message) << "\n"
                      << (r.token_state.empty() ? "" : "On the token: " + r.token_state + "\n");
        for (const auto& n : r.notes) std::cout << "Note: " << n << "\n";
        std::cout << "Checked: " << r.records << " records, " << r.outputs.size() << " outputs, "
                  << r.signatures << " signatures and the chain of " << r.chain_certificates
                  << " certificates"
                  << (r.previous_checked ? ", the link to " + r.previous_dir : "") << "\n";
        std::cout << "Head: " << r.head_hex << "\n      " << r.head_words << "\n";
        if (r.ok())
            std::cout << (r.status == "stopped" ? "Verified (a stopped ceremony): " : "Verified: ")
                      << (r.head_checked ? "the records, outputs, signatures, chain and the head "
                                           "from the paper log match.\n"
                                         : "the records, outputs, signatures and chain match. Give "
                                           "--head to compare the head with the paper log.\n");
    }
    if (!r.ok())
        throw signer::PolicyError(o.dir + ": " + std::to_string(r.problems.size()) +
                                  " problem(s) found; this transcript does not verify");
}

}  // namespace

void setup_ceremony(CLI::App& app, const GlobalOptions& /*g*/) {
    auto* cer = app.add_subcommand(
        "ceremony",
        "Offline CA key ceremonies driven by one reviewed file (docs/ceremony.md): lint the file "
        "and print the witnesses' plan, verify an output directory's transcript.");
    cer->require_subcommand(1);

    auto lo = std::make_shared<LintOptions>();
    auto* lint = cer->add_subcommand(
        "lint",
        "Check a ceremony file without any token: strict syntax, every input's SHA-256, "
        "digests, key sizes, validity inside the issuer's, path lengths, references between "
        "steps. Prints the plan as numbered sentences. Exit 0 when the file passes, 6 when not.");
    lint->add_option("FILE", lo->file, "the ceremony file (tokensign-ceremony: 1)")
        ->required()
        ->type_name("FILE");
    lint->add_flag("--json", lo->json, "print the findings and the plan as JSON");
    lint->callback(command([lo] { run_lint(*lo); }));

    auto vo = std::make_shared<VerifyOptions>();
    auto* ver = cer->add_subcommand(
        "verify",
        "Verify a ceremony output directory without any token: the hash chain of "
        "transcript.jsonl, every output's recorded SHA-256, every signature against the recorded "
        "public keys, the chain of the ceremony's certificates, transcript.head, (--head) the "
        "head written in the paper log and (--previous) the stopped ceremony this one continues. "
        "A stopped ceremony verifies and says where it stopped. Exit 0 when all match, 6 when "
        "anything does not.");
    ver->add_option("DIR", vo->dir, "the ceremony's output directory")
        ->required()
        ->type_name("DIR");
    ver->add_option("--head", vo->head,
                    "the head from the paper log: 64 hex digits, or the 32 PGP words (quoted)")
        ->type_name("HEX|WORDS");
    ver->add_option("--previous", vo->previous,
                    "the output directory of the stopped ceremony this one continues: it must "
                    "verify as stopped and its head must be the one this transcript's begin "
                    "record names")
        ->type_name("DIR");
    ver->add_flag("--json", vo->json, "print the result as JSON");
    ver->callback(command([vo] { run_verify(*vo); }));
}

}  // namespace ts::cli
