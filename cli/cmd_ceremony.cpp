// SPDX-License-Identifier: Apache-2.0
// tokensign ceremony: the offline root key ceremony driven by one reviewed file (issue 11).
// lint (every check that needs no token, and the witnesses' plan), rehearse (the whole ceremony
// on throwaway SoftHSM2 tokens), run (the ceremony itself, step by step with confirmations;
// --from/--previous continues a stopped one) and verify (the auditor's check of an output
// directory). This file only parses options and prints: the work is in signer/ceremony/.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/common.hpp"
#include "cli/signals.hpp"
#include "signer/ceremony/file.hpp"
#include "signer/ceremony/plan.hpp"
#include "signer/ceremony/rehearsal.hpp"
#include "signer/ceremony/runner.hpp"
#include "signer/ceremony/verify.hpp"
#include "signer/error.hpp"
#include "signer/libctx.hpp"

namespace ts::cli {

namespace {

using nlohmann::json;
namespace cer = signer::ceremony;

struct LintOptions {
    std::string file;
    bool json = false;
};

struct RunCliOptions {
    std::string file;
    std::string out;
    bool yes = false;
    std::string from;
    std::string previous;
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

// The operator's answer, typed at the terminal (never stdin: it may carry data). A signal while
// it waits stops the ceremony there (StopOnSignal: the read returns EINTR).
void ask_operator(const cer::PlanStep& p) {
    int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        throw signer::Declined("step " + std::to_string(p.number) + " (" + p.id +
                               ") not confirmed: there is no terminal to ask on; an automated run "
                               "gives --yes");
    std::string q = "Carry out step " + std::to_string(p.number) + " (" + p.id +
                    ")? Type 'yes' to go on, anything else stops the ceremony: ";
    (void)!::write(fd, q.data(), q.size());
    std::string answer;
    char c;
    for (;;) {
        ssize_t n = ::read(fd, &c, 1);
        if (n < 0 && errno == EINTR) {
            if (int sig = StopOnSignal::flag().load(); sig != 0) {
                ::close(fd);
                throw cer::StepInterrupted(sig, "stopped by signal " + std::to_string(sig) +
                                                    " at the confirmation of step " +
                                                    std::to_string(p.number) + " (" + p.id + ")");
            }
            continue;
        }
        if (n <= 0 || c == '\n') break;
        if (answer.size() < 1024) answer += c;
    }
    ::close(fd);
    if (int sig = StopOnSignal::flag().load(); sig != 0)
        throw cer::StepInterrupted(sig, "stopped by signal " + std::to_string(sig) +
                                            " at the confirmation of step " +
                                            std::to_string(p.number) + " (" + p.id + ")");
    if (!answer.empty() && answer.back() == '\r') answer.pop_back();
    if (answer != "yes")
        throw signer::Declined("step " + std::to_string(p.number) + " (" + p.id +
                               ") not confirmed (the answer was not 'yes')");
}

// Before each step: its sentence, then "yes" typed at the terminal (or --yes).
std::function<std::string(const cer::PlanStep&)> confirmer(bool yes,
                                                           std::ostream& out) {
    return [yes, &out](const cer::PlanStep& p) -> std::string {
        out << "\n" << p.number << ". " << p.text << "\n" << std::flush;
        if (yes) return "--yes";
        ask_operator(p);
        return "operator";
    };
}

// The exception that stopped the ceremony, as main() maps it to an exit code.
[[noreturn]] void rethrow_stop(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const cer::StepInterrupted& e) {
        throw Interrupted(e.signal(), e.what());
    }
}

void print_result(const cer::RunResult& r, const std::string& dir, std::ostream& out) {
    if (r.transcript_cut) {
        // No head for the paper log and no continuation: the error below says what is there.
        out << "\nCeremony STOPPED at step '" << r.stopped_at << "', and its transcript "
                  << dir << "/transcript.jsonl is CUT SHORT after " << r.head.records
                  << " records (it could not be written): see the error below.\n";
        return;
    }
    out << "\nTranscript: " << dir << "/transcript.jsonl, " << r.head.records << " records\n"
              << "Head (write it in the paper log, read it aloud):\n  sha256: " << r.head.hex
              << "\n  words:  " << r.head.words << "\n";
    if (r.complete)
        out << "Ceremony complete: " << r.steps_done << " step(s) done.\n";
    else
        out << "Ceremony STOPPED at step '" << r.stopped_at << "' after " << r.steps_done
                  << " step(s); the transcript's error record says what happened and what is "
                     "on the token. Continue with: tokensign ceremony run FILE --from "
                  << r.stopped_at << " --previous " << dir << " --out NEW-DIR\n";
}

// --json: the result as one JSON object on stdout (the human progress went to stderr).
void print_json_result(const cer::RunResult& r, const std::string& mode, const std::string& dir,
                       const std::string& error, const nlohmann::json& verified = nullptr) {
    nlohmann::json j{{"mode", mode},
                     {"dir", dir},
                     {"status", r.complete ? "complete" : "stopped"},
                     {"steps_done", r.steps_done},
                     {"stopped_at", r.complete ? nlohmann::json(nullptr) : nlohmann::json(r.stopped_at)},
                     {"outputs", r.outputs},
                     {"transcript_cut", r.transcript_cut},
                     {"head", {{"sha256", r.head.hex}, {"words", r.head.words},
                               {"records", r.head.records}}},
                     {"error", error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error)}};
    if (!verified.is_null()) j["verified"] = verified;
    std::cout << j.dump(2) << "\n" << std::flush;
}

std::string error_text(const std::exception_ptr& e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    }
}

