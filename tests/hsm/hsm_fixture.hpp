// SPDX-License-Identifier: Apache-2.0
// A SoftHSM2 token opened through hsm/ for one test suite.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "hsm/module.hpp"
#include "hsm/pin.hpp"
#include "hsm/token.hpp"
#include "tests/support/softhsm.hpp"

namespace ts::test {

/// SetUpTestSuite makes a fresh SoftHSM2 directory with token kLabel (user PIN 1234) and opens
/// it through Module::load_path; tests log in with pins().
class HsmTest : public ::testing::Test {
  public:
    static constexpr const char* kLabel = "hsm-test";
    static constexpr const char* kPin = "1234";

    static void SetUpTestSuite() { set_up({}); }
    /// Also creates `extra` tokens (label, PIN) before the module is loaded: SoftHSM2 reads
    /// its token directory in C_Initialize only.
    static void set_up(const std::vector<std::pair<std::string, std::string>>& extra);
    static void TearDownTestSuite();

  protected:
    static hsm::Module& module() { return *s_module; }
    static std::shared_ptr<hsm::Module> module_ptr() { return s_module; }
    static hsm::Token& token() { return *s_token; }
    static std::shared_ptr<hsm::Token> token_ptr() { return s_token; }
    static SoftHsm& softhsm() { return *s_softhsm; }
    /// PIN sources with only a pin-value (no environment, no prompt).
    static hsm::PinSources pins(const std::string& pin = kPin);
    /// A logged-in session.
    static hsm::Session session();

  private:
    static std::unique_ptr<SoftHsm> s_softhsm;
    static std::shared_ptr<hsm::Module> s_module;
    static std::shared_ptr<hsm::Token> s_token;
};

}  // namespace ts::test
