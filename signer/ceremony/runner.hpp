// SPDX-License-Identifier: Apache-2.0
// Running a linted ceremony file step by step against its tokens, into a new output directory
// with a hash-chained transcript (see /docs/ceremony.md, "Running the ceremony").
#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>

#include "hsm/pin.hpp"
#include "hsm/resolve.hpp"
#include "signer/ceremony/file.hpp"
#include "signer/ceremony/plan.hpp"
#include "signer/ceremony/transcript.hpp"
#include "signer/error.hpp"
#include "signer/libctx.hpp"

namespace ts::signer::ceremony {

/// How one declared token is reached when it is not the file's own (a rehearsal's throwaway
/// SoftHSM2 token): the URI naming it exactly, the module configuration, and its PIN.
struct TokenOverride {
    std::string uri;
    hsm::Config cfg;
    std::shared_ptr<const hsm::Pin> pin;
};

/// The ceremony was stopped by a signal (SIGINT, SIGTERM, SIGHUP) between or before steps.
class StepInterrupted : public Error {
  public:
    StepInterrupted(int signal, const std::string& what) : Error(what), m_signal(signal) {}
    int signal() const noexcept { return m_signal; }

  private:
    int m_signal;
};

struct RunOptions {
    std::string out_dir;       // must not exist; its parent must
    std::string mode = "run";  // "run" or "rehearsal" (begin.mode, token.rehearsal)
    hsm::Config cfg;           // --module, --pin-source, --no-prompt
    /// Rehearsal: every declared token by id. Empty for a run.
    std::map<std::string, TokenOverride> overrides;
    /// Continue a stopped ceremony: the step to start at and the stopped ceremony's directory.
    std::string from, previous_dir;
    /// Asked before each step with its plan sentence; returns who confirmed ("operator" or
    /// "--yes"); throws Declined for a "no".
    std::function<std::string(const PlanStep&)> confirm;
    std::ostream* log = nullptr;  // progress lines; null: none
    std::string version;          // begin.version: the tool's version
    /// Polled before each step: a signal number stops the ceremony there (the step under way
    /// finishes first); null or 0: run on.
    const std::atomic<int>* stop = nullptr;
};

struct RunResult {
    Head head;
    bool complete = false;
    std::string stopped_at;  // the step that stopped it, when !complete
    int steps_done = 0;
    std::exception_ptr error;  // why it stopped (the exception as thrown), when !complete
    // The transcript could not be written to the end (a full disk): it holds whole records up
    // to `head`, without the error and end records; `error` says so.
    bool transcript_cut = false;
    std::vector<std::string> outputs;  // the outputs of the steps done, relative to out_dir
};

/// Runs `f` (loaded from its path, inputs relative to its directory). Refused before anything is
/// written or any token is opened (exceptions thrown, no directory made): lint findings
/// (PolicyError), an input whose SHA-256 differs (InputError), an existing out_dir (CaDbError), a
/// previous directory that does not verify as a stopped ceremony (PolicyError). Tokens are then
/// opened and logged in to (PinError, SelectionError, Pkcs11Error thrown, nothing written). From
/// then on every failure is recorded: the failed step's outputs removed, an `error` record, `end`
/// with status "stopped", and the result carries the exception.
RunResult run_ceremony(LibCtx& ctx, const File& f, const RunOptions& o);

/// The token_state phrase of the error record, and of the CLI's message: what the failed step
/// left on its token ("nothing" when it made nothing there).
std::string token_state_text(const std::vector<std::string>& made);

}  // namespace ts::signer::ceremony