cer::File load_file(const std::string& path) { return cer::load(path); }

void run_run(const RunCliOptions& o, const GlobalOptions& g) {
    if (o.from.empty() != o.previous.empty())
        throw UsageError("--from and --previous go together: --from STEP-ID --previous DIR");
    cer::File f = load_file(o.file);
    signer::LibCtx ctx;
    cer::RunOptions ro;
    ro.out_dir = o.out;
    ro.mode = "run";
    ro.cfg = g.hsm_config();
    ro.from = o.from;
    ro.previous_dir = o.previous;
    std::ostream& human = o.json ? std::cerr : std::cout;
    ro.confirm = confirmer(o.yes, human);
    ro.log = &human;
    ro.version = TS_VERSION;
    StopOnSignal stop;
    ro.stop = &StopOnSignal::flag();
    cer::RunResult r = cer::run_ceremony(ctx, f, ro);
    print_result(r, o.out, human);
    if (o.json) print_json_result(r, "run", o.out, r.error ? error_text(r.error) : "");
    if (r.error) rethrow_stop(r.error);
}

void run_rehearse(const RunCliOptions& o, const GlobalOptions& g) {
    cer::File f = load_file(o.file);
    // Lint and the output directory first: no token is made for a file that will be refused.
    cer::LintResult lr = cer::lint(f, std::filesystem::path(o.file).parent_path().string());
    if (!lr.ok())
        throw signer::PolicyError(o.file + ": " + std::to_string(lr.errors.size()) +
                                  " problem(s); run tokensign ceremony lint " + o.file +
                                  " to see them; nothing was written");
    if (std::filesystem::exists(o.out))
        throw signer::CaDbError(o.out + " already exists; give a new --out");
    cer::Rehearsal rehearsal(f, cer::find_softhsm2_module(g.module));
    std::ostream& human = o.json ? std::cerr : std::cout;
    human << "Rehearsal: " << rehearsal.tokens().size()
              << " throwaway SoftHSM2 token(s) made with the file's labels (random PINs, never "
                 "shown); no real token is opened.\n";
    signer::LibCtx ctx;
    cer::RunOptions ro;
    ro.out_dir = o.out;
    ro.mode = "rehearsal";
    ro.overrides = rehearsal.tokens();
    ro.confirm = confirmer(o.yes, human);
    ro.log = &human;
    ro.version = TS_VERSION;
    StopOnSignal stop;
    ro.stop = &StopOnSignal::flag();
    cer::RunResult r = cer::run_ceremony(ctx, f, ro);
    print_result(r, o.out, human);
    if (r.error) {
        if (o.json) print_json_result(r, "rehearsal", o.out, error_text(r.error));
        rethrow_stop(r.error);
    }
    cer::VerifyResult v = cer::verify(o.out, r.head.hex);
    for (const auto& p : v.problems) std::cerr << "tokensign: verify: " << p << "\n";
    if (o.json)
        print_json_result(r, "rehearsal", o.out,
                          v.ok() ? "" : "the rehearsal's output does not verify",
                          {{"ok", v.ok()}, {"problems", v.problems}});
    if (!v.ok())
        throw signer::PolicyError(o.out + ": the rehearsal's output does not verify (" +
                                  std::to_string(v.problems.size()) + " problem(s))");
    human << "Verified: the rehearsal's transcript, every output and the head match.\n";
}

