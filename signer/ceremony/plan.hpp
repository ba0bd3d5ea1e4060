// SPDX-License-Identifier: Apache-2.0
// Lint and plan: every check of a ceremony file that needs no token, and the steps as numbered
// plain sentences a witness can follow.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "signer/ceremony/file.hpp"

namespace ts::signer::ceremony {

/// The defaults lint holds a file to (docs/ceremony.md, "What lint checks").
struct Limits {
    int min_rsa_bits = 3072;         // every ceremony key is a CA key
    int64_t max_root_days = 9132;    // 25 years
    int64_t max_sub_ca_days = 3653;  // 10 years, intermediates and cross-certificates
    int64_t max_crl_days = 400;      // next-update - this-update
};

/// One refusal: where, which step (or input/token id), and what is wrong.
struct Finding {
    Mark mark;
    std::string id;
    std::string message;
};

/// One numbered sentence of the plan.
struct PlanStep {
    int number = 0;
    std::string id;
    std::string kind;
    std::string text;
};

struct LintResult {
    std::vector<Finding> errors;      // empty: the file passes
    std::vector<std::string> checks;  // sentences before the steps (file and input digests)
    std::vector<PlanStep> plan;
    bool ok() const { return errors.empty(); }
};

/// Lints `f`; inputs are read relative to `base_dir` (the ceremony file's directory), their
/// SHA-256 compared, CSRs parsed and their signatures verified, certificates parsed (plain
/// OpenSSL, default library context: no token, no provider). Never throws for a finding.
LintResult lint(const File& f, const std::string& base_dir, const Limits& limits = {});

/// "1. Generate ...\n2. ...": the plan as printed for the witnesses, checks first.
std::string plan_text(const File& f, const LintResult& r);

}  // namespace ts::signer::ceremony