void add_run_options(CLI::App* cmd, RunCliOptions& o, bool continuation) {
    cmd->add_option("FILE", o.file, "the ceremony file (tokensign-ceremony: 1)")
        ->required()
        ->type_name("FILE");
    cmd->add_option("--out", o.out,
                    "the output directory: must not exist (its parent must); it receives the "
                    "transcript and every output, nothing is ever overwritten")
        ->required()
        ->type_name("DIR");
    cmd->add_flag("--yes", o.yes,
                  "do not ask before each step (automated runs); the transcript records "
                  "each confirmation as --yes");
    cmd->add_flag("--json", o.json,
                  "print the result as one JSON object on stdout (status, steps_done, "
                  "stopped_at, outputs, head: sha256, words, records; error), also when the "
                  "ceremony stops; the progress goes to stderr");
    if (!continuation) return;
    cmd->add_option("--from", o.from,
                    "continue a stopped ceremony at this step (with --previous); the steps "
                    "before it must have completed there")
        ->type_name("STEP-ID");
    cmd->add_option("--previous", o.previous,
                    "the stopped ceremony's output directory (with --from): it must verify; "
                    "the new transcript starts from its head, keys made there are found on "
                    "the token")
        ->type_name("DIR");
}

}  // namespace

void setup_ceremony(CLI::App& app, const GlobalOptions& g) {
    auto* cer = app.add_subcommand(
        "ceremony",
        "Offline CA key ceremonies driven by one reviewed file (docs/ceremony.md): lint the file "
        "and print the witnesses' plan, rehearse it on throwaway tokens, run it, verify an "
        "output directory's transcript.");
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

    auto ho = std::make_shared<RunCliOptions>();
    auto* reh = cer->add_subcommand(
        "rehearse",
        "Run every step of the ceremony file against throwaway SoftHSM2 tokens made in a "
        "temporary directory with the labels the file's token URIs name (random PINs, never "
        "shown; no real token is opened, the file's module: is replaced by SoftHSM2 for the "
        "rehearsal only, the file is not edited), into --out DIR, then verify DIR. --module "
        "names SoftHSM2's module when it is not in the Debian location. Exit 0 when the "
        "rehearsal completes and verifies.");
    add_run_options(reh, *ho, false);
    reh->callback(command([ho, &g] { run_rehearse(*ho, g); }));

    auto ro = std::make_shared<RunCliOptions>();
    auto* run = cer->add_subcommand(
        "run",
        "Run the ceremony: lint first (exit 6, nothing written), then open and log in to the "
        "file's tokens (PINs from --pin-source, TOKENSIGN_PIN or a prompt; the module from "
        "--module, TOKENSIGN_MODULE or the file's module:), then each step after its plan "
        "sentence is confirmed (type 'yes'; anything else stops with exit 8). Every signature "
        "is checked with the token's public key, against a host-signed copy's to-be-signed "
        "bytes, and up the chain. Writes DIR/transcript.jsonl, .head, .txt and prints the head "
        "as hex and PGP words. A failing step stops the ceremony: its outputs are removed, the "
        "transcript says what stays on the token, the exit code says why (5 token failure).");
    add_run_options(run, *ro, true);
    run->callback(command([ro, &g] { run_run(*ro, g); }));

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
